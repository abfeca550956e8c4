"""Smoke test of bench/clearing.py: it runs and prints the promised JSON (no timing checks)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from sealbatch.auction.book import MARKET

BENCH = Path(__file__).resolve().parents[2] / "bench" / "clearing.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_clearing", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_bench_prints_rows_and_signatures(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    argv = ["--json", "--sizes", "500,2000", "--repeat", "1", "--signatures", "10"]
    assert bench.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["orders"] for r in out["rows"]] == [500, 2000]
    for row in out["rows"]:
        assert set(row) == {"orders", "clear_s", "argsort_s", "ratio"}
        assert row["clear_s"] > 0 and row["argsort_s"] > 0
    assert out["signatures"]["commitments"] == 10
    assert out["signatures"]["book_commit_per_s"] > 0
    assert out["signatures"]["recover_per_s"] > 0


def test_bench_book_is_realistic() -> None:
    bench = load_bench()
    book = bench.random_book(20_000, np.random.default_rng(3))
    limits = book.limit[book.limit != MARKET]
    assert 0.02 < float(np.mean(book.limit == MARKET)) < 0.08
    assert limits.min() >= bench.MID - bench.DEPTH - bench.CROSS
    assert limits.max() <= bench.MID + bench.DEPTH + bench.CROSS
    assert book.quantity.min() >= 1 and book.quantity.max() <= 1000
    # the book crosses, so something trades
    fills = bench.clear(book, bytes(32))
    assert int(fills.sum()) > 0


def test_bench_rejects_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    assert bench.main(["--sizes", "ten"]) == 2
    assert "--sizes" in capsys.readouterr().err
