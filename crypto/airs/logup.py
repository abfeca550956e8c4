"""LogUp lookups as AIR constraints: a running sum over one auxiliary column.

Claim: every value ``f_j`` (``j < k``, one or more expressions per row) is an
entry of the table column ``t``, where ``m`` counts how often each table row
is looked up. With a random challenge ``α`` (extension field) this holds,
except with negligible probability, iff

    Σ_rows m/(α − t) = Σ_rows Σ_j 1/(α − f_j)

(Haböck, "Multivariate lookups based on logarithmic derivatives", ePrint
2022/1530). The running sum ``s`` (an aux column) accumulates each row's
``δ = m/(α − t) − Σ_j 1/(α − f_j)``: ``s[0] = δ_0``, ``s' = s + δ'``,
``s[N−1] = 0``. Clearing denominators, with ``D = (α − t)·Π_j (α − f_j)``,
each step is ``(s' − s)·D' − M' = 0`` where
``M = m·Π_j (α − f_j) − (α − t)·Σ_j Π_(l≠j) (α − f_l)``: degree ``k + 2``.

Usage inside an AIR (see :mod:`sealbatch.crypto.airs.range_check`)::

    step, first, last = logup_constraints(aux(0), challenge(0), t, m, [f])
    ...
    aux_builder = lambda main, ch: logup_running_sum(ch[0], t_values, m_values, [f_values])[None]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Boundary, Column, Expr, Transition, shift_rows
from sealbatch.crypto.field_scalar import EXT_DEGREE, Fp4, P

__all__ = ["logup_constraints", "logup_running_sum"]


def _relation(
    alpha: Expr, table: Expr, multiplicity: Expr, values: Sequence[Expr]
) -> tuple[Expr, Expr]:
    """``(D, M)`` at the current row."""
    den_t = alpha - table
    den_f = [alpha - f for f in values]
    prod_f: Expr = den_f[0]
    for d in den_f[1:]:
        prod_f = prod_f * d
    rest: Expr | None = None
    for j in range(len(den_f)):
        term: Expr = den_t
        for lpos, d in enumerate(den_f):
            if lpos != j:
                term = term * d
        rest = term if rest is None else rest + term
    assert rest is not None  # values is non-empty
    return den_t * prod_f, multiplicity * prod_f - rest


def logup_constraints(
    running_sum: Column,
    alpha: Expr,
    table: Expr,
    multiplicity: Expr,
    values: Sequence[Expr],
    name: str = "logup",
) -> tuple[Transition, Boundary, Boundary]:
    """The step, first-row and last-row constraints of one LogUp argument.

    ``table``, ``multiplicity`` and ``values`` are expressions over the
    current row (offset 0); ``running_sum`` is an aux column at offset 0.

    Raises:
        ValueError: no looked-up values, or an expression reads other rows.
    """
    if not values:
        raise ValueError("logup: expected at least one looked-up value")
    den, num = _relation(alpha, table, multiplicity, values)
    step = (running_sum.next - running_sum) * shift_rows(den, 1) - shift_rows(num, 1)
    return (
        Transition(step, f"{name}: s' = s + δ'"),
        Boundary(0, running_sum * den - num, f"{name}: s[0] = δ[0]"),
        Boundary(-1, running_sum, f"{name}: Σ δ = 0"),
    )


def logup_running_sum(
    alpha: Fp4,
    table: fld.Array,
    multiplicity: fld.Array,
    values: Sequence[fld.Array],
) -> fld.Array:
    """The running-sum column ``s`` as a ``(4, N)`` extension array (prover side)."""
    n = table.shape[0]
    a = fld.ext_scalar(alpha)

    def inv_shifted(col: fld.Array) -> fld.Array:
        return fld.ext_batch_inv(
            fld.ext_sub(np.broadcast_to(a, (EXT_DEGREE, n)), fld.ext_from_base(col))
        )

    delta = fld.ext_mul_base(inv_shifted(table), multiplicity)
    for f in values:
        delta = fld.ext_sub(delta, inv_shifted(f))
    # Each term is < 2^31 and N <= 2^27: the prefix sums fit in uint64 before reducing.
    return np.cumsum(delta, axis=1, dtype=np.uint64) % np.uint64(P)
