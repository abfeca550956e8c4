"""bench/stark.py runs and prints the documented JSON object (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "stark.py"


def test_json_output_has_the_documented_keys() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--rows", "64", "--columns", "4", "--json", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert set(result) == {
        "rows",
        "columns",
        "prove_s",
        "verify_s",
        "proof_bytes",
        "conjectured_bits",
        "floor_s",
    }
    assert result["rows"] == 64 and result["columns"] == 4
    assert result["conjectured_bits"] >= 100 and result["proof_bytes"] > 0


@pytest.mark.slow
def test_batch_shape_json_has_the_documented_keys() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--batch-shape", "--rows", "64", "--json", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    for key in (
        "prove_s",
        "floor_s",
        "proof_bytes",
        "conjectured_bits",
        "verify_s",
        "calldata_gas",
        "predicted_bytes",
    ):
        assert key in result, key
    assert result["rows"] == 64 and result["aux_columns"] == 24
    assert result["main_columns"] == 449 and result["conjectured_bits"] >= 100
    assert result["calldata_gas"] > 21_000 + 40 * result["proof_bytes"] * 0.9
