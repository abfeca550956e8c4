"""bench/stark.py runs and prints the documented JSON object (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
