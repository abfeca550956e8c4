"""Scalar reference of the auction rule, written from the spec, for the tests only.

Brute force over every integer tick: no cells, no sorting tricks, no numpy.
The vectorised code in auction/clearing.py and auction/allocation.py is checked
against it on small random books.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One order: side, limit (None = market order), quantity in lots."""

    is_buy: bool
    limit: int | None
    quantity: int


def demand(rows: Sequence[Row], p: int) -> int:
    """Lots bid at price ``p``: buys with limit >= p, market buys always."""
    return sum(r.quantity for r in rows if r.is_buy and (r.limit is None or r.limit >= p))


def supply(rows: Sequence[Row], p: int) -> int:
    """Lots offered at price ``p``: sells with limit <= p, market sells always."""
    return sum(r.quantity for r in rows if not r.is_buy and (r.limit is None or r.limit <= p))


@dataclass(frozen=True)
class BruteResult:
    price: int | None
    volume: int
    optimal: tuple[int, ...]  # the optimal ticks found in the scanned range


def brute_price(rows: Sequence[Row], reference: int | None) -> BruteResult:
    """The auction price by scanning every tick in [min limit - 2, max limit + 2].

    Rules (DESIGN.md, issue 2 item 5): max volume; then least |D - S|; then
    closest to the reference; without a reference, the midpoint (rounded down)
    of the optimal prices that lie within [lowest limit, highest limit], or the
    nearest optimal price when none does. Market orders only: the reference
    price, or no trade without one.
    """
    limits = [r.limit for r in rows if r.limit is not None]
    if not limits:
        mb = sum(r.quantity for r in rows if r.is_buy)
        ms = sum(r.quantity for r in rows if not r.is_buy)
        vol = min(mb, ms)
        if vol == 0 or reference is None:
            return BruteResult(None, 0, ())
        return BruteResult(reference, vol, (reference,))
    span = [*limits, *([reference] if reference is not None else [])]
    lo, hi = max(1, min(span) - 2), max(span) + 2
    table = [(p, demand(rows, p), supply(rows, p)) for p in range(lo, hi + 1)]
    best = max(min(d, s) for _, d, s in table)
    if best == 0:
        return BruteResult(None, 0, ())
    least = min(abs(d - s) for _, d, s in table if min(d, s) == best)
    optimal = tuple(p for p, d, s in table if min(d, s) == best and abs(d - s) == least)
    if reference is not None:
        dist = min(abs(p - reference) for p in optimal)
        closest = [p for p in optimal if abs(p - reference) == dist]
        if len(closest) != 1:  # only possible if the optimal set had a hole
            raise AssertionError(f"ambiguous closest price {closest}")
        price = closest[0]
    else:
        cmin, cmax = min(limits), max(limits)
        inside = [p for p in optimal if cmin <= p <= cmax]
        if inside:
            price = (min(inside) + max(inside)) // 2
        elif max(optimal) < cmin:
            price = max(optimal)
        else:
            price = min(optimal)
    return BruteResult(price, best, optimal)


def reference_allocation(
    rows: Sequence[Row], price: int | None, key: Callable[[int], bytes]
) -> list[int]:
    """Fills per row at ``price``, computed the slow, obvious way.

    Short side fills completely; long side by priority (market orders, then
    limits from the best price); the marginal level pro rata: floor shares,
    then one lot each by largest remainder ``q*R mod Q``, ties by smallest key.
    """
    fills = [0] * len(rows)
    if price is None:
        return fills
    buy_ok = [r.is_buy and (r.limit is None or r.limit >= price) for r in rows]
    sell_ok = [(not r.is_buy) and (r.limit is None or r.limit <= price) for r in rows]
    d = sum(r.quantity for r, ok in zip(rows, buy_ok, strict=True) if ok)
    s = sum(r.quantity for r, ok in zip(rows, sell_ok, strict=True) if ok)
    volume = min(d, s)
    if volume == 0:
        return fills
    long_is_buy = d > s
    short_ok, long_ok = (sell_ok, buy_ok) if long_is_buy else (buy_ok, sell_ok)
    for i, ok in enumerate(short_ok):
        if ok:
            fills[i] = rows[i].quantity
    if d == s:
        for i, ok in enumerate(long_ok):
            if ok:
                fills[i] = rows[i].quantity
        return fills

    def priority(i: int) -> int:
        lim = rows[i].limit
        if lim is None:
            return -(1 << 62)  # market orders come first
        return -lim if long_is_buy else lim

    levels: dict[int, list[int]] = {}
    for i, ok in enumerate(long_ok):
        if ok:
            levels.setdefault(priority(i), []).append(i)
    left = volume
    for level in sorted(levels):
        members = levels[level]
        total = sum(rows[i].quantity for i in members)
        if total <= left:
            for i in members:
                fills[i] = rows[i].quantity
            left -= total
            continue
        share = {i: rows[i].quantity * left // total for i in members}
        rem = {i: rows[i].quantity * left % total for i in members}
        extra = left - sum(share.values())
        for i in sorted(members, key=lambda i: (-rem[i], key(i)))[:extra]:
            share[i] += 1
        for i in members:
            fills[i] = share[i]
        left = 0
        break
    return fills
