"""The compiled Poseidon2 permutation (crypto/poseidon2_jit.py) equals the numpy and
Python-int reference, and ``use_compiled`` changes no hash, root or commitment."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from sealbatch.crypto import poseidon2, poseidon2_ints, poseidon2_jit
from sealbatch.crypto.poseidon2 import WIDTH, P


@pytest.fixture
def reference() -> Iterator[None]:
    """Run the test body with the compiled kernel off, and restore the process's state."""
    saved = poseidon2._COMPILED
    poseidon2._COMPILED = None
    yield
    poseidon2._COMPILED = saved


def test_compiled_permutation_equals_the_numpy_and_int_reference(reference: None) -> None:
    rng = np.random.default_rng(7)
    states = rng.integers(0, P, size=(WIDTH, 257), dtype=np.uint64)
    edges = np.array([[0] * WIDTH, [P - 1] * WIDTH, list(range(WIDTH))], dtype=np.uint64).T
    states = np.concatenate((states, edges), axis=1)
    want = poseidon2._permute_columns(states)
    got = poseidon2_jit.permute_columns(states)
    assert np.array_equal(got, want)
    for k in range(0, states.shape[1], 37):
        column = [int(v) for v in states[:, k]]
        assert poseidon2_jit.permute_list(column) == poseidon2_ints.permute_ints(column)
        assert poseidon2_jit.permute_list(column) == poseidon2.permute_scalar(column)
    # the input is not changed
    assert np.array_equal(states, np.concatenate((states[:, :257], edges), axis=1))


def test_use_compiled_changes_no_digest(reference: None) -> None:
    """Sponge, compression, Merkle root and a commitment root, with and without."""
    from sealbatch.auction.commitment import commitment_root

    rng = np.random.default_rng(11)
    rows = rng.integers(0, P, size=(40, 31), dtype=np.uint64)
    leaves = rng.integers(0, P, size=(16, 8), dtype=np.uint64)
    commitments = [
        b"".join(int(v).to_bytes(4, "little") for v in rng.integers(1, P, 8)) for _ in range(9)
    ]
    traders = ["0x" + bytes([i + 1]).hex() * 20 for i in range(9)]

    def digests() -> list[object]:
        return [
            poseidon2.hash_rows(rows).tolist(),
            poseidon2.hash_elements(rows[0]).tolist(),
            poseidon2_ints.hash_ints([int(v) for v in rows[1]]),
            poseidon2_ints.compress_ints([int(v) for v in leaves[0]], [int(v) for v in leaves[1]]),
            poseidon2.merkle_root(leaves).tolist(),
            commitment_root(commitments, ["BTC-PERP"] * 9, traders, list(range(9))),
        ]

    want = digests()
    poseidon2_jit.use_compiled()
    assert poseidon2._COMPILED is poseidon2_jit
    assert digests() == want
