"""bench/batch_proof.py publishes its batches in the venue's canonical form, so that
``sealbatch verify --public`` takes a folder of its files as it takes the venue's."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from sealbatch.venue.commands.canonical_form import canonical_difference

BENCH = Path(__file__).resolve().parents[2] / "bench" / "batch_proof.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_batch_proof_files", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bench_batch_files_are_in_canonical_form() -> None:
    bench = _bench()
    config = bench._config()
    files, post = bench.next_batch(
        bench.genesis(12, config), 30, config, bench._oracle(), np.random.default_rng(3)
    )
    assert post.batch_id == 1
    # the addresses are the ones an account's key would give: EIP-55, not lower case
    assert any(c.isupper() for a in post.accounts for c in a.address[2:])
    assert canonical_difference(files) is None
