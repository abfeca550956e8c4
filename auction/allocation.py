"""Allocation of a batch's volume to orders at the uniform price.

The short side (the smaller of demand and supply at the price) fills
completely. The long side fills by price priority — market orders first,
then the best limits — and the *marginal* priority level, the one where the
volume runs out, is rationed pro rata to order quantity in whole lots:

* each marginal order gets ``floor(q_i * R / Q)`` lots, where R is the volume
  left for the level and Q the level's total quantity (rounded down);
* the ``R - Σ floor(...)`` leftover lots (fewer than the number of marginal
  orders) go one each to the orders with the largest fractional remainder
  ``q_i * R mod Q``;
* ties in that remainder go to the smallest tie-break key, which the batch
  derives as the Poseidon2 compression of the batch seed and the order id
  (:func:`sealbatch.auction.commitment.tiebreak_key`).

Arrival time plays no part anywhere: time priority would bring back the race.
Bought equals sold exactly, and every order gets floor or floor+1 of its exact
pro-rata share.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from sealbatch.auction.book import MARKET, OrderArrays
from sealbatch.auction.clearing import Curves, PriceDiscovery, aggregate_curves
from sealbatch.auction.errors import AuctionError

__all__ = ["TieBreakKey", "allocate", "pro_rata"]

TieBreakKey = Callable[[int], bytes]
"""Maps an order's row index to its tie-break key (smaller wins a tied lot).

A key object may also have a ``many(rows) -> list[bytes]`` method giving the
keys of many rows at once; allocation then asks for all tied rows in one call
(the batch's Poseidon2 keys are computed in one vectorised hash)."""

_INT64_SAFE = 1 << 62


def pro_rata(
    quantity: npt.NDArray[np.int64], lots: int, rows: npt.NDArray[np.intp], key: TieBreakKey
) -> npt.NDArray[np.int64]:
    """Split ``lots`` whole lots among orders of sizes ``quantity`` pro rata.

    Args:
        quantity: the marginal orders' quantities (positive).
        lots: lots to hand out, ``0 <= lots <= quantity.sum()``.
        rows: each marginal order's row in the book (passed to ``key``).
        key: tie-break key of a row.

    Returns:
        int64 fills, each ``floor`` or ``floor + 1`` of ``q_i * lots / Q``.
    """
    total = int(quantity.sum())
    if not 0 <= lots <= total:
        raise AuctionError(f"expected 0 to {total} lots to ration, got {lots}")
    if lots == total:
        return quantity.copy()
    if int(quantity.max()) * max(lots, 1) < _INT64_SAFE:
        scaled = quantity * lots
        base = scaled // total
        remainder = scaled - base * total
    else:  # exact big-integer path for extreme sizes
        scaled_obj = quantity.astype(object) * lots
        base = (scaled_obj // total).astype(np.int64)
        remainder = scaled_obj - base.astype(object) * total
    leftover = lots - int(base.sum())
    if leftover == 0:
        return base
    # The leftover-th largest remainder is the threshold; orders above it win
    # outright, orders exactly at it compete by tie-break key.
    threshold = np.sort(remainder)[::-1][leftover - 1]
    above = np.flatnonzero(remainder > threshold)
    tied = np.flatnonzero(remainder == threshold)
    need = leftover - len(above)
    tied_rows = [int(rows[i]) for i in tied.tolist()]
    many = getattr(key, "many", None)
    keys = list(many(tied_rows)) if callable(many) else [key(r) for r in tied_rows]
    tied_sorted = [int(tied[j]) for j in sorted(range(len(tied_rows)), key=keys.__getitem__)]
    winners = np.concatenate((above, np.array(tied_sorted[:need], dtype=np.intp)))
    base[winners] += 1
    return base


def allocate(
    book: OrderArrays,
    discovery: PriceDiscovery,
    key: TieBreakKey,
    curves: Curves | None = None,
) -> npt.NDArray[np.int64]:
    """Fills (in lots, one per row of ``book``) at the discovered uniform price.

    Args:
        book: the market's orders.
        discovery: the result of :func:`sealbatch.auction.clearing.discover_price` on ``book``.
        key: tie-break key of a row (see module docstring).
        curves: ``aggregate_curves(book)`` when the caller already has it.
    """
    fills = np.zeros(len(book), np.int64)
    price = discovery.price
    if price is None or discovery.volume == 0:
        return fills
    is_market = book.limit == MARKET
    buy_ok = book.is_buy & (is_market | (book.limit >= price))
    sell_ok = ~book.is_buy & (is_market | (book.limit <= price))
    demand = int(book.quantity[buy_ok].sum())
    supply = int(book.quantity[sell_ok].sum())
    if (demand, supply) != (discovery.buy_volume, discovery.sell_volume):
        raise AuctionError(
            f"expected demand/supply {discovery.buy_volume}/{discovery.sell_volume} at price "
            f"{price}, got {demand}/{supply}: the discovery is not of this book"
        )
    volume = min(demand, supply)
    if demand == supply:
        fills[buy_ok | sell_ok] = book.quantity[buy_ok | sell_ok]
        return fills
    long_is_buy = demand > supply
    short_ok, long_ok = (sell_ok, buy_ok) if long_is_buy else (buy_ok, sell_ok)
    fills[short_ok] = book.quantity[short_ok]

    c = curves if curves is not None else aggregate_curves(book)
    market_lots = c.market_buy if long_is_buy else c.market_sell
    if market_lots >= volume:
        marginal = long_ok & is_market
        better = np.zeros(len(book), np.bool_)
        lots = volume
    else:
        left = volume - market_lots
        if long_is_buy:  # best bids first: walk levels from the top down
            eligible = c.prices >= price
            levels, sizes = c.prices[eligible][::-1], c.level_buy[eligible][::-1]
        else:
            eligible = c.prices <= price
            levels, sizes = c.prices[eligible], c.level_sell[eligible]
        nonzero = sizes > 0
        levels, sizes = levels[nonzero], sizes[nonzero]
        cum = np.cumsum(sizes)
        j = int(np.searchsorted(cum, left, side="left"))
        level = int(levels[j])
        lots = left - (int(cum[j - 1]) if j else 0)
        at_level = long_ok & (book.limit == level)
        strictly = (book.limit > level) if long_is_buy else (book.limit < level)
        better = long_ok & (is_market | (strictly & ~is_market))
        marginal = at_level
    fills[better] = book.quantity[better]
    rows = np.flatnonzero(marginal)
    fills[rows] = pro_rata(book.quantity[rows], lots, rows, key)
    return fills
