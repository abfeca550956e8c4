"""The compiled NTTs (crypto/ntt_jit.py) equal the numpy reference, and proofs do not change."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto import field as fld
from sealbatch.crypto import ntt, ntt_jit
from sealbatch.crypto import prover as prover_module
from sealbatch.crypto.air import Air
from sealbatch.crypto.airs import batch_shape, fibonacci, wide
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.options import ProofOptions, l1_options
from sealbatch.crypto.prover import prove
from sealbatch.crypto.verifier import verify
from tests.crypto.helpers import FAST


@pytest.mark.parametrize("n", [1, 2, 4, 8, 64, 1024, 4096])
@pytest.mark.parametrize("rows", [1, 5, 16, 37])
def test_intt_equals_the_reference(n: int, rows: int) -> None:
    rng = np.random.default_rng(n * 100 + rows)
    values = fld.random_elements(rng, (rows, n))
    got = ntt_jit.intt(values)
    assert got.dtype == np.uint64
    assert np.array_equal(got, ntt.intt(values))


@pytest.mark.parametrize(("d", "blowup"), [(1, 1), (1, 8), (2, 2), (8, 16), (256, 1), (2048, 4)])
@pytest.mark.parametrize("shift", [ntt.DEFAULT_SHIFT, 1, 7**5 % P])
def test_coset_evaluate_equals_the_reference(d: int, blowup: int, shift: int) -> None:
    rng = np.random.default_rng(d * 31 + blowup)
    coeffs = fld.random_elements(rng, (3, d))
    got = ntt_jit.coset_evaluate(coeffs, d * blowup, shift)
    want = ntt.coset_evaluate(coeffs, d * blowup, shift)
    assert np.array_equal(got, want)
    narrow = ntt_jit.coset_evaluate32(coeffs, d * blowup, shift)
    assert narrow.dtype == np.uint32 and np.array_equal(narrow, want)


def test_extreme_values_and_shapes() -> None:
    # All p − 1 (the largest canonical value) and all zero, in a 3-D batch and a 1-D vector.
    top = np.full((2, 3, 512), P - 1, np.uint64)
    assert np.array_equal(ntt_jit.intt(top), ntt.intt(top))
    top_lde = ntt.coset_evaluate(top, 4096)
    assert np.array_equal(ntt_jit.coset_evaluate32(top, 4096), top_lde)
    assert np.array_equal(ntt_jit.coset_lde(top, 8), ntt.coset_lde(top, 8))
    vector = fld.random_elements(np.random.default_rng(5), (128,))
    assert np.array_equal(ntt_jit.coset_lde(vector, 16), ntt.coset_lde(vector, 16))
    empty = np.zeros((0, 64), np.uint64)
    assert ntt_jit.coset_evaluate(empty, 256).shape == (0, 256)


def test_lde_of_a_full_batch_column_block() -> None:
    """The shape the prover extends: 2^15 rows at blowup 16 (one column, 2^19 points)."""
    values = fld.random_elements(np.random.default_rng(15), (1, 1 << 15))
    assert np.array_equal(ntt_jit.coset_lde(values, 16), ntt.coset_lde(values, 16))


def test_bad_lengths() -> None:
    with pytest.raises(ValueError, match="power-of-two"):
        ntt_jit.intt(np.zeros(12, np.uint64))
    with pytest.raises(ValueError, match="power-of-two"):
        ntt_jit.coset_evaluate(np.zeros(16, np.uint64), 48)
    with pytest.raises(ValueError, match="multiple"):
        ntt_jit.coset_evaluate(np.zeros(16, np.uint64), 8)


def _prove_with_reference(
    monkeypatch: pytest.MonkeyPatch, air: Air, trace: np.ndarray, options: ProofOptions
) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(prover_module, "intt", ntt.intt)
        patch.setattr(prover_module, "coset_evaluate", ntt.coset_evaluate)
        patch.setattr(
            prover_module,
            "coset_evaluate32",
            lambda c, size, shift: ntt.coset_evaluate(c, size, shift).astype(np.uint32),
        )
        return prove(air, trace, options).to_bytes()


def test_the_prover_uses_the_compiled_transforms() -> None:
    assert prover_module.intt is ntt_jit.intt
    assert prover_module.coset_evaluate is ntt_jit.coset_evaluate
    assert prover_module.coset_evaluate32 is ntt_jit.coset_evaluate32


@pytest.mark.parametrize(
    ("name", "rows", "options"),
    [
        ("fibonacci", 64, FAST),
        ("wide", 128, ProofOptions(blowup=8, num_queries=20, folding_factor=8, grinding_bits=0)),
        ("batch_shape", 64, replace(l1_options(64), grinding_bits=2)),
    ],
)
def test_proofs_are_byte_identical_to_the_reference(
    monkeypatch: pytest.MonkeyPatch, name: str, rows: int, options: ProofOptions
) -> None:
    if name == "fibonacci":
        trace, pubs = fibonacci.generate(rows)
        air = fibonacci.build(rows, pubs)
    elif name == "wide":
        trace, pubs = wide.generate(rows, 6)
        air = wide.build(rows, pubs)
    else:
        trace, pubs = batch_shape.generate(rows)
        air = batch_shape.build(rows, pubs)
    fast = prove(air, trace, options).to_bytes()
    reference = _prove_with_reference(monkeypatch, air, trace, options)
    assert fast == reference
    if name == "batch_shape":
        batch_shape.verify_bytes(fast, min_security_bits=0)
    else:
        verify(fast, min_security_bits=0)
