"""Reports of a sweep: CSV results, a manifest, summary tables with 95% bootstrap
intervals, paired tests across mechanisms, and PNG figures.

Figures (matplotlib, Agg backend):

* ``adversary_pnl_by_mechanism.png``: adversary profit (marked to the final
  fundamental, and marked at each fill) per mechanism, mean and 95% CI;
* ``surplus_vs_interval.png``: total and background surplus against the batch
  interval (the continuous book drawn as a reference line);
* ``stale_loss_vs_interval.png``: value lost by market makers' stale quotes
  (the sniping prize) and by orders waiting for a batch close, against the
  batch interval;
* ``adversary_pnl_vs_<param>.png``: adversary profit (solid, with its CI) and
  rent marked at the fill (dotted: before bonds) against the swept parameter
  (e.g. the sniper's latency edge, the bond);
* ``event_study_jumps.png``: the public price around jumps, as the share of
  the jump it has absorbed, per mechanism.

One colour per mechanism in every figure, a 95% interval for every
mechanism, legends outside the data, log axes only with two or more points.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sealbatch.research.scenario import Scenario
from sealbatch.research.stats import bootstrap_ci, paired_test

__all__ = [
    "KEY_METRICS",
    "build_manifest",
    "mechanism_color",
    "order_mechanisms",
    "paired_table",
    "report_metrics",
    "summary_table",
    "write_figures",
    "write_report",
]

#: Metrics the report tabulates, in order.
KEY_METRICS: tuple[str, ...] = (
    "adversary_pnl",
    "adversary_rent",
    "background_surplus",
    "total_surplus",
    "effective_spread_bps",
    "realised_spread_bps",
    "price_impact_1s_bps",
    "price_impact_5s_bps",
    "execution_shortfall_bps",
    "effective_spread_public_bps",
    "price_rmse_ticks",
    "races",
    "stale_quote_loss",
    "stale_order_loss",
    "sandwiches",
    "volume",
)

#: Per-agent-kind columns the report adds after KEY_METRICS when a run has them.
_PER_KIND = ("pnl_", "rent_", "forfeits_", "censored_", "withheld_")


def report_metrics(df: pd.DataFrame) -> list[str]:
    """KEY_METRICS, then each adversary's and agent kind's own P&L, rent and counts."""
    extra = [c for c in df.columns if c.startswith(_PER_KIND) and c not in KEY_METRICS]
    return [m for m in KEY_METRICS if m in df.columns] + sorted(extra)


#: One colour per mechanism in every figure of every report (colour-blind-safe
#: Okabe-Ito and Tableau hues); unlisted intervals fall back to a stable hash.
_COLORS = {
    ("clob", 0): "#000000",
    ("fba", 1): "#56B4E9",
    ("fba", 10): "#0072B2",
    ("fba", 100): "#009E73",
    ("fba", 250): "#8c564b",
    ("fba", 1000): "#CC79A7",
    ("cr_fba", 50): "#E69F00",
    ("cr_fba", 100): "#D55E00",
}
_FALLBACK = ("#9467bd", "#bcbd22", "#17becf", "#7f7f7f", "#e377c2", "#F0E442")


def _mechanism_key(label: str) -> tuple[int, str, int]:
    """(kind rank, kind, interval ms) parsed from a default label (clob, fba-100ms, cr-100ms)."""
    kind, _, rest = label.partition("-")
    kinds = {"clob": (0, "clob"), "fba": (1, "fba"), "cr": (2, "cr_fba"), "ce": (3, "ce_fba")}
    rank, name = kinds.get(kind, (3, kind))
    digits = "".join(ch for ch in rest.split("-")[0] if ch.isdigit())
    return rank, name, int(digits) if digits else 0


def order_mechanisms(labels: Sequence[str]) -> list[str]:
    """Mechanism labels in a fixed order: the book, batch auctions by interval, commit-reveal."""
    return sorted(set(labels), key=lambda m: (_mechanism_key(m), m))


def mechanism_color(label: str) -> str:
    """The colour of mechanism ``label``, the same in every figure."""
    _, kind, interval = _mechanism_key(label)
    color = _COLORS.get((kind, interval))
    if color is not None:
        return color
    digest = sum(label.encode()) % len(_FALLBACK)
    return _FALLBACK[digest]


_PACKAGES = ("numpy", "pandas", "dask", "distributed", "matplotlib", "pyyaml", "tqdm", "sealbatch")


def _git(*args: str) -> str | None:
    """The output of ``git ARGS`` run beside this file, None without git or outside a repository."""
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def _git_dirty() -> list[str] | None:
    """Files changed in the working tree (``git status --porcelain``), None without git."""
    out = _git("status", "--porcelain", "--untracked-files=no")
    if out is None:
        return None
    return [line[3:] for line in out.splitlines() if line.strip()]


def _git_commit() -> str | None:
    out = _git("rev-parse", "HEAD")
    return (out or "").strip() or None


def build_manifest(
    scenario: Scenario, seeds: Sequence[int], argv: Sequence[str] | None = None
) -> dict[str, Any]:
    """Everything needed to reproduce a run: config, seeds, versions, git commit
    and whether the working tree had uncommitted changes (and which files)."""
    dirty = _git_dirty()
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "scenario": scenario.to_dict(),
        "seeds": list(seeds),
        "versions": versions,
        "git_commit": _git_commit(),
        # a run from a modified tree is not reproducible from the commit alone
        "git_dirty": bool(dirty) if dirty is not None else None,
        "git_changed_files": dirty,
        "command": list(argv) if argv is not None else sys.argv,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
    }


def _focus(df: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Rows at the scenario's own value of the swept parameter (all rows without a sweep)."""
    if scenario.sweep is None or "sweep_value" not in df or df["sweep_value"].isna().all():
        return df
    base = scenario.value_at(scenario.sweep.param)
    values = df["sweep_value"].astype(float)
    target = float(base) if np.isclose(values, float(base)).any() else float(values.iloc[0])
    return df[np.isclose(values, target)]


def summary_table(df: pd.DataFrame, metrics: Sequence[str] = KEY_METRICS) -> pd.DataFrame:
    """Mean and 95% bootstrap CI per (sweep value, mechanism) and metric."""
    rows = []
    keys = ["sweep_value", "mechanism"] if "sweep_value" in df else ["mechanism"]
    for key, group in df.groupby(keys, sort=False, dropna=False):
        key_t = key if isinstance(key, tuple) else (key,)
        for m in metrics:
            if m not in group:
                continue
            mean, lo, hi = bootstrap_ci(group[m].to_numpy(dtype=float))
            row = dict(zip(keys, key_t, strict=True))
            row.update({"metric": m, "n": len(group), "mean": mean, "ci_low": lo, "ci_high": hi})
            rows.append(row)
    return pd.DataFrame(rows)


def paired_table(
    df: pd.DataFrame, baseline: str, metrics: Sequence[str] = KEY_METRICS
) -> pd.DataFrame:
    """Each mechanism minus ``baseline``, paired by seed (and sweep value)."""
    rows = []
    keys = ["sweep_value"] if "sweep_value" in df and df["sweep_value"].notna().any() else []
    groups = df.groupby(keys, dropna=False) if keys else [((None,), df)]
    for key, group in groups:
        base = group[group["mechanism"] == baseline].set_index("seed")
        for mech in group["mechanism"].unique():
            if mech == baseline:
                continue
            other = group[group["mechanism"] == mech].set_index("seed")
            seeds = base.index.intersection(other.index)
            for m in metrics:
                if m not in group:
                    continue
                t = paired_test(
                    other.loc[seeds, m].to_numpy(float), base.loc[seeds, m].to_numpy(float)
                )
                rows.append(
                    {
                        "sweep_value": key[0] if isinstance(key, tuple) else key,
                        "mechanism": mech,
                        "baseline": baseline,
                        "metric": m,
                        "n": t.n,
                        "mean_diff": t.mean_diff,
                        "ci_low": t.low,
                        "ci_high": t.high,
                        "p_value": t.p_value,
                    }
                )
    return pd.DataFrame(rows)


def _ci_points(df: pd.DataFrame, by: str, metric: str) -> tuple[list[Any], np.ndarray]:
    labels: list[Any] = []
    stats = []
    for key, group in df.groupby(by, sort=False):
        labels.append(key)
        stats.append(bootstrap_ci(group[metric].to_numpy(dtype=float)))
    return labels, np.array(stats, dtype=float).reshape(-1, 3)


def _legend_outside(ax: Any) -> None:
    """The legend to the right of the axes, never over the data."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _interval_axis(ax: Any, intervals: Sequence[float]) -> None:
    """A log axis only when there are at least two distinct positive intervals; with
    one, a single tick at it."""
    distinct = sorted({v for v in intervals if v > 0})
    if len(distinct) >= 2:
        ax.set_xscale("log")
    elif len(distinct) == 1:
        x = distinct[0]
        ax.set_xticks([x], [f"{x:g}"])
        ax.set_xlim(x * 0.6, x * 1.4)
    ax.set_xlabel("batch interval (ms)")


def _dodged(intervals: dict[str, float]) -> dict[str, float]:
    """Each mechanism's x position: its interval, moved aside from the other
    mechanisms at the same interval so that no marker or interval hides another
    (by a factor on a log axis, by a share of the interval on a linear one)."""
    log = len({v for v in intervals.values() if v > 0}) >= 2
    at: dict[float, list[str]] = {}
    for mech, x in intervals.items():
        at.setdefault(x, []).append(mech)
    pos = {}
    for x, mechs in at.items():
        for k, mech in enumerate(mechs):
            shift = k - (len(mechs) - 1) / 2
            pos[mech] = x * 10 ** (0.12 * shift) if log else x * (1 + 0.12 * shift)
    return pos


def _by_interval(ax: Any, focus: pd.DataFrame, metric: str) -> None:
    """``metric`` per batch mechanism at its interval (mean, 95% CI error bars, one
    colour per mechanism; mechanisms sharing an interval side by side), batch
    auctions joined by a line; the book as a black line with its CI band (it has no
    interval)."""
    batch = focus[focus["kind"] != "clob"]
    mechs = order_mechanisms(list(batch["mechanism"].unique()))
    interval = {m: float(batch.loc[batch["mechanism"] == m, "interval_ms"].iloc[0]) for m in mechs}
    pos = _dodged(interval)
    xs: list[float] = list(interval.values())
    for kind, style in (("fba", "-"), ("cr_fba", "--")):
        sub = batch[batch["kind"] == kind]
        pts = []
        for mech in order_mechanisms(list(sub["mechanism"].unique())):
            rows = sub[sub["mechanism"] == mech]
            x = pos[mech]
            m, lo, hi = bootstrap_ci(rows[metric].to_numpy(dtype=float))
            ax.errorbar([x], [m], yerr=[[m - lo], [hi - m]], fmt="o", capsize=3,
                        color=mechanism_color(mech), label=mech)  # fmt: skip
            pts.append((x, m))
        if len(pts) >= 2:
            px, py = zip(*sorted(pts), strict=True)
            ax.plot(px, py, style, color="grey", lw=0.8, zorder=0)
    clob = focus[focus["kind"] == "clob"]
    if not clob.empty:
        m, lo, hi = bootstrap_ci(clob[metric].to_numpy(dtype=float))
        ax.axhline(m, color=mechanism_color("clob"), lw=1, label="clob (no interval)")
        ax.axhspan(lo, hi, color=mechanism_color("clob"), alpha=0.1)
    _interval_axis(ax, xs)


def write_figures(df: pd.DataFrame, scenario: Scenario, out: Path) -> list[Path]:
    """Write the report's PNG figures into ``out``; returns their paths.

    Every figure gives each mechanism the same colour (:func:`mechanism_color`),
    shows a 95% interval for every mechanism, keeps the legend outside the
    axes and uses a log axis only with at least two points on it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    focus = _focus(df, scenario)
    n_seeds = focus["seed"].nunique()

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        p = out / name
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)

    order = order_mechanisms(list(focus["mechanism"].unique()))
    fig, ax = plt.subplots(figsize=(8.5, 4))
    x = np.arange(len(order))
    for offset, metric, hatch, name in (
        (-0.2, "adversary_pnl", "", "P&L marked to the final fundamental"),
        (0.2, "adversary_rent", "//", "rent marked at each fill"),
    ):
        st = np.array([bootstrap_ci(focus.loc[focus["mechanism"] == m, metric]) for m in order])
        st = st.reshape(-1, 3)
        colors = [mechanism_color(m) for m in order]
        ax.bar(x + offset, st[:, 0], width=0.4, color=colors, alpha=0.85, hatch=hatch,
               edgecolor="white", label=name)  # fmt: skip
        ax.errorbar(x + offset, st[:, 0], yerr=[st[:, 0] - st[:, 1], st[:, 2] - st[:, 0]],
                    fmt="none", ecolor="k", capsize=3)  # fmt: skip
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, order, rotation=20)
    ax.set_ylabel("ticks × lots")
    _legend_outside(ax)
    ax.set_title(f"{scenario.name}: adversary profit by mechanism (mean, 95% CI, n={n_seeds})")
    save(fig, "adversary_pnl_by_mechanism.png")

    if (focus["kind"] != "clob").any():
        for stem, metrics, ylabel in (
            (
                "stale_loss_vs_interval",
                (("stale_quote_loss", "makers' stale quotes picked off"),
                 ("stale_order_loss", "orders waiting for a close picked off")),
                "value lost after jumps (ticks × lots)",
            ),
            (
                "surplus_vs_interval",
                (("total_surplus", "total surplus"),
                 ("background_surplus", "background traders' surplus")),
                "ticks × lots",
            ),
        ):  # fmt: skip
            fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
            for ax, (metric, title) in zip(axes, metrics, strict=True):
                _by_interval(ax, focus, metric)
                ax.set_title(title, fontsize=9)
                ax.set_ylabel(ylabel)
            _legend_outside(axes[1])
            fig.suptitle(f"{scenario.name}: against the batch interval (mean, 95% CI, n={n_seeds})")
            save(fig, f"{stem}.png")

    es_cols = [c for c in focus.columns if c.startswith("es_") and c.endswith("ms")]
    if es_cols and focus[es_cols].notna().any().any():
        offsets = [int(c[3:-2]) for c in es_cols]
        fig, ax = plt.subplots(figsize=(8.5, 4))
        ax.step([min(offsets), 0, max(offsets)], [0, 1, 1], where="post", color="grey",
                ls="--", lw=1, label="fundamental")  # fmt: skip
        for mech in order:
            rows = focus[focus["mechanism"] == mech]
            st = np.array([bootstrap_ci(rows[c].to_numpy(dtype=float)) for c in es_cols])
            color = mechanism_color(mech)
            ax.plot(offsets, st[:, 0], "-o", ms=3, color=color, label=mech)
            ax.fill_between(offsets, st[:, 1], st[:, 2], color=color, alpha=0.15)
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_xlabel("time from the jump (ms)")
        ax.set_ylabel("share of the jump in the public price")
        ax.set_title(f"{scenario.name}: public price around jumps (mean, 95% CI, n={n_seeds})")
        _legend_outside(ax)
        save(fig, "event_study_jumps.png")

    if scenario.sweep is not None and df["sweep_value"].notna().any():
        param = scenario.sweep.param
        fig, ax = plt.subplots(figsize=(8.5, 4))
        for mech in order_mechanisms(list(df["mechanism"].unique())):
            color = mechanism_color(mech)
            ordered = df[df["mechanism"] == mech].sort_values("sweep_value")
            labs, s = _ci_points(ordered, "sweep_value", "adversary_pnl")
            ax.plot(labs, s[:, 0], "-o", color=color, label=f"{mech}: P&L")
            ax.fill_between(labs, s[:, 1], s[:, 2], color=color, alpha=0.15)
            labs, s = _ci_points(ordered, "sweep_value", "adversary_rent")
            ax.plot(labs, s[:, 0], ":", color=color, label=f"{mech}: rent (before bonds)")
            ax.fill_between(labs, s[:, 1], s[:, 2], color=color, alpha=0.07, hatch="..")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel(param)
        ax.set_ylabel("ticks × lots (mean, 95% CI)")
        ax.set_title(f"{scenario.name}: adversary profit against {param.split('.')[-1]}")
        _legend_outside(ax)
        save(fig, f"adversary_pnl_vs_{param.split('.')[-1]}.png")
    return paths


def _fmt(mean: float, lo: float, hi: float) -> str:
    """``mean [low, high]``, or ``n/a`` for a metric with no value (zero by definition)."""
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:,.2f} [{lo:,.2f}, {hi:,.2f}]"


def write_report(
    df: pd.DataFrame,
    scenario: Scenario,
    out: Path,
    manifest: dict[str, Any],
) -> dict[str, Path]:
    """Write results.csv, manifest.json, summary.csv, paired.csv, report.md and figures."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.csv", "manifest": out / "manifest.json"}
    df.to_csv(paths["results"], index=False)
    paths["manifest"].write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    summary = summary_table(df, report_metrics(df))
    paths["summary"] = out / "summary.csv"
    summary.to_csv(paths["summary"], index=False)
    baseline = scenario.mechanisms[0].label
    paired = paired_table(df, baseline)
    paths["paired"] = out / "paired.csv"
    paired.to_csv(paths["paired"], index=False)
    figures = write_figures(df, scenario, out)

    focus = _focus(df, scenario)
    lines = [
        f"# Lab report: {scenario.name}",
        "",
        scenario.description,
        "",
        f"Seeds: {df['seed'].nunique()} per mechanism; horizon {scenario.horizon_s} s; "
        f"git commit {manifest.get('git_commit')}.",
        "Values: mean [95% percentile-bootstrap CI]. Paired: mechanism minus "
        f"`{baseline}`, same seeds (common random numbers), sign-flip permutation p-value.",
        "",
    ]
    if scenario.sweep is not None:
        lines.append(
            f"Tables at the scenario's own `{scenario.sweep.param}`; the figure sweeps it."
        )
        lines.append("")
    present = set(focus["mechanism"])
    mechs = [m.label for m in scenario.mechanisms if m.label in present]
    lines.append("| metric | " + " | ".join(mechs) + " |")
    lines.append("|---|" + "---|" * len(mechs))
    for m in report_metrics(focus):
        cells = []
        for mech in mechs:
            cells.append(
                _fmt(*bootstrap_ci(focus.loc[focus["mechanism"] == mech, m].to_numpy(float)))
            )
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines.append("")
    fp = _focus(paired, scenario) if "sweep_value" in paired and not paired.empty else paired
    if not fp.empty:
        lines.append(f"## Paired differences against {baseline}")
        lines.append("")
        lines.append("| mechanism | metric | mean diff [95% CI] | p |")
        lines.append("|---|---|---|---|")
        for _, r in fp[
            fp["metric"].isin(
                ["adversary_pnl", "adversary_rent", "total_surplus", "background_surplus"]
            )
        ].iterrows():
            diff = _fmt(r["mean_diff"], r["ci_low"], r["ci_high"])
            lines.append(f"| {r['mechanism']} | {r['metric']} | {diff} | {r['p_value']:.4f} |")
        lines.append("")
    lines.append("## Figures")
    lines.append("")
    for f in figures:
        lines.append(f"![{f.stem}]({f.name})")
    paths["report"] = out / "report.md"
    paths["report"].write_text("\n".join(lines) + "\n")
    for f in figures:
        paths[f.stem] = f
    return paths
