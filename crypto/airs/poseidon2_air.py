"""Poseidon2 as AIR constraints: one permutation per row, degree 3.

Two layers:

* a *gadget* — :func:`permutation_constraints` and :func:`permutation_columns`
  — that proves ``outputs = Poseidon2(inputs)`` on every row, for inputs given
  as degree-1 expressions (usually 16 trace columns). Other AIRs (the batch
  AIR, state-root updates) place it at any column offset and read the 16
  output expressions it returns;
* the registered AIR ``"poseidon2"`` (:func:`build`, :func:`generate`): a
  chain of ``N`` permutations, ``x_{r+1} = P(x_r)``, one per row, with public
  inputs ``(x_0, P^N(x_0))`` — 32 field elements whatever ``N``.

The permutation is :mod:`sealbatch.crypto.poseidon2` (HorizenLabs BabyBear width 16).

Gadget columns (282 per row, from ``first``)::

    first + 32·r + i        x3[r][i]   (a_r,i)^3,   full round r = 0..7, i = 0..15
    first + 32·r + 16 + i   y[r][i]    (a_r,i)^7,   the S-box output
    first + 256 + 2·k       px3[k]     (b_k)^3,     partial round k = 0..12
    first + 256 + 2·k + 1   py[k]      (b_k)^7

With ``sbox_degree=7`` (an AIR whose constraint degree budget is 7 or more
anyway, such as the batch AIR) the ``x3`` columns go and each S-box is one
column ``y`` and one constraint ``y − a^7 = 0``: 141 columns, same order
without the cubes.

where ``a_r,i`` is element ``i`` of the state entering full round ``r`` plus
its round constant, and ``b_k`` element 0 entering partial round ``k`` plus
its constant. Every S-box costs two degree-3 constraints,
``x3 - a^3 = 0`` and ``y - x3^2·a = 0``, so the AIR has degree 3 and no
periodic columns. The linear layers cost no columns: the state between
S-boxes is a degree-1 expression over the committed ``y`` / ``py`` columns —
shared nodes for the external layers (the addition chain of the native code),
flat linear forms through the partial rounds — so the whole constraint DAG
has about 4,200 nodes and no constraint reads more than ~120 of them.

Registered AIR columns: ``0..15`` the permutation input ``x_r``, then the
gadget at ``first = 16`` (298 columns). Constraints: the gadget's 282 per
row; ``x_{r+1} = out_r`` on every row but the last (16); boundaries
``x_0 = pub[0:16]`` and ``out_{N-1} = pub[16:32]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sealbatch.crypto import poseidon2 as p2
from sealbatch.crypto.air import Air, Boundary, Expr, Transition, col, pub
from sealbatch.crypto.airs import AirEntry
from sealbatch.crypto.poseidon2 import (
    EXTERNAL_MATRIX,
    EXTERNAL_ROUND_CONSTANTS,
    INTERNAL_DIAG_M_1,
    INTERNAL_ROUND_CONSTANTS,
    ROUNDS_F,
    ROUNDS_P,
    WIDTH,
    P,
)

__all__ = [
    "ENTRY",
    "GADGET_COLUMNS",
    "NAME",
    "NUM_COLUMNS",
    "build",
    "column_names",
    "gadget_columns",
    "generate",
    "permutation_columns",
    "permutation_constraints",
]

NAME = "poseidon2"
GADGET_COLUMNS = 2 * WIDTH * ROUNDS_F + 2 * ROUNDS_P  # 282
NUM_COLUMNS = WIDTH + GADGET_COLUMNS  # 298: the registered AIR

U64Array = npt.NDArray[np.uint64]


# --------------------------------------------------------------------------
# The gadget
# --------------------------------------------------------------------------


def _external_exprs(x: Sequence[Expr]) -> list[Expr]:
    """M_E · x as shared expression nodes (the addition chain of crypto.poseidon2)."""
    out: list[Expr] = []
    for b in range(0, WIDTH, 4):
        x0, x1, x2, x3 = x[b : b + 4]
        t0, t1 = x0 + x1, x2 + x3
        t2, t3 = x1 + x1 + t1, x3 + x3 + t0
        t4, t5 = 4 * t1 + t3, 4 * t0 + t2
        out += [t3 + t5, t5, t2 + t4, t4]
    sums = [out[i] + out[i + 4] + out[i + 8] + out[i + 12] for i in range(4)]
    return [v + sums[i % 4] for i, v in enumerate(out)]


Form = dict[int, tuple[Expr, int]]
"""A linear form Σ c·e over expressions ``e`` (keyed by ``id(e)``), coefficients mod p."""


def _form_expr(form: Form, constant: int = 0) -> Expr:
    """One flat sum ``Σ c·e + constant``."""
    out: Expr | None = None
    for e, c in form.values():
        term = e if c == 1 else c * e
        out = term if out is None else out + term
    if out is None:
        raise ValueError("expected a non-empty linear form")
    return out + constant if constant else out


def _external_forms(ys: Sequence[Expr]) -> list[Form]:
    """M_E · ys as flat linear forms over the expressions ``ys``."""
    return [
        {id(y): (y, m) for y, m in zip(ys, row, strict=True)}
        for row in EXTERNAL_MATRIX  # all entries are non-zero
    ]


def _internal_forms(x: Sequence[Form]) -> list[Form]:
    """M_I · x = diag(d)·x + Σx on linear forms."""
    total: Form = {}
    for form in x:
        for key, (e, c) in form.items():
            total[key] = (e, (total.get(key, (e, 0))[1] + c) % P)
    out = []
    for d, form in zip(INTERNAL_DIAG_M_1, x, strict=True):
        new = dict(total)
        for key, (e, c) in form.items():
            new[key] = (e, (new[key][1] + d * c) % P)
        out.append({k: v for k, v in new.items() if v[1]})
    return out


def gadget_columns(sbox_degree: int = 3) -> int:
    """Columns of the gadget: 282 with degree-3 S-boxes, 141 with degree-7 ones.

    Raises:
        ValueError: a degree other than 3 or 7.
    """
    _check_sbox_degree(sbox_degree)
    per_sbox = 2 if sbox_degree == 3 else 1
    return per_sbox * (WIDTH * ROUNDS_F + ROUNDS_P)


def _check_sbox_degree(sbox_degree: int) -> None:
    if sbox_degree not in (3, 7):
        raise ValueError(f"expected an S-box constraint degree of 3 or 7, got {sbox_degree}")


def permutation_constraints(
    first: int, inputs: Sequence[Expr], *, sbox_degree: int = 3
) -> tuple[list[Transition], list[Expr]]:
    """Constraints that make the gadget columns the Poseidon2 permutation of ``inputs``.

    Args:
        first: index of the gadget's first column (it uses ``gadget_columns(sbox_degree)``).
        inputs: 16 expressions of degree 1 (columns, or linear combinations)
            giving the permutation input on the current row.
        sbox_degree: 3 (two columns and two constraints per S-box, ``x3 = a^3``
            and ``y = x3^2·a``) or 7 (one column and one constraint, ``y = a^7``,
            for an AIR whose degree budget is 7 or more anyway).

    Returns:
        ``(transitions, outputs)``: the row-local constraints (offset 0, so
        they hold on every row) and 16 degree-1 expressions equal to the
        permutation output on that row.

    Raises:
        ValueError: if there are not 16 inputs, ``first`` is negative or the
            degree is not 3 or 7.
    """
    if len(inputs) != WIDTH:
        raise ValueError(f"expected {WIDTH} input expressions, got {len(inputs)}")
    if first < 0:
        raise ValueError(f"expected a non-negative first column, got {first}")
    _check_sbox_degree(sbox_degree)
    constraints: list[Transition] = []
    per_sbox = 2 if sbox_degree == 3 else 1

    def sbox(a: Expr, x3_col: int, y_col: int, label: str) -> Expr:
        y = col(y_col)
        if sbox_degree == 7:
            constraints.append(Transition(y - a**7, f"{label}: y = a^7"))
            return y
        x3 = col(x3_col)
        constraints.append(Transition(x3 - a**3, f"{label}: x3 = a^3"))
        constraints.append(Transition(y - x3 * x3 * a, f"{label}: y = x3^2·a"))
        return y

    def full_round(r: int, state: Sequence[Expr]) -> list[Expr]:
        """The S-box outputs of full round ``r`` (the caller applies M_E)."""
        base = first + per_sbox * WIDTH * r
        y_base = base + (per_sbox - 1) * WIDTH
        label = f"full round {r}, element"
        return [
            sbox(v + c, base + i, y_base + i, f"{label} {i}")
            for i, (v, c) in enumerate(zip(state, EXTERNAL_ROUND_CONSTANTS[r], strict=True))
        ]

    # Full rounds use shared nodes (their inputs are 16 columns). Through the
    # partial rounds the state is kept as flat linear forms over the last full
    # round's y columns and the partial y columns, so that no constraint's
    # sub-expression is a deep chain of layers (each stays under ~70 nodes).
    half = ROUNDS_F // 2
    state = _external_exprs(inputs)
    for r in range(half - 1):
        state = _external_exprs(full_round(r, state))
    forms = _external_forms(full_round(half - 1, state))
    for k, c in enumerate(INTERNAL_ROUND_CONSTANTS):
        base = first + per_sbox * (WIDTH * ROUNDS_F + k)
        y = sbox(_form_expr(forms[0], c), base, base + per_sbox - 1, f"partial round {k}")
        forms = _internal_forms([{id(y): (y, 1)}, *forms[1:]])
    state = [_form_expr(form) for form in forms]
    for r in range(half, ROUNDS_F):
        state = _external_exprs(full_round(r, state))
    return constraints, state


def _cube_and_sbox(a: U64Array) -> tuple[U64Array, U64Array]:
    """(a^3, a^7) mod p for values < 2^32."""
    a2 = a * a % P
    a3 = a2 * a % P
    return a3, a3 * a3 % P * a % P


def permutation_columns(states: npt.ArrayLike, *, sbox_degree: int = 3) -> U64Array:
    """The gadget's honest columns for ``(n, 16)`` input states: ``(gadget_columns, n)``."""
    arr = p2._as_field_array(states, "states")
    if arr.ndim != 2 or arr.shape[1] != WIDTH:
        raise ValueError(f"expected states of shape (n, {WIDTH}), got {arr.shape}")
    per_sbox = 2 if sbox_degree == 3 else 1
    out = np.empty((gadget_columns(sbox_degree), arr.shape[0]), dtype=np.uint64)

    # The permutation of crypto.poseidon2 (same layer code), recording every S-box.
    def full_round(r: int, S: U64Array) -> U64Array:
        x3, y = _cube_and_sbox(S + np.array(EXTERNAL_ROUND_CONSTANTS[r], dtype=np.uint64)[:, None])
        base = per_sbox * WIDTH * r
        if per_sbox == 2:
            out[base : base + WIDTH] = x3
        out[base + (per_sbox - 1) * WIDTH : base + per_sbox * WIDTH] = y
        return p2._external_layer(y)

    half = ROUNDS_F // 2
    S = p2._external_layer(np.ascontiguousarray(arr.T))
    for r in range(half):
        S = full_round(r, S)
    for k, c in enumerate(INTERNAL_ROUND_CONSTANTS):
        base = per_sbox * (WIDTH * ROUNDS_F + k)
        x3, y = _cube_and_sbox(S[0] + np.uint64(c))
        if per_sbox == 2:
            out[base] = x3
        out[base + per_sbox - 1] = y
        S[0] = y
        S = p2._internal_layer(S)
    for r in range(half, ROUNDS_F):
        S = full_round(r, S)
    return out


def column_names(sbox_degree: int = 3) -> tuple[str, ...]:
    """Names of the gadget's columns, in order (for error messages and debugging)."""
    _check_sbox_degree(sbox_degree)
    cubes = sbox_degree == 3
    names = []
    for r in range(ROUNDS_F):
        if cubes:
            names += [f"x3_full{r}_{i}" for i in range(WIDTH)]
        names += [f"y_full{r}_{i}" for i in range(WIDTH)]
    for k in range(ROUNDS_P):
        names += [f"x3_partial{k}", f"y_partial{k}"] if cubes else [f"y_partial{k}"]
    return tuple(names)


# --------------------------------------------------------------------------
# The registered AIR: a chain of N permutations, one per row
# --------------------------------------------------------------------------


def build(num_rows: int, public_inputs: tuple[int, ...]) -> Air:
    """The chain AIR: ``x_{r+1} = P(x_r)``, ``x_0 = pub[0:16]``, ``P(x_{N-1}) = pub[16:32]``.

    Raises:
        ValueError: if there are not 32 public inputs, or ``num_rows`` is not
            a power of two of at least 8.
    """
    if len(public_inputs) != 2 * WIDTH:
        raise ValueError(f"{NAME}: expected {2 * WIDTH} public inputs, got {len(public_inputs)}")
    inputs = [col(i) for i in range(WIDTH)]
    gadget, outputs = permutation_constraints(WIDTH, inputs)
    chain = [Transition(inputs[i].next - outputs[i], f"x'[{i}] = P(x)[{i}]") for i in range(WIDTH)]
    boundaries = [Boundary(0, inputs[i] - pub(i), f"x[0][{i}] = pub[{i}]") for i in range(WIDTH)]
    boundaries += [
        Boundary(-1, outputs[i] - pub(WIDTH + i), f"P(x[-1])[{i}] = pub[{WIDTH + i}]")
        for i in range(WIDTH)
    ]
    return Air(
        name=NAME,
        num_rows=num_rows,
        num_main_columns=NUM_COLUMNS,
        public_inputs=tuple(public_inputs),
        transitions=(*gadget, *chain),
        boundaries=tuple(boundaries),
        column_names=tuple(f"x{i}" for i in range(WIDTH)) + column_names(),
    )


def generate(num_rows: int, start: Sequence[int] | None = None) -> tuple[U64Array, tuple[int, ...]]:
    """An honest ``(298, num_rows)`` trace and its public inputs ``(x_0, P^N(x_0))``.

    Args:
        num_rows: ``N``, the number of permutations (a power of two >= 8).
        start: the chain's first state; defaults to ``0, 1, ..., 15``.
    """
    state = list(range(WIDTH)) if start is None else [int(v) for v in start]
    if len(state) != WIDTH or any(not 0 <= v < P for v in state):
        raise ValueError(f"expected a start state of {WIDTH} field elements, got {state}")
    rows = []
    for _ in range(num_rows):
        rows.append(state)
        state = _permute_ints(state)
    inputs = np.array(rows, dtype=np.uint64)
    trace = np.vstack([inputs.T, permutation_columns(inputs)])
    return trace, tuple(rows[0]) + tuple(state)


def _external_ints(x: list[int]) -> list[int]:
    out = []
    for b in range(0, WIDTH, 4):
        x0, x1, x2, x3 = x[b : b + 4]
        out += [5 * x0 + 7 * x1 + x2 + 3 * x3, 4 * x0 + 6 * x1 + x2 + x3,
                x0 + 3 * x1 + 5 * x2 + 7 * x3, x0 + x1 + 4 * x2 + 6 * x3]  # fmt: skip
    sums = [out[i] + out[i + 4] + out[i + 8] + out[i + 12] for i in range(4)]
    return [(v + sums[i % 4]) % P for i, v in enumerate(out)]


def _permute_ints(x: list[int]) -> list[int]:
    """One permutation on Python ints (the chain is sequential; numpy's per-call
    overhead would dominate). Checked against the trace by the chain constraint."""
    half = ROUNDS_F // 2
    x = _external_ints(x)
    for r in range(half):
        x = _full_round_ints(x, r)
    for c in INTERNAL_ROUND_CONSTANTS:
        x[0] = pow(x[0] + c, 7, P)
        total = sum(x)
        x = [(d * v + total) % P for d, v in zip(INTERNAL_DIAG_M_1, x, strict=True)]
    for r in range(half, ROUNDS_F):
        x = _full_round_ints(x, r)
    return x


def _full_round_ints(x: list[int], r: int) -> list[int]:
    constants = EXTERNAL_ROUND_CONSTANTS[r]
    return _external_ints([pow(v + c, 7, P) for v, c in zip(x, constants, strict=True)])


ENTRY = AirEntry(
    name=NAME,
    build=build,
    generate=generate,
    summary="Poseidon2 (BabyBear, width 16): a chain of N permutations, one per row; "
    "public inputs x_0 and P^N(x_0)",
)
