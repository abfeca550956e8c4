"""Migrate a book: replay a LOBSTER message file under every mechanism, adversaries on top.

The question a portfolio manager asks before moving a strategy to another
market design: how would *my* fills, slippage and fees have changed? A
LOBSTER message file (:mod:`sealbatch.research.lobster`) is replayed as the
background order flow of a run, under the continuous book, the batch auction
and commit-reveal alike, with the scenario's adversaries added on top, and a
chosen trader's own orders flagged and measured.

**The flow.** Each row at its time, sent with the replay's latency:

* type 1 (new limit order): a resting order on its own account (one account
  per LOBSTER order id); under commit-reveal, where an order lasts one batch,
  it is committed again to every batch while it is open, as ZI orders are;
* type 2 (partial cancel of ``s``): the order is cancelled and its rest less
  ``s`` sent again (it loses its queue place); under commit-reveal the next
  commitment is ``s`` smaller;
* type 3 (delete): cancelled; under commit-reveal it is not committed again
  (the commitment of the current batch is revealed: withholding would
  forfeit its bond);
* types 4 and 5 (executions): each run at one timestamp and direction becomes
  one marketable order of the opposite side (the aggressor that caused them)
  for the executed size, limited at the worst executed price, on its own
  account (:func:`sealbatch.research.lobster.aggressor_flow`);
* types 6 and 7: skipped.

**The fundamental** is the recorded book's midquote, rebuilt from the
messages: after each row, the mid of the best bid and ask in ticks (a
one-sided book keeps the last mid), known ``news_lead_us`` before the row:
news moves the value first and the book follows, as in the lab's own
scenarios where makers requote one latency after a jump. A move of at least
``jump_ticks`` is a jump, which the sniper acts on; the replayed rows still
reach the venue at their recorded times plus the replay's send latency.

**The trader.** A share ``trader_share`` of the file's aggressor orders
(``trader_role: taker``) or of its limit orders (``maker``), drawn per seed
from the run's streams, are the trader's: they go out on one account. Its
measures (mean over seeds with 95% intervals, paired by seed against the
book) are ``trader_*`` columns:

===================== ==========================================================
``trader_lots``       lots the trader sent (each original order once)
``trader_filled``     lots filled; ``trader_fill_rate`` their share
``trader_shortfall``  Σ D·q·(P − V_d)/V_d × 10⁴ / Σ q over fills, V_d the
                      fundamental when the LOBSTER row was sent (its decision;
                      a recommitted order keeps its first): slippage, bps
``trader_spread``     Σ 2·D·q·(P − V)/V × 10⁴ / Σ q, V the fundamental at the
                      fill: effective spread, bps
``trader_fees``       Σ per-fill fees in ticks × lots, each rounded up as the
                      venue's :func:`sealbatch.settlement.ledger.fill_fee`: the
                      venue's ``fee_bps`` on every fill under the batch
                      mechanisms (one uniform price, no maker or taker), the
                      book's ``clob_taker_fee_bps`` / ``clob_maker_fee_bps``
                      by the fill's side in the book
``trader_fees_bps``   fees over the filled notional, bps
``trader_pnl``        cash + position × V_T − fees, ticks × lots
===================== ==========================================================

A run lasts to the file's last row plus one second (so the last orders
meet their batch's close), or to the scenario's horizon if that is sooner.

Without a file (``messages: ""``), the message file replayed is recorded
from a continuous-book run of the shipped scenario ``record_scenario``
(seed ``record_seed``) and exported with :func:`~sealbatch.research.lobster.export_lobster`
(:func:`sealbatch.research.runner.replay_source`): a book with a known
fundamental, which the report names as such. Point
``replay.messages`` at a real LOBSTER file to replay a real book.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from sealbatch.research.agents import Agent
from sealbatch.research.errors import LobsterFormatError
from sealbatch.research.fundamental import FundamentalPath
from sealbatch.research.lobster import (
    LobsterMessage,
    aggressor_flow,
    read_lobster_messages,
)
from sealbatch.research.scenario import ReplayConfig
from sealbatch.research.simulation import Cancel, LabOrder, Simulation
from sealbatch.research.streams import Streams
from sealbatch.settlement.ledger import fill_fee

__all__ = [
    "TRADER_METRICS",
    "LobsterFlow",
    "ReplaySource",
    "ReplayTrader",
    "load_replay_file",
    "trader_metrics",
]

#: The per-run columns of the flagged trader.
TRADER_METRICS = (
    "trader_lots",
    "trader_filled",
    "trader_fill_rate",
    "trader_shortfall_bps",
    "trader_spread_bps",
    "trader_fees",
    "trader_fees_bps",
    "trader_pnl",
)


@dataclass(frozen=True)
class FlowRow:
    """One replayed action: ``kind`` is ``new``, ``reduce``, ``delete`` or ``take``."""

    t_ns: int
    kind: str
    lobster_id: int
    side: int
    price: int
    size: int


@dataclass(frozen=True)
class ReplaySource:
    """A message file turned into lab order flow and its midquote fundamental."""

    name: str
    rows: tuple[FlowRow, ...]
    path: FundamentalPath
    end_ns: int


def _ticks(price: int, scale: int) -> int:
    # LOBSTER units to ticks, to the nearest tick (half up)
    return (2 * price + scale) // (2 * scale)


def _midquote_path(
    messages: Sequence[LobsterMessage], start: int, scale: int, jump_ticks: int, lead_ns: int
) -> FundamentalPath:
    """The recorded book's mid after every row (ticks), with jumps of ``jump_ticks`` or more."""
    sizes: dict[int, list[int]] = {}  # id -> [direction, price, size]
    times, values = [0], [math.nan]
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}

    def move(book: dict[int, int], price: int, lots: int) -> None:
        left = book.get(price, 0) + lots
        if left > 0:
            book[price] = left
        else:
            book.pop(price, None)

    for m in messages:
        book = bids if m.direction > 0 else asks
        if m.kind == 1:
            sizes[m.order_id] = [m.direction, m.price, m.size]
            move(book, m.price, m.size)
        elif m.kind in (2, 3, 4) and m.order_id in sizes:
            entry = sizes[m.order_id]
            lots = entry[2] if m.kind == 3 else min(m.size, entry[2])
            entry[2] -= lots
            move(bids if entry[0] > 0 else asks, entry[1], -lots)
            if entry[2] <= 0:
                del sizes[m.order_id]
        if bids and asks:
            mid = (max(bids) + min(asks)) / 2 / scale
            if mid != values[-1]:
                times.append(max(m.time_ns - start - lead_ns, 0))
                values.append(mid)
    vals = np.array(values[1:] if len(values) > 1 else [math.nan], dtype=float)
    ts = np.array(times[1:] if len(times) > 1 else [0], dtype=np.int64)
    if np.isnan(vals).all():
        raise LobsterFormatError("expected a two-sided book at some point, got none")
    # before the book is two-sided, the first mid holds; moves the lead pushes
    # before time 0 collapse into the value at 0
    keep = np.concatenate((ts[1:] > ts[:-1], [True]))
    ts, vals = ts[keep], vals[keep]
    ts[0] = 0
    jump = np.concatenate(([False], np.abs(np.diff(vals)) >= jump_ticks))
    return FundamentalPath(ts, vals, jump)


def _flow(messages: Sequence[LobsterMessage], start: int, scale: int) -> tuple[FlowRow, ...]:
    rows: list[FlowRow] = []
    for t, m in aggressor_flow(messages):
        if isinstance(m, LobsterMessage):
            kinds = {1: "new", 2: "reduce", 3: "delete"}
            if m.kind not in kinds:
                continue
            rows.append(
                FlowRow(t - start, kinds[m.kind], m.order_id, m.direction, _ticks(m.price, scale),
                        m.size)
            )  # fmt: skip
        else:
            rows.append(FlowRow(t - start, "take", m.oid, m.side, _ticks(m.price, scale), m.rem))
    return tuple(r for r in rows if r.size > 0 or r.kind == "delete")


@lru_cache(maxsize=8)
def _load(
    path: str, stamp: tuple[int, int], scale: int, jump_ticks: int, lead_ns: int, name: str
) -> ReplaySource:
    """The source of file ``path`` (``stamp``: its size and mtime, so an edit is reread)."""
    messages = sorted(read_lobster_messages(path), key=lambda m: m.time_ns)
    if not messages:
        raise LobsterFormatError(f"{path}: expected at least one message, got none")
    start = messages[0].time_ns
    return ReplaySource(
        name,
        _flow(messages, start, scale),
        _midquote_path(messages, start, scale, jump_ticks, lead_ns),
        messages[-1].time_ns - start,
    )


def load_replay_file(
    path: str, price_scale: int, jump_ticks: int, news_lead_us: float, name: str = ""
) -> ReplaySource:
    """The flow and midquote fundamental of LOBSTER message file ``path`` (cached per
    process, reread when the file changes). The runner's ``replay_source`` picks
    the file a scenario names, or records one.

    Raises:
        LobsterFormatError: the file is unreadable or malformed, or never two-sided.
    """
    lead = round(news_lead_us * 1000)
    return _load(path, _stamp(path), price_scale, jump_ticks, lead, name or Path(path).name)


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = Path(path).stat()
    except OSError as exc:
        raise LobsterFormatError(f"{path}: expected a readable message file, got {exc}") from exc
    return st.st_size, st.st_mtime_ns


class ReplayTrader(Agent):
    """The flagged trader: one account; the flow sends its orders."""

    kind = "trader"

    def __init__(self, sim: Simulation, streams: Streams, flow: LobsterFlow) -> None:
        super().__init__(sim, streams, "trader", flow.cfg.latency)
        self.flow = flow

    def on_fill(self, order: LabOrder, price: int, qty: int) -> None:
        self.flow.on_fill(order, price, qty)

    def on_unfilled(self, order: LabOrder) -> None:
        self.flow.on_unfilled(order)


class LobsterFlow(Agent):
    """Replays a :class:`ReplaySource` as order flow; each LOBSTER order on its own account."""

    kind = "lobster"

    def __init__(
        self, sim: Simulation, streams: Streams, cfg: ReplayConfig, source: ReplaySource
    ) -> None:
        super().__init__(sim, streams, "lobster", cfg.latency)
        self.cfg = cfg
        self.rows = [r for r in source.rows if r.t_ns < sim.horizon_ns]
        self.trader = ReplayTrader(sim, streams, self)
        role = "take" if cfg.trader_role == "taker" else "new"
        eligible = sorted({r.lobster_id for r in self.rows if r.kind == role})
        draw = streams.rng("trader", "flag").random(len(eligible)) < cfg.trader_share
        self.flagged = {lid for lid, f in zip(eligible, draw.tolist(), strict=True) if f}
        ids = sorted({(r.kind == "take", r.lobster_id) for r in self.rows})
        self.accounts: dict[tuple[bool, int], int] = {}
        for take, lid in ids:
            if lid in self.flagged and (take == (role == "take")):
                self.accounts[(take, lid)] = self.trader.idx
            else:
                tag = "take" if take else "order"
                self.accounts[(take, lid)] = sim.add_account(f"lobster.{tag}.{lid}", "background",
                                                             self)  # fmt: skip
        self.per_batch = bool(sim.mechanism.per_batch)
        self.live: dict[int, LabOrder] = {}  # lobster id -> its current lab order
        self.left: dict[int, int] = {}  # lobster id -> lots still meant to rest
        self.lobster_id: dict[int, int] = {}  # lab order id -> lobster id
        #: Lab order id -> when its LOBSTER row was sent (recommits keep the first).
        self.decided: dict[int, int] = {}
        self.trader_lots = 0
        self._i = 0

    def start(self) -> None:
        if self.rows:
            self.sim.schedule(self.rows[0].t_ns, self._next, None)

    def _send_new(self, lid: int, side: int, price: int, lots: int, decided: int) -> None:
        o = self.order(side, price, lots, self.per_batch, self.accounts[(False, lid)])
        o.passive = True
        self.live[lid] = o
        self.lobster_id[o.oid] = lid
        self.decided[o.oid] = decided
        self.sim.send(self, o)

    def _next(self, _: object) -> None:
        r = self.rows[self._i]
        self._i += 1
        sim = self.sim
        if r.kind == "take":
            account = self.accounts[(True, r.lobster_id)]
            o = self.order(r.side, r.price, r.size, True, account)
            self.decided[o.oid] = sim.now
            if account == self.trader.idx:
                self.trader_lots += r.size
            sim.send(self, o)
        elif r.kind == "new":
            if self.accounts[(False, r.lobster_id)] == self.trader.idx:
                self.trader_lots += r.size
            self.left[r.lobster_id] = r.size
            self._send_new(r.lobster_id, r.side, r.price, r.size, sim.now)
        else:
            self._amend(r)
        if self._i < len(self.rows):
            sim.schedule(self.rows[self._i].t_ns, self._next, None)

    def _amend(self, r: FlowRow) -> None:
        """A partial cancel or a delete of a replayed limit order."""
        lid = r.lobster_id
        o = self.live.get(lid)
        if o is None or lid not in self.left:
            return
        if r.kind == "delete":
            self.left.pop(lid)
        else:
            self.left[lid] = max(self.left[lid] - r.size, 0)
        if self.per_batch:
            return  # not committed again (or smaller); the current commitment is revealed
        if o.live and o.rem:
            self.sim.send(self, Cancel(o.oid, o.agent))
        rest = min(o.rem, self.left.get(lid, 0)) if o.live else 0
        if rest > 0:
            self.left[lid] = rest
            self._send_new(lid, o.side, o.price, rest, self.decided[o.oid])
        else:
            self.left.pop(lid, None)
            self.live.pop(lid, None)

    def on_fill(self, order: LabOrder, price: int, qty: int) -> None:
        lid = self.lobster_id.get(order.oid)
        if lid is not None and lid in self.left:
            self.left[lid] = max(self.left[lid] - qty, 0)

    def on_unfilled(self, order: LabOrder) -> None:
        """Commit-reveal: a limit order still open is committed again to the next batch."""
        lid = self.lobster_id.get(order.oid)
        if lid is None or self.live.get(lid) is not order:
            return
        lots = min(order.rem, self.left.get(lid, 0))
        if lots > 0:
            self._send_new(lid, order.side, order.price, lots, self.decided[order.oid])
        else:
            self.live.pop(lid, None)
            self.left.pop(lid, None)


def _fees(side_aggressive: np.ndarray, price: np.ndarray, qty: np.ndarray, cfg: ReplayConfig,
          batch: bool) -> np.ndarray:  # fmt: skip
    rates = (
        np.full(len(qty), cfg.fee_bps)
        if batch
        else np.where(side_aggressive, cfg.clob_taker_fee_bps, cfg.clob_maker_fee_bps)
    )
    return np.array(
        [fill_fee(int(q), int(p), 1, int(b)) for q, p, b in zip(qty, price, rates, strict=True)],
        dtype=np.int64,
    )


def trader_metrics(
    sim: Simulation, path: FundamentalPath, flow: LobsterFlow, batch: bool
) -> dict[str, float]:
    """The flagged trader's ``trader_*`` columns (see the module docstring)."""
    me = flow.trader.idx
    rows = [f for f in sim.tape if f[2] == me]
    lots = flow.trader_lots
    out = dict.fromkeys(TRADER_METRICS, math.nan)
    out["trader_lots"] = float(lots)
    if not rows:
        out["trader_filled"] = 0.0
        out["trader_fill_rate"] = 0.0 if lots else math.nan
        out["trader_fees"] = 0.0
        out["trader_pnl"] = float(sim.cash[me] + sim.pos[me] * path.final)
        return out
    t = np.array([f[0] for f in rows], dtype=np.int64)
    side = np.array([f[4] for f in rows], dtype=np.int64)
    price = np.array([f[5] for f in rows], dtype=np.int64)
    qty = np.array([f[6] for f in rows], dtype=np.int64)
    aggressive = np.array([f[7] for f in rows], dtype=bool)
    decided = np.array([flow.decided.get(f[3], f[8]) for f in rows], dtype=np.int64)
    v_fill = np.asarray(path.at(t), dtype=float).reshape(len(t))
    v_dec = np.asarray(path.at(decided), dtype=float).reshape(len(t))
    filled = int(qty.sum())
    fees = _fees(aggressive, price, qty, flow.cfg, batch)
    out["trader_filled"] = float(filled)
    out["trader_fill_rate"] = filled / lots if lots else math.nan
    out["trader_shortfall_bps"] = float(np.sum(side * qty * (price - v_dec) / v_dec) / filled * 1e4)
    out["trader_spread_bps"] = float(
        np.sum(2 * side * qty * (price - v_fill) / v_fill) / filled * 1e4
    )
    out["trader_fees"] = float(fees.sum())
    out["trader_fees_bps"] = float(fees.sum() / np.sum(price * qty) * 1e4)
    out["trader_pnl"] = float(sim.cash[me] + sim.pos[me] * path.final - fees.sum())
    return out
