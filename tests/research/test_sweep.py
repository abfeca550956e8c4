"""Sweeps: task planning, in-process and Dask execution, and the directional result
of the shipped sniping scenario with confidence intervals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sealbatch.research import sweep
from sealbatch.research.scenario import MechanismSpec, load_scenario, scenario_from_dict
from sealbatch.research.stats import bootstrap_ci, paired_test
from sealbatch.research.sweep import plan_tasks, run_sweep

SCENARIOS = Path(__file__).resolve().parents[2] / "research" / "scenarios"


def test_plan_covers_values_mechanisms_and_seeds() -> None:
    s = load_scenario(SCENARIOS / "sniping.yaml")
    assert s.sweep is not None
    tasks = plan_tasks(s, range(3))
    assert len(tasks) == len(s.sweep.values) * len(s.mechanisms) * 3
    assert {t.scenario.adversaries.sniper.edge_us for t in tasks} == set(s.sweep.values)


def test_local_dask_cluster_gives_the_same_rows_as_in_process() -> None:
    s = load_scenario(SCENARIOS / "sniping.yaml").with_override("horizon_s", 1.0)
    s = s.with_override("sweep", None)
    s = s.with_override("mechanisms", [{"kind": "clob"}, {"kind": "fba", "interval_ms": 100}])
    sync = run_sweep(s, [0, 1], scheduler="sync")
    dask = run_sweep(s, [0, 1], workers=2, processes=False)
    cols = ["mechanism", "seed", "adversary_pnl", "volume", "total_surplus"]
    pd.testing.assert_frame_equal(sync[cols], dask[cols])
    assert len(sync) == 4
    # scale-out path: an existing scheduler named by its address
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        remote = run_sweep(s, [0, 1], scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(sync[cols], remote[cols])


def test_sniping_rents_are_positive_in_the_book_and_shrink_in_the_batch_auction() -> None:
    """Short multi-seed run of sniping.yaml (Budish, Cramton, Shim 2015).

    The prize of sniping is what market makers' stale quotes lose after a jump
    (``stale_quote_loss``); the sniper's rent is what it earns in all.
    """
    s = load_scenario(SCENARIOS / "sniping.yaml").with_override("horizon_s", 8.0)
    s = s.with_override("sweep", None)
    s = s.with_override(
        "mechanisms",
        [{"kind": "clob"}, {"kind": "fba", "interval_ms": 100}],
    )
    df = run_sweep(s, range(8), scheduler="sync")
    clob = df[df.mechanism == "clob"].sort_values("seed")
    fba = df[df.mechanism == "fba-100ms"].sort_values("seed")
    for metric in ("adversary_rent", "stale_quote_loss"):
        mean, lo, _ = bootstrap_ci(clob[metric])
        assert lo > 0, f"CLOB {metric}: CI should exclude zero, got {mean} [{lo}, ...]"
        diff = paired_test(fba[metric].to_numpy(), clob[metric].to_numpy())
        assert diff.high < 0, f"batch auction should cut {metric}, got {diff}"
        assert fba[metric].mean() < 0.2 * clob[metric].mean()
    assert fba["races"].sum() < clob["races"].sum() / 10
    assert clob["stale_order_loss"].sum() == 0  # nothing waits for a close in the book
    assert MechanismSpec("fba", 100).label == "fba-100ms"


def test_runs_the_swept_parameter_does_not_touch_are_computed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sweeping the commit-reveal bond leaves the batch-auction runs unchanged: each
    is run once and its row repeated for every bond, with that bond's sweep value."""
    s = scenario_from_dict(
        {
            "horizon_s": 0.5,
            "mechanisms": [{"kind": "fba", "interval_ms": 100}, {"kind": "cr_fba", "bond": 0}],
            "sweep": {"param": "mechanisms.1.bond", "values": [0, 5, 50]},
        }
    )
    calls: list[tuple[str, int]] = []
    real = sweep.run_task

    def counted(task: sweep.SweepTask) -> dict[str, object]:
        calls.append((task.spec.label, task.spec.bond))
        return real(task)

    monkeypatch.setattr(sweep, "run_task", counted)
    df = run_sweep(s, [0, 1], scheduler="sync")
    assert sorted(calls) == sorted(
        [("fba-100ms", 0)] * 2 + [("cr-100ms", b) for b in (0, 5, 50) for _ in range(2)]
    )
    assert len(df) == 12 and sorted(set(df["sweep_value"])) == [0, 5, 50]
    fba = df[df["mechanism"] == "fba-100ms"].drop(columns=["sweep_value"])
    assert len(fba) == 6 and len(fba.drop_duplicates(subset=["seed", "volume", "fills"])) == 2
    cr = df[df["mechanism"] == "cr-100ms"]
    assert sorted(set(cr["bond"])) == [0, 5, 50]
