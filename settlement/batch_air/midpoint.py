"""The price rule without a reference (statement S7) on the book section's rows.

:func:`sealbatch.auction.clearing.discover_price` picks, among the optimal
prices (those that execute the maximal volume ``V`` with the least imbalance
``I``, an interval ``O``), the one nearest the reference; with no reference,
the midpoint of ``O ∩ [c_0, c_(k−1)]`` (the market's lowest and highest limit
prices) rounded down, or, when ``O`` lies wholly below ``c_0`` (above
``c_(k−1)``), its end nearest them. A book of market orders only trades at the
reference, or not at all without one. This module proves, per market:

* **S7 midpoint** (no reference, a limit price, a trade): :mod:`.tiebreak`
  flags every limit price and every gap between two of them as optimal or not
  (``least_pt_opt``, ``least_gap_opt``: ``{D, S} = {V, V + I}`` — forced both
  ways). Over the optimal ones a running balance sums each price's side of the
  clearing price ``p`` (+1 above, −1 below): at the market's last row it is
  ``H − L``, the optimal prices within the limits above ``p`` minus those
  below, and must be 0 or 1. ``p`` is optimal and ``O`` an interval, so with
  ``c_0 ≤ p ≤ c_(k−1)`` this says ``p = ⌊(low + high)/2⌋`` exactly. A price
  below ``c_0`` must be ``c_0 − 1`` with ``c_0`` not optimal (then ``O`` ends
  at ``p``: the stretch below ``c_0`` is one cell), a price above
  ``c_(k−1)`` must be ``c_(k−1) + 1`` with ``c_(k−1)`` not optimal;
* **S7 market orders** (no limit price in the market): no trade without a
  reference; with one, a trade whenever both sides have lots (the price is
  then the reference: :mod:`.tiebreak`'s reference rule, every price being
  optimal).

A row's side of ``p`` comes from its eligibility (``elig``: a buy's limit is at
least ``p``, a sell's at most) and ``z0`` (``limit = p``); a gap's from its two
ends' sides. The balance stays below 2^30 in size (the cells are disjoint
prices below 2^30), so ``0`` or ``1`` in the field is ``0`` or ``1``. Width: the
two flags and the balance, three columns; no range check.

"No reference" is the public reference 0 of the market table (``TAG_MARKET``),
bound as the reference is: it must be the pre-state's mark where there is one
(:mod:`.headers`), so only a market without a mark clears without a reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.air import Column, Expr, shift_rows
from sealbatch.settlement.batch_air.framework import AirBuilder, LevelRuns, TraceBuilder

__all__ = ["declare", "generate"]

SECTION = "book"

I64 = npt.NDArray[np.int64]
_V = TypeVar("_V", Expr, I64)


def _at_or_above(is_buy: _V, elig: _V, z0: _V) -> _V:
    """``[limit ≥ p]`` on a limit row: a buy is eligible exactly there, a sell exactly at
    ``p`` and below."""
    return is_buy * elig + (1 - is_buy) * (1 - elig + z0)


def declare(b: AirBuilder, book: Mapping[str, Column | Expr]) -> None:
    """Add the midpoint and market-orders-only constraints (one column, ``mid_q``)."""
    limit, price, is_buy, elig, z0 = (book[k] for k in ("limit", "price", "is_buy", "elig", "z0"))
    chg, ct, traded, has_ref, has_limit = (
        book[k] for k in ("chg", "ct", "traded", "has_ref", "has_limit")
    )
    nxc, first, opt_pt, opt_gap = (book[k] for k in ("nxc", "first_lim", "opt_pt", "opt_gap"))
    tb, cum_lb, cum_s, cum_ls = (book[k] for k in ("tb", "cum_lb", "cum_s", "cum_ls"))

    ge = _at_or_above(is_buy, elig, z0)
    above = ge - z0
    above_n = shift_rows(above)  # the next level's limit > p (a gap's upper end + 1)
    size = nxc - limit - 1
    # A gap (limit, nxc): all above p, all below, or p inside it (the two parts' difference).
    gap_side = ge * size + (1 - ge) * (above_n * (limit + nxc - 2 * price) - (1 - above_n) * size)
    point_side = opt_pt * (2 * ge - z0 - 1)
    # The market's last gap is the stretch above every limit: not within the limits.
    inc = point_side + opt_gap * (1 - chg) * gap_side
    q = b.column(SECTION, "mid_q")  # the balance of the market's rows before this one
    b.boundary(0, q, "S7 midpoint: balance starts at 0")
    b.constrain(q.next - (1 - chg) * (q + inc), "S7 midpoint: running balance")
    balance = q + point_side
    none = 1 - has_ref
    b.constrain(
        ct * none * has_limit * balance * (balance - 1),
        "S7 midpoint: as many optimal prices above the price as below, or one more",
    )
    b.constrain(
        ct * none * has_limit * (1 - ge) * (price - limit - 1 + opt_pt),
        "S7 midpoint: above every limit, one above the highest, which is not optimal",
    )
    b.constrain(
        first * traded * none * above * (limit - price - 1 + opt_pt),
        "S7 midpoint: below every limit, one below the lowest, which is not optimal",
    )
    b.constrain(ct * (1 - has_limit) * none, "S7 market orders: no trade without a reference")
    b.constrain(
        chg * (1 - traded) * (1 - has_limit) * has_ref * (tb - cum_lb) * (cum_s - cum_ls),
        "S7 market orders: a trade at the reference when both sides have lots",
    )


def _check(rows: Mapping[str, I64], ge: I64, balance: I64, opt: Mapping[str, I64]) -> None:
    """Refuse a price the AIR would reject, naming the rule and the market."""
    mkt, limit, price, chg = rows["mkt"], rows["limit"], rows["price"], rows["chg"]
    traded, has_ref, has_limit = rows["traded"], rows["has_ref"], rows["has_limit"]
    none = 1 - has_ref
    for r in np.flatnonzero(chg * traded * none * (1 - has_limit)):
        raise ValueError(
            f"S7 market orders: market {int(mkt[r])} has market orders only and no "
            f"reference, so it does not trade; it clears at {int(price[r])}"
        )
    mb, ms = rows["tb"] - rows["cum_lb"], rows["cum_s"] - rows["cum_ls"]
    for r in np.flatnonzero(chg * (1 - traded) * (1 - has_limit) * has_ref * (mb > 0) * (ms > 0)):
        raise ValueError(
            f"S7 market orders: market {int(mkt[r])} has market orders only ({int(mb[r])} "
            f"lots to buy, {int(ms[r])} to sell) and a reference, so it trades at it; it "
            "does not trade"
        )
    mid = chg * traded * none * has_limit
    for r in np.flatnonzero(mid * (1 - ge) * (price - limit - 1 + opt["pt"])):
        raise ValueError(
            f"S7 midpoint: market {int(mkt[r])} has no reference and clears at "
            f"{int(price[r])}, above its highest limit {int(limit[r])}: only at "
            f"{int(limit[r]) + 1} where {int(limit[r])} is not optimal"
        )
    first = rows["first_lim"]
    for r in np.flatnonzero(first * traded * none * (ge - rows["z0"])):
        if int(limit[r] - price[r] - 1 + opt["pt"][r]):
            raise ValueError(
                f"S7 midpoint: market {int(mkt[r])} has no reference and clears at "
                f"{int(price[r])}, below its lowest limit {int(limit[r])}: only at "
                f"{int(limit[r]) - 1} where {int(limit[r])} is not optimal"
            )
    for r in np.flatnonzero(mid * (balance != 0) * (balance != 1)):
        seg = mkt == mkt[r]
        gap = opt["gap"] * (1 - chg) * seg
        lows = np.concatenate([limit[opt["pt"] * seg == 1], limit[gap == 1] + 1])
        highs = np.concatenate([limit[opt["pt"] * seg == 1], rows["nxc"][gap == 1] - 1])
        low, high = int(lows.min()), int(highs.max())
        raise ValueError(
            f"S7 midpoint: market {int(mkt[r])} has no reference and its optimal prices "
            f"within its limits run from {low} to {high}: it clears at their midpoint "
            f"{(low + high) // 2}, not {int(price[r])}"
        )


def generate(tb: TraceBuilder, rows: Mapping[str, I64], refuse: bool) -> None:
    """Write ``mid_q`` (prover side) from the book's rows and :mod:`.tiebreak`'s flags.

    Raises:
        ValueError: with ``refuse``, a price the rule does not give (named).
    """
    limit, price, is_buy, elig, z0 = (rows[k] for k in ("limit", "price", "is_buy", "elig", "z0"))
    chg, nxc, opt_pt, opt_gap = (rows[k] for k in ("chg", "nxc", "opt_pt", "opt_gap"))
    ge = _at_or_above(is_buy, elig, z0)
    above = ge - z0
    above_n = np.append(above[1:], 0)
    size = nxc - limit - 1
    gap_side = np.where(ge == 1, size, np.where(above_n == 1, limit + nxc - 2 * price, -size))
    point_side = opt_pt * (2 * ge - z0 - 1)
    inc = point_side + opt_gap * (1 - chg) * gap_side
    total = LevelRuns.of(chg).running(inc)
    q = total - inc
    tb.set(SECTION, "mid_q", q)
    if refuse:
        _check(rows, ge, q + point_side, {"pt": opt_pt, "gap": opt_gap})
