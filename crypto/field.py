"""BabyBear field arithmetic on numpy ``uint64`` arrays, and its quartic extension.

Every element is stored canonically in ``[0, p)``. Since ``p < 2^31``, a
product of two elements is below ``2^62`` and fits a ``uint64``; ``%`` by the
constant ``p`` then reduces it (numpy divides by a scalar with libdivide, which
measured faster here than Barrett or Montgomery tricks written as numpy passes).

Base-field values are arrays of any shape (or Python ints in ``[0, p)``, which
numpy treats as ``uint64`` scalars). Extension values are arrays whose
*leading* axis has length 4 — the coefficients ``c0..c3`` of
``c0 + c1·x + c2·x^2 + c3·x^3`` in ``F_p[x]/(x^4 - 11)`` — so an extension
vector of ``n`` elements has shape ``(4, n)`` and an extension scalar shape
``(4,)`` or ``(4, 1)`` for broadcasting against vectors.

:mod:`sealbatch.crypto.field_scalar` is the scalar reference these functions are tested
against.

Reference: BabyBear as used by RISC Zero and Plonky3; the extension ``x^4 - 11``
is Plonky3's ``BinomialExtensionField<BabyBear, 4>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.field_scalar import (
    EXT_DEGREE,
    GENERATOR,
    TWO_ADICITY,
    Fp4,
    P,
    W,
    root_of_unity,
)

__all__ = [
    "EXT_DEGREE",
    "GENERATOR",
    "TWO_ADICITY",
    "Array",
    "Operand",
    "P",
    "W",
    "add",
    "as_field",
    "batch_inv",
    "ext_add",
    "ext_batch_inv",
    "ext_from_base",
    "ext_from_fp4",
    "ext_inv",
    "ext_mul",
    "ext_mul_base",
    "ext_neg",
    "ext_one",
    "ext_pow",
    "ext_scalar",
    "ext_square",
    "ext_sub",
    "ext_to_fp4",
    "ext_zero",
    "from_bytes",
    "inv",
    "matmul",
    "mul",
    "neg",
    "pow",
    "powers",
    "random_elements",
    "root_of_unity",
    "square",
    "sub",
    "to_bytes",
]

Array: TypeAlias = npt.NDArray[np.uint64]
"""A numpy array of canonical field elements (``dtype=uint64``)."""
Operand: TypeAlias = "Array | int | np.uint64"
"""An array or a scalar (a Python int in ``[0, p)`` or a ``uint64``)."""

_P = np.uint64(P)
_W = np.uint64(W)


# ---------------------------------------------------------------- base field


def as_field(values: int | Iterable[int] | npt.ArrayLike) -> Array:
    """Convert integers (any sign, any size) to canonical field elements."""
    if isinstance(values, np.ndarray) and values.dtype == np.uint64:
        return values % _P
    if isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.integer):
        return (values.astype(np.int64) % P).astype(np.uint64)
    if isinstance(values, int):
        return np.array(values % P, dtype=np.uint64)
    return np.array([int(v) % P for v in values], dtype=np.uint64)  # type: ignore[union-attr, arg-type]


def add(a: Operand, b: Operand) -> Array:
    """``a + b`` for canonical inputs."""
    s = np.add(a, b, dtype=np.uint64)
    return np.minimum(s, s - _P)


def sub(a: Operand, b: Operand) -> Array:
    """``a - b`` for canonical inputs (the wrap-around of ``uint64`` is undone by ``+ p``)."""
    d = np.subtract(a, b, dtype=np.uint64)
    return np.minimum(d, d + _P)


def neg(a: Operand) -> Array:
    """``-a``."""
    return sub(0, a)


def mul(a: Operand, b: Operand) -> Array:
    """``a · b``."""
    return np.multiply(a, b, dtype=np.uint64) % _P


def square(a: Array) -> Array:
    return np.multiply(a, a) % _P


def pow(a: Operand, e: int) -> Array:
    """``a^e`` element-wise for one integer exponent; ``e < 0`` inverts first."""
    base = np.asarray(a, dtype=np.uint64)
    if e < 0:
        base, e = inv(base), -e
    result = np.ones_like(base)
    while e:
        if e & 1:
            result = mul(result, base)
        e >>= 1
        if e:
            base = square(base)
    return result


def inv(a: Operand) -> Array:
    """Element-wise inverse (Fermat); raises ZeroDivisionError if any element is 0."""
    arr = np.asarray(a, dtype=np.uint64)
    if np.any(arr == 0):
        raise ZeroDivisionError("0 has no inverse in F_p")
    return pow(arr, P - 2)


def batch_inv(a: Array) -> Array:
    """Inverse of every element with one field inversion (Montgomery's trick, as a product tree).

    The tree is built level by level, so each level is one numpy pass:
    about ``3n`` multiplications and ``log2 n`` passes in all.

    Raises:
        ZeroDivisionError: some element is 0.
    """
    arr = np.asarray(a, dtype=np.uint64)
    flat = arr.reshape(-1)
    if flat.size == 0:
        return arr.copy()
    if np.any(flat == 0):
        raise ZeroDivisionError("0 has no inverse in F_p")
    levels = [flat]
    while levels[-1].size > 1:
        cur = levels[-1]
        if cur.size % 2:
            cur = np.concatenate([cur, np.ones(1, np.uint64)])
            levels[-1] = cur
        levels.append(mul(cur[0::2], cur[1::2]))
    inv_level = np.array([pow(int(levels[-1][0]), P - 2)], dtype=np.uint64)
    for cur in reversed(levels[:-1]):
        inv_level = inv_level[: cur.size // 2]  # drop the inverse of a padding 1
        nxt = np.empty(cur.size, np.uint64)
        nxt[0::2] = mul(inv_level, cur[1::2])
        nxt[1::2] = mul(inv_level, cur[0::2])
        inv_level = nxt
    return inv_level[: flat.size].reshape(arr.shape)


def powers(base: int, n: int, start: int = 1) -> Array:
    """``[start, start·base, start·base^2, ..., start·base^(n-1)]``, by doubling."""
    out = np.empty(n, np.uint64)
    if n == 0:
        return out
    out[0] = start % P
    filled = 1
    step = base % P
    while filled < n:
        take = min(filled, n - filled)
        out[filled : filled + take] = mul(out[:take], step)
        filled += take
        step = step * step % P
    return out


def random_elements(rng: np.random.Generator, shape: int | tuple[int, ...]) -> Array:
    """Uniform field elements (tests and benchmarks only; not for secrets)."""
    return rng.integers(0, P, size=shape, dtype=np.uint64)


def to_bytes(a: Array) -> bytes:
    """Big-endian 4-byte encoding of each element, in C order (the proof and leaf encoding)."""
    return np.ascontiguousarray(a, dtype=">u4").tobytes()


def from_bytes(data: bytes, count: int | None = None) -> Array:
    """Inverse of :func:`to_bytes`; raises ValueError on a length or range mismatch."""
    if len(data) % 4:
        raise ValueError(f"expected a multiple of 4 bytes, got {len(data)}")
    out = np.frombuffer(data, dtype=">u4").astype(np.uint64)
    if count is not None and out.size != count:
        raise ValueError(f"expected {count} elements, got {out.size}")
    if np.any(out >= _P):
        raise ValueError("field element out of range (>= p)")
    return out


# ------------------------------------------------------- quartic extension


def ext_zero(*shape: int) -> Array:
    return np.zeros((EXT_DEGREE, *shape), np.uint64)


def ext_one(*shape: int) -> Array:
    out = ext_zero(*shape)
    out[0] = 1
    return out


def ext_from_base(a: Operand) -> Array:
    """Embed base elements: shape ``s`` becomes ``(4, *s)``."""
    arr = np.asarray(a, dtype=np.uint64)
    out = np.zeros((EXT_DEGREE, *arr.shape), np.uint64)
    out[0] = arr
    return out


def ext_scalar(coeffs: Sequence[int] | Fp4) -> Array:
    """One extension element as a ``(4, 1)`` array that broadcasts against ``(4, n)``."""
    c = coeffs.c if isinstance(coeffs, Fp4) else coeffs
    return np.array([[int(v) % P] for v in c], dtype=np.uint64)


def ext_from_fp4(values: Sequence[Fp4]) -> Array:
    """A ``(4, n)`` array from reference elements."""
    return np.array([[v.c[i] for v in values] for i in range(EXT_DEGREE)], dtype=np.uint64)


def ext_to_fp4(a: Array) -> list[Fp4]:
    """Reference elements from a ``(4, n)`` (or ``(4,)``) array."""
    arr = np.asarray(a).reshape(EXT_DEGREE, -1)
    return [Fp4(tuple(int(v) for v in arr[:, j])) for j in range(arr.shape[1])]  # type: ignore[arg-type]


def ext_add(a: Array, b: Array) -> Array:
    return add(a, b)


def ext_sub(a: Array, b: Array) -> Array:
    return sub(a, b)


def ext_neg(a: Array) -> Array:
    return neg(a)


def ext_mul_base(a: Array, b: Operand) -> Array:
    """Extension times base: ``(4, ...) × (...)``."""
    return np.multiply(a, b, dtype=np.uint64) % _P


def ext_mul(a: Array, b: Array) -> Array:
    """Product in ``F_p[x]/(x^4 - 11)``.

    Notes:
        Schoolbook with lazy reduction: four products of canonical elements sum
        to less than ``4·(p-1)^2 < 2^64``, so each output coefficient is reduced
        once, after its wrapped-around part is reduced and multiplied by 11.
    """
    a0, a1, a2, a3 = a[0], a[1], a[2], a[3]
    b0, b1, b2, b3 = b[0], b[1], b[2], b[3]
    hi0 = (a1 * b3 + a2 * b2 + a3 * b1) % _P  # x^4 term
    hi1 = (a2 * b3 + a3 * b2) % _P  # x^5
    hi2 = (a3 * b3) % _P  # x^6
    c0 = (a0 * b0 + hi0 * _W) % _P
    c1 = (a0 * b1 + a1 * b0 + hi1 * _W) % _P
    c2 = (a0 * b2 + a1 * b1 + a2 * b0 + hi2 * _W) % _P
    c3 = (a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0) % _P
    return np.stack(np.broadcast_arrays(c0, c1, c2, c3))


def ext_square(a: Array) -> Array:
    return ext_mul(a, a)


def ext_pow(a: Array, e: int) -> Array:
    """``a^e`` element-wise for one integer exponent; ``e < 0`` inverts first."""
    base = np.asarray(a, dtype=np.uint64)
    if e < 0:
        base, e = ext_inv(base), -e
    result = ext_one(*base.shape[1:])
    while e:
        if e & 1:
            result = ext_mul(result, base)
        e >>= 1
        if e:
            base = ext_mul(base, base)
    return result


def _ext_inv_with(a: Array, base_inv: object) -> Array:
    a0, a1, a2, a3 = a[0], a[1], a[2], a[3]
    w2 = np.uint64(2 * W)
    # a = A + B·x over F_p[y]/(y^2 - 11), y = x^2: (A + Bx)(A - Bx) = A^2 - B^2·y = n0 + n1·y.
    n0 = sub(add(square(a0), mul(square(a2), _W)), mul(mul(a1, a3), w2))
    n1 = sub(mul(mul(a0, a2), np.uint64(2)), add(square(a1), mul(square(a3), _W)))
    d = sub(square(n0), mul(square(n1), _W))
    dinv = base_inv(d)  # type: ignore[operator]
    m0 = mul(n0, dinv)
    m1 = neg(mul(n1, dinv))
    c0 = add(mul(a0, m0), mul(mul(a2, m1), _W))
    c1 = neg(add(mul(a1, m0), mul(mul(a3, m1), _W)))
    c2 = add(mul(a2, m0), mul(a0, m1))
    c3 = neg(add(mul(a3, m0), mul(a1, m1)))
    return np.stack([c0, c1, c2, c3])


def ext_inv(a: Array) -> Array:
    """Element-wise inverse; raises ZeroDivisionError if any element is 0."""
    return _ext_inv_with(np.asarray(a, dtype=np.uint64), inv)


def ext_batch_inv(a: Array) -> Array:
    """Element-wise inverse with one base-field inversion in all (norm + :func:`batch_inv`)."""
    return _ext_inv_with(np.asarray(a, dtype=np.uint64), batch_inv)


# ------------------------------------------------------------ matrix product

_LIMB = 16
_LIMB_MASK = np.uint64((1 << _LIMB) - 1)
_TWO16 = np.uint64(1 << 16)
_TWO32_MOD_P = np.uint64((1 << 32) % P)


def _limbs(a: Array) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    return (a & _LIMB_MASK).astype(np.float64), (a >> np.uint64(_LIMB)).astype(np.float64)


def _reduce_float(x: npt.NDArray[np.float64]) -> Array:
    return x.astype(np.uint64) % _P


def matmul(a: Array, b: Array) -> Array:
    """Matrix product mod p of ``(R, K)`` by ``(K, n)``, exact, through float64 BLAS.

    Notes:
        Operands are split into 16-bit limbs so that every partial product is
        below ``2^47`` and every float64 sum is an exact integer below
        ``2^53``: with ``K <= 64`` only ``a`` is split (two products);
        otherwise both are, in chunks of ``2^20`` terms (four products).
    """
    a = np.asarray(a, dtype=np.uint64)
    b = np.asarray(b, dtype=np.uint64)
    k = a.shape[1]
    if b.shape[0] != k:
        raise ValueError(f"expected inner dimensions to match, got {a.shape} @ {b.shape}")
    if k == 0:
        return np.zeros((a.shape[0], b.shape[1]), np.uint64)
    if k <= 64:
        a_lo, a_hi = _limbs(a)
        bf = b.astype(np.float64)
        hi = _reduce_float(a_hi @ bf)
        lo = (a_lo @ bf).astype(np.uint64)
        return (hi * _TWO16 + lo) % _P
    out = np.zeros((a.shape[0], b.shape[1]), np.uint64)
    step = 1 << 20
    for start in range(0, k, step):
        a_lo, a_hi = _limbs(a[:, start : start + step])
        b_lo, b_hi = _limbs(b[start : start + step])
        hh = _reduce_float(a_hi @ b_hi)
        mid = _reduce_float(a_hi @ b_lo + a_lo @ b_hi)
        ll = _reduce_float(a_lo @ b_lo)
        part = (hh * _TWO32_MOD_P % _P + mid * _TWO16 % _P + ll) % _P
        out = add(out, part)
    return out
