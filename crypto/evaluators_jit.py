"""The prover's constraint evaluator with its field products compiled (numba).

:class:`CompiledArrayEvaluator` is :class:`~sealbatch.crypto.evaluators.ArrayEvaluator`
with the products, sums and differences of whole blocks — base by base,
extension by extension, extension by base, extension by one extension
scalar (a challenge) — done by compiled loops instead of numpy's element-wise
``%`` (which divides; LLVM reduces by the constant ``p`` with a multiply).
Every other case (scalars, broadcasts of other shapes) goes to the numpy
methods it inherits. Field arithmetic is exact, so the values — and a proof
built with them — are the numpy evaluator's to the bit
(``tests/crypto/test_evaluators_jit.py``). The numpy evaluator stays the
reference and the one every other caller uses: importing this module imports
numba, which only the prover needs (the verifier evaluates at one point).

Notes:
    Inputs are canonical (``< p``, ``p < 2^31``), as for :mod:`sealbatch.crypto.field`:
    a sum of four products of canonical values stays below ``2^64``, so each
    output coefficient of an extension product is reduced once, after its
    wrapped-around part (the ``x^4 = 11`` terms) is reduced and multiplied by 11.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from sealbatch.crypto.evaluators import ArrayEvaluator, Value
from sealbatch.crypto.field_scalar import EXT_DEGREE, P, W

__all__ = ["CompiledArrayEvaluator", "window"]

_P = np.uint64(P)
_W = np.uint64(W)


@numba.njit(cache=True, nogil=True)
def _mul(a: Any, b: Any) -> Any:  # pragma: no cover - compiled
    out = np.empty(a.shape[0], np.uint64)
    for j in range(a.shape[0]):
        out[j] = (a[j] * b[j]) % _P
    return out


@numba.njit(cache=True, nogil=True)
def _add(a: Any, b: Any) -> Any:  # pragma: no cover - compiled
    out = np.empty(a.shape, np.uint64)
    fa, fb, fo = a.reshape(-1), b.reshape(-1), out.reshape(-1)
    for j in range(fo.shape[0]):
        s = fa[j] + fb[j]
        fo[j] = s - _P if s >= _P else s
    return out


@numba.njit(cache=True, nogil=True)
def _sub(a: Any, b: Any) -> Any:  # pragma: no cover - compiled
    out = np.empty(a.shape, np.uint64)
    fa, fb, fo = a.reshape(-1), b.reshape(-1), out.reshape(-1)
    for j in range(fo.shape[0]):
        x, y = fa[j], fb[j]
        fo[j] = x - y if x >= y else x + _P - y
    return out


@numba.njit(cache=True, nogil=True)
def _ext_mul_base(e: Any, s: Any) -> Any:  # pragma: no cover - compiled
    n = s.shape[0]
    out = np.empty((4, n), np.uint64)
    for k in range(4):
        for j in range(n):
            out[k, j] = (e[k, j] * s[j]) % _P
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _ext_product(
    a0: Any, a1: Any, a2: Any, a3: Any, b0: Any, b1: Any, b2: Any, b3: Any
) -> Any:  # pragma: no cover - compiled
    hi0 = (a1 * b3 + a2 * b2 + a3 * b1) % _P  # x^4
    hi1 = (a2 * b3 + a3 * b2) % _P  # x^5
    hi2 = (a3 * b3) % _P  # x^6
    return (
        (a0 * b0 + hi0 * _W) % _P,
        (a0 * b1 + a1 * b0 + hi1 * _W) % _P,
        (a0 * b2 + a1 * b1 + a2 * b0 + hi2 * _W) % _P,
        (a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0) % _P,
    )


@numba.njit(cache=True, nogil=True)
def _ext_mul(a: Any, b: Any) -> Any:  # pragma: no cover - compiled
    n = a.shape[1]
    out = np.empty((4, n), np.uint64)
    for j in range(n):
        c0, c1, c2, c3 = _ext_product(
            a[0, j], a[1, j], a[2, j], a[3, j], b[0, j], b[1, j], b[2, j], b[3, j]
        )
        out[0, j], out[1, j], out[2, j], out[3, j] = c0, c1, c2, c3
    return out


@numba.njit(cache=True, nogil=True)
def _ext_mul_scalar(a: Any, b: Any) -> Any:  # pragma: no cover - compiled
    n = a.shape[1]
    out = np.empty((4, n), np.uint64)
    b0, b1, b2, b3 = b[0, 0], b[1, 0], b[2, 0], b[3, 0]
    for j in range(n):
        c0, c1, c2, c3 = _ext_product(a[0, j], a[1, j], a[2, j], a[3, j], b0, b1, b2, b3)
        out[0, j], out[1, j], out[2, j], out[3, j] = c0, c1, c2, c3
    return out


@numba.njit(cache=True, nogil=True)
def _window1(v: Any, a: int, length: int) -> Any:  # pragma: no cover - compiled
    m = v.shape[0]
    out = np.empty(length, np.uint64)
    first = min(length, m - a)
    for i in range(first):
        out[i] = v[a + i]
    for i in range(first, length):
        out[i] = v[i - first]
    return out


@numba.njit(cache=True, nogil=True)
def _window2(v: Any, a: int, length: int) -> Any:  # pragma: no cover - compiled
    rows, m = v.shape
    out = np.empty((rows, length), np.uint64)
    first = min(length, m - a)
    for r in range(rows):
        for i in range(first):
            out[r, i] = v[r, a + i]
        for i in range(first, length):
            out[r, i] = v[r, i - first]
    return out


def window(values: np.ndarray, a: int, b: int) -> Any:
    """Points ``a..b`` of ``values`` along its last axis, cyclic (``a < m <= b`` wraps
    around to the start; ``0 <= a``, ``b − a <= m``), widened to a new uint64 array:
    the prover's gather of a block of a (uint32-stored, strided) LDE column, a
    compiled loop instead of numpy's strided ``astype`` (about half the time)."""
    m = values.shape[-1]
    if a >= m:
        a, b = a - m, b - m
    if values.ndim == 1:
        return _window1(values, a, b - a)
    return _window2(values, a, b - a)


def _block(v: Value) -> bool:
    """A whole block of uint64 values: a base vector ``(n,)`` or an extension ``(4, n)``."""
    return (
        isinstance(v, np.ndarray)
        and v.dtype == np.uint64
        and v.ndim in (1, 2)
        and v.flags.c_contiguous
    )


def _ext_scalar(v: np.ndarray) -> bool:
    return v.shape == (EXT_DEGREE, 1)


class CompiledArrayEvaluator(ArrayEvaluator):
    """:class:`ArrayEvaluator` with block products, sums and differences compiled."""

    def add(self, a: Value, b: Value) -> Value:
        if _block(a) and _block(b) and np.shape(a) == np.shape(b):
            return _add(a, b)
        return super().add(a, b)

    def sub(self, a: Value, b: Value) -> Value:
        if _block(a) and _block(b) and np.shape(a) == np.shape(b):
            return _sub(a, b)
        return super().sub(a, b)

    def mul(self, a: Value, b: Value) -> Value:
        if _block(a) and _block(b):
            x, y = np.asarray(a), np.asarray(b)
            if x.ndim == 1 and y.ndim == 1 and x.shape == y.shape:
                return _mul(x, y)
            if x.ndim == 1 and y.ndim == 2:
                x, y = y, x
            if x.ndim == 2 and y.ndim == 1 and x.shape == (EXT_DEGREE, y.shape[0]):
                return _ext_mul_base(x, y)
            if x.ndim == 2 and y.ndim == 2:
                if x.shape == y.shape and x.shape[0] == EXT_DEGREE:
                    return _ext_mul(x, y)
                if _ext_scalar(y) and x.shape[0] == EXT_DEGREE:
                    return _ext_mul_scalar(x, y)
                if _ext_scalar(x) and y.shape[0] == EXT_DEGREE:
                    return _ext_mul_scalar(y, x)
        return super().mul(a, b)
