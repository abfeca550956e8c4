"""NTTs against a naive DFT, round trips and the coset LDE."""

from __future__ import annotations

import numpy as np
import pytest

from sealbatch.crypto import field as fld
from sealbatch.crypto import ntt
from sealbatch.crypto.field_scalar import P, root_of_unity


@pytest.mark.parametrize("n", [1, 2, 4, 8, 32, 128])
def test_ntt_matches_naive_dft(n: int) -> None:
    rng = np.random.default_rng(n)
    a = fld.random_elements(rng, (3, n))
    assert np.array_equal(ntt.ntt(a), ntt.naive_dft(a))


@pytest.mark.parametrize("n", [1, 2, 16, 1024, 2048, 8192, 1 << 15])
def test_round_trip(n: int) -> None:
    rng = np.random.default_rng(n)
    a = fld.random_elements(rng, (2, n))
    assert np.array_equal(ntt.intt(ntt.ntt(a)), a)
    assert np.array_equal(ntt.ntt(ntt.intt(a)), a)


def test_four_step_matches_naive_on_sample() -> None:
    # 4096 uses the four-step path; check a few outputs against direct evaluation.
    rng = np.random.default_rng(1)
    n = 4096
    a = fld.random_elements(rng, n)
    y = ntt.ntt(a)
    w = root_of_unity(12)
    coeffs = [int(v) for v in a]
    for j in (0, 1, 7, 2049, 4095):
        x = pow(w, j, P)
        acc = 0
        for c in reversed(coeffs):
            acc = (acc * x + c) % P
        assert int(y[j]) == acc


def test_known_values() -> None:
    # The constant polynomial 5 evaluates to 5 everywhere; x evaluates to the domain.
    n = 8
    one = np.zeros(n, np.uint64)
    one[0] = 5
    assert ntt.ntt(one).tolist() == [5] * n
    x = np.zeros(n, np.uint64)
    x[1] = 1
    assert ntt.ntt(x).tolist() == [pow(root_of_unity(3), j, P) for j in range(n)]


@pytest.mark.parametrize(("n", "blowup"), [(8, 2), (16, 8), (2048, 4)])
def test_coset_lde(n: int, blowup: int) -> None:
    rng = np.random.default_rng(n)
    evals = fld.random_elements(rng, (2, n))
    lde = ntt.coset_lde(evals, blowup)
    coeffs = ntt.intt(evals)
    padded = np.zeros((2, n * blowup), np.uint64)
    padded[:, :n] = coeffs
    shift = ntt.DEFAULT_SHIFT
    expected = ntt.ntt(fld.mul(padded, fld.powers(shift, n * blowup)))
    assert np.array_equal(lde, expected)
    if n <= 16:
        assert np.array_equal(lde, ntt.naive_dft(padded, shift))
    # the trace domain is not in the coset; restricting and interpolating goes back
    assert np.array_equal(ntt.coset_interpolate(lde)[:, :n], coeffs)
    assert not np.any(ntt.coset_interpolate(lde)[:, n:])


def test_bad_lengths() -> None:
    with pytest.raises(ValueError, match="power-of-two"):
        ntt.ntt(np.zeros(12, np.uint64))
    with pytest.raises(ValueError, match="multiple"):
        ntt.coset_evaluate(np.zeros(16, np.uint64), 8)
