"""bench/api.py runs at any size and prints the documented figures (no timing is
asserted: the figures depend on the machine)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_api", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(900)
def test_a_run_of_500_single_requests_prints_its_figures() -> None:
    """``--single 500`` used to leave nothing to time once the 500 warm-up requests
    were taken out of it (an IndexError on the empty latencies)."""
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--single", "500", "--bulk", "400", "--bulk-size", "200"),
            *("--traders", "10", "--connections", "4", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert proc.returncode == 0, proc.stderr[-2_000:]
    doc = json.loads(proc.stdout)
    assert doc["single_requests"] == 500 and doc["bulk_commitments"] == 400
    figures = ("single_rps", "single_p50_ms", "single_p99_ms", "bulk_per_s", "single_server_cpu_us")
    for key in figures:
        assert doc[key] > 0, key
    assert doc["single_p99_ms"] >= doc["single_p50_ms"]


def test_bad_sizes_are_refused_before_anything_starts() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--single", "0"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "--single: expected at least 1, got 0" in proc.stderr


def test_percentile_takes_the_nearest_rank_below_and_refuses_nothing_to_rank() -> None:
    percentile = _bench().percentile
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.99) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError, match="expected at least one value, got none"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="expected 0 <= q < 1, got 1"):
        percentile(values, 1)


@pytest.mark.parametrize("minute", [0, 1, 19, 29, 30, 31, 45, 46, 59, 60, 89, 119, 150, 1439])
def test_the_commit_window_leaves_room_at_any_time_of_day(minute: int) -> None:
    """At the top of the hour a one-hour window would roll to batch 1 mid-run."""
    bench = _bench()
    day = 1_764_460_800_000  # a midnight UTC
    for second in (0, 59):
        now = day + minute * 60_000 + second * 1_000
        window = bench.commit_window_ms(now)
        assert 20 * 60_000 <= window <= 60 * 60_000 and window % 60_000 == 0
        assert window - now % window >= 15 * 60_000
