"""Uniform-price discovery for one market's batch (vectorised with numpy).

The rule, in order of precedence:

1. maximise executed volume ``min(D(p), S(p))``, where demand ``D(p)`` is the
   quantity of buys with limit >= p (market buys at every price) and supply
   ``S(p)`` the quantity of sells with limit <= p (market sells at every price);
2. among those prices, minimise the imbalance ``|D(p) - S(p)|``;
3. among those, take the price closest to the reference price (given by the
   caller: the venue passes the market's mark, index-anchored); with no
   reference, the midpoint of the remaining interval (kept within the range of
   the submitted limit prices), rounded down to a whole tick.

No volume means no trade (price None). A book of market orders only has no
price of its own: it trades at the reference price, or not at all without one.

Notes:
    ``D`` and ``S`` are step functions that change only at submitted limit
    prices, so the integer price line splits into *cells*: each distinct
    limit price c_i, the open gaps (c_i, c_i+1) between them, and the two
    unbounded ends. D and S are constant on a cell, so the optimum is found
    by evaluating every cell once — after one sort of the limit prices, in
    O(n log n), never by scanning ticks. An optimum can lie strictly inside a
    gap (where neither side's marginal level is included, the imbalance may be
    smallest), which is why gaps are cells too. ``min(D, S)`` is
    quasi-concave and ``D - S`` non-increasing in p, so the optimal cells are
    contiguous and form one interval of prices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from sealbatch.auction.book import MARKET, OrderArrays
from sealbatch.auction.bounds import MAX_PRICE, bound_message
from sealbatch.auction.errors import InvalidOrder

__all__ = [
    "MAX_PRICE",
    "CurveValues",
    "Curves",
    "PriceDiscovery",
    "aggregate_curves",
    "curves_json",
    "discover_price",
]


class CurveValues(Protocol):
    """The published part of a market's curves (:class:`Curves`, or a stored copy)."""

    @property
    def prices(self) -> Sequence[int] | npt.NDArray[np.int64]: ...
    @property
    def demand(self) -> Sequence[int] | npt.NDArray[np.int64]: ...
    @property
    def supply(self) -> Sequence[int] | npt.NDArray[np.int64]: ...
    @property
    def market_buy(self) -> int: ...
    @property
    def market_sell(self) -> int: ...


def curves_json(c: CurveValues) -> dict[str, object]:
    """The curves as a batch publishes them (docs/api.md, ``curves``)."""
    return {
        "prices": [int(v) for v in c.prices],
        "demand": [int(v) for v in c.demand],
        "supply": [int(v) for v in c.supply],
        "market_buy": c.market_buy,
        "market_sell": c.market_sell,
    }


@dataclass(frozen=True)
class Curves:
    """Aggregate demand and supply at each distinct limit price (published per batch).

    Attributes:
        prices: distinct limit prices, ascending (int64 ticks).
        demand: ``D(prices[i])``: lots bid at or above each price, market buys included.
        supply: ``S(prices[i])``: lots offered at or below each price, market sells included.
        level_buy: lots of limit buys at exactly each price.
        level_sell: lots of limit sells at exactly each price.
        market_buy: lots of market buys.
        market_sell: lots of market sells.
    """

    prices: npt.NDArray[np.int64]
    demand: npt.NDArray[np.int64]
    supply: npt.NDArray[np.int64]
    level_buy: npt.NDArray[np.int64]
    level_sell: npt.NDArray[np.int64]
    market_buy: int
    market_sell: int

    def demand_at(self, price: int) -> int:
        """``D(price)`` for any integer price."""
        i = int(np.searchsorted(self.prices, price, side="left"))
        return int(self.demand[i]) if i < len(self.prices) else self.market_buy

    def supply_at(self, price: int) -> int:
        """``S(price)`` for any integer price."""
        i = int(np.searchsorted(self.prices, price, side="right"))
        return int(self.supply[i - 1]) if i > 0 else self.market_sell

    def to_dict(self) -> dict[str, object]:
        return curves_json(self)


@dataclass(frozen=True)
class PriceDiscovery:
    """The outcome of price discovery: the price and the volumes at it."""

    price: int | None
    volume: int
    buy_volume: int
    sell_volume: int
    imbalance: int

    @classmethod
    def no_trade(cls) -> PriceDiscovery:
        return cls(None, 0, 0, 0, 0)


def aggregate_curves(book: OrderArrays) -> Curves:
    """Demand and supply at every distinct limit price of ``book`` (one sort)."""
    is_limit = book.limit != MARKET
    market_buy = int(book.quantity[~is_limit & book.is_buy].sum())
    market_sell = int(book.quantity[~is_limit & ~book.is_buy].sum())
    lim = book.limit[is_limit]
    qty = book.quantity[is_limit]
    buy = book.is_buy[is_limit]
    if len(lim) == 0:
        z = np.zeros(0, np.int64)
        return Curves(z, z, z, z, z, market_buy, market_sell)
    perm = np.argsort(lim)
    sl = lim[perm]
    sq = qty[perm]
    sb = buy[perm]
    starts = np.flatnonzero(np.concatenate(([True], sl[1:] != sl[:-1])))
    prices = sl[starts]
    level_buy = np.add.reduceat(np.where(sb, sq, 0), starts)
    level_sell = np.add.reduceat(np.where(sb, 0, sq), starts)
    # D(c_i) = market buys + limit buys at c_i or above (a suffix sum).
    demand = market_buy + level_buy[::-1].cumsum()[::-1]
    supply = market_sell + level_sell.cumsum()
    return Curves(prices, demand, supply, level_buy, level_sell, market_buy, market_sell)


def _check_reference(reference: int | None) -> None:
    if reference is None:
        return
    if isinstance(reference, bool) or not isinstance(reference, int | np.integer):
        raise InvalidOrder(f"reference: expected an integer number of ticks, got {reference!r}")
    if not 1 <= reference <= MAX_PRICE:
        raise InvalidOrder(bound_message("reference", reference, 1, MAX_PRICE, "ticks"))


def discover_price(
    book: OrderArrays, reference: int | None = None, curves: Curves | None = None
) -> PriceDiscovery:
    """The uniform clearing price of ``book`` and the volumes at it.

    Args:
        book: one market's orders.
        reference: the reference price in ticks (the venue passes the market's
            mark after the previous batch), or None.
        curves: ``aggregate_curves(book)`` when the caller already has it.

    Raises:
        InvalidOrder: ``reference`` is not an integer in [1, MAX_PRICE].
    """
    _check_reference(reference)
    c = curves if curves is not None else aggregate_curves(book)
    k = len(c.prices)
    if k == 0:
        # Market orders only: no limit price to discover one from.
        volume = min(c.market_buy, c.market_sell)
        if volume == 0 or reference is None:
            return PriceDiscovery.no_trade()
        return PriceDiscovery(
            int(reference),
            volume,
            c.market_buy,
            c.market_sell,
            abs(c.market_buy - c.market_sell),
        )

    # Cells in price order: below c_0, then c_0, gap(c_0, c_1), c_1, ..., c_k-1, above.
    # Cell 2i+1 is the point c_i; cell 2i+2 the gap after it (the last one is "above").
    n_cells = 2 * k + 1
    lo = np.empty(n_cells, np.int64)
    hi = np.empty(n_cells, np.int64)
    dem = np.empty(n_cells, np.int64)
    sup = np.empty(n_cells, np.int64)
    lo[0], hi[0] = 1, c.prices[0] - 1
    dem[0], sup[0] = c.demand[0], c.market_sell
    lo[1::2] = hi[1::2] = c.prices
    dem[1::2], sup[1::2] = c.demand, c.supply
    lo[2::2] = c.prices + 1
    hi[2:-1:2] = c.prices[1:] - 1
    hi[-1] = MAX_PRICE
    dem[2:-1:2], sup[2::2] = c.demand[1:], c.supply
    dem[-1] = c.market_buy
    nonempty = lo <= hi

    vol = np.minimum(dem, sup)
    vol[~nonempty] = -1
    best = int(vol.max())
    if best <= 0:
        return PriceDiscovery.no_trade()
    imb = np.abs(dem - sup)
    candidates = vol == best
    least = int(imb[candidates].min())
    optimal = np.flatnonzero(candidates & (imb == least))
    p_lo, p_hi = int(lo[optimal[0]]), int(hi[optimal[-1]])

    if reference is not None:
        price = min(max(int(reference), p_lo), p_hi)
    else:
        low, high = max(p_lo, int(c.prices[0])), min(p_hi, int(c.prices[-1]))
        if low <= high:
            price = (low + high) // 2
        else:  # the optimum lies wholly outside the submitted limits: take its nearest end
            price = p_hi if p_hi < c.prices[0] else p_lo
    d, s = c.demand_at(price), c.supply_at(price)
    return PriceDiscovery(price, min(d, s), d, s, abs(d - s))
