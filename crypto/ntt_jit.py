"""The prover's NTTs compiled to machine code (numba): the values of :mod:`~sealbatch.crypto.ntt`.

:func:`intt` and :func:`coset_evaluate` here return exactly what the numpy
functions of the same names in :mod:`sealbatch.crypto.ntt` return (field
arithmetic is exact: only the order of the work differs), so a proof built
with them is byte-identical. The numpy module stays the reference, and the
one the verifier uses: importing this module imports numba (a large import
and a JIT compilation on first use), which only the prover needs.

Notes:
    The transforms are iterative radix-2 Cooley–Tukey (input gathered in
    bit-reversed order, natural order out) over a ``(n, m)`` uint32 work
    array whose ``m`` columns are transformed side by side: every butterfly
    is then one multiply-add over a contiguous row of ``m`` values sharing
    one twiddle, which LLVM vectorises. The coset LDE of a column puts its
    ``b`` cosets ``s·ω_(bN)^k·<ω_N>`` in the ``b`` lanes (the twist by
    ``(s·ω_(bN)^k)^i`` is applied while gathering), so the work array's
    rows are already the output's interleaved order ``j·b + k``; the inverse
    transform puts 16 columns in the lanes. The stages that stay within
    ``_BLOCK_ROWS`` rows run block by block, in cache. Products by a
    precomputed constant ``w`` use Shoup's trick (``q = floor(x·w'/2^32)``,
    ``x·w − q·p`` in ``[0, 2p)``, one conditional subtraction), as the numpy
    code does; every value stays canonical. The compiled code is cached on
    disk (numba's ``cache=True``), so only the first process pays the
    compilation (a few seconds). Inputs must be canonical (``< p``), as for
    the numpy functions.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from sealbatch.crypto import field as fld
from sealbatch.crypto.field_scalar import P, fp_inv, root_of_unity
from sealbatch.crypto.ntt import DEFAULT_SHIFT, _coset_scales, _log2, _shoup

__all__ = ["coset_evaluate", "coset_evaluate32", "coset_lde", "intt"]

_P = np.uint64(P)
_S32 = np.uint64(32)
_LANES = 16  # columns transformed side by side by the inverse transform (one 64-byte row)
_BLOCK_ROWS = 1 << 10  # stages with 2h <= 1024 rows run block by block (measured best)


@numba.njit(cache=True, nogil=True, inline="always")
def _mul(x: np.uint64, w: np.uint64, w_shoup: np.uint64) -> np.uint64:  # pragma: no cover
    """``x·w mod p`` for ``x, w < p``, ``w_shoup = floor(w·2^32/p)`` (Shoup)."""
    x = np.uint64(x)
    q = (x * np.uint64(w_shoup)) >> _S32
    t = x * np.uint64(w) - q * _P
    return t - _P if t >= _P else t


@numba.njit(cache=True, nogil=True)
def _butterfly_rows(
    lo: np.ndarray, hi: np.ndarray, w: np.uint64, w_shoup: np.uint64
) -> None:  # pragma: no cover
    """``(lo, hi) <- (lo + w·hi, lo − w·hi)`` element-wise (vectorised by LLVM)."""
    for k in range(lo.shape[0]):
        u = np.uint64(lo[k])
        v = _mul(hi[k], w, w_shoup)
        s = u + v
        lo[k] = s - _P if s >= _P else s
        d = u + _P - v
        hi[k] = d - _P if d >= _P else d


@numba.njit(cache=True, nogil=True)
def _stages(
    work: np.ndarray,
    h: int,
    h_end: int,
    lo_row: int,
    hi_row: int,
    tw: np.ndarray,
    tw_shoup: np.ndarray,
) -> None:  # pragma: no cover
    """The stages of half-length ``h <= .. < h_end`` on rows ``lo_row..hi_row`` of ``work``."""
    while h < h_end:
        base = h - 1
        for start in range(lo_row, hi_row, 2 * h):
            for j in range(h):
                _butterfly_rows(
                    work[start + j], work[start + j + h], tw[base + j], tw_shoup[base + j]
                )
        h *= 2


@numba.njit(cache=True, nogil=True)
def _transform(work: np.ndarray, tw: np.ndarray, tw_shoup: np.ndarray) -> None:  # pragma: no cover
    """Radix-2 DIT transforms of every column of ``(n, m)`` ``work``, in place.

    Rows in bit-reversed order in, natural order out; ``tw[h - 1 + j]`` is
    ``ω_(2h)^j`` for the stage of half-length ``h``. The stages that stay
    within ``_BLOCK_ROWS`` rows run block by block, in cache.
    """
    n = work.shape[0]
    block = min(n, _BLOCK_ROWS)
    for start in range(0, n, block):
        _stages(work, 1, block, start, start + block, tw, tw_shoup)
    _stages(work, block, n, 0, n, tw, tw_shoup)


@numba.njit(cache=True, nogil=True)
def _intt_kernel(
    values: np.ndarray,
    out: np.ndarray,
    rev: np.ndarray,
    tw: np.ndarray,
    tw_shoup: np.ndarray,
    n_inv: np.uint64,
    n_inv_shoup: np.uint64,
) -> None:  # pragma: no cover
    rows, n = values.shape
    for r0 in range(0, rows, _LANES):
        m = min(_LANES, rows - r0)
        work = np.empty((n, m), np.uint32)
        for i in range(n):
            j = rev[i]
            for g in range(m):
                work[i, g] = values[r0 + g, j]
        _transform(work, tw, tw_shoup)
        for g in range(m):
            for i in range(n):
                out[r0 + g, i] = _mul(work[i, g], n_inv, n_inv_shoup)


@numba.njit(cache=True, nogil=True)
def _coset_kernel(
    coeffs: np.ndarray,
    out: np.ndarray,
    scales: np.ndarray,
    scales_shoup: np.ndarray,
    rev: np.ndarray,
    tw: np.ndarray,
    tw_shoup: np.ndarray,
) -> None:  # pragma: no cover
    rows, d = coeffs.shape
    b = scales.shape[1]
    work = np.empty((d, b), np.uint32)
    flat = work.ravel()
    for r in range(rows):
        for i in range(d):
            j = rev[i]
            c = np.uint64(coeffs[r, j])
            row = work[i]
            for k in range(b):
                row[k] = _mul(c, scales[j, k], scales_shoup[j, k])
        _transform(work, tw, tw_shoup)
        dst = out[r]
        for i in range(d * b):
            dst[i] = flat[i]


@lru_cache(maxsize=16)
def _tables(
    n: int, inverse: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """Bit-reversal indices, the per-stage twiddles (concatenated) and their Shoup companions."""
    k = _log2(n)
    idx = np.arange(n, dtype=np.int64)
    rev = np.zeros(n, dtype=np.int64)
    for bit in range(k):
        rev |= ((idx >> bit) & 1) << (k - 1 - bit)
    parts = [np.zeros(1, np.uint64)]  # unused slot so that an empty table is never passed
    h = 1
    while h < n:
        w = root_of_unity(_log2(2 * h))
        parts.append(fld.powers(fp_inv(w) if inverse else w, h))
        h *= 2
    tw = np.concatenate(parts)[1:] if n > 1 else parts[0]
    return rev, tw.astype(np.uint32), _shoup(tw).astype(np.uint32)


@lru_cache(maxsize=8)
def _scales_by_point(
    d: int, size: int, shift: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """``(shift·ω_size^k)^i`` as ``(d, b)`` (row ``i``, coset ``k``), and the Shoup companions."""
    scales, scales_shoup = _coset_scales(d, size, shift)
    return (
        np.ascontiguousarray(scales.T).astype(np.uint32),
        np.ascontiguousarray(scales_shoup.T).astype(np.uint32),
    )


def intt(a: fld.Array) -> fld.Array:
    """Coefficients from evaluations on ``<ω_n>`` (last axis), as :func:`ntt.intt`."""
    arr = np.asarray(a, dtype=np.uint64)
    n = arr.shape[-1]
    _log2(n)
    flat = np.ascontiguousarray(arr.reshape(-1, n))
    out = np.empty_like(flat)
    if n == 1:
        out[:] = flat
        return out.reshape(arr.shape)
    rev, tw, tw_shoup = _tables(n, True)
    n_inv = np.array([fp_inv(n)], np.uint64)
    _intt_kernel(flat, out, rev, tw, tw_shoup, n_inv[0], _shoup(n_inv)[0])
    return out.reshape(arr.shape)


def coset_evaluate(coeffs: fld.Array, size: int, shift: int = DEFAULT_SHIFT) -> fld.Array:
    """Evaluate polynomials with ``d <= size`` coefficients on ``shift·<ω_size>``, as
    :func:`ntt.coset_evaluate`.

    Raises:
        ValueError: ``d`` or ``size`` is not a power of two, or ``size`` not a
            multiple of ``d``.
    """
    out: fld.Array = _coset(coeffs, size, shift, np.uint64)
    return out


def coset_evaluate32(
    coeffs: fld.Array, size: int, shift: int = DEFAULT_SHIFT
) -> npt.NDArray[np.uint32]:
    """:func:`coset_evaluate` stored as uint32: half the memory, for an LDE that is only
    stored, hashed and read back in blocks (every value is canonical, below ``p < 2^31``;
    widen a block to uint64 before arithmetic).

    Raises:
        ValueError: as :func:`coset_evaluate`.
    """
    out: npt.NDArray[np.uint32] = _coset(coeffs, size, shift, np.uint32)
    return out


def _coset(coeffs: fld.Array, size: int, shift: int, dtype: type[np.generic]) -> npt.NDArray[Any]:
    arr = np.asarray(coeffs, dtype=np.uint64)
    d = arr.shape[-1]
    _log2(d)
    _log2(size)
    if size % d:
        raise ValueError(f"expected size a multiple of {d} coefficients, got {size}")
    flat = np.ascontiguousarray(arr.reshape(-1, d))
    out = np.empty((flat.shape[0], size), dtype)
    scales, scales_shoup = _scales_by_point(d, size, shift)
    rev, tw, tw_shoup = _tables(d, False)
    _coset_kernel(flat, out, scales, scales_shoup, rev, tw, tw_shoup)
    return out.reshape(*arr.shape[:-1], size)


def coset_lde(evals: fld.Array, blowup: int, shift: int = DEFAULT_SHIFT) -> fld.Array:
    """Low-degree extension: values on ``<ω_N>`` to values on ``shift·<ω_(blowup·N)>``, as
    :func:`ntt.coset_lde`."""
    arr = np.asarray(evals, dtype=np.uint64)
    return coset_evaluate(intt(arr), blowup * arr.shape[-1], shift)
