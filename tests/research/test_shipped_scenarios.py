"""The shipped scenarios' directional results, with confidence intervals.

Slow (a few minutes on a loaded 2-core machine: 6-8 seeds, 8-20 s horizons):
``pytest -m slow tests/research``. The fast
suite checks the sniping result on a short run (test_sweep.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sealbatch.research.scenario import Scenario, load_scenario
from sealbatch.research.stats import bootstrap_ci, paired_test
from sealbatch.research.sweep import run_sweep

SCENARIOS = Path(__file__).resolve().parents[2] / "research" / "scenarios"
pytestmark = pytest.mark.slow


def _run(
    name: str, seeds: int = 6, horizon: float = 8.0, **overrides: object
) -> tuple[Scenario, pd.DataFrame]:
    s = load_scenario(SCENARIOS / f"{name}.yaml").with_override("horizon_s", horizon)
    for path, value in overrides.items():
        s = s.with_override(path.replace("__", "."), value)
    return s, run_sweep(s, range(seeds), workers=2)


def _ci(df: pd.DataFrame, mech: str, metric: str) -> tuple[float, float, float]:
    return bootstrap_ci(df.loc[df["mechanism"] == mech, metric])


def _paired(df: pd.DataFrame, a: str, b: str, metric: str) -> tuple[float, float]:
    x = df[df["mechanism"] == a].sort_values("seed")[metric].to_numpy()
    y = df[df["mechanism"] == b].sort_values("seed")[metric].to_numpy()
    t = paired_test(x, y)
    return t.low, t.high


def test_sniping() -> None:
    # the batch-interval comparison; commit-reveal runs in the other tests
    book_and_batches = [{"kind": "clob"}] + [
        {"kind": "fba", "interval_ms": ms} for ms in (10, 100, 1000)
    ]
    _, df = _run("sniping", seeds=8, horizon=20.0, sweep=None, mechanisms=book_and_batches)
    _, lo_clob, _ = _ci(df, "clob", "stale_quote_loss")
    assert lo_clob > 0
    means = []
    for mech in ("fba-10ms", "fba-100ms", "fba-1000ms"):
        mean, _, hi = _ci(df, mech, "stale_quote_loss")
        assert hi < lo_clob
        assert _paired(df, mech, "clob", "adversary_rent")[1] < 0
        means.append(mean)
    assert means[0] >= means[1] >= means[2]  # shrinks towards zero as the interval grows
    assert means[2] == 0
    races = [_ci(df, m, "races")[0] for m in ("clob", "fba-10ms", "fba-100ms", "fba-1000ms")]
    assert races == sorted(races, reverse=True)


def test_sandwich() -> None:
    _, df = _run("sandwich", sweep=None)
    assert _ci(df, "clob", "adversary_pnl")[1] > 0
    assert _ci(df, "clob", "sandwiches")[1] > 0
    assert _paired(df, "fba-100ms", "clob", "pnl_sandwicher")[1] < 0
    # sealed in flight: the sandwicher never trades under commit-reveal
    assert df.loc[df["mechanism"] == "cr-100ms", "pnl_sandwicher"].abs().max() == 0


def test_sequencer() -> None:
    _, df = _run("sequencer", sweep=None)
    assert _ci(df, "clob", "adversary_pnl")[1] > 0
    for mech in ("fba-10ms", "fba-100ms", "cr-100ms"):
        assert _paired(df, mech, "clob", "pnl_sequencer")[1] < 0
    # under commit-reveal it still reads and drops reveals: its victims forfeit bonds
    assert _ci(df, "cr-100ms", "censored_sequencer")[1] > 0


def test_selective_reveal_option_and_bond() -> None:
    s, df = _run("selective_reveal", sweep__values=[0, 1])
    cr = df[df["kind"] == "cr_fba"]
    # marked at each fill (same expectation as the P&L, far less variance)
    free = bootstrap_ci(cr.loc[cr["sweep_value"] == 0, "rent_selective_revealer"])
    at_one = cr[cr["sweep_value"] == 1]
    # net of the bonds it forfeits, marked at each fill (low variance)
    bonded = bootstrap_ci(at_one["rent_selective_revealer"] - at_one["bonds_selective_revealer"])
    assert free[1] > 0  # the free option is worth something
    assert bonded[2] < 0  # a bond of one tick x lot per commitment makes it lose
    fba = df[df["kind"] == "fba"]
    assert fba["adversary_pnl"].abs().max() == 0  # nothing to withhold without commitments
    assert s.sweep is not None
