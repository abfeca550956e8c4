"""Constraint expressions: a small DAG over columns, periodic columns, public inputs, challenges.

See :mod:`sealbatch.crypto.air` for how AIRs use them. The node classes are plain frozen
dataclasses compared by identity; :func:`evaluate` walks a set of roots once
in dependency order with any :class:`ExprVisitor` — the prover's
:class:`~crypto.evaluators.ArrayEvaluator` (numpy over many points), the verifier's
:class:`~crypto.evaluators.PointEvaluator` (one extension point), :func:`degree`,
:func:`format_expr`, and a Solidity emitter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias, TypeVar, Union

from sealbatch.crypto.field_scalar import P

__all__ = [
    "Add",
    "Challenge",
    "Column",
    "Const",
    "Expr",
    "ExprVisitor",
    "Mul",
    "Neg",
    "Periodic",
    "Pow",
    "PublicInput",
    "Sub",
    "aux",
    "challenge",
    "col",
    "const",
    "degree",
    "degrees",
    "evaluate",
    "fixed",
    "format_expr",
    "max_offset",
    "max_offsets",
    "periodic",
    "pub",
    "shift_rows",
    "topological_order",
]

V = TypeVar("V")
ExprLike: TypeAlias = Union["Expr", int]


# --------------------------------------------------------------- expressions


class Expr:
    """A node of a constraint expression DAG; combine with ``+ - * **`` and ints.

    Nodes compare by identity: reuse a Python variable to share a
    sub-expression (it is then evaluated, and emitted, once).
    """

    __slots__ = ()

    def __add__(self, other: ExprLike) -> Expr:
        return Add(self, _wrap(other))

    def __radd__(self, other: ExprLike) -> Expr:
        return Add(_wrap(other), self)

    def __sub__(self, other: ExprLike) -> Expr:
        return Sub(self, _wrap(other))

    def __rsub__(self, other: ExprLike) -> Expr:
        return Sub(_wrap(other), self)

    def __mul__(self, other: ExprLike) -> Expr:
        return Mul(self, _wrap(other))

    def __rmul__(self, other: ExprLike) -> Expr:
        return Mul(_wrap(other), self)

    def __neg__(self) -> Expr:
        return Neg(self)

    def __pow__(self, exponent: int) -> Expr:
        if not isinstance(exponent, int) or exponent < 1:
            raise ValueError(f"expected a positive integer exponent, got {exponent!r}")
        return Pow(self, exponent)

    def children(self) -> tuple[Expr, ...]:
        return ()

    def __repr__(self) -> str:
        return format_expr(self)


@dataclass(frozen=True, eq=False, repr=False)
class Const(Expr):
    """A base-field constant (stored reduced mod p)."""

    value: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", self.value % P)


@dataclass(frozen=True, eq=False, repr=False)
class Column(Expr):
    """Column ``index`` at row ``offset``; segment ``main`` (base), ``aux`` (extension) or
    ``fixed`` (base, preprocessed: committed once, chosen by the AIR, not the prover)."""

    segment: str
    index: int
    offset: int = 0

    def __post_init__(self) -> None:
        if self.segment not in ("main", "aux", "fixed"):
            raise ValueError(f"expected segment 'main', 'aux' or 'fixed', got {self.segment!r}")
        if self.index < 0 or self.offset < 0:
            raise ValueError(
                f"expected a non-negative column index and offset, got {self.index}, {self.offset}"
            )

    @property
    def next(self) -> Column:
        """The same column one row further down."""
        return Column(self.segment, self.index, self.offset + 1)

    def at(self, offset: int) -> Column:
        """The same column ``offset`` rows further down."""
        return Column(self.segment, self.index, self.offset + offset)


@dataclass(frozen=True, eq=False, repr=False)
class Periodic(Expr):
    """Periodic column ``index`` at the current row."""

    index: int


@dataclass(frozen=True, eq=False, repr=False)
class PublicInput(Expr):
    """Public input ``index`` (a base-field element)."""

    index: int


@dataclass(frozen=True, eq=False, repr=False)
class Challenge(Expr):
    """Random challenge ``index`` (an extension element drawn after the main commitment)."""

    index: int


@dataclass(frozen=True, eq=False, repr=False)
class Add(Expr):
    a: Expr
    b: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)


@dataclass(frozen=True, eq=False, repr=False)
class Sub(Expr):
    a: Expr
    b: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)


@dataclass(frozen=True, eq=False, repr=False)
class Mul(Expr):
    a: Expr
    b: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)


@dataclass(frozen=True, eq=False, repr=False)
class Neg(Expr):
    a: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.a,)


@dataclass(frozen=True, eq=False, repr=False)
class Pow(Expr):
    a: Expr
    exponent: int

    def children(self) -> tuple[Expr, ...]:
        return (self.a,)


def _wrap(value: ExprLike) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, int):
        return Const(value)
    raise TypeError(f"expected an Expr or an int, got {type(value).__name__}")


def col(index: int, offset: int = 0) -> Column:
    """Main trace column ``index`` at row offset ``offset``."""
    return Column("main", index, offset)


def aux(index: int, offset: int = 0) -> Column:
    """Auxiliary trace column ``index`` at row offset ``offset``."""
    return Column("aux", index, offset)


def fixed(index: int, offset: int = 0) -> Column:
    """Fixed (preprocessed) column ``index`` at row offset ``offset``."""
    return Column("fixed", index, offset)


def periodic(index: int) -> Periodic:
    return Periodic(index)


def pub(index: int) -> PublicInput:
    return PublicInput(index)


def challenge(index: int) -> Challenge:
    return Challenge(index)


def const(value: int) -> Const:
    return Const(value)


# ------------------------------------------------------------------ visitors


class ExprVisitor(Protocol[V]):
    """What an evaluator provides: one method per leaf kind and per operation."""

    def const(self, value: int) -> V: ...
    def column(self, segment: str, index: int, offset: int) -> V: ...
    def periodic(self, index: int) -> V: ...
    def public_input(self, index: int) -> V: ...
    def challenge(self, index: int) -> V: ...
    def add(self, a: V, b: V) -> V: ...
    def sub(self, a: V, b: V) -> V: ...
    def mul(self, a: V, b: V) -> V: ...
    def neg(self, a: V) -> V: ...
    def pow(self, a: V, exponent: int) -> V: ...


def topological_order(roots: Iterable[Expr]) -> list[Expr]:
    """Every node reachable from ``roots`` once, children before parents (iterative DFS)."""
    order: list[Expr] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        stack: list[tuple[Expr, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for child in reversed(node.children()):
                if id(child) not in seen:
                    stack.append((child, False))
    return order


def evaluate(
    roots: Sequence[Expr], visitor: ExprVisitor[V], order: Sequence[Expr] | None = None
) -> list[V]:
    """Evaluate ``roots`` with ``visitor``, each shared node once; returns one value per root.

    A value is dropped as soon as its last parent has used it, so memory
    follows the width of the DAG, not its size (the prover's values are
    arrays over many points). ``order`` may pass ``topological_order(roots)``
    when it is already known.
    """
    if order is None:
        order = topological_order(roots)
    uses: dict[int, int] = {}
    for node in order:
        for child in node.children():
            uses[id(child)] = uses.get(id(child), 0) + 1
    keep = {id(r) for r in roots}
    values: dict[int, V] = {}
    for node in order:
        values[id(node)] = _visit(node, visitor, values)
        for child in node.children():
            left = uses[id(child)] - 1
            uses[id(child)] = left
            if left == 0 and id(child) not in keep:
                del values[id(child)]
    return [values[id(r)] for r in roots]


def _visit(node: Expr, v: ExprVisitor[V], values: dict[int, V]) -> V:
    if isinstance(node, Add):
        return v.add(values[id(node.a)], values[id(node.b)])
    if isinstance(node, Mul):
        return v.mul(values[id(node.a)], values[id(node.b)])
    if isinstance(node, Sub):
        return v.sub(values[id(node.a)], values[id(node.b)])
    if isinstance(node, Column):
        return v.column(node.segment, node.index, node.offset)
    if isinstance(node, Const):
        return v.const(node.value)
    if isinstance(node, Neg):
        return v.neg(values[id(node.a)])
    if isinstance(node, Pow):
        return v.pow(values[id(node.a)], node.exponent)
    if isinstance(node, Periodic):
        return v.periodic(node.index)
    if isinstance(node, PublicInput):
        return v.public_input(node.index)
    if isinstance(node, Challenge):
        return v.challenge(node.index)
    raise TypeError(f"unknown expression node {type(node).__name__}")


class _DegreeVisitor:
    def const(self, value: int) -> int:
        return 0

    def column(self, segment: str, index: int, offset: int) -> int:
        return 1

    def periodic(self, index: int) -> int:
        return 1

    def public_input(self, index: int) -> int:
        return 0

    def challenge(self, index: int) -> int:
        return 0

    def add(self, a: int, b: int) -> int:
        return max(a, b)

    sub = add

    def mul(self, a: int, b: int) -> int:
        return a + b

    def neg(self, a: int) -> int:
        return a

    def pow(self, a: int, exponent: int) -> int:
        return a * exponent


def degree(expr: Expr) -> int:
    """Degree of ``expr`` in the trace polynomials (a column counts 1)."""
    return evaluate([expr], _DegreeVisitor())[0]


def degrees(exprs: Sequence[Expr], order: Sequence[Expr] | None = None) -> list[int]:
    """:func:`degree` of each expression, in one pass over the shared DAG."""
    return evaluate(exprs, _DegreeVisitor(), order)


class _OffsetVisitor(_DegreeVisitor):
    def column(self, segment: str, index: int, offset: int) -> int:
        return offset

    def periodic(self, index: int) -> int:
        return 0

    def mul(self, a: int, b: int) -> int:
        return max(a, b)

    def pow(self, a: int, exponent: int) -> int:
        return a


def max_offset(expr: Expr) -> int:
    """The largest row offset ``expr`` reads (0 if it reads none)."""
    return evaluate([expr], _OffsetVisitor())[0]


def max_offsets(exprs: Sequence[Expr], order: Sequence[Expr] | None = None) -> list[int]:
    """:func:`max_offset` of each expression, in one pass over the shared DAG."""
    return evaluate(exprs, _OffsetVisitor(), order)


class _FormatVisitor:
    def const(self, value: int) -> str:
        return str(value if value <= P // 2 else value - P)

    def column(self, segment: str, index: int, offset: int) -> str:
        name = {"main": "col", "aux": "aux", "fixed": "fix"}[segment]
        return f"{name}{index}" + ("'" * offset if offset <= 2 else f"[+{offset}]")

    def periodic(self, index: int) -> str:
        return f"periodic{index}"

    def public_input(self, index: int) -> str:
        return f"pub{index}"

    def challenge(self, index: int) -> str:
        return f"challenge{index}"

    def add(self, a: str, b: str) -> str:
        return f"({a} + {b})"

    def sub(self, a: str, b: str) -> str:
        return f"({a} - {b})"

    def mul(self, a: str, b: str) -> str:
        return f"{a}·{b}"

    def neg(self, a: str) -> str:
        return f"-{a}"

    def pow(self, a: str, exponent: int) -> str:
        return f"{a}^{exponent}"


class _ShiftVisitor:
    def __init__(self, rows: int) -> None:
        self.rows = rows

    def const(self, value: int) -> Expr:
        return Const(value)

    def column(self, segment: str, index: int, offset: int) -> Expr:
        return Column(segment, index, offset + self.rows)

    def periodic(self, index: int) -> Expr:
        raise ValueError("shift_rows: periodic columns cannot be shifted by rows")

    def public_input(self, index: int) -> Expr:
        return PublicInput(index)

    def challenge(self, index: int) -> Expr:
        return Challenge(index)

    def add(self, a: Expr, b: Expr) -> Expr:
        return Add(a, b)

    def sub(self, a: Expr, b: Expr) -> Expr:
        return Sub(a, b)

    def mul(self, a: Expr, b: Expr) -> Expr:
        return Mul(a, b)

    def neg(self, a: Expr) -> Expr:
        return Neg(a)

    def pow(self, a: Expr, exponent: int) -> Expr:
        return Pow(a, exponent)


def shift_rows(expr: Expr, rows: int = 1) -> Expr:
    """The same expression read ``rows`` rows further down (every column offset + ``rows``).

    Shared nodes stay shared. Periodic columns cannot be shifted (raises ValueError).
    """
    if rows < 0:
        raise ValueError(f"expected a non-negative row shift, got {rows}")
    return evaluate([expr], _ShiftVisitor(rows))[0]


def format_expr(expr: Expr) -> str:
    """A readable one-line form of ``expr`` (shared nodes are repeated)."""
    return evaluate([expr], _FormatVisitor())[0]
