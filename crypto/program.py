"""A constraint DAG flattened into index arrays and evaluated level by level with numpy.

The verifier evaluates every constraint once, at the out-of-domain point ``z``
(:func:`sealbatch.crypto.composition.composition_at`). Walking the DAG node by
node with :class:`~crypto.field_scalar.Fp4` objects costs a Python call or
more per node — most of a wide AIR's verification time. A :class:`Program`
holds the same DAG as arrays: nodes in topological order, leaves by kind, and
the operations grouped by *level* (one more than the deepest child) and kind,
so that all the nodes of one level and kind are one vectorised extension-field
operation over a ``(4, nodes)`` array. A DAG of ~11,000 nodes and depth ~50
evaluates in a few hundred numpy calls. Degrees and row offsets of the
constraints (:meth:`Program.degrees`, :meth:`Program.max_offsets`) come from
the same arrays, in integers.

The node-by-node :class:`~crypto.evaluators.PointEvaluator` stays the scalar
reference; tests compare the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.expr import (
    Add,
    Challenge,
    Column,
    Const,
    Expr,
    Mul,
    Neg,
    Periodic,
    Pow,
    PublicInput,
    Sub,
)
from sealbatch.crypto.field_scalar import EXT_DEGREE, Fp4, P

__all__ = ["Program", "Step"]

_I64 = np.int64


@dataclass(frozen=True)
class Step:
    """All operations of one kind at one level: ``out[k] = a[k] <op> b[k]``."""

    kind: str  # "add", "sub", "mul", "neg" or "pow"
    out: np.ndarray
    a: np.ndarray
    b: np.ndarray  # unused for neg and pow
    exponent: int  # pow only: the steps of a level are split by exponent


@dataclass(frozen=True)
class Program:
    """A flattened DAG (see the module docstring); build with :meth:`of`."""

    size: int
    roots: np.ndarray
    const_nodes: np.ndarray
    const_values: np.ndarray
    column_nodes: np.ndarray
    column_keys: tuple[tuple[str, int, int], ...]
    periodic_nodes: np.ndarray
    periodic_index: np.ndarray
    public_nodes: np.ndarray
    public_index: np.ndarray
    challenge_nodes: np.ndarray
    challenge_index: np.ndarray
    steps: tuple[Step, ...]

    @classmethod
    def of(cls, roots: Sequence[Expr], order: Sequence[Expr]) -> Program:
        """Flatten ``roots`` whose topological order (children first) is ``order``.

        Raises:
            TypeError: an unknown node type.
            KeyError: ``order`` misses a node that ``roots`` reach.
        """
        index: dict[int, int] = {}
        level = [0] * len(order)
        leaves: dict[str, tuple[list[int], list[object]]] = {
            k: ([], []) for k in ("const", "column", "periodic", "public", "challenge")
        }
        ops: dict[tuple[int, str, int], tuple[list[int], list[int], list[int]]] = {}
        for i, node in enumerate(order):
            index[id(node)] = i
            kind = _KINDS.get(type(node))
            if kind is None:
                raise TypeError(f"unknown expression node {type(node).__name__}")
            if kind in _BINARY:
                a, b = index[id(node.a)], index[id(node.b)]  # type: ignore[attr-defined]
                exponent = 0
                lv = 1 + (level[a] if level[a] > level[b] else level[b])
            elif kind in _UNARY:
                a = b = index[id(node.a)]  # type: ignore[attr-defined]
                exponent = node.exponent if kind == "pow" else 0  # type: ignore[attr-defined]
                lv = 1 + level[a]
            else:
                nodes, payload = leaves[kind]
                nodes.append(i)
                payload.append(_leaf_payload(node))
                continue
            level[i] = lv
            group = ops.get((lv, kind, exponent))
            if group is None:
                group = ops[(lv, kind, exponent)] = ([], [], [])
            group[0].append(i)
            group[1].append(a)
            group[2].append(b)
        steps = tuple(
            Step(kind, np.array(out, _I64), np.array(a, _I64), np.array(b, _I64), exponent)
            for (_, kind, exponent), (out, a, b) in sorted(ops.items())
        )

        def arr(kind: str) -> np.ndarray:
            return np.array(leaves[kind][0], _I64)

        def ints(kind: str) -> np.ndarray:
            return np.array(leaves[kind][1], _I64)

        keys = tuple(leaves["column"][1])
        return cls(
            size=len(order),
            roots=np.array([index[id(r)] for r in roots], _I64),
            const_nodes=arr("const"),
            const_values=np.array(leaves["const"][1], np.uint64),
            column_nodes=arr("column"),
            column_keys=keys,  # type: ignore[arg-type]
            periodic_nodes=arr("periodic"),
            periodic_index=ints("periodic"),
            public_nodes=arr("public"),
            public_index=ints("public"),
            challenge_nodes=arr("challenge"),
            challenge_index=ints("challenge"),
            steps=steps,
        )

    # ---- integer properties of the roots

    def _propagate(self, leaf: np.ndarray, combine: str) -> list[int]:
        vals = leaf
        for s in self.steps:
            if s.kind in ("add", "sub") or (combine == "max" and s.kind == "mul"):
                vals[s.out] = np.maximum(vals[s.a], vals[s.b])
            elif s.kind == "mul":
                vals[s.out] = vals[s.a] + vals[s.b]
            elif s.kind == "pow" and combine == "sum":
                vals[s.out] = vals[s.a] * s.exponent
            else:  # neg, and pow for offsets
                vals[s.out] = vals[s.a]
        return [int(v) for v in vals[self.roots]]

    def degrees(self) -> list[int]:
        """Degree of each root in the trace polynomials (a column or periodic column counts 1)."""
        leaf = np.zeros(self.size, _I64)
        leaf[self.column_nodes] = 1
        leaf[self.periodic_nodes] = 1
        return self._propagate(leaf, "sum")

    def max_offsets(self) -> list[int]:
        """The largest row offset each root reads (0 if none)."""
        leaf = np.zeros(self.size, _I64)
        leaf[self.column_nodes] = [k[2] for k in self.column_keys]
        return self._propagate(leaf, "max")

    # ---- evaluation at one extension point

    def evaluate_at(
        self,
        frame: Mapping[tuple[str, int, int], Fp4],
        periodic_values: Sequence[Fp4],
        public_inputs: Sequence[int],
        challenges: Sequence[Fp4],
    ) -> fld.Array:
        """Every root at one point: a ``(4, roots)`` array of extension values.

        Args:
            frame: each column's value at the point (``(segment, index, offset)``).
            periodic_values: each periodic column at the point.
            public_inputs: the statement's public inputs (base field).
            challenges: the challenges, drawn and derived.

        Raises:
            KeyError: a column the frame does not hold.
        """
        vals = np.zeros((EXT_DEGREE, self.size), np.uint64)
        vals[0, self.const_nodes] = self.const_values % np.uint64(P)
        if self.column_nodes.size:
            vals[:, self.column_nodes] = _ext_columns([frame[k] for k in self.column_keys])
        if self.periodic_nodes.size:
            vals[:, self.periodic_nodes] = _ext_columns(
                [periodic_values[int(i)] for i in self.periodic_index]
            )
        if self.public_nodes.size:
            pubs = np.array(public_inputs, np.uint64)
            vals[0, self.public_nodes] = pubs[self.public_index]
        if self.challenge_nodes.size:
            vals[:, self.challenge_nodes] = _ext_columns(challenges)[:, self.challenge_index]
        for s in self.steps:
            a = vals[:, s.a]
            if s.kind == "add":
                vals[:, s.out] = fld.ext_add(a, vals[:, s.b])
            elif s.kind == "sub":
                vals[:, s.out] = fld.ext_sub(a, vals[:, s.b])
            elif s.kind == "mul":
                vals[:, s.out] = fld.ext_mul(a, vals[:, s.b])
            elif s.kind == "neg":
                vals[:, s.out] = fld.neg(a)
            else:
                vals[:, s.out] = fld.ext_pow(a, s.exponent)
        return vals[:, self.roots]


_KINDS: dict[type, str] = {
    Add: "add",
    Sub: "sub",
    Mul: "mul",
    Neg: "neg",
    Pow: "pow",
    Const: "const",
    Column: "column",
    Periodic: "periodic",
    PublicInput: "public",
    Challenge: "challenge",
}
_BINARY = frozenset(("add", "sub", "mul"))
_UNARY = frozenset(("neg", "pow"))


def _leaf_payload(node: Expr) -> object:
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Column):
        return (node.segment, node.index, node.offset)
    if isinstance(node, (Periodic, PublicInput, Challenge)):
        return node.index
    raise TypeError(f"unknown expression node {type(node).__name__}")


def _ext_columns(values: Sequence[Fp4]) -> fld.Array:
    """Extension values as the columns of a ``(4, k)`` array."""
    if not values:
        return np.zeros((EXT_DEGREE, 0), np.uint64)
    return np.array([v.c for v in values], np.uint64).T
