"""Adversaries: latency sniper, sandwicher, malicious sequencer, selective revealer.

Each is an account like any other, so its profit is measured by the same
ledger and conservation checks as everyone's. The strategies are written
once and meet each mechanism's rules: what an adversary can see (orders in
flight are sealed under commit-reveal) and when its orders execute (at once
in the book, at the close in a batch auction) decide what it earns.
"""

from __future__ import annotations

import math

from sealbatch.auction.batch import clear_market
from sealbatch.research.agents import Agent
from sealbatch.research.mechanisms.batch import order_id_bytes
from sealbatch.research.mechanisms.commit_crypto import sealed_order
from sealbatch.research.scenario import (
    Latency,
    SandwicherConfig,
    SelectiveRevealerConfig,
    SequencerConfig,
    SniperConfig,
)
from sealbatch.research.simulation import (
    BUY,
    SELL,
    Cancel,
    LabOrder,
    Message,
    RevealMsg,
    Simulation,
)
from sealbatch.research.streams import Streams

__all__ = ["Sandwicher", "SelectiveRevealer", "Sequencer", "Sniper"]


class Sniper(Agent):
    """Latency sniper (Budish, Cramton, Shim 2015).

    Learns of a fundamental jump ``edge_us`` before the market makers can
    cancel (observation plus send latency) and sends an IOC order that picks
    off the quotes priced through the new value by at least ``min_edge``
    (up to ``size_lots``; where the book is visible, only what it shows there;
    under commit-reveal blind, for ``size_lots``).
    """

    role = "adversary"
    kind = "sniper"
    watches_jumps = True

    def __init__(
        self, sim: Simulation, streams: Streams, name: str, cfg: SniperConfig, mm_latency: Latency
    ) -> None:
        mm_total = mm_latency.observe_us + mm_latency.send_us
        send_us = max(mm_total - cfg.edge_us, 1.0)
        super().__init__(sim, streams, name, Latency(0.0, send_us, 5.0))
        self.cfg = cfg
        self.attacks = 0

    def observe(self, update: tuple[float, float]) -> None:
        new, old = update
        self.view = new
        if abs(new - old) < self.cfg.jump_threshold_ticks:
            return
        e = self.cfg.min_edge_ticks
        side = BUY if new > old else SELL
        limit = math.floor(new) - e if side > 0 else math.ceil(new) + e
        size = self.cfg.size_lots
        mech = self.sim.mechanism
        if not mech.sealed:
            # the book is visible: take exactly the quotes priced through the new value
            size = min(size, sum(q for _, q in mech.depth(-side, limit)))
            if size == 0:
                return
        self.attacks += 1
        self.sim.send(self, self.order(side, limit, size, True))


class _FrontRunner(Agent):
    """Shared front-running play: buy the liquidity a victim is about to take and
    offer it back one tick inside the victim's limit; unwind what is left once
    the victim's order has been processed."""

    role = "adversary"
    min_victim_lots = 10
    unwind_slippage = 20
    attacks = 0

    def _front_run(self, victim: LabOrder, victim_processed: int, front_delay: int) -> bool:
        sim = self.sim
        mech = sim.mechanism
        if not victim.ioc or victim.qty < self.min_victim_lots or victim.agent == self.idx:
            return False
        s = victim.side
        resale = victim.price - s  # one tick inside the victim's limit
        liquidity = mech.depth(-s, resale - s)  # strictly better than the resale price
        take = 0
        gain = 0
        for price, lots in liquidity:
            q = min(lots, victim.qty - take)
            take += q
            gain += q * s * (resale - price)
            if take >= victim.qty:
                break
        if take == 0 or gain <= 0:
            return False
        sim.send(self, self.order(s, resale - s, take, True), front_delay)
        post = self.order(-s, resale, take, False)
        post.passive = True
        sim.send(self, post, front_delay + 1)
        decide = mech.after(victim_processed) + 1
        sim.schedule(max(decide, sim.now + front_delay + 2), self._unwind, post)
        self.attacks += 1
        return True

    def _unwind(self, post: LabOrder) -> None:
        sim = self.sim
        if post.live and post.rem:
            sim.send(self, Cancel(post.oid, self.idx))
        pos = sim.pos[self.idx]
        if pos:
            side = SELL if pos > 0 else BUY
            limit = self.reference_price() + side * self.unwind_slippage
            sim.send(self, self.order(side, limit, abs(pos), True))


class Sandwicher(_FrontRunner):
    """Sees orders in flight and gets in front of large marketable ones."""

    kind = "sandwicher"

    def __init__(self, sim: Simulation, streams: Streams, name: str, cfg: SandwicherConfig) -> None:
        super().__init__(sim, streams, name, cfg.latency)
        self.min_victim_lots = cfg.min_victim_lots
        self.unwind_slippage = cfg.unwind_slippage_ticks
        self.attacks = 0
        sim.inflight_watchers.append(self)

    def on_in_flight(self, msg: Message | None, arrive: int) -> None:
        if msg is None or type(msg) is not LabOrder:
            return
        delay = self.observe_ns + self.send_delay()
        if self.sim.now + delay + 1 >= arrive:
            return  # too slow to get in front
        self._front_run(msg, arrive, delay)


class Sequencer(_FrontRunner):
    """A malicious sequencer: holds everyone else's messages for ``window_us``
    (releasing them at the window's end in arrival order) while its own go
    straight through, front-running large orders and picking off quotes whose
    replacement it has seen in the queue.

    Every message passes through it under every mechanism, reveals included.
    Under commit-reveal it uses the powers it keeps there (``reveal_straddle``):
    each batch it commits a buy at ``view + offset`` and a sell at
    ``view - offset``; it decides on its reveals in the last millisecond of the
    reveal window, knowing the fundamental and every reveal it has relayed, and
    reveals an order only if clearing the relayed reveals with it (the venue's
    own ``clear_market``) gives it a fill at a price better than the
    fundamental, or if withholding would cost more than revealing. With
    ``censor_reveals`` it also drops others' reveals on the side it favours (its
    competitors for the stale orders), who then forfeit their bonds. It learns
    of fundamental moves as fast as the sniper (observation latency 0).
    """

    kind = "sequencer"
    watches_fundamental = True

    def __init__(self, sim: Simulation, streams: Streams, name: str, cfg: SequencerConfig) -> None:
        super().__init__(sim, streams, name, Latency(0.0, 0.0, 0.0))
        self.cfg = cfg
        self.window_ns = max(int(cfg.window_us * 1000), 1)
        self.min_victim_lots = cfg.min_victim_lots
        self.unwind_slippage = cfg.unwind_slippage_ticks
        self.buffer: list[Message] = []
        self.attacks = 0
        self.snipes = 0
        self.censored = 0
        self.withheld = 0
        self.relayed = 0
        self._relayed: dict[int, list[LabOrder]] = {}  # reveals seen, by batch
        self._straddle: dict[int, int] = {}  # batch -> centre of its straddle
        sim.sequencer = self
        if sim.mechanism.per_batch and cfg.reveal_straddle:
            sim.batch_listeners.append(self)

    def send_delay(self) -> int:
        return 1

    def intercept(self, msg: Message) -> None:
        sim = self.sim
        if not self.buffer:
            release = (sim.now // self.window_ns + 1) * self.window_ns
            sim.schedule(release, self._release, None)
        if type(msg) is RevealMsg:
            o = msg.order
            if self.cfg.censor_reveals and o.side == self._favoured(o.batch):
                self.censored += 1  # never relayed: the owner forfeits its bond
                return
            if self.cfg.reveal_straddle and sim.mechanism.per_batch:
                self._relayed.setdefault(o.batch, []).append(o)
            self.relayed += 1
        self.buffer.append(msg)
        if sim.mechanism.sealed or type(msg) is not LabOrder:
            return
        release = (sim.now // self.window_ns + 1) * self.window_ns
        if self._front_run(msg, release, 1):
            return
        owner = sim.agents[msg.agent]
        if self.cfg.snipe and owner is not None and owner.kind == "mm" and not msg.ioc:
            self._snipe(msg)

    def _snipe(self, quote: LabOrder) -> None:
        """A maker's new quote reveals its new view: take resting quotes priced through it."""
        s = quote.side  # a new bid at b makes asks below b stale (and vice versa)
        stale = self.sim.mechanism.depth(-s, quote.price - s)
        lots = sum(q for _, q in stale)
        if lots:
            self.sim.send(self, self.order(s, quote.price - s, lots, True), 1)
            self.snipes += 1

    def _release(self, _: object) -> None:
        batch, self.buffer = self.buffer, []
        arrive = self.sim.mechanism.arrive
        for msg in batch:
            arrive(msg)

    # -- commit-reveal ------------------------------------------------------------------
    def on_batch_open(self, k: int) -> None:
        c = round(self.view)
        self._straddle = {k: c, **{b: v for b, v in self._straddle.items() if b >= k - 1}}
        self._relayed = {b: v for b, v in self._relayed.items() if b >= k - 1}
        h, q = self.cfg.straddle_offset_ticks, self.cfg.straddle_lots
        for side in (BUY, SELL):
            self.sim.send(self, self.order(side, c + side * h, q, True))

    def _favoured(self, k: int) -> int:
        """The side the fundamental has moved towards since batch ``k``'s straddle (0: none)."""
        c = self._straddle.get(k)
        if c is None or abs(self.view - c) < self.cfg.straddle_offset_ticks:
            return 0
        return BUY if self.view > c else SELL

    def reveal_time(self, close: int, deadline: int) -> int:
        return max(close, deadline - 1_000_000)  # its own reveal goes straight through

    def should_reveal(self, order: LabOrder) -> bool:
        mech = self.sim.mechanism
        bond = mech.spec.bond
        others = self._relayed.get(order.batch, [])
        price, filled = _clear_with(mech.market_id, others, order, self.sim.last_price)
        gain = filled * order.side * (self.view - price) if filled else 0.0
        reveal = gain > 0 or gain > -bond
        if not reveal:
            self.withheld += 1
        return reveal


def _clear_with(
    market: str, others: list[LabOrder], own: LabOrder, last_price: int | None
) -> tuple[float, int]:
    """(price, own lots filled) if the batch were cleared now with ``others`` and ``own``."""
    book = [o for o in others if o.live] + [own]
    orders = [sealed_order(market, o) for o in book]
    ids = [order_id_bytes(o.oid) for o in book]
    discovery, _, fills = clear_market(orders, ids, last_price, b"\x00" * 32)
    if discovery.price is None or not discovery.volume:
        return 0.0, 0
    return float(discovery.price), int(fills[-1])


class SelectiveRevealer(Agent):
    """Under commit-reveal: commits to a buy at ``view + offset`` and a sell at
    ``view - offset`` each batch, then reveals only the side the fundamental
    has moved in favour of by ``min_edge`` (forfeiting the bond on the other).
    Idle under mechanisms without commitments."""

    role = "adversary"
    kind = "selective_revealer"
    watches_fundamental = True

    def __init__(
        self, sim: Simulation, streams: Streams, name: str, cfg: SelectiveRevealerConfig
    ) -> None:
        super().__init__(sim, streams, name, cfg.latency)
        self.cfg = cfg
        self.withheld = 0
        if sim.mechanism.per_batch:
            sim.batch_listeners.append(self)

    def on_batch_open(self, k: int) -> None:
        c = round(self.view)
        h, q = self.cfg.offset_ticks, self.cfg.size_lots
        self.sim.send(self, self.order(BUY, c + h, q, True))
        self.sim.send(self, self.order(SELL, c - h, q, True))

    def reveal_time(self, close: int, deadline: int) -> int:
        """As late as its latency safely allows: it learns the most by waiting."""
        return max(close, deadline - 2 * self.send_ns - 1_000_000)

    def should_reveal(self, order: LabOrder) -> bool:
        edge = order.side * (self.view - order.price)
        reveal = edge >= self.cfg.min_edge_ticks
        if not reveal:
            self.withheld += 1
        return reveal
