"""Studies: the shipped bcs2015 study file, its runner, its report and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sealbatch.research.bcs import analyse_bcs, ratio_ci, slope_ci
from sealbatch.research.errors import ScenarioError
from sealbatch.research.studies import shipped_study
from sealbatch.research.study import load_study, run_study, study_from_dict, write_study_report
from sealbatch.venue.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def test_bcs2015_is_shipped_as_a_2d_grid_with_30_seeds() -> None:
    path = shipped_study("bcs2015")
    assert path is not None
    study = load_study(path)
    assert study.seeds >= 30
    rate = next(e for e in study.experiments if e.name == "rate")
    kinds = {(m.kind, m.interval_ms) for m in rate.scenario.mechanisms}
    assert ("clob", 100) in kinds and len({i for k, i in kinds if k == "fba"}) >= 3
    assert rate.scenario.sweep is not None and rate.scenario.sweep.param == "fundamental.jump_hz"
    assert len(rate.scenario.sweep.values) >= 3
    spread = next(e for e in study.experiments if e.name == "spread")
    assert spread.scenario.agents.market_makers.learn


@pytest.mark.parametrize(
    "bad",
    [
        {"experiments": []},
        {"experiments": [{"name": "a"}]},
        {"experiments": [{"name": "a", "sweep": {"param": "horizon_s", "values": [1]}}] * 2},
        {"seeds": 0, "experiments": [{"name": "a", "sweep": {"param": "seeds", "values": [1]}}]},
        {
            "analysis": "other",
            "experiments": [{"name": "a", "sweep": {"param": "x", "values": []}}],
        },
        {"typo": 1, "experiments": [{"name": "a", "sweep": {"param": "horizon_s", "values": [1]}}]},
    ],
)
def test_a_bad_study_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ScenarioError):
        study_from_dict(bad)


def test_slope_and_ratio_intervals() -> None:
    x = np.array([1.0, 2.0, 4.0])
    m = np.array([[2.0, 4.0, 8.0], [2.2, 4.2, 8.2], [1.8, 3.8, 7.8]])
    point, lo, hi = slope_ci(x, m)
    assert point == pytest.approx(2.0) and lo == pytest.approx(2.0) and hi == pytest.approx(2.0)
    r = ratio_ci(np.array([1.0, 1.0, 1.0]), np.array([4.0, 4.0, 4.0]))
    assert r == pytest.approx((0.25, 0.25, 0.25))


@pytest.mark.slow
def test_the_shipped_study_runs_from_the_cli(tmp_path: Path) -> None:
    code = main(
        ["lab", "run", "bcs2015", "--seeds", "2", "--horizon", "1.5", "--scheduler", "sync",
         "--out", str(tmp_path), "--overwrite", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    text = (tmp_path / "report.md").read_text()
    assert text.count("| yes |") + text.count("| no |") == 5
    assert "slow orders picked off" in text
    for name in ("bcs_prize_vs_rate", "bcs_spread_vs_rate", "bcs_races_vs_rate"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == PNG
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "git_dirty" in manifest and manifest["study"]["name"] == "bcs2015"
    rows = pd.read_csv(tmp_path / "results.csv")
    assert {"experiment", "mm_half_spread_ticks", "jumps"} <= set(rows.columns)
    assert set(rows["experiment"]) == {"rate", "size", "spread"}
    findings = analyse_bcs(rows, 200.0)
    assert len(findings) == 5 and all(f.measured for f in findings)


def test_run_study_labels_rows_by_experiment() -> None:
    study = load_study(shipped_study("bcs2015"))  # type: ignore[arg-type]
    one = study_from_dict(
        {
            "scenario": {"horizon_s": 0.5},
            "experiments": [
                {
                    "name": "tiny",
                    "mechanisms": [{"kind": "clob"}],
                    "sweep": {"param": "fundamental.jump_hz", "values": [1, 2]},
                }
            ],
        }
    )
    df = run_study(one, [0, 1], scheduler="sync")
    assert list(df["experiment"].unique()) == ["tiny"] and len(df) == 4
    assert study.name == "bcs2015"


def test_a_small_bcs_study_reports_each_prediction(tmp_path: Path) -> None:
    base = load_study(shipped_study("bcs2015"))  # type: ignore[arg-type]
    data = base.base.to_dict()
    data["horizon_s"] = 1.5
    book_and_batch = [{"kind": "clob"}, {"kind": "fba", "interval_ms": 1}]
    small = study_from_dict(
        {
            "name": "bcs-small",
            "scenario": data,
            "experiments": [
                {
                    "name": "rate",
                    "mechanisms": book_and_batch,
                    "sweep": {"param": "fundamental.jump_hz", "values": [1, 4]},
                },
                {
                    "name": "size",
                    "mechanisms": [{"kind": "clob"}],
                    "sweep": {"param": "fundamental.jump_ticks", "values": [5, 20]},
                },
                {
                    "name": "spread",
                    "set": {"agents.market_makers.learn": True},
                    "mechanisms": book_and_batch,
                    "sweep": {"param": "fundamental.jump_hz", "values": [1, 4]},
                },
            ],
        }
    )
    df = run_study(small, [0, 1], scheduler="sync")
    paths = write_study_report(df, small, tmp_path, {"git_commit": "x", "git_dirty": True})
    text = paths["report"].read_text()
    assert text.count("| yes |") + text.count("| no |") == 5
    assert "with uncommitted changes" in text and "slow orders picked off" in text
    assert paths["bcs_prize_vs_rate"].read_bytes()[:8] == PNG


def test_the_migrate_study_is_shipped_and_its_experiments_need_no_sweep() -> None:
    path = shipped_study("migrate")
    assert path is not None
    study = load_study(path)
    assert study.analysis == "migrate" and study.seeds >= 20
    roles = {e.name: e.scenario.replay.trader_role for e in study.experiments}
    assert roles == {"taker": "taker", "maker": "maker"}
    for e in study.experiments:
        assert e.scenario.sweep is None and e.scenario.replay.enabled
        assert {m.kind for m in e.scenario.mechanisms} == {"clob", "fba", "cr_fba"}
        assert e.scenario.adversaries.sniper.enabled and e.scenario.adversaries.sequencer.enabled
    moved = study.with_override("replay.messages", "book.csv")
    assert {e.scenario.replay.messages for e in moved.experiments} == {"book.csv"}


def test_the_migrate_study_runs_from_the_cli_on_a_given_file(tmp_path: Path) -> None:
    """A real message file given with --set replaces the recorded one; the report
    names it and gives the trader's measures per mechanism for both roles."""
    rows = [f"34200.{i:09d},1,{i + 1},2,{9900 - (i % 4) * 100},1" for i in range(0, 40)]
    rows += [f"34200.{i:09d},1,{i + 1},2,{10100 + (i % 4) * 100},-1" for i in range(40, 80)]
    rows += [f"34200.{i * 1000:09d},4,{i % 40 + 41},1,10100,-1" for i in range(100, 160)]
    messages = tmp_path / "book_message_10.csv"
    messages.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    code = main(
        ["lab", "run", "migrate", "--seeds", "2", "--scheduler", "sync", "--out", str(out),
         "--set", f"replay.messages={messages}", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    text = (out / "report.md").read_text()
    assert "book_message_10.csv" in text
    assert "## The trader as a taker" in text and "## The trader as a maker" in text
    results = pd.read_csv(out / "results.csv")
    assert set(results["experiment"]) == {"taker", "maker"}
    assert set(results["mechanism"]) == {"clob", "fba-100ms", "cr-100ms"}
    assert (results["trader_lots"] > 0).all()
    assert (out / "migrate_trader.png").read_bytes()[:8] == PNG
