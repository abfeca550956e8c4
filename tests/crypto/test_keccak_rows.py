"""Row hashing for Merkle leaves: the fast ctypes path against keccak256, also under threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sealbatch.crypto import keccak_rows
from sealbatch.crypto.keccak import keccak256


@pytest.mark.parametrize("width", [1, 31, 135, 136, 137, 300])
def test_rows_match_keccak256(width: int) -> None:
    data = np.random.default_rng(width).integers(0, 256, (50, width), dtype=np.uint8)
    out = keccak_rows.hash_rows(data)
    assert out.shape == (50, 32)
    for i in range(50):
        assert out[i].tobytes() == keccak256(data[i].tobytes())


def test_concurrent_calls_do_not_mix_rows() -> None:
    # Proofs may be produced by several threads of one Dask worker at once.
    inputs = [
        np.random.default_rng(100 + i).integers(0, 256, (3000, 96), dtype=np.uint8)
        for i in range(4)
    ]
    results: list[np.ndarray | None] = [None] * 4

    def work(i: int) -> None:
        results[i] = keccak_rows.hash_rows(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for data, out in zip(inputs, results, strict=True):
        assert out is not None
        expected = np.frombuffer(
            b"".join(keccak256(row.tobytes()) for row in data), dtype=np.uint8
        ).reshape(-1, 32)
        assert np.array_equal(out, expected)


def test_rejects_non_matrix() -> None:
    with pytest.raises(ValueError, match="2-D"):
        keccak_rows.hash_rows(np.zeros(5, np.uint8))
