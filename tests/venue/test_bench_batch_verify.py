"""bench/batch_verify.py prints the documented figures (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "batch_verify.py"


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the demo proves its four batches first
def test_json_has_the_documented_shape() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--repeat", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=1700,
        check=True,
    )
    doc = json.loads(proc.stdout)
    assert set(doc) == {"batches"}
    assert [b["batch"] for b in doc["batches"]] == [f"batch-{i}" for i in range(1, 5)]
    for b in doc["batches"]:
        assert set(b) == {
            "batch",
            "rows",
            "proof_bytes",
            "statement_s",
            "air_s",
            "stark_s",
            "check_s",
            "total_s",
        }
        assert b["rows"] >= 4096 and b["proof_bytes"] > 0
        assert b["check_s"] == pytest.approx(b["air_s"] + b["stark_s"], abs=2e-4)
        assert b["total_s"] >= b["check_s"] > 0
