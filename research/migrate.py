"""The ``migrate`` analysis: how a trader's fills, slippage and fees change across mechanisms.

Input: the rows of a study whose scenario replays a LOBSTER file
(:mod:`sealbatch.research.replay`), one experiment per trader role (a taker,
a maker). For each experiment, each ``trader_*`` measure is reported as a mean
over seeds with its 95% percentile-bootstrap interval per mechanism, and each
mechanism against the continuous book paired by seed (mean difference, its
interval, a sign-flip permutation p-value; :mod:`sealbatch.research.stats`).
The seeds draw which of the file's orders are the trader's and the latency
jitter, so an interval says how much the answer depends on which orders a
strategy of that size would have sent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sealbatch.research.replay import TRADER_METRICS
from sealbatch.research.report import mechanism_color, order_mechanisms
from sealbatch.research.stats import bootstrap_ci, paired_test

__all__ = ["migrate_figures", "write_migrate_report"]

_LABELS = {
    "trader_lots": "lots sent",
    "trader_filled": "lots filled",
    "trader_fill_rate": "fill rate",
    "trader_shortfall_bps": "slippage vs decision (shortfall, bps)",
    "trader_spread_bps": "effective spread vs fundamental (bps)",
    "trader_fees": "fees (ticks × lots)",
    "trader_fees_bps": "fees (bps of notional)",
    "trader_pnl": "P&L after fees, marked to V_T (ticks × lots)",
}
_ADVERSARIES = ("pnl_sniper", "pnl_sandwicher", "pnl_sequencer", "pnl_selective_revealer")


def _cell(values: np.ndarray, digits: int = 2) -> str:
    mean, lo, hi = bootstrap_ci(values)
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:,.{digits}f} [{lo:,.{digits}f}, {hi:,.{digits}f}]"


def _table(group: pd.DataFrame, mechs: list[str], metrics: tuple[str, ...]) -> list[str]:
    lines = ["| measure | " + " | ".join(mechs) + " |", "|---" * (len(mechs) + 1) + "|"]
    for m in metrics:
        if m not in group:
            continue
        cells = [_cell(group[group["mechanism"] == k][m].to_numpy(float)) for k in mechs]
        lines.append(f"| {_LABELS.get(m, m)} | " + " | ".join(cells) + " |")
    return lines


def _paired(group: pd.DataFrame, mechs: list[str]) -> list[str]:
    base = mechs[0]
    lines = [
        f"| measure | mechanism − {base}: mean [95% CI] (p) |",
        "|---|---|",
    ]
    b = group[group["mechanism"] == base].set_index("seed")
    for m in TRADER_METRICS[2:]:
        cells = []
        for k in mechs[1:]:
            o = group[group["mechanism"] == k].set_index("seed")
            seeds = b.index.intersection(o.index)
            t = paired_test(o.loc[seeds, m].to_numpy(float), b.loc[seeds, m].to_numpy(float))
            if t.n == 0:
                cells.append(f"{k}: n/a")
            else:
                cells.append(f"{k}: {t.mean_diff:+,.2f} [{t.low:,.2f}, {t.high:,.2f}] "
                             f"(p = {t.p_value:.3f})")  # fmt: skip
        lines.append(f"| {_LABELS[m]} | " + "; ".join(cells) + " |")
    return lines


def migrate_figures(df: pd.DataFrame, out: Path) -> list[Path]:
    """One figure: the trader's slippage, fill rate and P&L per mechanism and role,
    95% intervals, one colour per mechanism."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mechs = order_mechanisms(df["mechanism"].unique())
    roles = list(df["experiment"].unique())
    shown = ("trader_shortfall_bps", "trader_fill_rate", "trader_pnl")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.6))
    width = 0.8 / max(len(mechs), 1)
    for ax, metric in zip(np.atleast_1d(axes), shown, strict=True):
        for j, mech in enumerate(mechs):
            xs, ys, errs = [], [], []
            for i, role in enumerate(roles):
                v = df[(df["experiment"] == role) & (df["mechanism"] == mech)][metric]
                mean, lo, hi = bootstrap_ci(v.to_numpy(float))
                xs.append(i + (j - (len(mechs) - 1) / 2) * width)
                ys.append(mean)
                errs.append([mean - lo, hi - mean] if math.isfinite(mean) else [0, 0])
            ax.bar(xs, ys, width, color=mechanism_color(mech), label=mech,
                   yerr=np.array(errs).T, capsize=3)  # fmt: skip
        ax.set_xticks(range(len(roles)), roles)
        ax.set_title(_LABELS[metric], fontsize=9)
        ax.axhline(0, color="0.6", lw=0.6)
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(mechs), bbox_to_anchor=(0.5, 1.02))
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    path = out / "migrate_trader.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def write_migrate_report(
    df: pd.DataFrame, out: Path, header: list[str], source: str
) -> tuple[Path, list[Path]]:
    """Write report.md (per role: the trader's measures per mechanism, paired
    against the book; what the adversaries made) and the figure into ``out``."""
    figures = migrate_figures(df, out)
    lines = [*header, "", f"Replayed message file: {source}.", ""]
    for role, group in df.groupby("experiment", sort=False):
        mechs = order_mechanisms(group["mechanism"].unique())
        lines += [f"## The trader as a {role}", "", *_table(group, mechs, TRADER_METRICS), ""]
        lines += ["Paired by seed against the book:", "", *_paired(group, mechs), ""]
        lines += ["What the adversaries made on the same flow (P&L, ticks × lots):", ""]
        lines += [*_table(group, mechs, _ADVERSARIES), ""]
    lines += ["## Figures", "", *[f"![{p.stem}]({p.name})" for p in figures]]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path, figures
