"""Continuous limit order book with price-time priority (the baseline).

Each arriving message is processed alone, in arrival order: a marketable
order trades at once against the best resting prices (oldest first at each
price), the rest of a non-IOC order rests. This is the lab's own book, not
part of the exchange.

Reference: Gould, Porter, Williams, Fenn, McDonald, Howison (2013), "Limit
order books", Quantitative Finance 13(11).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from heapq import heappop, heappush
from typing import TYPE_CHECKING

from sealbatch.research.errors import ConservationError
from sealbatch.research.mechanisms.base import Mechanism
from sealbatch.research.scenario import MechanismSpec
from sealbatch.research.simulation import Cancel, LabOrder, Message, Simulation

if TYPE_CHECKING:
    from sealbatch.research.scenario import Scenario

__all__ = ["ClobMechanism"]


class ClobMechanism(Mechanism):
    """Price-time priority book; every message is its own processing unit."""

    def __init__(self, sim: Simulation, spec: MechanismSpec, scenario: Scenario) -> None:
        super().__init__(sim, spec, scenario)
        self.bids: dict[int, deque[LabOrder]] = {}
        self.asks: dict[int, deque[LabOrder]] = {}
        self._bid_heap: list[int] = []  # negated prices, lazily cleaned
        self._ask_heap: list[int] = []
        self.live: dict[int, LabOrder] = {}

    def best_bid(self) -> int | None:
        h, levels = self._bid_heap, self.bids
        while h:
            if -h[0] in levels:
                return -h[0]
            heappop(h)
        return None

    def best_ask(self) -> int | None:
        h, levels = self._ask_heap, self.asks
        while h:
            if h[0] in levels:
                return h[0]
            heappop(h)
        return None

    def resting_orders(self) -> Iterable[LabOrder]:
        return list(self.live.values())

    def depth(self, resting_side: int, limit: int) -> list[tuple[int, int]]:
        book = self.bids if resting_side > 0 else self.asks
        if resting_side > 0:
            prices = sorted((p for p in book if p >= limit), reverse=True)
        else:
            prices = sorted(p for p in book if p <= limit)
        return [(p, sum(o.rem for o in book[p])) for p in prices]

    def levels(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        asks = [(p, sum(o.rem for o in self.asks[p])) for p in sorted(self.asks)[:n]]
        bids = [(p, sum(o.rem for o in self.bids[p])) for p in sorted(self.bids, reverse=True)[:n]]
        return asks, bids

    def arrive(self, msg: Message) -> None:
        self.unit += 1
        if type(msg) is Cancel:
            self._cancel(msg.oid)
        else:
            self._submit(msg)  # type: ignore[arg-type]

    def _cancel(self, oid: int) -> None:
        o = self.live.pop(oid, None)
        if self._stale:
            self._touch_cancel(oid)
        if o is None:
            return
        o.live = False
        book = self.bids if o.side > 0 else self.asks
        level = book[o.price]
        level.remove(o)
        if not level:
            del book[o.price]
        if self.log is not None:
            self._log(3, oid, o.rem, o.price, o.side)

    def _submit(self, o: LabOrder) -> None:
        if o.post_only:
            # a maker's quote never takes: it slides to one tick behind the
            # opposite best price (as post-only orders do on real venues)
            if o.side > 0:
                ask = self.best_ask()
                if ask is not None and o.price >= ask:
                    o.price = ask - 1
            else:
                bid = self.best_bid()
                if bid is not None and o.price <= bid:
                    o.price = bid + 1
        elif self._stale:
            self._touch_take(o)
        unit = self.unit
        if o.side > 0:
            opp, best = self.asks, self.best_ask
            while o.rem:
                p = best()
                if p is None or p > o.price:
                    break
                self._execute(o, opp, p, unit)
        else:
            opp, best = self.bids, self.best_bid
            while o.rem:
                p = best()
                if p is None or p < o.price:
                    break
                self._execute(o, opp, p, unit)
        if o.rem and not o.ioc:
            book, heap = (self.bids, self._bid_heap) if o.side > 0 else (self.asks, self._ask_heap)
            level = book.get(o.price)
            if level is None:
                book[o.price] = level = deque()
                heappush(heap, -o.price if o.side > 0 else o.price)
            level.append(o)
            self.live[o.oid] = o
            if self.log is not None:
                self._log(1, o.oid, o.rem, o.price, o.side)
        else:
            o.live = False

    def _execute(self, taker: LabOrder, opp: dict[int, deque[LabOrder]], p: int, unit: int) -> None:
        level = opp[p]
        maker = level[0]
        q = taker.rem if taker.rem < maker.rem else maker.rem
        if maker.side == taker.side:
            raise ConservationError(f"expected opposite sides at {p}, got {maker} and {taker}")
        taker.rem -= q
        maker.rem -= q
        sim = self.sim
        sim.record_fill(maker, p, q, unit)
        sim.record_fill(taker, p, q, unit)
        sim.last_price = p
        if maker.rem == 0:
            level.popleft()
            maker.live = False
            self.live.pop(maker.oid, None)
            if not level:
                del opp[p]
        if self.log is not None:
            self._log(4, maker.oid, q, p, maker.side)
