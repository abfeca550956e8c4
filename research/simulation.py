"""The event loop: integer-nanosecond time, one heap, plain slotted objects.

:class:`Simulation` owns the clock, the ledger (cash and position of every
account), the trade tape and the message path from an agent to the venue:
``send`` stamps a message with the agent's latency, shows it to adversaries
that watch messages in flight (sealed under commit-reveal: they see only that
a commitment was sent, but a reveal in full) and hands it to the sequencer, if
there is one, or to the mechanism at its arrival time. Every message takes
this path — quotes, orders, cancels, commitments and reveals — under every
mechanism, so a sequencer has the same powers over all of them.

Cash is in ticks × lots (a fill of q lots at p ticks moves ``p * q``),
positions in lots; both are exact integers and sum to zero over all accounts
(the insurance fund, which collects forfeited bonds, is an account too).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable
from typing import Any, Protocol

from sealbatch.research.scenario import Latency

__all__ = [
    "BUY",
    "SELL",
    "Cancel",
    "LabOrder",
    "Message",
    "Participant",
    "RevealMsg",
    "Simulation",
    "TapeFill",
    "latency_ns",
]

BUY = 1
SELL = -1


class LabOrder:
    """An order as the lab routes it: side ±1, limit in ticks, lots, IOC or resting."""

    __slots__ = (
        "agent",
        "batch",
        "ioc",
        "live",
        "oid",
        "passive",
        "post_only",
        "price",
        "private",
        "qty",
        "rem",
        "side",
        "stale",
        "t_arrive",
        "t_sent",
    )

    def __init__(self, oid: int, agent: int, side: int, price: int, qty: int, ioc: bool) -> None:
        self.oid = oid
        self.agent = agent
        self.side = side
        self.price = price
        self.qty = qty
        self.rem = qty
        self.ioc = ioc
        self.t_sent = 0
        self.t_arrive = 0
        self.live = True
        self.private = 0.0
        self.batch = -1
        self.passive = False
        self.post_only = False
        self.stale = False

    def __repr__(self) -> str:
        s = "buy" if self.side > 0 else "sell"
        return f"LabOrder({self.oid}, agent={self.agent}, {s} {self.rem}/{self.qty} @ {self.price})"


class Cancel:
    """Cancel the rest of order ``oid`` (under commit-reveal: do not reveal it)."""

    __slots__ = ("agent", "oid", "t_arrive", "t_sent")

    def __init__(self, oid: int, agent: int) -> None:
        self.oid = oid
        self.agent = agent
        self.t_sent = 0
        self.t_arrive = 0


class RevealMsg:
    """Reveal committed order ``order`` (commit-reveal only). Unlike a commitment
    it discloses the order: anyone watching messages in flight, and a
    sequencer holding it, sees its contents."""

    __slots__ = ("agent", "commitment", "oid", "order", "salt", "t_arrive", "t_sent")

    def __init__(self, order: LabOrder, commitment: bytes, salt: bytes) -> None:
        self.order = order
        self.oid = order.oid
        self.agent = order.agent
        self.commitment = commitment
        self.salt = salt
        self.t_sent = 0
        self.t_arrive = 0


Message = LabOrder | Cancel | RevealMsg

TapeFill = tuple[int, int, int, int, int, int, int, bool, int]
"""(time ns, processing unit, account, order id, side, price, lots, aggressive,
time the order was sent ns — its owner's decision time).

An order is aggressive unless its sender meant it to provide liquidity (a
quote, a ZI limit order): under commit-reveal every order lasts one batch,
so time in force cannot tell the two apart."""


def latency_ns(lat: Latency) -> tuple[int, int, float]:
    """(observe ns, send ns, mean jitter ns) of a latency model."""
    return int(lat.observe_us * 1000), int(lat.send_us * 1000), lat.jitter_us * 1000.0


class Participant(Protocol):
    """What the engine and the mechanisms call on an account's agent
    (:class:`~research.agents.Agent` and its subclasses)."""

    idx: int
    kind: str
    watches_fundamental: bool
    observe_ns: int

    def send_delay(self) -> int:
        """Nanoseconds from decision to arrival at the venue."""
        ...

    def on_fill(self, order: LabOrder, price: int, qty: int) -> None: ...

    def on_in_flight(self, msg: Message | None, arrive: int) -> None: ...

    def on_batch_open(self, k: int) -> None: ...

    def on_unfilled(self, order: LabOrder) -> None: ...

    def should_reveal(self, order: LabOrder) -> bool: ...

    def reveal_time(self, close: int, deadline: int) -> int: ...


class Simulation:
    """One run of one mechanism under one seed; see :func:`~.runner.run_simulation`."""

    def __init__(self, horizon_ns: int) -> None:
        self.now = 0
        self.horizon_ns = horizon_ns
        self.events = 0
        self._heap: list[tuple[int, int, Callable[[Any], object], Any]] = []
        self._seq = 0
        self._next_oid = 1
        self.names: list[str] = []
        self.roles: list[str] = []
        self.cash: list[int] = []
        self.pos: list[int] = []
        self.private: list[float] = []
        self.tape: list[TapeFill] = []
        self.agents: list[Participant | None] = []
        self.inflight_watchers: list[Participant] = []
        self.batch_listeners: list[Participant] = []
        self.seed_bytes = b""
        self.value = 0.0
        #: The fundamental path (times, values) for agents' lagged views.
        self.path_t: Any = None
        self.path_v: list[float] = []
        self.last_price: int | None = None
        #: Value lost by orders picked off after a jump (see Mechanism.on_jump),
        #: split by whether the owner watches the fundamental (market makers,
        #: who race to cancel or withhold) or not (slow traders' orders).
        self.stale_quote_loss = 0.0
        self.stale_order_loss = 0.0
        self.stale_fills = 0
        self.mechanism: Any = None
        self.sequencer: Any = None
        self.insurance = self.add_account("insurance", "insurance", None)

    # -- accounts -----------------------------------------------------------------
    def add_account(self, name: str, role: str, agent: Participant | None) -> int:
        self.names.append(name)
        self.roles.append(role)
        self.cash.append(0)
        self.pos.append(0)
        self.private.append(0.0)
        self.agents.append(agent)
        return len(self.names) - 1

    # -- clock --------------------------------------------------------------------
    def schedule(self, t: int, fn: Callable[[Any], object], arg: Any = None) -> None:
        """Run ``fn(arg)`` at time ``t`` (ns); equal times run in scheduling order."""
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn, arg))

    def run(self) -> int:
        """Process events before the horizon (later ones stay queued); returns how many ran."""
        heap = self._heap
        pop = heapq.heappop
        end = self.horizon_ns
        n = 0
        while heap and heap[0][0] < end:
            t, _, fn, arg = pop(heap)
            self.now = t
            fn(arg)
            n += 1
        self.events += n
        self.now = end
        return n

    def value_at(self, t: int) -> float:
        """The fundamental in force at time ``t`` (ns): what an agent with an
        observation latency of ``now - t`` knows now."""
        if self.path_t is None:
            return self.value
        i = bisect_right(self.path_t, t) - 1
        return self.path_v[i if i > 0 else 0]

    # -- orders -------------------------------------------------------------------
    def new_order(self, agent: int, side: int, price: int, qty: int, ioc: bool) -> LabOrder:
        oid = self._next_oid
        self._next_oid = oid + 1
        return LabOrder(oid, agent, side, price if price > 1 else 1, qty, ioc)

    def send(self, agent: Participant, msg: Message, delay: int | None = None) -> int:
        """Send ``msg`` from ``agent``; returns its arrival time at the venue."""
        now = self.now
        arrive = now + (agent.send_delay() if delay is None else delay)
        msg.t_sent = now
        msg.t_arrive = arrive
        if self.inflight_watchers:
            visible = None if self.mechanism.sealed and type(msg) is not RevealMsg else msg
            for w in self.inflight_watchers:
                if w is not agent:
                    w.on_in_flight(visible, arrive)
        if self.sequencer is not None and agent is not self.sequencer:
            self.schedule(arrive, self.sequencer.intercept, msg)
        else:
            self.schedule(arrive, self.mechanism.arrive, msg)
        return arrive

    def record_fill(self, order: LabOrder, price: int, qty: int, unit: int) -> None:
        """Book ``qty`` lots of ``order`` at ``price``: ledger, tape, the agent's callback."""
        a = order.agent
        s = order.side
        self.cash[a] -= s * price * qty
        self.pos[a] += s * qty
        if order.private:
            self.private[a] += s * qty * order.private
        agent = self.agents[a]
        if order.stale:
            loss = -s * qty * (self.value - price)
            if agent is not None and agent.watches_fundamental:
                self.stale_quote_loss += loss
            else:
                self.stale_order_loss += loss
            self.stale_fills += 1
        self.tape.append(
            (self.now, unit, a, order.oid, s, price, qty, not order.passive, order.t_sent)
        )
        if agent is not None:
            agent.on_fill(order, price, qty)

    def transfer(self, src: int, dst: int, amount: int) -> None:
        """Move ``amount`` of cash between accounts (bonds to the insurance fund)."""
        self.cash[src] -= amount
        self.cash[dst] += amount
