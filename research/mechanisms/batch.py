"""Frequent batch auction: orders collect for an interval, then one uniform price.

Resting (non-IOC) orders stay in the book across batches until filled or
cancelled; a cancel takes effect when it arrives, so a market maker whose
cancel reaches the venue before the batch closes is never picked off.
Clearing is the venue's own: :func:`sealbatch.auction.batch.clear_market` (uniform
price maximising volume, pro-rata rationing, tie-break keys from the batch
seed) — no time priority inside a batch.

Reference: Budish, Cramton, Shim (2015), "The High-Frequency Trading Arms
Race: Frequent Batch Auctions as a Market Design Response", QJE 130(4).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sealbatch.auction.batch import clear_market
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.keccak import keccak256
from sealbatch.research.errors import ConservationError
from sealbatch.research.mechanisms.base import Mechanism
from sealbatch.research.scenario import MechanismSpec
from sealbatch.research.simulation import Cancel, LabOrder, Message, Simulation

if TYPE_CHECKING:
    from sealbatch.research.scenario import Scenario

__all__ = ["BatchAuctionMechanism", "auction_order", "order_id_bytes"]

#: LOBSTER's order id for "other intra-day crosses" (event type 6).
CROSS_ORDER_ID = -3


def order_id_bytes(oid: int) -> bytes:
    """The 32-byte order id the auction layer keys a lab order by."""
    return oid.to_bytes(32, "big")


def auction_order(market: str, o: LabOrder, quantity: int, ioc: bool) -> Order:
    """The auction layer's :class:`~auction.orders.Order` for a lab order."""
    return Order(
        market,
        Side.BUY if o.side > 0 else Side.SELL,
        o.price,
        quantity,
        TimeInForce.IOC if ioc else TimeInForce.GTC,
        client_id=o.oid,
    )


class BatchAuctionMechanism(Mechanism):
    """Uniform-price batch auction every ``spec.interval_ms``; unit = batch number."""

    def __init__(self, sim: Simulation, spec: MechanismSpec, scenario: Scenario) -> None:
        super().__init__(sim, spec, scenario)
        self.interval_ns = spec.interval_ms * 1_000_000
        self.market = scenario.market_id
        self.resting: dict[int, LabOrder] = {}
        self.incoming: list[LabOrder] = []
        self.dirty = False
        self._orders: dict[tuple[int, int], Order] = {}  # auction orders by (id, rest)
        self.batches = 0
        self.batches_traded = 0

    def start(self) -> None:
        self.sim.schedule(self.interval_ns, self._close, 1)

    def after(self, t: int) -> int:
        return (t // self.interval_ns + 1) * self.interval_ns

    def resting_orders(self) -> Iterable[LabOrder]:
        # orders waiting for the close are exposed to a jump as much as resting ones
        return [*self.resting.values(), *self.incoming]

    def _side(self, side: int) -> list[LabOrder]:
        return [o for o in self.resting.values() if o.side == side]

    def best_bid(self) -> int | None:
        return max((o.price for o in self.resting.values() if o.side > 0), default=None)

    def best_ask(self) -> int | None:
        return min((o.price for o in self.resting.values() if o.side < 0), default=None)

    def depth(self, resting_side: int, limit: int) -> list[tuple[int, int]]:
        levels: dict[int, int] = {}
        for o in self.resting.values():
            if o.side == resting_side and (
                o.price >= limit if resting_side > 0 else o.price <= limit
            ):
                levels[o.price] = levels.get(o.price, 0) + o.rem
        return sorted(levels.items(), reverse=resting_side > 0)

    def levels(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        asks: dict[int, int] = {}
        bids: dict[int, int] = {}
        for o in self.resting.values():
            d = bids if o.side > 0 else asks
            d[o.price] = d.get(o.price, 0) + o.rem
        return sorted(asks.items())[:n], sorted(bids.items(), reverse=True)[:n]

    def arrive(self, msg: Message) -> None:
        if type(msg) is Cancel:
            if self._stale:
                self._touch_cancel(msg.oid)
            o = self.resting.pop(msg.oid, None)
            if o is not None:
                o.live = False
                self.dirty = True
                if self.log is not None:
                    self._log(3, o.oid, o.rem, o.price, o.side)
            return
        order: LabOrder = msg  # type: ignore[assignment]
        if self._stale:
            self._touch_take(order)
        self.dirty = True
        if order.ioc:
            self.incoming.append(order)
        else:
            self.resting[order.oid] = order
            if self.log is not None:
                self._log(1, order.oid, order.rem, order.price, order.side)

    def _close(self, k: int) -> None:
        """Close batch ``k`` (the interval ending now) and schedule the next close."""
        sim = self.sim
        self.unit = k
        self.batches += 1
        if self.dirty:
            self._clear(k)
        for o in self.incoming:
            o.live = False
        self.incoming = []
        if len(self._orders) > 4 * len(self.resting) + 64:
            self._prune_cache()
        self.dirty = False
        self.unit = k + 1
        sim.schedule(sim.now + self.interval_ns, self._close, k + 1)

    def _prune_cache(self) -> None:
        """Drop cached auction orders of orders gone or changed since."""
        keep: dict[tuple[int, int], Order] = {}
        for (oid, rem), a in self._orders.items():
            o = self.resting.get(oid)
            if o is not None and o.rem == rem:
                keep[(oid, rem)] = a
        self._orders = keep

    def _clear(self, k: int) -> None:
        sim = self.sim
        book = [o for o in self.resting.values() if o.rem > 0]
        book.extend(self.incoming)
        best_bid = max((o.price for o in book if o.side > 0), default=None)
        best_ask = min((o.price for o in book if o.side < 0), default=None)
        if best_bid is None or best_ask is None or best_bid < best_ask:
            return  # every order has a limit: no price can execute any volume
        cache = self._orders
        orders = []
        for o in book:
            key = (o.oid, o.rem)
            a = cache.get(key)
            if a is None:
                a = cache[key] = auction_order(self.market, o, o.rem, o.ioc)
            orders.append(a)
        ids = [order_id_bytes(o.oid) for o in book]
        seed = keccak256(b"sealbatch.lab.fba", k.to_bytes(8, "big"))
        discovery, _curves, fills = clear_market(orders, ids, sim.last_price, seed)
        if discovery.price is None or discovery.volume == 0:
            return
        price = int(discovery.price)
        bought = sold = 0
        for o, q in zip(book, fills.tolist(), strict=True):
            if not q:
                continue
            if o.side > 0:
                bought += q
            else:
                sold += q
            o.rem -= q
            sim.record_fill(o, price, q, k)
            if not o.ioc:
                if o.rem == 0:
                    o.live = False
                    del self.resting[o.oid]
                if self.log is not None:
                    self._log(4, o.oid, q, price, o.side)
        if bought != sold or bought != discovery.volume:
            raise ConservationError(
                f"batch {k}: expected bought = sold = {discovery.volume}, got {bought} and {sold}"
            )
        sim.last_price = price
        self.batches_traded += 1
        if self.log is not None:
            self._log(6, CROSS_ORDER_ID, discovery.volume, price, 1)
