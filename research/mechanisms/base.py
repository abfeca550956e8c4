"""What every mechanism offers agents and metrics, and race bookkeeping."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sealbatch.research.scenario import MechanismSpec
from sealbatch.research.simulation import LabOrder, Message, Simulation

if TYPE_CHECKING:
    from sealbatch.research.scenario import Scenario

__all__ = ["LobsterRow", "Mechanism"]

LobsterRow = tuple[int, int, int, int, int, int]
"""(time ns, event type, order id, size, price ticks, direction)."""


class Mechanism:
    """Base class: the venue side of a run.

    Attributes:
        sealed: messages in flight and resting orders are invisible to others.
        not_applicable: metrics zero by definition here (reported as n/a).
        per_batch: orders last one batch (agents re-send quotes each batch).
        unit: the current processing unit — one per message in a continuous
            book, one per batch in an auction; arrival order decides only
            between different units.
    """

    sealed = False
    per_batch = False
    #: Metrics that cannot be other than zero under this mechanism by its rules;
    #: a run reports them as NaN (shown "n/a"), not as a measured 0.
    not_applicable: frozenset[str] = frozenset({"insurance_fund"})

    def __init__(self, sim: Simulation, spec: MechanismSpec, scenario: Scenario) -> None:
        self.sim = sim
        self.spec = spec
        self.scenario = scenario
        self.unit = 0
        self.race_window_ns = int(scenario.metrics.race_window_us * 1000)
        self.races = 0
        self._stale: dict[int, _StaleQuote] = {}
        self.log: list[LobsterRow] | None = None
        self.book_log: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]] | None = None
        self.book_levels = 10

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Schedule the mechanism's own events (batch closes)."""

    def arrive(self, msg: Message) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """End of the run: settle races still open."""
        self._expire(final=True)

    def enable_recording(self, levels: int = 10) -> None:
        """Keep a LOBSTER message log and a book snapshot after every logged message."""
        self.log = []
        self.book_log = []
        self.book_levels = levels

    def _log(self, kind: int, oid: int, size: int, price: int, direction: int) -> None:
        if self.log is not None and self.book_log is not None:
            self.log.append((self.sim.now, kind, oid, size, price, direction))
            self.book_log.append(self.levels(self.book_levels))

    # -- what agents may see -------------------------------------------------------
    def best_bid(self) -> int | None:
        return None

    def best_ask(self) -> int | None:
        return None

    def depth(self, resting_side: int, limit: int) -> list[tuple[int, int]]:
        """Visible resting liquidity on ``resting_side`` (±1) up to ``limit``, best first."""
        return []

    def levels(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``n`` visible (price, lots) levels: (asks ascending, bids descending)."""
        return [], []

    def mid(self) -> float | None:
        bb, ba = self.best_bid(), self.best_ask()
        if bb is None or ba is None:
            return None
        return (bb + ba) / 2

    def after(self, t: int) -> int:
        """Earliest arrival time processed after a message that arrived at ``t``."""
        return t + 1

    def resting_orders(self) -> Iterable[LabOrder]:
        """Orders that can be picked off (resting or committed, live)."""
        return ()

    # -- races (Budish, Cramton, Shim 2015; Aquilina, Budish, O'Neill 2022) ---------
    def on_jump(self, value: float) -> None:
        """A fundamental jump: every live quote priced through ``value`` is stale.

        A stale order stays marked until the next jump re-marks the book; when
        it fills, the simulation counts what its owner lost against the
        fundamental: ``stale_quote_loss`` for owners who watch the fundamental
        and race to cancel (market makers: the prize of sniping),
        ``stale_order_loss`` for everyone else.
        """
        self._expire()
        now = self.sim.now
        deadline = now + self.race_window_ns
        for o in self.resting_orders():
            o.stale = o.live and (
                (o.side > 0 and o.price > value) or (o.side < 0 and o.price < value)
            )
            if o.stale:
                self._stale[o.oid] = _StaleQuote(o, now, deadline)

    def _touch_cancel(self, oid: int) -> None:
        e = self._stale.get(oid)
        if e is not None and self.sim.now <= e.deadline:
            e.units.add(self.unit)

    def _touch_take(self, order: LabOrder) -> None:
        """A take attempt at stale quotes; it counts in a race only when its sender
        could have known of the jump when sending (sent at least one observation
        latency after it): an order sent in ignorance that happens to arrive in
        the window is not racing anyone."""
        sim = self.sim
        now = sim.now
        sender = sim.agents[order.agent]
        informed_from = order.t_sent - (sender.observe_ns if sender is not None else 0)
        for e in self._stale.values():
            o = e.order
            if (
                now > e.deadline
                or o.agent == order.agent
                or o.side != -order.side
                or informed_from < e.jump_t
            ):
                continue
            if (order.side > 0 and order.price >= o.price) or (
                order.side < 0 and order.price <= o.price
            ):
                e.units.add(self.unit)
                e.takes += 1

    def _expire(self, final: bool = False, oids: Iterable[int] | None = None) -> None:
        """Settle races: those past their window, all (``final``) or those of ``oids``."""
        now = self.sim.now
        keys = list(self._stale) if oids is None else [k for k in oids if k in self._stale]
        for k in keys:
            e = self._stale[k]
            if final or oids is not None or now > e.deadline:
                if e.takes >= 1 and len(e.units) >= 2:
                    self.races += 1
                del self._stale[k]


class _StaleQuote:
    """A quote made stale by a jump: the messages aimed at it within the race window."""

    __slots__ = ("deadline", "jump_t", "order", "takes", "units")

    def __init__(self, order: LabOrder, jump_t: int, deadline: int) -> None:
        self.order = order
        self.jump_t = jump_t
        self.deadline = deadline
        self.units: set[int] = set()
        self.takes = 0
