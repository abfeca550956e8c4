"""Fibonacci: the smallest useful AIR, two columns ``(a, b) -> (b, a + b)``.

Public inputs ``(a0, b0, b_last)``: the first row and the value of ``b`` on
the last row, so the proof shows ``b_last`` is the ``N``-th Fibonacci-like
number from the given start (all mod p).
"""

from __future__ import annotations

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, Boundary, Transition, col, pub
from sealbatch.crypto.airs import AirEntry
from sealbatch.crypto.field_scalar import P

__all__ = ["ENTRY", "build", "generate"]

NAME = "fibonacci"


def build(num_rows: int, public_inputs: tuple[int, ...]) -> Air:
    """The Fibonacci AIR for ``num_rows`` rows and public inputs ``(a0, b0, b_last)``."""
    if len(public_inputs) != 3:
        raise ValueError(f"fibonacci: expected 3 public inputs, got {len(public_inputs)}")
    a, b = col(0), col(1)
    return Air(
        name=NAME,
        num_rows=num_rows,
        num_main_columns=2,
        public_inputs=public_inputs,
        transitions=(
            Transition(a.next - b, "a' = b"),
            Transition(b.next - (a + b), "b' = a + b"),
        ),
        boundaries=(
            Boundary(0, a - pub(0), "a[0] = a0"),
            Boundary(0, b - pub(1), "b[0] = b0"),
            Boundary(-1, b - pub(2), "b[-1] = b_last"),
        ),
        column_names=("a", "b"),
    )


def generate(num_rows: int, a0: int = 1, b0: int = 1) -> tuple[fld.Array, tuple[int, ...]]:
    """An honest ``(2, num_rows)`` trace and its public inputs."""
    a = np.empty(num_rows, np.uint64)
    b = np.empty(num_rows, np.uint64)
    x, y = a0 % P, b0 % P
    for i in range(num_rows):
        a[i], b[i] = x, y
        x, y = y, (x + y) % P
    return np.stack([a, b]), (a0 % P, b0 % P, int(b[-1]))


ENTRY = AirEntry(
    name=NAME,
    build=build,
    generate=generate,
    summary="Fibonacci, 2 columns: (a, b) -> (b, a + b); public (a0, b0, b_last)",
)
