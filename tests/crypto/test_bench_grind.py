"""bench/grind.py runs, finds the same nonces both ways and prints the documented JSON
object (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "grind.py"


def test_json_output_has_the_documented_keys() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--bits", "10", "--seeds", "3", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert set(result) == {
        "bits",
        "nonces",
        "compiled_s",
        "channel_s",
        "compiled_per_s",
        "channel_per_s",
        "ratio",
    }
    assert result["bits"] == 10 and result["nonces"] >= 3


def test_bad_arguments_exit_2() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--bits", "40"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "--bits" in out.stderr
