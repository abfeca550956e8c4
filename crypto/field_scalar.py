"""Scalar reference arithmetic for BabyBear and its quartic extension.

Plain Python integers, one element at a time: slow, short and obviously
right. The vectorised code in :mod:`sealbatch.crypto.field` is tested against it, and the
verifier uses :class:`Fp4` for its handful of scalar operations at the
out-of-domain point (a few thousand operations, where numpy's per-call
overhead would dominate).

The base field is ``F_p`` with ``p = 15·2^27 + 1 = 2013265921``; the extension
is ``F_p[x] / (x^4 - 11)`` (11 is not a square in ``F_p``, and ``x^4 - 11`` is
irreducible because ``p ≡ 1 (mod 4)`` and 11 is not a square).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "EXT_DEGREE",
    "GENERATOR",
    "TWO_ADICITY",
    "Fp4",
    "P",
    "W",
    "fp_inv",
    "fp_pow",
    "root_of_unity",
]

P = 15 * 2**27 + 1
"""The BabyBear prime, 2013265921."""
TWO_ADICITY = 27
"""The largest ``k`` with ``2^k | p - 1``: NTT domains go up to ``2^27``."""
GENERATOR = 31
"""A generator of the multiplicative group ``F_p^*`` (the one Plonky3 uses)."""
W = 11
"""The extension's non-residue: ``x^4 = W``."""
EXT_DEGREE = 4


def fp_pow(a: int, e: int) -> int:
    """``a^e`` in ``F_p``; a negative ``e`` inverts first."""
    if e < 0:
        return pow(fp_inv(a), -e, P)
    return pow(a % P, e, P)


def fp_inv(a: int) -> int:
    """Inverse in ``F_p``; raises ZeroDivisionError for 0."""
    a %= P
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in F_p")
    return pow(a, P - 2, P)


def root_of_unity(log_n: int) -> int:
    """A primitive ``2^log_n``-th root of unity, ``GENERATOR^((p-1)/2^log_n)``."""
    if not 0 <= log_n <= TWO_ADICITY:
        raise ValueError(f"expected 0 <= log_n <= {TWO_ADICITY}, got {log_n}")
    return pow(GENERATOR, (P - 1) >> log_n, P)


@dataclass(frozen=True, slots=True)
class Fp4:
    """An element ``c0 + c1·x + c2·x^2 + c3·x^3`` of ``F_p[x]/(x^4 - 11)``."""

    c: tuple[int, int, int, int]

    @staticmethod
    def of(value: int | Fp4 | Sequence[int]) -> Fp4:
        """Lift an int (base element), an Fp4 or four coefficients."""
        if isinstance(value, Fp4):
            return value
        if isinstance(value, int):
            return Fp4((value % P, 0, 0, 0))
        coeffs = tuple(int(v) % P for v in value)
        if len(coeffs) != EXT_DEGREE:
            raise ValueError(f"expected {EXT_DEGREE} coefficients, got {len(coeffs)}")
        return Fp4(coeffs)  # type: ignore[arg-type]

    @staticmethod
    def zero() -> Fp4:
        return Fp4((0, 0, 0, 0))

    @staticmethod
    def one() -> Fp4:
        return Fp4((1, 0, 0, 0))

    def is_base(self) -> bool:
        return self.c[1] == self.c[2] == self.c[3] == 0

    def __add__(self, other: Fp4 | int) -> Fp4:
        o = Fp4.of(other).c
        s = self.c
        return Fp4(((s[0] + o[0]) % P, (s[1] + o[1]) % P, (s[2] + o[2]) % P, (s[3] + o[3]) % P))

    __radd__ = __add__

    def __neg__(self) -> Fp4:
        return Fp4(tuple((-v) % P for v in self.c))  # type: ignore[arg-type]

    def __sub__(self, other: Fp4 | int) -> Fp4:
        return self + (-Fp4.of(other))

    def __rsub__(self, other: Fp4 | int) -> Fp4:
        return Fp4.of(other) + (-self)

    def __mul__(self, other: Fp4 | int) -> Fp4:
        if isinstance(other, int):
            return Fp4(tuple(v * other % P for v in self.c))  # type: ignore[arg-type]
        a0, a1, a2, a3 = self.c
        b0, b1, b2, b3 = other.c
        return Fp4(
            (
                (a0 * b0 + W * (a1 * b3 + a2 * b2 + a3 * b1)) % P,
                (a0 * b1 + a1 * b0 + W * (a2 * b3 + a3 * b2)) % P,
                (a0 * b2 + a1 * b1 + a2 * b0 + W * a3 * b3) % P,
                (a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0) % P,
            )
        )

    __rmul__ = __mul__

    def inverse(self) -> Fp4:
        """The multiplicative inverse; raises ZeroDivisionError for 0 (norm to ``F_p``)."""
        a0, a1, a2, a3 = self.c
        # a = A + B·x with A, B in F_p[y]/(y^2 - W), y = x^2; (A + Bx)(A - Bx) = A^2 - B^2·y.
        n0 = (a0 * a0 + W * a2 * a2 - 2 * W * a1 * a3) % P
        n1 = (2 * a0 * a2 - a1 * a1 - W * a3 * a3) % P
        d = (n0 * n0 - W * n1 * n1) % P
        dinv = fp_inv(d)
        m0 = n0 * dinv % P
        m1 = -n1 * dinv % P
        return Fp4(
            (
                (a0 * m0 + W * a2 * m1) % P,
                (-a1 * m0 - W * a3 * m1) % P,
                (a2 * m0 + a0 * m1) % P,
                (-a3 * m0 - a1 * m1) % P,
            )
        )

    def __truediv__(self, other: Fp4 | int) -> Fp4:
        return self * Fp4.of(other).inverse()

    def __pow__(self, e: int) -> Fp4:
        base = self if e >= 0 else self.inverse()
        e = abs(e)
        result = Fp4.one()
        while e:
            if e & 1:
                result = result * base
            base = base * base
            e >>= 1
        return result

    def to_bytes(self) -> bytes:
        """Four 4-byte big-endian coefficients, ``c0`` first (the proof encoding)."""
        return b"".join(v.to_bytes(4, "big") for v in self.c)

    @staticmethod
    def sum(values: Iterable[Fp4]) -> Fp4:
        acc = [0, 0, 0, 0]
        for v in values:
            for i in range(4):
                acc[i] += v.c[i]
        return Fp4(tuple(x % P for x in acc))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"Fp4({list(self.c)})"
