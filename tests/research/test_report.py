"""Reports: CSV, manifest, tables with intervals, paired tests, PNG figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sealbatch.research.report import build_manifest, paired_table, summary_table, write_report
from sealbatch.research.scenario import load_scenario
from sealbatch.research.sweep import run_sweep

SCENARIOS = Path(__file__).resolve().parents[2] / "research" / "scenarios"
PNG = b"\x89PNG\r\n\x1a\n"


def test_report_files(tmp_path: Path) -> None:
    s = load_scenario(SCENARIOS / "sniping.yaml").with_override("horizon_s", 1.0)
    s = s.with_override("sweep.values", [100.0, 200.0])
    df = run_sweep(s, [0, 1, 2], scheduler="sync")
    manifest = build_manifest(s, [0, 1, 2], ["sealbatch", "lab", "run"])
    paths = write_report(df, s, tmp_path, manifest)
    for key in ("results", "manifest", "summary", "paired", "report"):
        assert paths[key].exists()
    for name in ("adversary_pnl_by_mechanism", "surplus_vs_interval", "adversary_pnl_vs_edge_us"):
        assert paths[name].read_bytes()[:8] == PNG
    m = json.loads(paths["manifest"].read_text())
    assert m["seeds"] == [0, 1, 2] and m["scenario"]["name"] == "sniping"
    assert "numpy" in m["versions"] and "git_commit" in m
    back = pd.read_csv(paths["results"])
    assert len(back) == len(df) == 2 * len(s.mechanisms) * 3
    text = paths["report"].read_text()
    assert "fba-1000ms" in text and "95%" in text
    # under commit-reveal races cannot be decided by arrival order: n/a, not a measured 0
    cr = df[df["kind"] == "cr_fba"]
    assert cr["races"].isna().all() and df.loc[df["kind"] == "clob", "races"].notna().all()
    races_row = next(line for line in text.splitlines() if line.startswith("| races |"))
    assert races_row.rstrip(" |").endswith("n/a")


def test_summary_and_paired_tables() -> None:
    df = pd.DataFrame(
        {
            "mechanism": ["a"] * 4 + ["b"] * 4,
            "seed": [0, 1, 2, 3] * 2,
            "adversary_pnl": [10.0, 11.0, 12.0, 13.0, 0.0, 1.0, 2.0, 3.0],
        }
    )
    summary = summary_table(df, ["adversary_pnl"])
    a = summary[summary.mechanism == "a"].iloc[0]
    assert a["mean"] == 11.5 and a["ci_low"] <= 11.5 <= a["ci_high"] and a["n"] == 4
    paired = paired_table(df, "a", ["adversary_pnl"])
    row = paired.iloc[0]
    assert row["mechanism"] == "b" and row["mean_diff"] == -10.0
    assert row["ci_low"] == row["ci_high"] == -10.0  # constant paired difference


def test_figure_rules_colour_per_mechanism_and_no_single_point_log_axis() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sealbatch.research.report import _interval_axis, mechanism_color, order_mechanisms

    labels = ["cr-100ms", "fba-1000ms", "clob", "fba-10ms", "fba-100ms", "fba-1ms"]
    assert order_mechanisms(labels) == [
        "clob", "fba-1ms", "fba-10ms", "fba-100ms", "fba-1000ms", "cr-100ms"
    ]  # fmt: skip
    colours = [mechanism_color(m) for m in labels]
    assert len(set(colours)) == len(colours)
    assert mechanism_color("fba-100ms") == mechanism_color("fba-100ms")
    fig, (one, two) = plt.subplots(1, 2)
    _interval_axis(one, [100.0])
    _interval_axis(two, [10.0, 100.0])
    assert one.get_xscale() == "linear" and two.get_xscale() == "log"
    assert list(one.get_xticks()) == [100.0]  # one tick at the one interval
    plt.close(fig)


def test_mechanisms_at_one_interval_do_not_hide_each_other() -> None:
    """fba-100ms and cr-100ms share an interval: side by side, in the same order,
    on a linear axis (one interval) and on a log axis (several)."""
    from sealbatch.research.report import _dodged

    one = _dodged({"fba-100ms": 100.0, "cr-100ms": 100.0})
    assert one["fba-100ms"] < 100.0 < one["cr-100ms"]
    assert one["cr-100ms"] - one["fba-100ms"] >= 10.0
    several = _dodged({"fba-10ms": 10.0, "fba-100ms": 100.0, "cr-100ms": 100.0})
    assert several["fba-10ms"] == 10.0
    assert several["fba-100ms"] < 100.0 < several["cr-100ms"]
    assert several["cr-100ms"] / several["fba-100ms"] >= 1.3  # apart on a log axis


def test_cli_summary_is_per_swept_value() -> None:
    from sealbatch.research.scenario import Sweep
    from sealbatch.venue.commands.lab import summary_text

    df = pd.DataFrame(
        {
            "mechanism": ["clob", "fba-100ms"] * 2,
            "sweep_value": [1.0, 1.0, 2.0, 2.0],
            "adversary_pnl": [10.0, 1.0, 30.0, 3.0],
            "races": [4.0, float("nan"), 8.0, float("nan")],
        }
    )
    text = summary_text(df, ["clob", "fba-100ms"], Sweep("fundamental.jump_hz", (1.0, 2.0)))
    lines = text.splitlines()
    assert "fundamental.jump_hz" in text and "n/a" in text
    assert any(line.split()[:3] == ["2.0", "clob", "30.0"] for line in lines)
    assert not any("20.0" in line for line in lines)  # never averaged over swept values
