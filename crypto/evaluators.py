"""Evaluators of constraint expressions: numpy arrays over many points, and one extension point.

* :class:`ArrayEvaluator` — the prover's: values are ints (base scalars),
  base vectors ``(n,)`` or extension arrays ``(4, n)`` / ``(4, 1)``; base and
  extension operands are mixed without lifting base values unless needed.
* :class:`PointEvaluator` — the verifier's: everything is an
  :class:`~crypto.field_scalar.Fp4` at the out-of-domain point.

Both implement :class:`sealbatch.crypto.expr.ExprVisitor` and run under
:func:`sealbatch.crypto.expr.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.field_scalar import EXT_DEGREE, Fp4, P

__all__ = ["ArrayEvaluator", "PointEvaluator", "Value"]


Value: TypeAlias = "int | fld.Array"
"""An int (base scalar), a base vector ``(n,)`` or an extension array ``(4, n)`` / ``(4, 1)``."""


def _is_ext(v: Value) -> bool:
    return isinstance(v, np.ndarray) and v.ndim == 2


def _lift(v: Value) -> fld.Array:
    if isinstance(v, int):
        return fld.ext_scalar((v, 0, 0, 0))
    if v.ndim == 2:
        return v
    out = np.zeros((EXT_DEGREE, *v.shape), np.uint64)
    out[0] = v
    return out


@dataclass
class ArrayEvaluator:
    """Vectorised evaluation over many points (the prover's LDE, or trace rows).

    ``column(segment, index, offset)`` returns the column's values at the
    points shifted by ``offset`` rows: a base vector ``(n,)`` for main
    columns, an extension array ``(4, n)`` for aux columns. Mixed base and
    extension operands are lifted only when needed.
    """

    column: Callable[[str, int, int], fld.Array]
    periodic: Callable[[int], fld.Array]
    public_inputs: Sequence[int]
    challenges: Sequence[Fp4] = ()

    def const(self, value: int) -> Value:
        return value

    def public_input(self, index: int) -> Value:
        return int(self.public_inputs[index])

    def challenge(self, index: int) -> Value:
        return fld.ext_scalar(self.challenges[index])

    def add(self, a: Value, b: Value) -> Value:
        if isinstance(a, int) and isinstance(b, int):
            return (a + b) % P
        if not _is_ext(a) and not _is_ext(b):
            return fld.add(a, b)
        return fld.ext_add(_lift(a), _lift(b))

    def neg(self, a: Value) -> Value:
        if isinstance(a, int):
            return (-a) % P
        return fld.neg(a)

    def sub(self, a: Value, b: Value) -> Value:
        if isinstance(a, int) and isinstance(b, int):
            return (a - b) % P
        if not _is_ext(a) and not _is_ext(b):
            return fld.sub(a, b)
        return fld.ext_sub(_lift(a), _lift(b))

    def mul(self, a: Value, b: Value) -> Value:
        if isinstance(a, int) and isinstance(b, int):
            return a * b % P
        if not _is_ext(a) and not _is_ext(b):
            return fld.mul(a, b)
        if _is_ext(a) and _is_ext(b):
            return fld.ext_mul(a, b)  # type: ignore[arg-type]
        e, s = (a, b) if _is_ext(a) else (b, a)
        return fld.ext_mul_base(e, s)  # type: ignore[arg-type]

    def pow(self, a: Value, exponent: int) -> Value:
        if isinstance(a, int):
            return pow(a, exponent, P)
        if _is_ext(a):
            return fld.ext_pow(a, exponent)
        return fld.pow(a, exponent)


@dataclass
class PointEvaluator:
    """Evaluation at one extension point (the verifier's out-of-domain check), on :class:`Fp4`.

    ``frame[(segment, index, offset)]`` is the claimed value of that column at
    ``z·g^offset``; ``periodic_values[i]`` the periodic polynomial ``i`` at ``z``.
    """

    frame: dict[tuple[str, int, int], Fp4]
    periodic_values: Sequence[Fp4]
    public_inputs: Sequence[int]
    challenges: Sequence[Fp4]

    def const(self, value: int) -> Fp4:
        return Fp4.of(value)

    def column(self, segment: str, index: int, offset: int) -> Fp4:
        return self.frame[(segment, index, offset)]

    def periodic(self, index: int) -> Fp4:
        return self.periodic_values[index]

    def public_input(self, index: int) -> Fp4:
        return Fp4.of(self.public_inputs[index])

    def challenge(self, index: int) -> Fp4:
        return self.challenges[index]

    def add(self, a: Fp4, b: Fp4) -> Fp4:
        return a + b

    def sub(self, a: Fp4, b: Fp4) -> Fp4:
        return a - b

    def mul(self, a: Fp4, b: Fp4) -> Fp4:
        return a * b

    def neg(self, a: Fp4) -> Fp4:
        return -a

    def pow(self, a: Fp4, exponent: int) -> Fp4:
        return a**exponent
