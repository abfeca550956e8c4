"""bench/batch_proof.py --quick --json prints the documented figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "batch_proof.py"


@pytest.mark.slow
@pytest.mark.timeout(3000)  # ten batch proofs, on Dask too
def test_quick_json_has_the_documented_shape() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=2900,
        check=True,
    )
    doc = json.loads(proc.stdout)
    assert set(doc) == {"rows", "dask"}
    assert [r["orders"] for r in doc["rows"]] == [20, 100]
    for row in doc["rows"]:
        assert set(row) == {
            "orders",
            "accounts",
            "prove_s",
            "proof_bytes",
            "verify_s",
            "calldata_gas",
            "rows",
            "peak_rss_mb",
            "lde64_mb",
        }
        assert row["accounts"] == 50
        assert row["rows"] >= 1 << 12 and row["rows"] & (row["rows"] - 1) == 0
        assert row["peak_rss_mb"] > 0 and row["lde64_mb"] > 0
        assert row["prove_s"] > 0 and row["verify_s"] > 0
        # the calldata of a proof costs at least its bytes at the EIP-7623 floor rate
        assert row["calldata_gas"] > 21_000 + 10 * row["proof_bytes"]
    assert set(doc["dask"]) == {"workers_1_s", "workers_2_s"}
    assert all(v > 0 for v in doc["dask"].values())
