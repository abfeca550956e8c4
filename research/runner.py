"""One run: a scenario, one mechanism, one seed -> a row of metrics.

:func:`run_simulation` wires the pieces (fundamental path, mechanism, agents,
adversaries, optional RFQ desk), runs the event loop to the horizon, checks
conservation and computes the metrics. Account order is fixed (insurance,
market makers, ZI, value, noise, then adversaries), so with one seed every
mechanism sees the same agents drawing from the same streams.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sealbatch.research.adversaries import Sandwicher, SelectiveRevealer, Sequencer, Sniper
from sealbatch.research.agents import Agent, MarketMaker, NoiseTraders, ValueTraders, ZiTraders
from sealbatch.research.errors import LobsterFormatError
from sealbatch.research.fundamental import FundamentalPath, draw_fundamental
from sealbatch.research.lobster import export_lobster
from sealbatch.research.mechanisms.base import Mechanism
from sealbatch.research.mechanisms.registry import build_mechanism
from sealbatch.research.mechanisms.rfq import RfqDesk
from sealbatch.research.metrics import compute_metrics
from sealbatch.research.replay import LobsterFlow, ReplaySource, load_replay_file, trader_metrics
from sealbatch.research.scenario import MechanismSpec, Scenario
from sealbatch.research.simulation import Simulation
from sealbatch.research.streams import Streams

__all__ = ["EVENT_OFFSETS_MS", "RunResult", "jump_event_study", "replay_source", "run_simulation"]


@dataclass
class RunResult:
    """The metrics row of a run, and what is needed to export or inspect it."""

    metrics: dict[str, Any]
    sim: Simulation
    path: FundamentalPath
    sample_t: npt.NDArray[np.int64]
    sample_p: npt.NDArray[np.float64]
    agents: list[Agent] = field(default_factory=list)

    @property
    def mechanism(self) -> Mechanism:
        m: Mechanism = self.sim.mechanism
        return m


class _FundamentalFeed:
    """Moves the fundamental along its path and tells watchers after their latency."""

    def __init__(self, sim: Simulation, path: FundamentalPath, jump_threshold: float) -> None:
        self.sim = sim
        self.times = path.times.tolist()
        self.values = path.values.tolist()
        self.jumps = path.jump.tolist()
        self.all: list[Agent] = []
        self.jump_only: list[Agent] = []
        self.threshold = jump_threshold

    def start(self) -> None:
        if len(self.times) > 1:
            self.sim.schedule(self.times[1], self._update, 1)

    def _update(self, i: int) -> None:
        sim = self.sim
        old, new = self.values[i - 1], self.values[i]
        sim.value = new
        jump = self.jumps[i]
        if jump and abs(new - old) >= self.threshold:
            sim.mechanism.on_jump(new)
        update = (new, old)
        now = sim.now
        for w in self.all:
            sim.schedule(now + w.observe_delay(), w.observe, update)
        if jump:
            for w in self.jump_only:
                sim.schedule(now + w.observe_delay(), w.observe, update)
        if i + 1 < len(self.times):
            sim.schedule(self.times[i + 1], self._update, i + 1)


class _Sampler:
    """Samples the public price (visible midquote, else last price) on a fixed grid."""

    def __init__(self, sim: Simulation, every_ns: int) -> None:
        self.sim = sim
        self.every = every_ns
        self.t: list[int] = []
        self.p: list[float] = []

    def start(self) -> None:
        self.sim.schedule(0, self._sample, None)

    def _sample(self, _: object) -> None:
        sim = self.sim
        mid = sim.mechanism.mid()
        price = mid if mid is not None else sim.last_price
        self.t.append(sim.now)
        self.p.append(float(price) if price is not None else float("nan"))
        sim.schedule(sim.now + self.every, self._sample, None)


#: Event-study offsets around a jump (ms): the public price sampled at each.
EVENT_OFFSETS_MS = (-100, -50, 0, 50, 100, 150, 200, 300, 400, 500, 750, 1000)


def jump_event_study(
    path: FundamentalPath,
    sample_t: npt.NDArray[np.int64],
    sample_p: npt.NDArray[np.float64],
    threshold: float,
    horizon_ns: int,
) -> dict[str, float]:
    """The public price around jumps, as the share of the jump it has absorbed.

    For each jump of at least ``threshold`` ticks at ``t`` from ``V₋`` to ``V₊``,
    and each offset ``d`` of :data:`EVENT_OFFSETS_MS`, the last sampled public
    price ``P`` at or before ``t + d`` gives ``(P − V₋)/(V₊ − V₋)``: 0 before
    the news, 1 once the price has moved all the way. Averaged over the run's
    jumps; columns ``es_<d>ms`` (NaN without jumps or samples).
    """
    out = {f"es_{d}ms": math.nan for d in EVENT_OFFSETS_MS}
    jumps = np.flatnonzero(path.jump)
    jumps = jumps[jumps > 0]
    if len(jumps) == 0 or len(sample_t) == 0:
        return out
    dv = path.values[jumps] - path.values[jumps - 1]
    keep = np.abs(dv) >= threshold
    jumps, dv = jumps[keep], dv[keep]
    t0, v0 = path.times[jumps], path.values[jumps - 1]
    for d in EVENT_OFFSETS_MS:
        t = t0 + d * 1_000_000
        ok = (t >= 0) & (t < horizon_ns)
        i = np.searchsorted(sample_t, t[ok], side="right") - 1
        p = np.where(i >= 0, sample_p[np.maximum(i, 0)], np.nan)
        share = (p - v0[ok]) / dv[ok]
        if np.isfinite(share).any():
            out[f"es_{d}ms"] = float(np.nanmean(share))
    return out


@lru_cache(maxsize=8)
def _recorded_book(scenario_name: str, seed: int, horizon_s: float) -> str:
    """Record a continuous-book run of a shipped scenario as a LOBSTER message file
    (prices in ticks: price scale 1); returns its path."""
    from sealbatch.research.scenario import load_scenario
    from sealbatch.research.scenarios import shipped_scenario

    shipped = shipped_scenario(scenario_name)
    if shipped is None:
        raise LobsterFormatError(
            f"replay.record_scenario: expected a shipped scenario, got {scenario_name!r}"
        )
    base = load_scenario(shipped).with_override("horizon_s", horizon_s)
    result = run_simulation(base, MechanismSpec("clob"), seed, record=True)
    folder = Path(tempfile.mkdtemp(prefix="sealbatch-replay-"))
    msg, _ = export_lobster(result.mechanism, folder, f"{scenario_name}-seed{seed}", 1)
    return str(msg)


def replay_source(scenario: Scenario) -> ReplaySource:
    """The flow and fundamental of the book a scenario's ``replay`` section names:
    its ``messages`` file, or else a book recorded from ``record_scenario``.

    Raises:
        LobsterFormatError: the file is unreadable or malformed, or never two-sided,
            or ``record_scenario`` is not a shipped scenario.
    """
    cfg = scenario.replay
    if cfg.messages:
        return load_replay_file(cfg.messages, cfg.price_scale, cfg.jump_ticks, cfg.news_lead_us)
    path = _recorded_book(cfg.record_scenario, cfg.record_seed, scenario.horizon_s)
    name = f"recorded from {cfg.record_scenario} (continuous book, seed {cfg.record_seed})"
    return load_replay_file(path, 1, cfg.jump_ticks, cfg.news_lead_us, name)


def run_simulation(
    scenario: Scenario,
    spec: MechanismSpec,
    seed: int,
    record: bool = False,
    crypto_workers: int = 0,
) -> RunResult:
    """Run ``scenario`` under mechanism ``spec`` with ``seed``.

    Args:
        record: keep the LOBSTER message log and book snapshots.
        crypto_workers: worker processes that sign and check the sealed orders'
            commitments ahead of need (commit-reveal, commit-encrypt); 0: in
            place. The outcomes are the same; only the run's speed differs.

    Raises:
        ConservationError: the run created or destroyed cash or position.
    """
    started = time.perf_counter()
    horizon = scenario.horizon_ns
    streams = Streams(seed)
    source = None
    if scenario.replay.enabled:
        source = replay_source(scenario)
        # the file's end plus a second, so its last orders meet their batch's close
        horizon = min(horizon, source.end_ns + 1_000_000_000)
        path = source.path
    else:
        path = draw_fundamental(scenario.fundamental, streams, horizon)
    sim = Simulation(horizon)
    sim.seed_bytes = seed.to_bytes(8, "big")
    sim.value = float(path.values[0])
    sim.path_t = path.times.tolist()
    sim.path_v = path.values.tolist()
    # a replayed book starts at its own first midquote (the price band is around it)
    sim.last_price = scenario.fundamental.start_ticks if source is None else round(path.values[0])
    mech = build_mechanism(spec, sim, scenario, crypto_workers)
    sim.mechanism = mech
    if record:
        mech.enable_recording()
    cfg = scenario.agents
    rfq = RfqDesk(sim, scenario.rfq) if scenario.rfq.enabled else None
    agents: list[Agent] = []
    makers = [
        MarketMaker(sim, streams, f"mm{i}", cfg.market_makers)
        for i in range(cfg.market_makers.count)
    ]
    agents.extend(makers)
    if rfq is not None:
        rfq.quoters = list(makers)
    agents.append(ZiTraders(sim, streams, "zi", cfg.zi))
    agents.append(ValueTraders(sim, streams, "value", cfg.value))
    agents.append(NoiseTraders(sim, streams, "noise", cfg.noise, rfq))
    flow = None
    if source is not None:
        flow = LobsterFlow(sim, streams, scenario.replay, source)
        agents.extend([flow, flow.trader])
    adv = scenario.adversaries
    if adv.sniper.enabled:
        agents.append(Sniper(sim, streams, "sniper", adv.sniper, cfg.market_makers.latency))
    if adv.sandwicher.enabled:
        agents.append(Sandwicher(sim, streams, "sandwicher", adv.sandwicher))
    if adv.sequencer.enabled:
        agents.append(Sequencer(sim, streams, "sequencer", adv.sequencer))
    if adv.selective_revealer.enabled:
        agents.append(SelectiveRevealer(sim, streams, "selective_revealer", adv.selective_revealer))

    feed = _FundamentalFeed(sim, path, scenario.metrics.jump_threshold_ticks)
    feed.all = [a for a in agents if a.watches_fundamental]
    feed.jump_only = [a for a in agents if a.watches_jumps]
    sampler = _Sampler(sim, max(int(scenario.metrics.sample_ms * 1e6), 1))
    mech.start()
    feed.start()
    sampler.start()
    for a in agents:
        a.start()
    loop_started = time.perf_counter()
    loop_cpu = time.process_time()
    sim.run()
    loop = time.perf_counter() - loop_started
    loop_cpu = time.process_time() - loop_cpu
    mech.finish()
    wall = time.perf_counter() - started
    sample_t = np.array(sampler.t, dtype=np.int64)
    sample_p = np.array(sampler.p, dtype=float)
    event_study = jump_event_study(
        path, sample_t, sample_p, scenario.metrics.jump_threshold_ticks, horizon
    )
    extras: dict[str, float | int] = {
        "events": sim.events,
        "sample_events": len(sampler.t),
        "wall_s": wall,
        "loop_s": loop,
        "loop_cpu_s": loop_cpu,
        "events_per_s": sim.events / loop if loop > 0 else 0.0,
    }
    if hasattr(mech, "venue_code_s"):
        extras["venue_code_s"] = float(mech.venue_code_s)
    crypto = getattr(mech, "crypto", None)
    if crypto is not None:  # CPU the worker processes spent on this run (0 in place)
        extras["crypto_worker_cpu_s"] = float(crypto.worker_cpu_s)
    for name in (
        "commits",
        "reveals",
        "forfeits",
        "bonds_paid",
        "rejections",
        "batches",
        "batches_traded",
    ):
        if hasattr(mech, name):
            extras[name] = int(getattr(mech, name))
    for a in agents:
        if a.role == "adversary":
            extras[f"attacks_{a.kind}"] = int(getattr(a, "attacks", 0) + getattr(a, "snipes", 0))
            forfeits = getattr(mech, "forfeits_by_account", {}).get(a.idx, 0)
            extras[f"forfeits_{a.kind}"] = int(forfeits)
            extras[f"bonds_{a.kind}"] = int(forfeits) * spec.bond
            for name in ("censored", "withheld"):
                if hasattr(a, name):
                    extras[f"{name}_{a.kind}"] = int(getattr(a, name))
    quoted = sum(m.quoted_sum for m in makers)
    n_quotes = sum(m.quoted_n for m in makers)
    extras["mm_half_spread_ticks"] = quoted / n_quotes if n_quotes else math.nan
    extras["jumps"] = int(path.jump.sum())
    extras.update(event_study)
    if flow is not None:
        extras.update(trader_metrics(sim, path, flow, batch=spec.kind != "clob"))
    if rfq is not None:
        extras["rfq_requests"] = rfq.requests
        extras["rfq_filled"] = rfq.filled
    metrics = compute_metrics(
        sim, path, sample_t, sample_p, int(scenario.metrics.sandwich_window_ms * 1e6), extras
    )
    for name in mech.not_applicable:
        metrics[name] = math.nan
    if not mech.per_batch:
        # without commitments the selective revealer has nothing to withhold: idle by definition
        for key in list(metrics):
            if key.endswith("_selective_revealer"):
                metrics[key] = math.nan
    row: dict[str, Any] = {
        "scenario": scenario.name,
        "mechanism": spec.label,
        "kind": spec.kind,
        "interval_ms": spec.interval_ms if spec.kind != "clob" else 0,
        "bond": spec.bond,
        "seed": seed,
    }
    row.update(metrics)
    return RunResult(row, sim, path, sample_t, sample_p, agents)
