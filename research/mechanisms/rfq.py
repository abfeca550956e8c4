"""A sealed request-for-quote window for large orders, beside any mechanism.

A requester asks the market makers for a price on ``qty`` lots of one side;
the request is not a message on the public path, so no one watching orders
in flight sees it. Each maker answers once with a sealed price from its own
view of the fundamental; when the window closes the best quote fills the
whole size if it is within the requester's limit (ties go to the earlier
maker in account order), else nothing trades.
"""

from __future__ import annotations

from typing import Protocol

from sealbatch.research.scenario import RfqConfig
from sealbatch.research.simulation import LabOrder, Participant, Simulation


class Quoter(Protocol):
    """A market maker the desk asks (:class:`~research.agents.MarketMaker`)."""

    idx: int

    def rfq_quote(self, request_side: int) -> int:
        """The price offered to a request on ``request_side`` (±1)."""
        ...


__all__ = ["Quoter", "RfqDesk"]


class RfqDesk:
    """Runs RFQ windows; ``quoters`` are the market makers asked."""

    def __init__(self, sim: Simulation, cfg: RfqConfig) -> None:
        self.sim = sim
        self.cfg = cfg
        self.window_ns = int(cfg.window_ms * 1e6)
        self.quoters: list[Quoter] = []
        self.requests = 0
        self.filled = 0
        self.volume = 0

    def request(
        self, requester: Participant, side: int, qty: int, limit: int, account: int
    ) -> None:
        """Open a window for ``qty`` lots on ``side`` (±1) for ``requester``'s
        ``account``, acceptable up to ``limit``."""
        self.requests += 1
        close = self.sim.now + requester.send_delay() + self.window_ns
        self.sim.schedule(close, self._close, (account, side, qty, limit))

    def _close(self, arg: tuple[int, int, int, int]) -> None:
        account, side, qty, limit = arg
        if not self.quoters:
            return
        quotes = [(mm.rfq_quote(side), n, mm) for n, mm in enumerate(self.quoters)]
        price, _, maker = min(quotes, key=lambda q: (side * q[0], q[1]))
        if side * (price - limit) > 0:
            return
        sim = self.sim
        taker_order = LabOrder(0, account, side, price, qty, True)
        maker_order = LabOrder(0, maker.idx, -side, price, qty, True)
        maker_order.passive = True
        sim.record_fill(taker_order, price, qty, -1)
        sim.record_fill(maker_order, price, qty, -1)
        sim.last_price = price
        self.filled += 1
        self.volume += qty
