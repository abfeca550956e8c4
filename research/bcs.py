"""The ``bcs2015`` analysis: each prediction of Budish, Cramton & Shim (2015), measured.

Input: the rows of the ``bcs2015`` study (experiments ``rate``, ``size``,
``spread``; see research/studies/bcs2015.yaml). Every statistic is a mean over
seeds with a 95% percentile-bootstrap interval; slopes are ordinary least
squares of the per-value means on the swept value, bootstrapped by resampling
seeds (the same seeds run every cell, so a resample keeps the pairing). A
prediction "matches" when its interval lies where the paper says it should;
otherwise the report says "does not match" and gives the measured value.

Reference: Budish, Cramton, Shim (2015), "The High-Frequency Trading Arms
Race: Frequent Batch Auctions as a Market Design Response", QJE 130(4),
1547-1621 — Proposition 1 (sniping costs and the zero-profit spread),
Section VI (batching: a sniper wins only if the jump falls within its
latency edge of the close).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from sealbatch.research.report import mechanism_color, order_mechanisms
from sealbatch.research.stats import bootstrap_ci

__all__ = ["Finding", "analyse_bcs", "bcs_figures", "per_jump"]

_N_BOOT = 2000


@dataclass(frozen=True)
class Finding:
    """One prediction: what BCS say, what was measured (with its interval), and the verdict."""

    claim: str
    measured: str
    matches: bool


def per_jump(df: pd.DataFrame, metric: str) -> pd.Series:
    """``metric`` divided by the run's number of jumps (NaN for a run without jumps)."""
    jumps = df["jumps"].astype(float).replace(0.0, np.nan)
    return df[metric].astype(float) / jumps


def _grid(
    df: pd.DataFrame, mech: str, values: pd.Series
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(swept values, seeds × values matrix) of ``values`` for mechanism ``mech``."""
    sub = df[df["mechanism"] == mech].assign(_v=values[df["mechanism"] == mech])
    table = sub.pivot_table(index="seed", columns="sweep_value", values="_v", aggfunc="mean")
    return table.columns.to_numpy(dtype=float), table.to_numpy(dtype=float)


def _slope(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def slope_ci(
    x: npt.NDArray[np.float64], m: npt.NDArray[np.float64], seed: int = 0
) -> tuple[float, float, float]:
    """OLS slope of the column means of ``m`` (seeds × values) on ``x``, with a
    95% bootstrap interval from resampling seeds (rows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column without values: NaN
        point = _slope(x, np.nanmean(m, axis=0))
        g = np.random.default_rng(seed)
        n = m.shape[0]
        means = np.nanmean(m[g.integers(0, n, size=(_N_BOOT, n))], axis=1)  # boots × values
    ok = np.isfinite(x) & np.all(np.isfinite(means), axis=0)
    if ok.sum() < 2:
        return point, math.nan, math.nan
    xc = x[ok] - x[ok].mean()
    yc = means[:, ok] - means[:, ok].mean(axis=1, keepdims=True)
    boots = (yc @ xc) / float(xc @ xc)  # least-squares slope of each resample
    lo, hi = np.nanquantile(boots, [0.025, 0.975])
    return point, float(lo), float(hi)


def ratio_ci(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], seed: int = 0
) -> tuple[float, float, float]:
    """mean(a) / mean(b) over paired seeds, with a 95% bootstrap interval."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) == 0 or b.mean() == 0:
        return math.nan, math.nan, math.nan
    g = np.random.default_rng(seed)
    idx = g.integers(0, len(a), size=(_N_BOOT, len(a)))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = a[idx].mean(axis=1) / b[idx].mean(axis=1)
    lo, hi = np.nanquantile(r, [0.025, 0.975])
    return float(a.mean() / b.mean()), float(lo), float(hi)


def _f(t: tuple[float, float, float], digits: int = 2) -> str:
    m, lo, hi = t
    return f"{m:,.{digits}f} [{lo:,.{digits}f}, {hi:,.{digits}f}]"


def analyse_bcs(df: pd.DataFrame, edge_us: float) -> list[Finding]:
    """Every BCS prediction the study can test, with its measured value and verdict."""
    out: list[Finding] = []
    rate = df[df["experiment"] == "rate"]
    size = df[df["experiment"] == "size"]
    spread = df[df["experiment"] == "spread"]

    # 1. prize per jump independent of the jump rate in the book (total linear in rate)
    x, m = _grid(rate, "clob", per_jump(rate, "stale_quote_loss"))
    s = slope_ci(x, m)
    xt, mt = _grid(rate, "clob", rate["stale_quote_loss"].astype(float))
    means = np.nanmean(mt, axis=0)
    fit = np.polyfit(xt, means, 1)
    r2 = 1 - np.sum((means - np.polyval(fit, xt)) ** 2) / np.sum((means - means.mean()) ** 2)
    per = ", ".join(f"λ={v:g}: {_f(bootstrap_ci(m[:, i]), 1)}" for i, v in enumerate(x))
    change = abs(s[0]) * (x.max() - x.min()) / float(np.nanmean(m))
    out.append(
        Finding(
            "In the book the sniping prize per jump does not depend on the jump rate, "
            "so the total prize grows linearly in the rate (Prop. 1).",
            f"prize per jump {per}; slope per jump vs λ {_f(s)} per (jump/s), a change of "
            f"{change:.1%} of the mean over the range (matches if the slope's interval holds "
            f"0 or the change is under 10%); total prize linear in λ with R² = {r2:.4f}",
            bool(s[1] <= 0 <= s[2] or change < 0.1),
        )
    )
    # 2. prize per jump increasing in the jump size
    x, m = _grid(size, "clob", per_jump(size, "stale_quote_loss"))
    s = slope_ci(x, m)
    per = ", ".join(f"J={v:g}: {_f(bootstrap_ci(m[:, i]), 1)}" for i, v in enumerate(x))
    out.append(
        Finding(
            "The prize per jump rises with the jump size: each stale lot loses "
            "J − h (jump minus half-spread).",
            f"prize per jump {per}; slope {_f(s)} ticks × lots per tick of jump",
            bool(s[1] > 0),
        )
    )
    # 3. batching: prize per jump ≈ book × edge/interval
    rate1 = rate[np.isclose(rate["sweep_value"].astype(float), 1.0)]
    book = per_jump(rate1[rate1["mechanism"] == "clob"].sort_values("seed"), "stale_quote_loss")
    parts = []
    ok = True
    for mech in order_mechanisms(list(rate1["mechanism"].unique())):
        if mech == "clob":
            continue
        sub = rate1[rate1["mechanism"] == mech].sort_values("seed")
        interval_ms = float(sub["interval_ms"].iloc[0])
        predicted = min(1.0, edge_us / 1000 / interval_ms)
        r = ratio_ci(per_jump(sub, "stale_quote_loss").to_numpy(), book.to_numpy())
        # a ratio at or below the prediction is what batching promises
        ok = ok and bool(r[1] <= predicted or r[2] <= predicted)
        parts.append(f"{mech}: {_f(r, 4)} (predicted ≤ {predicted:.4f})")
    out.append(
        Finding(
            "In a frequent batch auction a sniper wins only if the jump falls within its "
            "latency edge δ of the close, so the prize per jump is at most the book's × δ/τ "
            f"(δ = {edge_us:g} µs, τ the interval) (Section VI).",
            "batch / book prize per jump at λ = 1: " + "; ".join(parts),
            ok,
        )
    )
    # 4. races: a fixed number per jump in the book; under batching only when the
    # jump falls within the edge of the close
    x, m = _grid(rate, "clob", per_jump(rate, "races"))
    s = slope_ci(x, m)
    book_races = per_jump(rate1[rate1["mechanism"] == "clob"].sort_values("seed"), "races")
    parts = [f"book {_f(bootstrap_ci(np.nanmean(m, axis=1)))} per jump, slope in λ {_f(s)}"]
    ok = bool(s[1] <= 0 <= s[2] or abs(s[0]) * (x.max() - x.min()) < 0.1 * np.nanmean(m))
    for mech in order_mechanisms(list(rate1["mechanism"].unique())):
        if mech == "clob":
            continue
        sub = rate1[rate1["mechanism"] == mech].sort_values("seed")
        predicted = min(1.0, edge_us / 1000 / float(sub["interval_ms"].iloc[0]))
        r = ratio_ci(per_jump(sub, "races").to_numpy(), book_races.to_numpy())
        ok = ok and bool(r[1] <= predicted)
        parts.append(f"{mech} / book {_f(r, 4)} (predicted ≤ {predicted:.4f})")
    out.append(
        Finding(
            "Latency races: a fixed number per jump in the book (so the count grows "
            "linearly in the rate); under batching only when the jump falls within δ of "
            "the close, at most the book's × δ/τ.",
            "races per jump: " + "; ".join(parts),
            ok,
        )
    )
    # 5. equilibrium (zero-profit) spread rises with the jump rate in the book, not in batches
    x, mc = _grid(spread, "clob", spread["mm_half_spread_ticks"].astype(float))
    sc = slope_ci(x, mc)
    fba = [m for m in order_mechanisms(list(spread["mechanism"].unique())) if m != "clob"]
    per_b = ", ".join(f"λ={v:g}: {_f(bootstrap_ci(mc[:, i]))}" for i, v in enumerate(x))
    text = f"book half-spread {per_b}; slope {_f(sc)} ticks per (jump/s)"
    verdict = bool(sc[1] > 0)
    for mech in fba:
        xb, mb = _grid(spread, mech, spread["mm_half_spread_ticks"].astype(float))
        sb = slope_ci(xb, mb)
        per_f = ", ".join(f"λ={v:g}: {_f(bootstrap_ci(mb[:, i]))}" for i, v in enumerate(xb))
        diff = slope_ci(xb, mc - mb)
        text += f"; {mech} half-spread {per_f}; slope {_f(sb)}; book − batch slope {_f(diff)}"
        verdict = verdict and bool(diff[1] > 0)
    out.append(
        Finding(
            "The zero-profit spread must pay for sniping: it rises with the jump rate in "
            "the book, and much less (not at all in the model) under batching (Prop. 1, VI).",
            text,
            verdict,
        )
    )
    return out


def slow_orders(df: pd.DataFrame) -> list[str]:
    """The case BCS's model has no place for: slow traders' orders waiting in a batch
    picked off by the sniper's fresher order at the close, per jump, by interval."""
    rate = df[df["experiment"] == "rate"]
    rate1 = rate[np.isclose(rate["sweep_value"].astype(float), 1.0)]
    lines = []
    book = rate1[rate1["mechanism"] == "clob"]
    quotes = bootstrap_ci(per_jump(book, "stale_quote_loss"))
    for mech in order_mechanisms(list(rate1["mechanism"].unique())):
        sub = rate1[rate1["mechanism"] == mech]
        ci = bootstrap_ci(per_jump(sub, "stale_order_loss"))
        share = ci[0] / quotes[0] if quotes[0] else math.nan
        lines.append(
            f"| {mech} | {_f(ci)} | {_f(bootstrap_ci(per_jump(sub, 'stale_quote_loss')))} "
            f"| {share:.1%} |"
        )
    return lines


def bcs_figures(df: pd.DataFrame, out: Path) -> list[Path]:
    """The study's figures (PNG): prize, races and spread against the swept values,
    one colour per mechanism, 95% bands for every mechanism, legends outside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    prize = "sniping prize per jump\n(ticks × lots)"
    by_rate = "jump rate λ (1/s)"
    panels = (
        ("rate", per_jump, "stale_quote_loss", prize, by_rate, "bcs_prize_vs_rate"),
        ("rate", per_jump, "races", "latency races per jump", by_rate, "bcs_races_vs_rate"),
        (
            "rate",
            per_jump,
            "stale_order_loss",
            "slow orders picked off per jump\n(ticks × lots)",
            by_rate,
            "bcs_slow_orders_vs_rate",
        ),
        ("size", per_jump, "stale_quote_loss", prize, "jump size J (ticks)", "bcs_prize_vs_size"),
        (
            "spread",
            None,
            "mm_half_spread_ticks",
            "makers' zero-profit half-spread\n(ticks, second half of the run)",
            by_rate,
            "bcs_spread_vs_rate",
        ),
    )
    for exp, transform, metric, ylabel, xlabel, stem in panels:
        sub = df[df["experiment"] == exp]
        if sub.empty:
            continue
        values = transform(sub, metric) if transform is not None else sub[metric].astype(float)
        fig, ax = plt.subplots(figsize=(7.5, 4))
        for mech in order_mechanisms(list(sub["mechanism"].unique())):
            x, m = _grid(sub, mech, values)
            st = np.array([bootstrap_ci(m[:, i]) for i in range(len(x))]).reshape(-1, 3)
            color = mechanism_color(mech)
            ax.plot(x, st[:, 0], "-o", color=color, label=mech)
            ax.fill_between(x, st[:, 1], st[:, 2], color=color, alpha=0.2)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        n = sub["seed"].nunique()
        ax.set_title(f"BCS 2015: {ylabel.splitlines()[0]} (mean, 95% CI, n={n})", fontsize=9)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        fig.tight_layout()
        p = out / f"{stem}.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    return paths


def write_bcs_report(
    df: pd.DataFrame, out: Path, edge_us: float, header: list[str]
) -> tuple[Path, list[Path]]:
    """Write report.md (each prediction, measured value, verdict; the slow-order
    case) and the figures into ``out``; returns (report path, figure paths)."""
    figures = bcs_figures(df, out)
    lines = [*header, "", "## Predictions", ""]
    lines.append("| # | BCS (2015) predicts | measured: mean [95% CI] | matches |")
    lines.append("|---|---|---|---|")
    for i, f in enumerate(analyse_bcs(df, edge_us), 1):
        lines.append(f"| {i} | {f.claim} | {f.measured} | {'yes' if f.matches else 'no'} |")
    lines += [
        "",
        "## The case BCS's model has no place for: slow orders picked off within a batch",
        "",
        "Orders of slow traders that wait in a batch for its close, priced before a jump "
        "the sniper has already seen, trade at the close against the sniper's fresher "
        "order. Per jump at λ = 1/s (ticks × lots; share: against the book's sniping "
        "prize per jump):",
        "",
        "| mechanism | slow orders picked off per jump | makers' quotes picked off per jump "
        "| share of the book's prize |",
        "|---|---|---|---|",
        *slow_orders(df),
        "",
        "## Figures",
        "",
        *[f"![{p.stem}]({p.name})" for p in figures],
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path, figures
