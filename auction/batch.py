"""One batch end to end: sealed orders in, one uniform price per market out.

:func:`clear_batch` takes a closed :class:`~auction.commit_reveal.SealedBatch`
(plus orders carried in from earlier batches: the unfilled rest of GTC
orders, and liquidation orders) and clears every market: price discovery,
allocation, fills, and the GTC remainders to carry into the next batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from sealbatch.auction.allocation import allocate
from sealbatch.auction.book import OrderArrays
from sealbatch.auction.clearing import (
    Curves,
    CurveValues,
    PriceDiscovery,
    aggregate_curves,
    curves_json,
    discover_price,
)
from sealbatch.auction.commit_reveal import Forfeit, Rejection, SealedBatch
from sealbatch.auction.commitment import tiebreak_key, tiebreak_keys
from sealbatch.auction.errors import AuctionError
from sealbatch.auction.markets import Market
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import Address

__all__ = [
    "BatchResult",
    "Fill",
    "MarketResult",
    "MarketValues",
    "RestingOrder",
    "TieBreakKeys",
    "clear_batch",
    "clear_market",
    "market_json",
    "tiebreak_key",
]


@dataclass(frozen=True)
class RestingOrder:
    """An order that takes part in a batch: revealed now or carried in.

    ``order_id`` is the order's commitment (32 bytes); ``origin_batch`` the
    batch in which it was committed. ``salt`` is the commitment's 32-byte salt
    for an order revealed in this batch (published with it, so that anyone,
    and the batch proof, can recompute the commitment from the order's
    fields); None for an order carried in (a GTC rest, a liquidation order).
    ``bond`` is the bond its signed ``Commit`` put at stake (with the trader and the
    order's market, part of its commitment's leaf under the commitment root), None
    where ``salt`` is.
    """

    order_id: bytes
    trader: Address
    order: Order
    origin_batch: int
    salt: bytes | None = field(default=None, compare=False, repr=False)
    bond: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Fill:
    """``quantity`` lots of order ``order_id`` executed at the uniform ``price``."""

    order_id: bytes
    trader: Address
    market: str
    side: Side
    price: int
    quantity: int

    def to_dict(self) -> dict[str, object]:
        return {
            "order_id": "0x" + self.order_id.hex(),
            "trader": self.trader,
            "market": self.market,
            "side": self.side.value,
            "price": self.price,
            "quantity": self.quantity,
        }


@dataclass(frozen=True)
class MarketResult:
    """One market's clearing in one batch."""

    market: str
    reference_price: int | None
    price: int | None
    volume: int
    buy_volume: int
    sell_volume: int
    imbalance: int
    fills: tuple[Fill, ...]
    curves: Curves
    orders: int

    def to_dict(self) -> dict[str, object]:
        return market_json(self)


class MarketValues(Protocol):
    """What a market's clearing publishes (a :class:`MarketResult`, or a record's copy)."""

    @property
    def market(self) -> str: ...
    @property
    def reference_price(self) -> int | None: ...
    @property
    def price(self) -> int | None: ...
    @property
    def volume(self) -> int: ...
    @property
    def buy_volume(self) -> int: ...
    @property
    def sell_volume(self) -> int: ...
    @property
    def imbalance(self) -> int: ...
    @property
    def orders(self) -> int: ...
    @property
    def fills(self) -> tuple[Fill, ...]: ...
    @property
    def curves(self) -> CurveValues: ...


def market_json(m: MarketValues) -> dict[str, object]:
    """One market's clearing as ``result.json`` and the batch record publish it."""
    return {
        "market": m.market,
        "reference_price": m.reference_price,
        "price": m.price,
        "volume": m.volume,
        "buy_volume": m.buy_volume,
        "sell_volume": m.sell_volume,
        "imbalance": m.imbalance,
        "orders": m.orders,
        "fills": [f.to_dict() for f in m.fills],
        "curves": curves_json(m.curves),
    }


@dataclass(frozen=True)
class BatchResult:
    """Everything a batch produced, in deterministic order.

    Attributes:
        batch_id: the batch.
        seed: Poseidon2 Merkle root of its commitments (the allocation tie-break seed).
        markets: per market, price, volumes, fills and published curves.
        orders: every order that took part (revealed, then carried in).
        forfeited: commitments never revealed.
        carried: GTC remainders that rest into the next batch.
        rejections: refused commits and reveals, with their codes.
    """

    batch_id: int
    seed: bytes
    markets: Mapping[str, MarketResult]
    orders: tuple[RestingOrder, ...]
    forfeited: tuple[Forfeit, ...]
    carried: tuple[RestingOrder, ...]
    rejections: tuple[Rejection, ...]

    def fills(self) -> list[Fill]:
        """All fills of the batch, market by market in id order."""
        return [f for m in sorted(self.markets) for f in self.markets[m].fills]


class TieBreakKeys:
    """The tie-break keys of one market's orders under a batch seed.

    Allocation asks only for the orders tied at the margin, all at once
    (:meth:`many`: one vectorised Poseidon2 call); most batches ask for none.
    """

    def __init__(self, seed: bytes, order_ids: Sequence[bytes]) -> None:
        self._seed = seed
        self._ids = order_ids

    def __call__(self, row: int) -> bytes:
        return tiebreak_key(self._seed, self._ids[row])

    def many(self, rows: Sequence[int]) -> list[bytes]:
        """The keys of ``rows``, in order."""
        return tiebreak_keys(self._seed, [self._ids[r] for r in rows])


def clear_market(
    orders: Sequence[Order], order_ids: Sequence[bytes], reference: int | None, seed: bytes
) -> tuple[PriceDiscovery, Curves, np.ndarray]:
    """Clear one market's orders; returns the discovery, the curves and fills per order."""
    if len(orders) != len(order_ids):
        raise AuctionError(f"expected one id per order, got {len(order_ids)} for {len(orders)}")
    book = OrderArrays.from_orders(orders) if orders else OrderArrays.empty()
    curves = aggregate_curves(book)
    discovery = discover_price(book, reference, curves)
    fills = allocate(book, discovery, TieBreakKeys(seed, order_ids), curves)
    return discovery, curves, fills


def clear_batch(
    sealed: SealedBatch,
    markets: Mapping[str, Market],
    references: Mapping[str, int | None],
    carried_in: Iterable[RestingOrder] = (),
) -> BatchResult:
    """Clear every market of a closed batch.

    Args:
        sealed: the closed commit book.
        markets: the markets that trade, by id.
        references: each market's reference price (None for none); the venue
            passes each market's mark after the previous batch.
        carried_in: resting orders from earlier batches (GTC remainders,
            liquidation orders); they take part exactly like fresh orders.

    Raises:
        AuctionError: an order names a market not in ``markets``, or an
            order id appears twice.
    """
    resting = [
        RestingOrder(r.commitment, r.trader, r.order, sealed.batch_id, r.salt, r.bond)
        for r in sealed.revealed
    ]
    resting.extend(carried_in)
    seen: set[bytes] = set()
    by_market: dict[str, list[RestingOrder]] = {m: [] for m in markets}
    for r in resting:
        if r.order_id in seen:
            raise AuctionError(f"order id 0x{r.order_id.hex()} appears twice in the batch")
        seen.add(r.order_id)
        if r.order.market not in by_market:
            raise AuctionError(f"market: expected one of {sorted(markets)}, got {r.order.market!r}")
        by_market[r.order.market].append(r)

    results: dict[str, MarketResult] = {}
    carried: list[RestingOrder] = []
    for market_id in sorted(by_market):
        rows = by_market[market_id]
        reference = references.get(market_id)
        discovery, curves, fills = clear_market(
            [r.order for r in rows], [r.order_id for r in rows], reference, sealed.seed
        )
        market_fills = []
        for r, q in zip(rows, fills.tolist(), strict=True):
            if q:
                market_fills.append(
                    Fill(r.order_id, r.trader, market_id, r.order.side, discovery.price or 0, q)
                )
            rest = r.order.quantity - q
            if rest and r.order.time_in_force is TimeInForce.GTC:
                carried.append(
                    RestingOrder(r.order_id, r.trader, r.order.with_quantity(rest), r.origin_batch)
                )
        results[market_id] = MarketResult(
            market_id,
            reference,
            discovery.price,
            discovery.volume,
            discovery.buy_volume,
            discovery.sell_volume,
            discovery.imbalance,
            tuple(market_fills),
            curves,
            len(rows),
        )
    return BatchResult(
        sealed.batch_id,
        sealed.seed,
        results,
        tuple(resting),
        sealed.forfeited,
        tuple(carried),
        sealed.rejections,
    )
