"""Number-theoretic transforms over BabyBear on power-of-two domains, many columns at once.

All transforms act on the last axis of a ``(..., n)`` uint64 array, ``n`` a
power of two up to ``2^27``, inputs and outputs in natural order:

* :func:`ntt` — evaluations ``y_j = Σ_i a_i ω^(ij)`` on ``<ω>``, ``ω`` of order ``n``;
* :func:`intt` — its inverse (coefficients from evaluations);
* :func:`coset_lde` — from evaluations on ``<ω_N>`` to evaluations on the
  coset ``s·<ω_(bN)>`` (the low-degree extension), ``b`` the blowup;
* :func:`coset_evaluate` / :func:`coset_interpolate` — coefficients to and
  from evaluations on a coset ``s·<ω_n>``.

Notes:
    Each radix-2 stage is a handful of numpy passes over the whole batch
    (Cooley–Tukey, decimation in time, in the "vectorised" form that keeps
    natural order without a bit-reversal: after stage ``m`` the array holds
    the length-``2m`` DFTs of the ``n/2m`` interleaved subsequences). Sizes
    above 2^10 use the four-step split ``n = n1·n2`` so that every numpy inner
    loop runs over at least ``~sqrt(n)`` contiguous elements, which keeps the
    per-call overhead negligible. The LDE evaluates the ``b`` cosets
    ``s·ω_(bN)^k·<ω_N>`` with ``b`` size-``N`` transforms and interleaves
    them (the first four-step stage of a zero-padded transform is trivial).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.field_scalar import GENERATOR, TWO_ADICITY, P, fp_inv, root_of_unity

__all__ = [
    "DEFAULT_SHIFT",
    "coset_evaluate",
    "coset_interpolate",
    "coset_lde",
    "intt",
    "naive_dft",
    "ntt",
]

DEFAULT_SHIFT = GENERATOR
"""The coset offset of every LDE domain: a generator of ``F_p^*``, so the coset
``s·<ω>`` never meets the trace domain ``<ω_N>``."""

_P = np.uint64(P)
_S32 = np.uint64(32)
_FOUR_STEP_MIN = 1 << 11
_CHUNK_ELEMENTS = 1 << 17  # about 1 MB per block: measured 3-4x faster than 8 MB blocks (cache)


def _log2(n: int) -> int:
    if n < 1 or n & (n - 1):
        raise ValueError(f"expected a power-of-two length, got {n}")
    k = n.bit_length() - 1
    if k > TWO_ADICITY:
        raise ValueError(f"expected a length <= 2^{TWO_ADICITY}, got 2^{k}")
    return k


def _shoup(w: fld.Array) -> fld.Array:
    """Shoup's companion ``floor(w·2^32 / p)`` of each constant multiplier ``w``."""
    return ((w.astype(object) << 32) // P).astype(np.uint64)


@lru_cache(maxsize=64)
def _stage_twiddles(n: int, inverse: bool) -> tuple[tuple[fld.Array, fld.Array], ...]:
    """For each stage ``m = 1, 2, 4, ...``: ``ω_(2m)^k`` (``k < m``) as ``(m, 1, 1)``, and its
    Shoup companion."""
    out = []
    m = 1
    while m < n:
        w = root_of_unity(_log2(2 * m))
        if inverse:
            w = fp_inv(w)
        tw = fld.powers(w, m).reshape(m, 1, 1)
        out.append((tw, _shoup(tw)))
        m *= 2
    return tuple(out)


@lru_cache(maxsize=16)
def _four_step_twiddles(n1: int, n2: int, inverse: bool) -> tuple[fld.Array, fld.Array]:
    """``ω_n^(k1·b)`` for ``k1 < n1``, ``b < n2``: shape ``(n1, n2)``, and its Shoup companion."""
    n = n1 * n2
    w = root_of_unity(_log2(n))
    if inverse:
        w = fp_inv(w)
    rows = fld.powers(w, n1)  # ω^k1
    out = np.empty((n1, n2), np.uint64)
    for k1 in range(n1):
        out[k1] = fld.powers(int(rows[k1]), n2)
    return out, _shoup(out)


def _mul_shoup(
    x: fld.Array, w: fld.Array, w_shoup: fld.Array, out: fld.Array | None = None
) -> fld.Array:
    """``x·w mod p`` for canonical ``x`` and precomputed constants ``w`` (Shoup's trick).

    Notes:
        ``q = floor(x·w'/2^32)`` (``x·w' < 2^63``) is ``floor(x·w/p)`` or one
        less, so ``x·w − q·p`` (exact mod 2^64) lies in ``[0, 2p)``; one
        conditional subtraction finishes. Measured ~30% faster than ``%``.
    """
    q = np.multiply(x, w_shoup)
    np.right_shift(q, _S32, out=q)
    np.multiply(q, _P, out=q)
    t = np.multiply(x, w, out=out)
    np.subtract(t, q, out=t)
    np.subtract(t, _P, out=q)
    np.minimum(t, q, out=t)
    return t


def _dft_axis1(x: fld.Array, inverse: bool) -> fld.Array:
    """DFT of size ``n`` along axis 1 of a ``(C, n, K)`` array (``K`` contiguous, batched)."""
    c, n, k = x.shape
    if n == 1:
        return x.copy()
    twiddles = _stage_twiddles(n, inverse)
    cur = x.reshape(c, 1, n, k)
    m = 1
    for f, f_shoup in twiddles:
        half = cur.shape[2] // 2
        even = cur[:, :, :half, :]
        odd = cur[:, :, half:, :]
        nxt = np.empty((c, 2 * m, half, k), np.uint64)
        lo = nxt[:, :m]
        hi = nxt[:, m:]
        t = odd if m == 1 else _mul_shoup(odd, f, f_shoup)
        np.add(even, t, out=lo)
        np.subtract(even, t, out=hi)
        np.minimum(lo, lo - _P, out=lo)
        np.minimum(hi, hi + _P, out=hi)
        cur = nxt
        m *= 2
    return cur.reshape(c, n, k)


def _transform(a: fld.Array, inverse: bool) -> fld.Array:
    arr = np.asarray(a, dtype=np.uint64)
    n = arr.shape[-1]
    _log2(n)
    lead = arr.shape[:-1]
    flat = arr.reshape(-1, n)
    out = np.empty_like(flat)
    step = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, flat.shape[0], step):
        block = flat[start : start + step]
        out[start : start + step] = _transform_block(block, inverse)
    if inverse:
        out = fld.mul(out, fp_inv(n))
    return out.reshape(*lead, n)


def _transform_block(block: fld.Array, inverse: bool) -> fld.Array:
    c, n = block.shape
    if n < _FOUR_STEP_MIN:
        return _dft_axis1(block.reshape(c, n, 1), inverse).reshape(c, n)
    log_n = _log2(n)
    n1 = 1 << (log_n // 2)
    n2 = n // n1
    # x[n2·a + b]: DFT over a (size n1) for every b, twiddle ω_n^(k1·b), then DFT over b.
    y = _dft_axis1(block.reshape(c, n1, n2), inverse)
    tw, tw_shoup = _four_step_twiddles(n1, n2, inverse)
    _mul_shoup(y, tw, tw_shoup, out=y)
    z = np.ascontiguousarray(y.transpose(0, 2, 1))  # (c, n2, n1)
    return _dft_axis1(z, inverse).reshape(c, n)  # index k2·n1 + k1: natural order


def ntt(a: fld.Array) -> fld.Array:
    """Evaluate polynomials (coefficients on the last axis) on ``<ω_n>``, natural order."""
    return _transform(a, inverse=False)


def intt(a: fld.Array) -> fld.Array:
    """Coefficients from evaluations on ``<ω_n>`` (inverse of :func:`ntt`)."""
    return _transform(a, inverse=True)


@lru_cache(maxsize=8)
def _coset_scales(d: int, size: int, shift: int) -> tuple[fld.Array, fld.Array]:
    """``(shift·ω_size^k)^i`` for ``k < size/d``, ``i < d``, and the Shoup companions."""
    w = root_of_unity(_log2(size))
    scales = np.stack([fld.powers(shift * pow(w, k, P) % P, d) for k in range(size // d)])
    return scales, _shoup(scales)


def coset_evaluate(coeffs: fld.Array, size: int, shift: int = DEFAULT_SHIFT) -> fld.Array:
    """Evaluate polynomials with ``d <= size`` coefficients on ``shift·<ω_size>``.

    Notes:
        With ``size = b·d``, the point ``shift·ω_size^(k + b·j)`` lies in the
        ``k``-th coset ``shift·ω_size^k·<ω_d>``, so the result is ``b``
        size-``d`` transforms of ``c_i·(shift·ω_size^k)^i``, interleaved.
    """
    arr = np.asarray(coeffs, dtype=np.uint64)
    d = arr.shape[-1]
    _log2(d)
    _log2(size)
    if size % d:
        raise ValueError(f"expected size a multiple of {d} coefficients, got {size}")
    b = size // d
    lead = arr.shape[:-1]
    flat = arr.reshape(-1, d)
    scales, scales_shoup = _coset_scales(d, size, shift)
    out = np.empty((flat.shape[0], d, b), np.uint64)
    step = max(1, _CHUNK_ELEMENTS // size)
    for start in range(0, flat.shape[0], step):
        block = flat[start : start + step]
        twisted = np.empty((block.shape[0], b, d), np.uint64)
        for k in range(b):
            _mul_shoup(block, scales[k], scales_shoup[k], out=twisted[:, k])
        evals = _transform(twisted.reshape(-1, d), inverse=False).reshape(-1, b, d)
        out[start : start + step] = evals.transpose(0, 2, 1)
    return out.reshape(*lead, size)


def coset_interpolate(evals: fld.Array, shift: int = DEFAULT_SHIFT) -> fld.Array:
    """Coefficients of the polynomials whose values on ``shift·<ω_n>`` are given."""
    coeffs = intt(evals)
    n = coeffs.shape[-1]
    return fld.mul(coeffs, fld.powers(fp_inv(shift), n))


def coset_lde(evals: fld.Array, blowup: int, shift: int = DEFAULT_SHIFT) -> fld.Array:
    """Low-degree extension: values on ``<ω_N>`` to values on ``shift·<ω_(blowup·N)>``."""
    arr = np.asarray(evals, dtype=np.uint64)
    return coset_evaluate(intt(arr), blowup * arr.shape[-1], shift)


def naive_dft(a: fld.Array, shift: int = 1) -> fld.Array:
    """``O(n^2)`` reference: ``y_j = Σ_i a_i (shift·ω^j)^i`` (tests only)."""
    arr = np.asarray(a, dtype=np.uint64)
    n = arr.shape[-1]
    w = root_of_unity(_log2(n))
    coeffs = [[int(v) for v in row] for row in arr.reshape(-1, n)]
    out = []
    for row in coeffs:
        vals = []
        for j in range(n):
            x = shift * pow(w, j, P) % P
            acc = 0
            for c in reversed(row):
                acc = (acc * x + c) % P
            vals.append(acc)
        out.append(vals)
    return np.array(out, dtype=np.uint64).reshape(arr.shape)
