"""A wide benchmarking AIR: ``C`` columns (32 by default), degree-2 and degree-3 transitions.

Column ``i`` of the next row is::

    i even:  x_i' = x_i · x_(i+1) + x_(i+2 mod C) + 1          (degree 2)
    i odd:   x_i' = x_i^3 + x_(i-1)                             (degree 3)

Row 0 is ``x_i = seed + i``. Public inputs ``(C, seed, result)``, ``result``
being ``x_0`` on the last row. The trace has no structure to exploit, which is
the point: it measures the prover, not the AIR.
"""

from __future__ import annotations

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, Boundary, Transition, col, pub
from sealbatch.crypto.airs import AirEntry
from sealbatch.crypto.field_scalar import P

__all__ = ["DEFAULT_COLUMNS", "ENTRY", "MAX_COLUMNS", "build", "generate"]

NAME = "wide"
DEFAULT_COLUMNS = 32
MAX_COLUMNS = 1024


def _check_columns(columns: int) -> None:
    if not 2 <= columns <= MAX_COLUMNS or columns % 2:
        raise ValueError(
            f"wide: expected an even column count in [2, {MAX_COLUMNS}], got {columns}"
        )


def build(num_rows: int, public_inputs: tuple[int, ...]) -> Air:
    """The wide AIR; public inputs ``(columns, seed, result)``."""
    if len(public_inputs) != 3:
        raise ValueError(f"wide: expected 3 public inputs, got {len(public_inputs)}")
    columns = public_inputs[0]
    _check_columns(columns)
    x = [col(i) for i in range(columns)]
    transitions = []
    for i in range(columns):
        if i % 2 == 0:
            expr = x[i].next - (x[i] * x[i + 1] + x[(i + 2) % columns] + 1)
        else:
            expr = x[i].next - (x[i] * x[i] * x[i] + x[i - 1])
        transitions.append(Transition(expr, f"x{i}'"))
    boundaries = [Boundary(0, x[i] - (pub(1) + i), f"x{i}[0] = seed + {i}") for i in range(columns)]
    boundaries.append(Boundary(-1, x[0] - pub(2), "x0[-1] = result"))
    return Air(
        name=NAME,
        num_rows=num_rows,
        num_main_columns=columns,
        public_inputs=public_inputs,
        transitions=tuple(transitions),
        boundaries=tuple(boundaries),
        column_names=tuple(f"x{i}" for i in range(columns)),
    )


def generate(
    num_rows: int, columns: int = DEFAULT_COLUMNS, seed: int = 7
) -> tuple[fld.Array, tuple[int, ...]]:
    """An honest ``(columns, num_rows)`` trace and its public inputs."""
    _check_columns(columns)
    trace = np.empty((num_rows, columns), np.uint64)
    row = fld.as_field([seed + i for i in range(columns)])
    even = np.arange(0, columns, 2)
    odd = even + 1
    nxt_even = (even + 2) % columns
    p = np.uint64(P)
    for r in range(num_rows):
        trace[r] = row
        new = np.empty_like(row)
        new[even] = (row[even] * row[odd] % p + row[nxt_even] + 1) % p
        cube = row[odd] * row[odd] % p * row[odd] % p
        new[odd] = (cube + row[even]) % p
        row = new
    return np.ascontiguousarray(trace.T), (columns, seed % P, int(trace[-1, 0]))


ENTRY = AirEntry(
    name=NAME,
    build=build,
    generate=generate,
    summary="wide benchmark, 32 columns (or --columns C): degree-2 and degree-3 transitions",
)
