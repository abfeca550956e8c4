"""Background agents: market makers, zero-intelligence traders, value traders, noise traders.

Each agent is one account. Its random draws come from its own streams
(:class:`sealbatch.research.streams.Streams`), so every mechanism sees the same
arrivals, sides, sizes and private values for a given seed. Agents see the
fundamental only through :meth:`Agent.observe` after their observation
latency, and reach the venue after their send latency plus jitter.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sealbatch.research.scenario import (
    Latency,
    MarketMakerConfig,
    NoiseConfig,
    ValueTraderConfig,
    ZiConfig,
)
from sealbatch.research.simulation import (
    BUY,
    SELL,
    Cancel,
    LabOrder,
    Message,
    Simulation,
    latency_ns,
)
from sealbatch.research.streams import Streams

if TYPE_CHECKING:
    from sealbatch.research.mechanisms.rfq import RfqDesk

__all__ = ["Agent", "MarketMaker", "NoiseTraders", "ValueTraders", "ZiTraders"]

_JITTER_DRAWS = 4096


class Agent:
    """One trading account with a latency model.

    Subclasses override the hooks they need: :meth:`start`, :meth:`observe`
    (a fundamental update, after the observation latency), :meth:`on_fill`,
    :meth:`on_in_flight`, :meth:`on_batch_open`, :meth:`should_reveal`.
    """

    role = "background"
    kind = "agent"
    watches_fundamental = False
    watches_jumps = False

    def __init__(self, sim: Simulation, streams: Streams, name: str, latency: Latency) -> None:
        self.sim = sim
        self.name = name
        self.idx = sim.add_account(name, self.role, self)
        self.observe_ns, self.send_ns, jitter_mean = latency_ns(latency)
        if jitter_mean > 0:
            draws = streams.rng(name, "jitter").exponential(jitter_mean, _JITTER_DRAWS)
            self._jitter: list[int] = draws.astype(np.int64).tolist()
        else:
            self._jitter = [0] * _JITTER_DRAWS
        self._j = 0
        self.view: float = sim.value

    def jitter(self) -> int:
        j = self._j
        self._j = (j + 1) % _JITTER_DRAWS
        return self._jitter[j]

    def send_delay(self) -> int:
        """Nanoseconds from decision to arrival at the venue."""
        return self.send_ns + self.jitter()

    def observe_delay(self) -> int:
        return self.observe_ns

    def order(
        self, side: int, price: int, qty: int, ioc: bool, account: int | None = None
    ) -> LabOrder:
        """A new order on this agent's account (or on ``account``, one of its own)."""
        return self.sim.new_order(self.idx if account is None else account, side, price, qty, ioc)

    def seen_value(self) -> float:
        """The fundamental as this agent knows it now: as it was one observation latency ago."""
        return self.sim.value_at(self.sim.now - self.observe_ns)

    def reference_price(self) -> int:
        """The public price: the visible midquote, else the last trade or clearing price."""
        mid = self.sim.mechanism.mid()
        if mid is not None:
            return int(mid)
        last = self.sim.last_price
        return int(last) if last is not None else round(self.sim.value)

    # hooks
    def start(self) -> None:
        """Schedule the agent's own first events."""

    def observe(self, update: tuple[float, float]) -> None:
        """A fundamental update (new value, previous value) reaching the agent."""
        self.view = update[0]

    def on_fill(self, order: LabOrder, price: int, qty: int) -> None:
        """``qty`` lots of ``order`` filled at ``price``."""

    def on_in_flight(self, msg: Message | None, arrive: int) -> None:
        """Another agent's message in flight (None when sealed)."""

    def on_batch_open(self, k: int) -> None:
        """Batch ``k``'s commit window opened (per-batch mechanisms)."""

    def should_reveal(self, order: LabOrder) -> bool:
        """Whether to reveal a commitment now (commit-reveal only)."""
        return True

    def reveal_time(self, close: int, deadline: int) -> int:
        """When to decide on revealing a commitment whose commit window closed at
        ``close`` (reveals must arrive before ``deadline``): at once for traders
        who do not follow the fundamental; halfway through the reveal window,
        with what they have learnt since, for those who do."""
        if self.watches_fundamental:
            return close + (deadline - close) // 2
        return close

    def on_unfilled(self, order: LabOrder) -> None:
        """Per-batch mechanisms: ``order``'s batch closed with ``order.rem`` lots unfilled."""


def _open_accounts(agent: Agent, n: int) -> list[int]:
    """One account per arriving trader of a population (``name.i``), so no two
    arrivals share a position, a P&L or an identity on the tape."""
    sim = agent.sim
    return [sim.add_account(f"{agent.name}.{i}", agent.role, agent) for i in range(n)]


class _Arrivals(Agent):
    """A population of traders arriving at pre-drawn Poisson times, each on its own account."""

    def __init__(
        self, sim: Simulation, streams: Streams, name: str, latency: Latency, rate_hz: float
    ) -> None:
        super().__init__(sim, streams, name, latency)
        self.times: list[int] = streams.poisson_times(
            name, "arrivals", rate_hz, sim.horizon_ns
        ).tolist()
        self.accounts = _open_accounts(self, len(self.times))
        self._i = 0

    def start(self) -> None:
        if self.times:
            self.sim.schedule(self.times[0], self._arrive, None)

    def _arrive(self, _: object) -> None:
        i = self._i
        self._i = i + 1
        self.act(i)
        if i + 1 < len(self.times):
            self.sim.schedule(self.times[i + 1], self._arrive, None)

    def act(self, i: int) -> None:
        raise NotImplementedError


class MarketMaker(Agent):
    """Quotes ``size`` lots at ``center ± h`` around its view of the fundamental.

    Re-quotes (cancel and replace) when its view moves by ``requote_ticks``,
    replenishes a side that was filled, re-sends quotes every batch where
    orders last one batch, and under commit-reveal withholds a stale quote
    when revealing it would lose more than the bond.

    The half-spread ``h`` is ``half_spread_ticks``, or, with ``learn``, a choice:
    zero-expected-profit quoting (Glosten and Milgrom 1985) that learns the
    adverse-selection cost from the maker's own fills. ``markout_ms`` after each
    fill of ``q`` lots at ``p`` on side ``s`` with half-spread ``h_used``, the
    maker marks it to its view ``V'``: profit per lot ``π = s·(V' − p)``, cost
    ``h_used − π``. Its estimate moves towards the cost by ``min(1,
    learning_rate·q)`` of the gap, and it quotes the estimate rounded to the
    nearest tick within ``[min_half_spread_ticks, max_half_spread_ticks]``: a
    quote that just pays for the adverse selection it meets, so the spread is
    an outcome (Budish, Cramton, Shim 2015, §V: the zero-profit spread).
    """

    kind = "mm"
    watches_fundamental = True

    def __init__(
        self, sim: Simulation, streams: Streams, name: str, cfg: MarketMakerConfig
    ) -> None:
        super().__init__(sim, streams, name, cfg.latency)
        self.cfg = cfg
        self.center: int | None = None
        self.quotes: list[LabOrder] = []
        self.per_batch = bool(sim.mechanism.per_batch)
        if self.per_batch:
            sim.batch_listeners.append(self)
        self.h_estimate = float(cfg.half_spread_ticks)
        self.markout_ns = int(cfg.markout_ms * 1e6)
        self.quoted_sum = 0
        self.quoted_n = 0
        self._measure_from = sim.horizon_ns // 2

    @property
    def half_spread(self) -> int:
        """The half-spread quoted now (ticks): fixed, or the learnt zero-profit one."""
        if not self.cfg.learn:
            return self.cfg.half_spread_ticks
        h = math.floor(self.h_estimate + 0.5)
        return min(max(h, self.cfg.min_half_spread_ticks), self.cfg.max_half_spread_ticks)

    def start(self) -> None:
        if not self.per_batch:
            self.sim.schedule(0, lambda _: self._requote(round(self.view)), None)

    def observe(self, update: tuple[float, float]) -> None:
        self.view = update[0]
        if self.per_batch:
            return  # committed quotes cannot be replaced, only withheld at reveal
        c = round(update[0])
        if self.center is None or abs(c - self.center) >= self.cfg.requote_ticks:
            self._requote(c)

    def _requote(self, c: int) -> None:
        sim = self.sim
        for q in self.quotes:
            if q.live:
                sim.send(self, Cancel(q.oid, self.idx))
        self.center = c
        h, size = self.half_spread, self.cfg.size_lots
        if sim.now >= self._measure_from:
            self.quoted_sum += h
            self.quoted_n += 1
        ioc = self.per_batch
        self.quotes = [self.order(BUY, c - h, size, ioc), self.order(SELL, c + h, size, ioc)]
        for q in self.quotes:
            q.passive = True
            q.post_only = True
            sim.send(self, q)

    def on_batch_open(self, k: int) -> None:
        self.quotes = []
        self._requote(round(self.view))

    def on_fill(self, order: LabOrder, price: int, qty: int) -> None:
        if self.cfg.learn:
            h_used = self.half_spread if self.center is None else abs(self.center - order.price)
            self.sim.schedule(
                self.sim.now + self.markout_ns, self._markout, (order.side, price, qty, h_used)
            )
        if self.per_batch or order.rem or order not in self.quotes or self.center is None:
            return
        h = self.half_spread
        fresh = self.order(order.side, self.center - order.side * h, self.cfg.size_lots, False)
        fresh.passive = True
        fresh.post_only = True
        self.quotes = [q for q in self.quotes if q is not order] + [fresh]
        self.sim.send(self, fresh)

    def _markout(self, fill: tuple[int, int, int, int]) -> None:
        side, price, qty, h_used = fill
        profit = side * (self.view - price)  # per lot, marked to the view markout_ms later
        weight = min(1.0, self.cfg.learning_rate * qty)
        self.h_estimate += weight * ((h_used - profit) - self.h_estimate)

    def should_reveal(self, order: LabOrder) -> bool:
        loss = max(0.0, order.side * (order.price - self.view)) * order.qty
        return loss <= self.sim.mechanism.spec.bond

    def rfq_quote(self, request_side: int) -> int:
        """The price this maker offers a request for quote on ``request_side``."""
        c = round(self.view)
        return c + request_side * self.half_spread


class ZiTraders(Agent):
    """Zero-intelligence traders with private values (ZI-C, Gode and Sunder 1993).

    Each arrival is a new trader on its own account. A trader arriving at
    ``t`` values a lot at ``V + δ``, ``V`` the fundamental as it saw it one
    observation latency earlier and ``δ ~ N(0, private_sd)`` its private part;
    a buyer bids uniformly in ``[value - range, value]``, a seller asks in
    ``[value, value + range]`` (never trading at a loss to its own value).
    Orders rest for ``lifetime_ms`` of wall time under every mechanism (0:
    immediate or cancel): cancelled after the lifetime in a book or batch
    auction; under commit-reveal, where an order lasts one batch, what is
    left unfilled is committed again to the next batch until the lifetime
    ends. Surplus counts ``δ`` per lot traded (the private part of the value;
    the common part is marked to the final fundamental).
    """

    kind = "zi"

    def __init__(self, sim: Simulation, streams: Streams, name: str, cfg: ZiConfig) -> None:
        super().__init__(sim, streams, name, cfg.latency)
        self.cfg = cfg
        self.times = streams.poisson_times(name, "arrivals", cfg.rate_hz, sim.horizon_ns).tolist()
        n = len(self.times)
        self.accounts = _open_accounts(self, n)
        self.sides = streams.rng(name, "side").choice(np.array([BUY, SELL]), n).tolist()
        self.deltas = (
            streams.rng(name, "private_value").standard_normal(n) * cfg.private_sd_ticks
        ).tolist()
        self.u = streams.rng(name, "markup").random(n).tolist()
        self.sizes = streams.rng(name, "size").integers(1, cfg.max_lots + 1, n).tolist()
        self._i = 0
        self.lifetime_ns = int(cfg.lifetime_ms * 1e6)
        self._expiry: dict[int, int] = {}  # order id -> end of its trader's lifetime (per batch)

    def start(self) -> None:
        if self.times:
            self.sim.schedule(self.times[0], self._arrive, None)

    def _arrive(self, _: object) -> None:
        i = self._i
        self._i = i + 1
        sim = self.sim
        side, delta = self.sides[i], self.deltas[i]
        value = self.seen_value() + delta
        markup = self.u[i] * self.cfg.range_ticks
        price = math.floor(value - markup) if side > 0 else math.ceil(value + markup)
        per_batch = sim.mechanism.per_batch
        rests = not per_batch and self.lifetime_ns > 0
        o = self.order(side, price, self.sizes[i], not rests, self.accounts[i])
        o.private = delta
        o.passive = True
        sim.send(self, o)
        if rests:
            sim.schedule(sim.now + self.lifetime_ns, self._expire, o)
        elif per_batch and self.lifetime_ns > 0:
            self._expiry[o.oid] = sim.now + self.lifetime_ns
        if i + 1 < len(self.times):
            sim.schedule(self.times[i + 1], self._arrive, None)

    def _expire(self, o: LabOrder) -> None:
        if o.live and o.rem:
            self.sim.send(self, Cancel(o.oid, o.agent))

    def on_unfilled(self, order: LabOrder) -> None:
        """Per-batch mechanisms: commit what is left to the next batch while the lifetime lasts."""
        expiry = self._expiry.pop(order.oid, None)
        sim = self.sim
        if expiry is None or order.rem <= 0 or sim.now + self.send_ns >= expiry:
            return
        again = self.order(order.side, order.price, order.rem, True, order.agent)
        again.private = order.private
        again.passive = True
        self._expiry[again.oid] = expiry
        sim.send(self, again)


class ValueTraders(_Arrivals):
    """Trade when their noisy estimate of the fundamental differs from the public price."""

    kind = "value"

    def __init__(
        self, sim: Simulation, streams: Streams, name: str, cfg: ValueTraderConfig
    ) -> None:
        super().__init__(sim, streams, name, cfg.latency, cfg.rate_hz)
        self.cfg = cfg
        self.noise = (
            streams.rng(name, "signal_noise").standard_normal(len(self.times)) * cfg.noise_sd_ticks
        ).tolist()

    def act(self, i: int) -> None:
        est = self.seen_value() + self.noise[i]
        ref = self.reference_price()
        thr, size, acct = self.cfg.threshold_ticks, self.cfg.size_lots, self.accounts[i]
        if est - ref > thr:
            self.sim.send(self, self.order(BUY, round(est) - thr, size, True, acct))
        elif ref - est > thr:
            self.sim.send(self, self.order(SELL, round(est) + thr, size, True, acct))


class NoiseTraders(_Arrivals):
    """Marketable orders of random side and size; a share are large (sandwich victims, RFQs)."""

    kind = "noise"

    def __init__(
        self,
        sim: Simulation,
        streams: Streams,
        name: str,
        cfg: NoiseConfig,
        rfq: RfqDesk | None = None,
    ) -> None:
        super().__init__(sim, streams, name, cfg.latency, cfg.rate_hz)
        self.cfg = cfg
        n = len(self.times)
        self.sides = streams.rng(name, "side").choice(np.array([BUY, SELL]), n).tolist()
        large = streams.rng(name, "large").random(n) < cfg.large_prob
        small = streams.rng(name, "size").integers(1, cfg.max_lots + 1, n)
        self.sizes = np.where(large, cfg.large_lots, small).tolist()
        self.rfq = rfq

    def act(self, i: int) -> None:
        side, size = self.sides[i], self.sizes[i]
        limit = self.reference_price() + side * self.cfg.slippage_ticks
        acct = self.accounts[i]
        if self.rfq is not None and size >= self.rfq.cfg.min_lots:
            self.rfq.request(self, side, size, limit, acct)
            return
        self.sim.send(self, self.order(side, limit, size, True, acct))
