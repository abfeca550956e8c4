"""Integers as 12-bit digits: the arithmetic the settlement AIR does without wrapping the field.

Every amount of the ledger is below 2^62 in absolute value
(:mod:`sealbatch.auction.bounds`), far above the BabyBear prime
``p ≈ 2^30.9``. The settlement sections therefore hold an amount as a sign
bit and unsigned **digits** of :data:`DIGIT_BITS` bits, each range-checked
by a lookup into the 12-bit table, and prove an integer identity
``Σ_t c_t·v_t = 0`` digit position by digit position with signed carries:

    E_k = Σ_t term_t[k] + carry_(k−1) − 2^12·carry_k = 0     (k = 0 … K−1),

with ``carry_(−1) = carry_(K−1) = 0``. When every ``|E_k|`` stays below
``p/2`` as an integer (the bounds in :func:`carry_bound` are chosen so),
``E_k ≡ 0 (mod p)`` means ``E_k = 0`` over the integers, and the identity
holds exactly: nothing wraps around the field.

A 24-bit limb of the state-root encoding (:mod:`sealbatch.settlement.roots`)
is two digits, ``l = d_(2k) + 2^12·d_(2k+1)``.

This module holds the numpy side (splitting integers into digits, carries
of an honest identity) and the expression side (a signed value's digit
terms, the carry equations).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.expr import Expr, const
from sealbatch.crypto.field_scalar import P

__all__ = [
    "AMOUNT_DIGITS",
    "CARRY_BITS",
    "CARRY_OFFSET",
    "DIGIT",
    "DIGIT_BITS",
    "carries",
    "carry_columns",
    "carry_equations",
    "carry_value",
    "digit_value",
    "digits_of",
    "signed_expr",
    "split_signed",
    "to_field",
    "two_digits",
]

DIGIT_BITS = 12
DIGIT = 1 << DIGIT_BITS
#: Digits of an amount: 72 bits, the reach of the state root's three 24-bit limbs.
AMOUNT_DIGITS = 6
#: A carry is proved in ``[−2^17, 2^17)``: ``carry + 2^17`` is a 12-bit digit and a
#: 6-bit digit. ``2^17 · 2^12 = 2^29`` leaves room below ``p/2 ≈ 2^29.9`` for the terms.
CARRY_BITS = 18
CARRY_OFFSET = 1 << (CARRY_BITS - 1)

I64 = npt.NDArray[np.int64]


def digits_of(values: Sequence[int] | npt.ArrayLike, count: int) -> npt.NDArray[np.uint64]:
    """``(n,)`` non-negative integers → ``(count, n)`` 12-bit digits, least significant first.

    Raises:
        ValueError: a negative value, or one that does not fit ``count`` digits.
    """
    vals = [int(v) for v in np.asarray(values, dtype=object).reshape(-1)]
    out = np.zeros((count, len(vals)), dtype=np.uint64)
    for i, v in enumerate(vals):
        if v < 0 or v >> (DIGIT_BITS * count):
            raise ValueError(f"expected 0 <= value < 2^{DIGIT_BITS * count}, got {v}")
        for k in range(count):
            out[k, i] = (v >> (DIGIT_BITS * k)) & (DIGIT - 1)
    return out


def two_digits(value: int) -> tuple[int, int]:
    """``(value mod 2^12, ⌊value / 2^12⌋)``: a 24-bit value's low and high digit (both
    rounded toward −∞, so a value outside ``[0, 2^24)`` shows in the high digit)."""
    return value % DIGIT, value // DIGIT


def to_field(values: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """Small signed integers (int64) as field elements (a negative ``v`` is ``p + v``)."""
    return (np.asarray(values, dtype=np.int64) % P).astype(np.uint64)


def split_signed(
    values: Sequence[int] | npt.ArrayLike, count: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Signed integers → ``(sign (n,), digits (count, n))`` of their magnitudes (zero is +)."""
    vals = [int(v) for v in np.asarray(values, dtype=object).reshape(-1)]
    sign = np.array([int(v < 0) for v in vals], dtype=np.uint64)
    return sign, digits_of([abs(v) for v in vals], count)


def carries(position_sums: npt.ArrayLike) -> I64:
    """The honest carries of an identity given its integer sums per digit position.

    Args:
        position_sums: ``(K, n)`` int64: ``Σ_t term_t[k]`` for each row (each
            below 2^40 in absolute value, as the sections' bounds give).

    Returns:
        ``(K − 1, n)`` int64 carries (the last position carries nothing).

    Raises:
        ValueError: the identity does not hold (a position's running sum is not a
            multiple of 2^12, or something is left after the top position).
    """
    sums = np.asarray(position_sums, dtype=np.int64)
    k_count, n = sums.shape
    out = np.zeros((max(k_count - 1, 0), n), dtype=np.int64)
    carry = np.zeros(n, dtype=np.int64)
    for k in range(k_count):
        total = sums[k] + carry
        if k == k_count - 1:
            bad = np.flatnonzero(total)
            if bad.size:
                raise ValueError(
                    f"row {int(bad[0])}: expected the identity to hold, {int(total[bad[0]])} left"
                )
            break
        bad = np.flatnonzero(total % DIGIT)
        if bad.size:
            raise ValueError(
                f"row {int(bad[0])}: position {k} sum {int(total[bad[0]])} is not a "
                "multiple of 2^12"
            )
        carry = total // DIGIT  # exact: floor division of a multiple of 2^12
        out[k] = carry
    return out


def carry_columns(carry: npt.ArrayLike) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Carries → their ``(low 12 bits, high 6 bits)`` columns of ``carry + CARRY_OFFSET``.

    Raises:
        ValueError: a carry outside ``[−2^17, 2^17)``.
    """
    c = np.asarray(carry, dtype=np.int64) + CARRY_OFFSET
    if c.size and (c.min() < 0 or c.max() >= 1 << CARRY_BITS):
        raise ValueError(f"expected carries in [-2^17, 2^17), got {int(c.min())}..{int(c.max())}")
    u = c.astype(np.uint64)
    return u & np.uint64(DIGIT - 1), u >> np.uint64(DIGIT_BITS)


def digit_value(digits: Sequence[Expr]) -> Expr:
    """``Σ_k 2^(12·k)·digits[k]``: the value of digits, least significant first."""
    value: Expr = const(0)
    for k, d in enumerate(digits):
        value = value + (DIGIT**k) * d
    return value


def carry_value(lo: Expr, hi: Expr) -> Expr:
    """The signed carry whose ``carry + CARRY_OFFSET`` has the digits ``lo`` and ``hi``."""
    return lo + DIGIT * hi - CARRY_OFFSET


def signed_expr(sign: Expr, magnitude: Expr) -> Expr:
    """``(1 − 2·sign)·magnitude``: the value of a sign bit and a magnitude (degree 2)."""
    return (1 - 2 * sign) * magnitude


def carry_equations(terms: Sequence[Sequence[Expr | int]], carry: Sequence[Expr]) -> list[Expr]:
    """The digit equations ``E_k`` of module docstring.

    Args:
        terms: per position ``k``, the terms summed there.
        carry: ``K − 1`` carry expressions (``carry_k`` leaves position ``k``).
    """
    k_count = len(terms)
    if len(carry) != k_count - 1:
        raise ValueError(
            f"expected {k_count - 1} carries for {k_count} positions, got {len(carry)}"
        )
    out: list[Expr] = []
    for k, items in enumerate(terms):
        e: Expr = const(0)
        for t in items:
            e = e + t
        if k > 0:
            e = e + carry[k - 1]
        if k < k_count - 1:
            e = e - DIGIT * carry[k]
        out.append(e)
    return out
