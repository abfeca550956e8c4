"""Metrics of one run, computed from the ledger, the trade tape and the price path.

Definitions and references are in docs/lab.md. Cash and positions are exact
integers; profit, surplus, spreads and errors are floats (the final
fundamental is a real number).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sealbatch.research.errors import ConservationError
from sealbatch.research.fundamental import FundamentalPath
from sealbatch.research.simulation import Simulation

__all__ = [
    "Benchmark",
    "Tape",
    "check_conservation",
    "cost_metrics",
    "count_sandwiches",
    "fundamental_benchmark",
    "public_benchmark",
    "tape_arrays",
]

_BACKGROUND = ("background",)


@dataclass(frozen=True)
class Tape:
    """The trade tape as columns (one row per order fill)."""

    t: npt.NDArray[np.int64]
    unit: npt.NDArray[np.int64]
    agent: npt.NDArray[np.int64]
    oid: npt.NDArray[np.int64]
    side: npt.NDArray[np.int64]
    price: npt.NDArray[np.int64]
    qty: npt.NDArray[np.int64]
    aggressive: npt.NDArray[np.bool_]
    t_sent: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.t)


def tape_arrays(sim: Simulation) -> Tape:
    if not sim.tape:
        z = np.zeros(0, np.int64)
        return Tape(z, z, z, z, z, z, z, np.zeros(0, np.bool_), z)
    a = np.array(sim.tape, dtype=np.int64)
    c = [a[:, i] for i in range(9)]
    return Tape(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7].astype(bool), c[8])


def check_conservation(sim: Simulation, tape: Tape) -> None:
    """Cash and positions sum to zero over all accounts; bought equals sold.

    Raises:
        ConservationError: naming the quantity that does not balance.
    """
    cash, pos = sum(sim.cash), sum(sim.pos)
    if cash != 0:
        raise ConservationError(f"expected total cash 0, got {cash}")
    if pos != 0:
        raise ConservationError(f"expected total position 0, got {pos}")
    bought = int(tape.qty[tape.side > 0].sum())
    sold = int(tape.qty[tape.side < 0].sum())
    if bought != sold:
        raise ConservationError(f"expected bought = sold, got {bought} and {sold}")
    n = len(sim.pos)
    per_account = np.bincount(tape.agent, weights=tape.side * tape.qty, minlength=n)
    positions = np.asarray(sim.pos, dtype=np.int64)
    bad = np.flatnonzero(per_account[:n].astype(np.int64) != positions)
    if len(bad) or len(per_account) > n:
        a = int(bad[0]) if len(bad) else n
        raise ConservationError(
            f"account {a}: expected position {int(per_account[a])} from the tape, "
            f"got {int(positions[a]) if a < n else 'no account'}"
        )


def count_sandwiches(tape: Tape, victim_accounts: set[int], window_ns: int) -> int:
    """Victim orders sandwiched by the usual rule (Torres, Camino, State 2021; Qin, Zhou,
    Gervais 2022), adapted to a venue's processing units.

    A victim order V (an aggressive order of a background account) is
    sandwiched when one other account A has (i) an aggressive fill on V's side
    processed in an earlier unit than V's first fill, and (ii) a fill on the
    opposite side processed in V's unit or later, both within ``window_ns`` of
    V, with the back leg between half and twice the front leg. Inside one
    uniform-price batch there is no "before", so front legs in V's own batch
    do not count. RFQ fills (unit < 0) are not on the public path and are skipped.
    """
    keep = tape.unit >= 0
    t, unit, agent = tape.t[keep], tape.unit[keep], tape.agent[keep]
    oid, side, qty, aggr = tape.oid[keep], tape.side[keep], tape.qty[keep], tape.aggressive[keep]
    tl = t.tolist()
    count = 0
    seen: set[int] = set()
    for i in range(len(tl)):
        a = int(agent[i])
        if not aggr[i] or a not in victim_accounts or int(oid[i]) in seen:
            continue
        seen.add(int(oid[i]))
        vt, vu, vs = tl[i], int(unit[i]), int(side[i])
        lo = bisect.bisect_left(tl, vt - window_ns)
        hi = bisect.bisect_right(tl, vt + window_ns)
        front: dict[int, int] = {}
        back: dict[int, int] = {}
        for j in range(lo, hi):
            b = int(agent[j])
            if b == a:
                continue
            if int(side[j]) == vs and aggr[j] and int(unit[j]) < vu:
                front[b] = front.get(b, 0) + int(qty[j])
            elif int(side[j]) == -vs and int(unit[j]) >= vu:
                back[b] = back.get(b, 0) + int(qty[j])
        for b, f in front.items():
            g = back.get(b, 0)
            if g and 0.5 * f <= g <= 2 * f:
                count += 1
                break
    return count


Benchmark = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]]
"""A benchmark price at each of some times (NaN where there is none)."""


def fundamental_benchmark(path: FundamentalPath) -> Benchmark:
    """The fundamental value in force at each time: the lab's unbiased benchmark."""

    def at(times: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return np.asarray(path.at(times), dtype=float).reshape(np.shape(times))

    return at


def public_benchmark(
    sample_t: npt.NDArray[np.int64], sample_p: npt.NDArray[np.float64]
) -> Benchmark:
    """The public price (visible midquote, else last trade or clearing price) last
    sampled strictly before each time: the price the trade met."""

    def at(times: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        if len(sample_t) == 0:
            return np.full(np.shape(times), np.nan)
        i = np.searchsorted(sample_t, times, side="left") - 1
        m = sample_p[np.maximum(i, 0)]
        return np.where(i >= 0, m, np.nan)

    return at


def cost_metrics(
    tape: Tape, mask: npt.NDArray[np.bool_], benchmark: Benchmark, horizon_ns: int
) -> dict[str, float]:
    """Quantity-weighted trading costs in basis points over the fills selected by
    ``mask``, against ``benchmark`` B (Bessembinder 2003; Hendershott, Jones,
    Menkveld 2011; Perold 1988):

    * effective spread 2·D·(P − B_t)/B_t at the fill time t;
    * realised spread (1 s) 2·D·(P − B_{t+1s})/B_t and price impact
      2·D·(B_{t+Δ} − B_t)/B_t for Δ = 1 s, 5 s (effective = realised + impact);
    * execution shortfall D·(P − B_d)/B_d, d the time the order was sent (its
      owner's decision), so the wait for a batch close counts; filled lots only.

    D = ±1 is the order's side. Fills whose later benchmark falls past the
    horizon are left out of the impact and realised spread. NaN when no fill
    is selected.
    """
    out = {
        "effective_spread_bps": math.nan,
        "realised_spread_bps": math.nan,
        "price_impact_1s_bps": math.nan,
        "price_impact_5s_bps": math.nan,
        "execution_shortfall_bps": math.nan,
    }
    if not mask.any():
        return out
    t, p = tape.t[mask], tape.price[mask].astype(float)
    d, q = tape.side[mask].astype(float), tape.qty[mask].astype(float)
    m0 = benchmark(t)
    ok = np.isfinite(m0)
    if ok.any():
        out["effective_spread_bps"] = float(
            np.average(2 * d[ok] * (p[ok] - m0[ok]) / m0[ok], weights=q[ok]) * 1e4
        )
    md = benchmark(tape.t_sent[mask])
    okd = np.isfinite(md)
    if okd.any():
        out["execution_shortfall_bps"] = float(
            np.average(d[okd] * (p[okd] - md[okd]) / md[okd], weights=q[okd]) * 1e4
        )
    for name, lag in (("1s", 1_000_000_000), ("5s", 5_000_000_000)):
        later = t + lag
        sel = ok & (later < horizon_ns)
        if not sel.any():
            continue
        m1 = benchmark(later[sel])
        good = np.isfinite(m1)
        if not good.any():
            continue
        dd, pp, mm0, qq = d[sel][good], p[sel][good], m0[sel][good], q[sel][good]
        impact = np.average(2 * dd * (m1[good] - mm0) / mm0, weights=qq) * 1e4
        out[f"price_impact_{name}_bps"] = float(impact)
        if name == "1s":
            out["realised_spread_bps"] = float(
                np.average(2 * dd * (pp - m1[good]) / mm0, weights=qq) * 1e4
            )
    return out


def compute_metrics(
    sim: Simulation,
    path: FundamentalPath,
    sample_t: npt.NDArray[np.int64],
    sample_p: npt.NDArray[np.float64],
    sandwich_window_ns: int,
    extras: Mapping[str, float | int] | None = None,
) -> dict[str, float | int]:
    """Every metric of docs/lab.md for a finished run (after :func:`check_conservation`)."""
    tape = tape_arrays(sim)
    check_conservation(sim, tape)
    vt = path.final
    n = len(sim.names)
    pnl = [sim.cash[a] + sim.pos[a] * vt + sim.private[a] for a in range(n)]
    kinds = [getattr(sim.agents[a], "kind", sim.roles[a]) for a in range(n)]
    out: dict[str, float | int] = {}
    adversaries = [a for a in range(n) if sim.roles[a] == "adversary"]
    background = [a for a in range(n) if sim.roles[a] in _BACKGROUND]
    out["adversary_pnl"] = float(sum(pnl[a] for a in adversaries))
    v_at_fill = np.asarray(path.at(tape.t), dtype=float).reshape(len(tape))
    rent = tape.side * tape.qty * (v_at_fill - tape.price)
    adv_mask = np.isin(tape.agent, adversaries)
    out["adversary_rent"] = float(np.sum(rent[adv_mask]))
    for a in adversaries:
        out[f"rent_{kinds[a]}"] = float(np.sum(rent[tape.agent == a]))
    for kind in (
        "sniper",
        "sandwicher",
        "sequencer",
        "selective_revealer",
        "mm",
        "zi",
        "value",
        "noise",
    ):
        members = [a for a in range(n) if kinds[a] == kind]
        if members:
            out[f"pnl_{kind}"] = float(sum(pnl[a] for a in members))
    out["background_surplus"] = float(sum(pnl[a] for a in background))
    out["total_surplus"] = float(sum(sim.private))
    out["insurance_fund"] = int(sim.cash[sim.insurance])
    buys = tape.side > 0
    out["volume"] = int(tape.qty[buys].sum())
    out["fills"] = len(tape)
    bg_takers = np.isin(tape.agent, [a for a in background if kinds[a] in ("noise", "value")])
    takers = bg_takers & tape.aggressive
    out.update(cost_metrics(tape, takers, fundamental_benchmark(path), sim.horizon_ns))
    public = cost_metrics(tape, takers, public_benchmark(sample_t, sample_p), sim.horizon_ns)
    for key in ("effective_spread_bps", "realised_spread_bps", "price_impact_1s_bps"):
        out[key.replace("_bps", "_public_bps")] = public[key]
    have = np.isfinite(sample_p)
    if have.any():
        err = sample_p[have] - np.asarray(path.at(sample_t[have]), dtype=float)
        out["price_rmse_ticks"] = float(np.sqrt(np.mean(err * err)))
    else:
        out["price_rmse_ticks"] = math.nan
    out["races"] = int(sim.mechanism.races)
    out["stale_quote_loss"] = float(sim.stale_quote_loss)
    out["stale_order_loss"] = float(sim.stale_order_loss)
    out["stale_fills"] = int(sim.stale_fills)
    victims = {a for a in background if kinds[a] in ("noise", "value", "zi")}
    out["sandwiches"] = count_sandwiches(tape, victims, sandwich_window_ns)
    out["conservation_ok"] = 1
    if extras:
        out.update(extras)
    return out
