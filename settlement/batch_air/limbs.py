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
of an honest identity), the expression side (a signed value's digit
terms, the carry equations) and :class:`DigitCells`, the per-row digit cells
of the sections that prove one rule per market row (:mod:`.marks`,
:mod:`.breaker`): their columns, range lookups, bits and the two-step floor
division by 10 000.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.expr import Column, Expr, const
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air.framework import TAG_RANGE, AirBuilder, TraceBuilder

__all__ = [
    "AMOUNT_DIGITS",
    "BPS",
    "CARRY_BITS",
    "CARRY_OFFSET",
    "DIGIT",
    "DIGIT_BITS",
    "SPLIT_DIGITS",
    "CellColumns",
    "CellRows",
    "DigitCells",
    "RangeLookup",
    "carries",
    "carry_columns",
    "carry_equations",
    "carry_value",
    "digit_value",
    "digits_of",
    "floor_bps_cells",
    "range_digits",
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


def range_digits(
    b: AirBuilder, section: str, label: str, name: str, count: int, top_bits: int = DIGIT_BITS
) -> tuple[list[Column], Expr]:
    """Allocate ``section``'s digit columns ``name[0]`` … ``name[count − 1]`` (least
    significant first) and range-check each: a digit below 2^12, the top one below
    ``2^top_bits`` (scaled into the 12-bit table). Lookups named ``"<label>: name[k] in
    range"``.

    Returns:
        The columns and their value (:func:`digit_value`).
    """
    cols = [b.column(section, f"{name}[{k}]") for k in range(count)]
    for k, d in enumerate(cols):
        scale = 1 << (DIGIT_BITS - top_bits) if k == count - 1 else 1
        b.bus.send(TAG_RANGE, [d * scale], 1, f"{label}: {name}[{k}] in range")
    return cols, digit_value(cols)


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


# ---- per-row digit cells (one rule per market row)

#: The divisor of the floor divisions :class:`CellColumns` proves (basis points).
BPS = 10_000
#: A remainder below :data:`BPS` is ``16·x2 + x1``: ``x1 < 16``, ``x2 < 625``.
_REM_LOW, _REM_HIGH = 16, BPS // 16
#: ``a + 2^15·c``: the split of a value below 2^28 that the floor division reads.
_SPLIT_BITS = 15
#: The digits of that split: ``a < 2^15`` (12 + 3 bits) and ``c < 2^13`` (12 + 1 bits).
SPLIT_DIGITS: dict[str, tuple[int, ...]] = {"a": (12, 3), "c": (12, 1)}


@dataclass(frozen=True)
class RangeLookup:
    """One 12-bit range lookup of a digit cell: ``column·scale + shift`` is in the table."""

    column: str
    scale: int
    shift: int = 0


@dataclass(frozen=True)
class DigitCells:
    """A section's per-row cells: range-checked digits, remainders below 10 000, bits.

    Args:
        section: the section whose columns these are.
        label: the prefix of the constraint and lookup names (``"marks"``).
        digits: a number's name → its digits' bit widths, least significant first
            (columns ``<name><k>``; a digit of fewer than 12 bits is scaled into the
            12-bit table, so it proves ``digit < 2^width``).
        remainders: names of values below 10 000 held as ``16·x2 + x1`` (columns
            ``<name>1``, ``<name>2``): ``x1·2^8`` is looked up, and ``x2`` both as
            itself and as ``x2 + 4096 − 625``, so ``x1 < 16`` and ``x2 < 625``.
        bits: cells proved to be 0 or 1 on every row.
        free: witness cells the section's constraints pin (inverses, …).

    The columns are allocated in that order: every digit, every remainder, the bits,
    the free cells.
    """

    section: str
    label: str
    digits: Mapping[str, tuple[int, ...]]
    remainders: tuple[str, ...] = ()
    bits: tuple[str, ...] = ()
    free: tuple[str, ...] = ()

    def lookups(self) -> list[RangeLookup]:
        """Every range lookup, in the order :meth:`declare` sends them."""
        out = []
        for name, widths in self.digits.items():
            for k, width in enumerate(widths):
                out.append(RangeLookup(f"{name}{k}", 1 << (DIGIT_BITS - width)))
        for name in self.remainders:
            out.append(RangeLookup(f"{name}1", DIGIT // _REM_LOW))
            out.append(RangeLookup(f"{name}2", 1))
            out.append(RangeLookup(f"{name}2", 1, DIGIT - _REM_HIGH))
        return out

    def declare(self, b: AirBuilder) -> CellColumns:
        """Allocate the cells, send their range lookups and prove the bits."""
        w: dict[str, Column] = {}
        for name, widths in self.digits.items():
            for k in range(len(widths)):
                w[f"{name}{k}"] = b.column(self.section, f"{name}{k}")
        for name in self.remainders:
            for k in (1, 2):
                w[f"{name}{k}"] = b.column(self.section, f"{name}{k}")
        for name in (*self.bits, *self.free):
            w[name] = b.column(self.section, name)
        for lk in self.lookups():
            cell = w[lk.column]
            value: Expr = cell * lk.scale + lk.shift if lk.shift else cell * lk.scale
            b.bus.send(TAG_RANGE, [value], 1, f"{self.label}: {lk.column} in range")
        for name in self.bits:
            b.boolean(w[name], f"{self.label}: {name}")
        return CellColumns(self, w)

    def rows(self) -> CellRows:
        """An empty writer of the cells' values, market row by market row."""
        return CellRows(self)


@dataclass(frozen=True)
class CellColumns:
    """The declared cells of a :class:`DigitCells` (the expression side)."""

    cells: DigitCells
    columns: Mapping[str, Column]

    def __getitem__(self, name: str) -> Column:
        return self.columns[name]

    def num(self, name: str) -> Expr:
        """The value of number ``name``'s digits."""
        return digit_value(
            [self.columns[f"{name}{k}"] for k in range(len(self.cells.digits[name]))]
        )

    def rem(self, name: str) -> Expr:
        """The value ``16·x2 + x1`` of remainder ``name``."""
        return _REM_LOW * self.columns[f"{name}2"] + self.columns[f"{name}1"]

    def floor_bps(
        self,
        at: Callable[[Expr, str], None],
        a: Expr,
        c: Expr,
        bps: int,
        names: tuple[str, str, str, str],
        what: str,
    ) -> Expr:
        """``⌊(a + 2^15·c)·bps / 10 000⌋`` in two exact steps (rounded down).

        ``c·bps = 10 000·u + v`` and ``a·bps + 2^15·v = 10 000·w + r`` with the numbers
        ``u``, ``w`` and the remainders ``v``, ``r`` named by ``names`` (``u, w, v, r``);
        the quotient is ``2^15·u + w``. ``at`` states each identity, named ``what`` and
        ``(high part)``/``(low part)``; the caller's digit widths keep every term below
        2^30, so each identity holds over the integers.
        """
        u, w, v, r = self.num(names[0]), self.num(names[1]), self.rem(names[2]), self.rem(names[3])
        at(c * bps - BPS * u - v, f"{what} (high part)")
        at(a * bps + (1 << _SPLIT_BITS) * v - BPS * w - r, f"{what} (low part)")
        return (1 << _SPLIT_BITS) * u + w


def floor_bps_cells(a: int, c: int, bps: int) -> tuple[int, int, int, int]:
    """``(u, w, v, r)`` of :meth:`CellColumns.floor_bps` for ``a + 2^15·c`` and ``bps``."""
    u, v = divmod(c * bps, BPS)
    w, r = divmod(a * bps + (1 << _SPLIT_BITS) * v, BPS)
    return u, w, v, r


@dataclass
class CellRows:
    """The values of a :class:`DigitCells`' cells, market row by market row (the prover)."""

    cells: DigitCells
    values: dict[str, dict[int, int]] = field(default_factory=dict)

    def put(self, name: str, row: int, value: int) -> None:
        """Cell ``name`` holds ``value`` on ``row``."""
        self.values.setdefault(name, {})[row] = value

    def put_number(self, name: str, row: int, value: int) -> None:
        """Number ``name``'s digits of ``value`` on ``row`` (a value beyond the widths
        loses its high bits: a forged one's identity then fails)."""
        for k, width in enumerate(self.cells.digits[name]):
            self.put(f"{name}{k}", row, value & ((1 << width) - 1))
            value >>= DIGIT_BITS

    def put_remainder(self, name: str, row: int, value: int) -> None:
        """Remainder ``name`` (below 10 000) on ``row`` as ``16·x2 + x1``."""
        self.put(f"{name}1", row, value % _REM_LOW)
        self.put(f"{name}2", row, value // _REM_LOW)

    def write(self, tb: TraceBuilder, num_rows: int) -> None:
        """Write the cells put on rows ``0 … num_rows − 1`` (0 where none was, and
        below) and count their range lookups."""
        for name, by_row in self.values.items():
            tb.set(self.cells.section, name, [by_row.get(j, 0) for j in range(num_rows)])
        for lk in self.cells.lookups():
            column = tb.get(self.cells.section, lk.column).astype(np.int64)
            counted = column * lk.scale + lk.shift
            tb.count_range(counted[counted < DIGIT])  # a forged one's lookup cannot balance
