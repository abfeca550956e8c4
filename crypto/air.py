"""Algebraic intermediate representations: constraints written once, as expressions.

An AIR is data: the shape of the trace and a list of constraints, each a small
expression DAG (:class:`Expr`) over

* main trace columns at a row offset — ``col(i)`` is column ``i`` at the
  current row, ``col(i, 1)`` (or ``col(i).next``) at the next row;
* auxiliary columns (extension-field valued, built by the prover *after* the
  challenges are drawn, for LogUp / permutation arguments) — ``aux(i, k)``;
* random challenges (extension field) — ``challenge(i)``;
* periodic columns — ``periodic(i)`` (a short list of values repeated down
  the trace: round constants, selectors);
* public inputs — ``pub(i)`` (base-field elements, absorbed by the channel);
* constants (Python ints, mod p).

The same expressions are evaluated three ways by one interface,
:class:`ExprVisitor` + :func:`evaluate`: vectorised over the low-degree
extension by the prover (:class:`ArrayEvaluator`), at the out-of-domain point
by the verifier (:class:`PointEvaluator`, extension-field scalars), and — the
reason the DAG is explicit — emitted as Solidity for the on-chain verifier by a
visitor that returns variable names. :func:`evaluate` visits each shared node
once, in dependency order, without recursion.

Semantics
---------
* A *transition* constraint must vanish on every row ``r`` with
  ``r + max_offset < N``, where ``max_offset`` is the largest row offset the
  expression reads (so a constraint that reads only offset 0 holds on every
  row, one that reads ``next`` on all but the last).
* A *boundary* constraint ``Boundary(row, expr)`` must vanish at one row;
  ``row`` may be negative (``-1`` is the last row). Typically
  ``col(0) - pub(0)``.
* Degrees: a column (main, aux or periodic) has degree 1, a constant, public
  input or challenge 0; ``+``/``-`` take the max, ``*`` adds, ``** k``
  multiplies by ``k``. The prover sizes the composition polynomial from these
  degrees; a constraint of degree ``d`` needs ``blowup >= d`` (in practice
  keep ``d <= 3`` with the default blowup of 8, or raise it).

Writing an AIR
--------------
A registered AIR is a function ``build(num_rows, public_inputs) -> Air`` (used
by both sides; the verifier calls it with what the proof carries) plus, for the
prover, a trace generator. Fibonacci, with ``a' = b, b' = a + b``::

    from sealbatch.crypto.air import Air, Boundary, col, pub

    def build(num_rows: int, public_inputs: tuple[int, ...]) -> Air:
        a, b = col(0), col(1)
        return Air(
            name="fibonacci",
            num_rows=num_rows,
            num_main_columns=2,
            public_inputs=public_inputs,           # (a0, b0, b_last)
            transitions=(a.next - b, b.next - (a + b)),
            boundaries=(
                Boundary(0, a - pub(0)),
                Boundary(0, b - pub(1)),
                Boundary(-1, b - pub(2)),
            ),
        )

Periodic columns are given as value lists whose length is a power of two
dividing ``num_rows``; ``periodic(i)`` at row ``r`` is
``periodic_columns[i][r % len]``. A selector that is 1 on the first row of
every 8 rows: ``periodic_columns=((1, 0, 0, 0, 0, 0, 0, 0),)``, and
``periodic(0) * (col(0) - col(1))``.

Auxiliary columns: set ``num_aux_columns``, ``num_challenges`` and
``aux_builder(main, challenges) -> aux``, where ``main`` is the
``(num_main_columns, N)`` uint64 trace, ``challenges`` a list of
:class:`~crypto.field_scalar.Fp4`, and ``aux`` a ``(num_aux_columns, 4, N)``
array of extension elements. The prover commits the main trace, draws the
challenges, calls the builder and commits the aux trace; constraints may then
use ``aux(i, k)`` and ``challenge(j)``. A LogUp lookup of values ``f`` into a
table ``t`` with multiplicities ``m``, running sum ``s`` and challenge
``alpha``, holding ``s' = s + m'/(alpha - t') - 1/(alpha - f')`` with
denominators cleared::

    s, alpha = aux(0), challenge(0)
    t, f, m = col(0), col(1), col(2)
    transition = (s.next - s) * (alpha - t.next) * (alpha - f.next) \\
        - m.next * (alpha - f.next) + (alpha - t.next)

(see :mod:`sealbatch.crypto.airs.range_check` for the full AIR with its boundaries and
builder, and :mod:`sealbatch.crypto.airs.logup` for reusable helpers).

Registering an AIR for the CLI, the benchmark and the verifier: see
:mod:`sealbatch.crypto.airs` (one entry per AIR, name -> build + honest-trace generator).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeAlias

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.evaluators import ArrayEvaluator, PointEvaluator
from sealbatch.crypto.exceptions import CryptoError
from sealbatch.crypto.expr import (
    Add,
    Challenge,
    Column,
    Const,
    Expr,
    ExprVisitor,
    Mul,
    Neg,
    Periodic,
    Pow,
    PublicInput,
    Sub,
    aux,
    challenge,
    col,
    const,
    degree,
    evaluate,
    fixed,
    format_expr,
    max_offset,
    periodic,
    pub,
    shift_rows,
    topological_order,
)
from sealbatch.crypto.field_scalar import EXT_DEGREE, Fp4, P
from sealbatch.crypto.program import Program

__all__ = [
    "MIN_ROWS",
    "Add",
    "Air",
    "ArrayEvaluator",
    "AuxBuilder",
    "Boundary",
    "Challenge",
    "Column",
    "Const",
    "ConstraintViolation",
    "Expr",
    "ExprVisitor",
    "Mul",
    "Neg",
    "Periodic",
    "PointEvaluator",
    "Pow",
    "PublicInput",
    "Sub",
    "Transition",
    "aux",
    "challenge",
    "col",
    "const",
    "degree",
    "evaluate",
    "fixed",
    "format_expr",
    "max_offset",
    "periodic",
    "pub",
    "shift_rows",
    "uses_aux",
]


# ---------------------------------------------------------------- the AIR


@dataclass(frozen=True)
class Transition:
    """A constraint between consecutive rows (see the module docstring for which rows)."""

    expr: Expr
    name: str = ""


@dataclass(frozen=True)
class Boundary:
    """A constraint that must vanish at one ``row`` (negative counts from the end)."""

    row: int
    expr: Expr
    name: str = ""


AuxBuilder: TypeAlias = Callable[[fld.Array, Sequence[Fp4]], fld.Array]
"""``(main (C, N) uint64, challenges) -> aux (A, 4, N) uint64``: prover side only."""
ChallengeDeriver: TypeAlias = Callable[[Sequence[Fp4]], Sequence[Fp4]]
"""``drawn challenges -> derived values`` (both sides), e.g. a public table's LogUp sum."""
FixedBuilder: TypeAlias = Callable[[], fld.Array]
"""``() -> fixed (F, N) uint64``: deterministic, part of the AIR (both sides)."""


class ConstraintViolation(CryptoError, ValueError):
    """A trace does not satisfy its AIR (raised by :meth:`Air.check_trace`, prover side)."""


MIN_ROWS = 8
# What the proof format (crypto/proof.py) can hold: u8 name length and row
# offsets, u16 public-input and column counts.
_MAX_NAME_BYTES = 255
_MAX_OFFSET = 255
_MAX_COUNT = 0xFFFF


@dataclass(frozen=True)
class Air:
    """An algebraic intermediate representation: trace shape, constraints, public inputs.

    Raises:
        ValueError: inconsistent shapes (row count not a power of two, a
            column, periodic column, public input or challenge index out of
            range, aux columns without a builder, ...).
    """

    name: str
    num_rows: int
    num_main_columns: int
    transitions: tuple[Transition | Expr, ...]
    boundaries: tuple[Boundary, ...] = ()
    public_inputs: tuple[int, ...] = ()
    periodic_columns: tuple[tuple[int, ...], ...] = ()
    num_aux_columns: int = 0
    num_challenges: int = 0
    aux_builder: AuxBuilder | None = field(default=None, compare=False, repr=False)
    column_names: tuple[str, ...] = ()
    num_fixed_columns: int = 0
    fixed_builder: FixedBuilder | None = field(default=None, compare=False, repr=False)
    num_derived_challenges: int = 0
    derive_challenges: ChallengeDeriver | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        n = self.num_rows
        if n < MIN_ROWS or n & (n - 1):
            raise ValueError(f"expected num_rows a power of two >= {MIN_ROWS}, got {n}")
        if not (self.name.isascii() and 1 <= len(self.name) <= _MAX_NAME_BYTES):
            raise ValueError(
                f"expected an AIR name of 1 to {_MAX_NAME_BYTES} ASCII characters, "
                f"got {self.name!r}"
            )
        if not 1 <= self.num_main_columns <= _MAX_COUNT:
            raise ValueError(
                f"expected 1 to {_MAX_COUNT} main columns, got {self.num_main_columns}"
            )
        if not 0 <= self.num_fixed_columns <= _MAX_COUNT:
            raise ValueError(
                f"expected 0 to {_MAX_COUNT} fixed columns, got {self.num_fixed_columns}"
            )
        if self.num_fixed_columns and self.fixed_builder is None:
            raise ValueError(f"AIR {self.name!r} declares fixed columns but has no fixed_builder")
        if self.num_derived_challenges and (
            self.derive_challenges is None or not self.num_challenges
        ):
            raise ValueError(
                f"AIR {self.name!r} declares derived challenges: expected derive_challenges "
                "and at least one drawn challenge"
            )
        if not 0 <= self.num_aux_columns <= _MAX_COUNT:
            raise ValueError(f"expected 0 to {_MAX_COUNT} aux columns, got {self.num_aux_columns}")
        if len(self.public_inputs) > _MAX_COUNT:
            raise ValueError(
                f"expected at most {_MAX_COUNT} public inputs, got {len(self.public_inputs)}"
            )
        norm = tuple(t if isinstance(t, Transition) else Transition(t) for t in self.transitions)
        object.__setattr__(self, "transitions", norm)
        pubs = tuple(int(v) for v in self.public_inputs)
        for v in pubs:
            if not 0 <= v < P:
                raise ValueError(f"expected public inputs in [0, p), got {v}")
        object.__setattr__(self, "public_inputs", pubs)
        for i, values in enumerate(self.periodic_columns):
            k = len(values)
            if k < 1 or k & (k - 1) or n % k:
                raise ValueError(
                    f"periodic column {i}: expected a power-of-two length dividing {n}, got {k}"
                )
        if not self.transitions and not self.boundaries:
            raise ValueError("expected at least one constraint")
        for b in self.boundaries:
            if not -n <= b.row < n:
                raise ValueError(f"boundary row {b.row} out of range for {n} rows")
        self._check_leaves()

    def _check_leaves(self) -> None:
        """Every column, periodic column, public input and challenge the constraints read exists."""
        prog = self.program
        limits = {
            "main": self.num_main_columns,
            "aux": self.num_aux_columns,
            "fixed": self.num_fixed_columns,
        }
        for segment, index, offset in set(prog.column_keys):
            node = Column(segment, index, offset)
            if index >= limits[segment]:
                raise ValueError(f"{node!r}: expected a {segment} column index < {limits[segment]}")
            if offset >= self.num_rows or offset > _MAX_OFFSET:
                raise ValueError(
                    f"{node!r}: expected a row offset below {min(self.num_rows, _MAX_OFFSET + 1)}, "
                    f"got {offset}"
                )
        for indices, limit, name, what in (
            (prog.periodic_index, len(self.periodic_columns), "periodic", "defined"),
            (prog.public_index, len(self.public_inputs), "pub", "public inputs"),
            (prog.challenge_index, self.total_challenges, "challenge", "challenges"),
        ):
            if indices.size and int(indices.max()) >= limit:
                raise ValueError(f"{name}({int(indices.max())}): only {limit} {what}")

    # ---- derived shape, shared by prover and verifier

    @property
    def transition_list(self) -> tuple[Transition, ...]:
        return self.transitions  # type: ignore[return-value]  # normalised in __post_init__

    def constraint_exprs(self) -> list[Expr]:
        """Transition then boundary expressions: the order of the random coefficients."""
        return [t.expr for t in self.transition_list] + [b.expr for b in self.boundaries]

    @property
    def total_challenges(self) -> int:
        """Drawn challenges, then derived ones: ``challenge(i)`` indexes this list."""
        return self.num_challenges + self.num_derived_challenges

    def challenge_values(self, drawn: Sequence[Fp4]) -> list[Fp4]:
        """The drawn challenges followed by the values derived from them (both sides).

        Raises:
            ValueError: a wrong number of drawn or derived values.
        """
        if len(drawn) != self.num_challenges:
            raise ValueError(f"expected {self.num_challenges} drawn challenges, got {len(drawn)}")
        if not self.num_derived_challenges or self.derive_challenges is None:
            return list(drawn)
        derived = list(self.derive_challenges(drawn))
        if len(derived) != self.num_derived_challenges:
            raise ValueError(
                f"derive_challenges: expected {self.num_derived_challenges} values, "
                f"got {len(derived)}"
            )
        return [*drawn, *derived]

    @property
    def num_constraints(self) -> int:
        return len(self.transitions) + len(self.boundaries)

    def boundary_row(self, b: Boundary) -> int:
        return b.row % self.num_rows

    def offsets(self) -> tuple[int, ...]:
        """Row offsets the constraints read: the verifier opens each column at ``z·g^offset``."""
        return self._offsets

    @cached_property
    def _offsets(self) -> tuple[int, ...]:
        return tuple(sorted({0, *(key[2] for key in self.program.column_keys)}))

    @cached_property
    def frame(self) -> tuple[tuple[str, int, int], ...]:
        """The out-of-domain frame: every ``(segment, index, offset)`` the proof carries.

        Each column is opened at the row offsets its constraints read (a
        column no constraint reads at offset 0 only), in this order: offsets
        ascending; within an offset fixed, then main, then aux columns, each by
        index.
        """
        used: dict[tuple[str, int], set[int]] = {}
        for segment, index, offset in self.program.column_keys:
            used.setdefault((segment, index), set()).add(offset)
        counts = (
            ("fixed", self.num_fixed_columns),
            ("main", self.num_main_columns),
            ("aux", self.num_aux_columns),
        )
        entries = []
        for offset in self.offsets():
            for segment, count in counts:
                for index in range(count):
                    if offset in used.get((segment, index), {0}):
                        entries.append((segment, index, offset))
        return tuple(entries)

    @cached_property
    def fixed_values(self) -> fld.Array:
        """The fixed columns as an ``(F, N)`` uint64 array (computed once per AIR object).

        Raises:
            ValueError: the builder returns the wrong shape or unreduced values.
        """
        n = self.num_rows
        if not self.num_fixed_columns or self.fixed_builder is None:
            return np.zeros((0, n), np.uint64)
        out = np.ascontiguousarray(self.fixed_builder(), dtype=np.uint64)
        if out.shape != (self.num_fixed_columns, n):
            raise ValueError(
                f"fixed_builder: expected shape {(self.num_fixed_columns, n)}, got {out.shape}"
            )
        if np.any(out >= np.uint64(P)):
            raise ValueError("fixed_builder: expected values in [0, p), got an unreduced value")
        out.flags.writeable = False
        return out

    @cached_property
    def constraint_order(self) -> tuple[Expr, ...]:
        """Every node of the constraint DAG once, children first (for :func:`evaluate`)."""
        return tuple(topological_order(self.constraint_exprs()))

    @cached_property
    def program(self) -> Program:
        """The constraint DAG flattened for vectorised evaluation (:mod:`crypto.program`)."""
        return Program.of(self.constraint_exprs(), self.constraint_order)

    @cached_property
    def constraint_degrees(self) -> tuple[int, ...]:
        """Degree of each constraint, in :meth:`constraint_exprs` order."""
        return tuple(self.program.degrees())

    @cached_property
    def transition_exemptions(self) -> tuple[int, ...]:
        """Rows at the end each transition skips (its largest row offset)."""
        offsets = self.program.max_offsets()
        return tuple(offsets[: len(self.transition_list)])

    def composition_degree_bound(self) -> int:
        """One more than the largest degree of a constraint quotient ``C(x) / Z(x)``."""
        n = self.num_rows
        bound = 1
        t_count = len(self.transition_list)
        for d, e in zip(self.constraint_degrees[:t_count], self.transition_exemptions, strict=True):
            # numerator <= d(n-1); divisor (x^n - 1)/prod_{k<e}(x - g^(n-1-k)) has degree n - e
            bound = max(bound, d * (n - 1) - (n - e) + 1)
        for d in self.constraint_degrees[t_count:]:
            bound = max(bound, d * (n - 1) - 1 + 1)
        return bound

    def num_composition_columns(self) -> int:
        """Columns ``H_i`` of degree < N with ``H(x) = Σ x^(iN) H_i(x)``."""
        return max(1, -(-self.composition_degree_bound() // self.num_rows))

    def max_degree(self) -> int:
        return max(self.constraint_degrees)

    # ---- prover-side helpers (pure numpy; the verifier never calls them)

    def periodic_values(self, index: int) -> fld.Array:
        """Periodic column ``index`` over all ``num_rows`` rows."""
        values = np.array(self.periodic_columns[index], dtype=np.uint64) % np.uint64(P)
        return np.tile(values, self.num_rows // values.size)

    def build_aux(self, main: fld.Array, challenges: Sequence[Fp4]) -> fld.Array:
        """Run the aux builder and check its output shape and range."""
        n = self.num_rows
        if not self.num_aux_columns:
            return np.zeros((0, EXT_DEGREE, n), np.uint64)
        if self.aux_builder is None:
            raise ValueError(f"AIR {self.name!r} declares aux columns but has no aux_builder")
        out = np.asarray(self.aux_builder(main, challenges), dtype=np.uint64)
        expected = (self.num_aux_columns, EXT_DEGREE, n)
        if out.shape != expected:
            raise ValueError(f"aux_builder: expected shape {expected}, got {out.shape}")
        if np.any(out >= np.uint64(P)):
            raise ValueError("aux_builder: expected values in [0, p), got an unreduced value")
        return out

    def check_trace(
        self,
        main: fld.Array,
        aux_trace: fld.Array | None = None,
        challenges: Sequence[Fp4] = (),
    ) -> None:
        """Check every constraint on every row it applies to.

        Raises:
            ConstraintViolation: naming the first failing constraint and row.
            ValueError: the trace has the wrong shape or out-of-range values.
        """
        n = self.num_rows
        main = np.asarray(main)
        if main.shape != (self.num_main_columns, n):
            raise ValueError(
                f"expected a main trace of shape {(self.num_main_columns, n)}, got {main.shape}"
            )
        if main.dtype != np.uint64 or np.any(main >= np.uint64(P)):
            raise ValueError("expected main trace values as uint64 in [0, p)")

        fixed_rows = self.fixed_values
        periodic_rows = [self.periodic_values(i) for i in range(len(self.periodic_columns))]

        def evaluator(lo: int, hi: int) -> ArrayEvaluator:
            """Rows ``lo..hi`` (row ``r + offset`` wraps around at ``n``)."""

            def column(segment: str, index: int, offset: int) -> fld.Array:
                if segment == "main":
                    src = main[index]
                elif segment == "fixed":
                    src = fixed_rows[index]
                else:
                    src = aux_trace[index]  # type: ignore[index]
                return _cyclic(src, lo + offset, hi + offset)

            return ArrayEvaluator(
                column=column,
                periodic=lambda i: periodic_rows[i][lo:hi],
                public_inputs=self.public_inputs,
                challenges=challenges,
            )

        # Without the aux trace, check what the main trace alone determines.
        with_aux = aux_trace is not None

        def wanted(expr: Expr) -> bool:
            return with_aux or not uses_aux(expr)

        # Rows are checked in blocks, so that the expression DAG's intermediate arrays
        # stay a block long (the whole trace's would hold every node over every row); the
        # first failing constraint (by index) is reported at its first failing row, as a
        # single pass over the whole trace would.
        transitions = [(i, t) for i, t in enumerate(self.transition_list) if wanted(t.expr)]
        first_bad: dict[int, int] = {}
        for lo in range(0, n, _CHECK_BLOCK):
            hi = min(n, lo + _CHECK_BLOCK)
            t_values = evaluate([t.expr for _, t in transitions], evaluator(lo, hi))
            for (i, _t), value in zip(transitions, t_values, strict=True):
                rows = n - self.transition_exemptions[i]
                if i in first_bad or rows <= lo:
                    continue
                bad = _nonzero_rows(value, min(hi, rows) - lo)
                if bad is not None:
                    first_bad[i] = lo + bad
        if first_bad:
            i = min(first_bad)
            t = self.transition_list[i]
            label = t.name or format_expr(t.expr)
            raise ConstraintViolation(
                f"AIR {self.name!r}: transition {i} ({label}) fails at row {first_bad[i]}"
            )
        boundaries = [(i, b) for i, b in enumerate(self.boundaries) if wanted(b.expr)]
        by_block: dict[int, list[tuple[int, Boundary]]] = {}
        for i, b in boundaries:
            by_block.setdefault(self.boundary_row(b) // _CHECK_BLOCK, []).append((i, b))
        failing = []
        for k, group in by_block.items():
            lo = k * _CHECK_BLOCK
            b_values = evaluate(
                [b.expr for _, b in group], evaluator(lo, min(n, lo + _CHECK_BLOCK))
            )
            for (i, b), value in zip(group, b_values, strict=True):
                at = self.boundary_row(b) - lo
                arr = np.asarray(value)
                # A value that reads no column is a constant: a scalar, or (4, 1) in the
                # extension.
                cell = arr[..., at if arr.shape[-1] > 1 else 0] if arr.ndim else arr
                if np.any(cell != 0):
                    failing.append(i)
        if failing:
            i = min(failing)
            b = self.boundaries[i]
            label = b.name or format_expr(b.expr)
            raise ConstraintViolation(
                f"AIR {self.name!r}: boundary {i} ({label}) fails at row {self.boundary_row(b)}"
            )


#: Rows per block of :meth:`Air.check_trace`.
_CHECK_BLOCK = 1 << 13


def _cyclic(values: fld.Array, a: int, b: int) -> fld.Array:
    """Points ``a..b`` of ``values`` along the last axis, wrapping around its length
    (``0 <= a``, ``b − a`` at most that length)."""
    m = values.shape[-1]
    a, b = a - (a // m) * m, b - (a // m) * m
    if b <= m:
        return values[..., a:b]
    return np.concatenate([values[..., a:], values[..., : b - m]], axis=-1)


def uses_aux(expr: Expr) -> bool:
    """Whether ``expr`` reads an aux column or a challenge (drawn after the main commitment)."""
    return any(
        isinstance(node, Challenge) or (isinstance(node, Column) and node.segment == "aux")
        for node in topological_order([expr])
    )


def _nonzero_rows(value: object, rows: int) -> int | None:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return 0 if int(arr) != 0 and rows > 0 else None
    if arr.shape[-1] == 1:
        arr = np.broadcast_to(arr, (*arr.shape[:-1], rows))
    nz = np.any(arr.reshape(-1, arr.shape[-1])[:, :rows] != 0, axis=0)
    hits = np.flatnonzero(nz)
    return int(hits[0]) if hits.size else None
