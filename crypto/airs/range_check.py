"""Range check with a LogUp lookup: every value of column ``v`` lies in ``[0, R)``.

Main columns: ``v`` (the values), ``t`` (the table: 0, 1, ..., R−1, then
R−1 repeated), ``m`` (how many ``v`` equal each table row), ``acc`` (running
sum of ``v``, so the statement binds the values: public inputs ``(R, Σ v)``).
One aux column ``s`` and one challenge ``α`` carry the LogUp argument
(:mod:`sealbatch.crypto.airs.logup`).

Constraints: ``t[0] = 0``, ``(t' − t)(t' − t − 1) = 0``, ``t[−1] = R − 1``;
``acc[0] = v[0]``, ``acc' = acc + v'``, ``acc[−1] = Σ v``; LogUp
``Σ m/(α − t) = Σ 1/(α − v)`` (degree 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, Boundary, Transition, aux, challenge, col, pub
from sealbatch.crypto.airs import AirEntry
from sealbatch.crypto.airs.logup import logup_constraints, logup_running_sum
from sealbatch.crypto.field_scalar import Fp4, P

__all__ = ["ENTRY", "build", "generate"]

NAME = "range_check"
V, T, M, ACC = 0, 1, 2, 3


def _aux_builder(main: fld.Array, challenges: Sequence[Fp4]) -> fld.Array:
    return logup_running_sum(challenges[0], main[T], main[M], [main[V]])[None]


def build(num_rows: int, public_inputs: tuple[int, ...]) -> Air:
    """The range-check AIR; public inputs ``(R, Σ v mod p)`` with ``1 <= R <= num_rows``."""
    if len(public_inputs) != 2:
        raise ValueError(f"range_check: expected 2 public inputs, got {len(public_inputs)}")
    bound = public_inputs[0]
    if not 1 <= bound <= num_rows:
        raise ValueError(f"range_check: expected 1 <= R <= {num_rows}, got {bound}")
    v, t, m, acc = col(V), col(T), col(M), col(ACC)
    step, first, last = logup_constraints(aux(0), challenge(0), t, m, [v], "lookup v in t")
    dt = t.next - t
    return Air(
        name=NAME,
        num_rows=num_rows,
        num_main_columns=4,
        public_inputs=public_inputs,
        transitions=(
            Transition(dt * (dt - 1), "t' - t in {0, 1}"),
            Transition(acc.next - (acc + v.next), "acc' = acc + v'"),
            step,
        ),
        boundaries=(
            Boundary(0, t, "t[0] = 0"),
            Boundary(-1, t - (pub(0) - 1), "t[-1] = R - 1"),
            Boundary(0, acc - v, "acc[0] = v[0]"),
            Boundary(-1, acc - pub(1), "acc[-1] = sum"),
            first,
            last,
        ),
        num_aux_columns=1,
        num_challenges=1,
        aux_builder=_aux_builder,
        column_names=("v", "t", "m", "acc"),
    )


def generate(
    num_rows: int, bound: int | None = None, seed: int = 1
) -> tuple[fld.Array, tuple[int, ...]]:
    """Random values in ``[0, R)`` (``R = min(N/2, 2^16)`` by default) and their table."""
    r = bound if bound is not None else max(1, min(num_rows // 2, 1 << 16))
    if not 1 <= r <= num_rows:
        raise ValueError(f"range_check: expected 1 <= R <= {num_rows}, got {r}")
    rng = np.random.default_rng(seed)
    v = rng.integers(0, r, size=num_rows, dtype=np.uint64)
    t = np.minimum(np.arange(num_rows, dtype=np.uint64), np.uint64(r - 1))
    m = np.zeros(num_rows, np.uint64)
    m[:r] = np.bincount(v.astype(np.int64), minlength=r).astype(np.uint64)
    acc = np.cumsum(v, dtype=np.uint64) % np.uint64(P)
    return np.stack([v, t, m, acc]), (r, int(acc[-1]))


ENTRY = AirEntry(
    name=NAME,
    build=build,
    generate=generate,
    summary="range check of one column into [0, R) with a LogUp lookup (aux column)",
)
