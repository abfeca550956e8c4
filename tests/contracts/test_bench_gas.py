"""bench/gas.py --json prints the fields the issue fixes, with figures that hang together."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_gas", ROOT / "bench" / "gas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    assert module.main(["--json", "--air", "fibonacci", "--min-log", "3", "--max-log", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["rows"]
    assert set(row) == {"air", "rows", "proof_bytes", "gas", "calldata_gas"}
    assert row["air"] == "fibonacci" and row["rows"] == 8
    # Calldata costs at most 16 gas a byte of proof plus the ABI framing, and is part of gas.
    assert 4 * row["proof_bytes"] < row["calldata_gas"] < 16 * (row["proof_bytes"] + 400)
    assert 21_000 + row["calldata_gas"] < row["gas"] < 1 << 24
