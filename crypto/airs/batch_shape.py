"""A synthetic AIR shaped like a batch: wide arithmetic, range-checked limbs on a lookup bus,
fixed columns and a public table.

It exercises every engine feature the batch AIR needs, at the batch AIR's
size (``bench/stark.py --batch-shape``: 2^15 rows, 450 main columns, 24 aux
columns), without being the batch AIR:

* **fixed columns** (committed by the AIR): ``t`` = the row index (the range
  table ``0..N−1``) and ``first`` = 1 on the first ``K`` rows (a selector the
  prover cannot move);
* **main columns**: ``L`` limbs (each sent on the bus as a range lookup into
  ``t``, tag 1), ``m`` (how often each table row is looked up, received with
  ``t``), then ``W`` wide columns with the ``wide`` AIR's degree-2 and
  degree-3 transitions (the arithmetic load);
* **the bus**: ``L`` range sends + the table's receive + one send of the pair
  ``(limb_0, limb_1)`` under tag 2 on the first ``K`` rows, packed two per
  helper column; 46 interactions give 23 helpers and the running sum;
* **a public table**: the ``K`` pairs are public inputs; the verifier receives
  them itself, so the trace must send exactly those pairs on its first ``K``
  rows.

It is not in the AIR registry (the registered AIRs each get an on-chain
constraint evaluator); :func:`verify_bytes` verifies its proofs the way
:func:`sealbatch.crypto.verifier.verify` does for registered ones.

Public inputs: ``(W, L, K, seed, result, pairs…)`` — ``result`` is wide
column 0 on the last row, ``pairs`` the ``2K`` values ``limb_0, limb_1`` of
rows ``0..K−1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, Boundary, Transition, col, fixed, pub
from sealbatch.crypto.bus import Bus, PublicTable
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.field_scalar import Fp4, P
from sealbatch.crypto.proof import StarkProof
from sealbatch.crypto.security import SecurityReport
from sealbatch.crypto.verifier import DEFAULT_MIN_SECURITY_BITS, verify_proof

__all__ = ["NAME", "build", "generate", "verify_bytes"]

NAME = "batch_shape"
RANGE_TAG, PAIR_TAG = 1, 2
DEFAULT_WIDE, DEFAULT_LIMBS, DEFAULT_PUBLIC_ROWS = 404, 44, 64
_HEADER = 5


def _parse(num_rows: int, public_inputs: tuple[int, ...]) -> tuple[int, int, int]:
    if len(public_inputs) < _HEADER:
        raise ValueError(f"{NAME}: expected at least {_HEADER} public inputs")
    wide, limbs, k = public_inputs[0], public_inputs[1], public_inputs[2]
    if not 2 <= wide <= 4096 or wide % 2:
        raise ValueError(f"{NAME}: expected an even wide column count in [2, 4096], got {wide}")
    if not 2 <= limbs <= 1024:
        raise ValueError(f"{NAME}: expected 2 to 1024 limbs, got {limbs}")
    if not 1 <= k <= num_rows:
        raise ValueError(f"{NAME}: expected 1 <= K <= {num_rows} public rows, got {k}")
    if len(public_inputs) != _HEADER + 2 * k:
        raise ValueError(
            f"{NAME}: expected {_HEADER + 2 * k} public inputs for K = {k}, "
            f"got {len(public_inputs)}"
        )
    for v in public_inputs[_HEADER:]:
        if v >= num_rows:
            raise ValueError(f"{NAME}: expected public pair values below {num_rows}, got {v}")
    return wide, limbs, k


def _fixed(num_rows: int, k: int) -> fld.Array:
    first = np.zeros(num_rows, np.uint64)
    first[:k] = 1
    return np.stack([np.arange(num_rows, dtype=np.uint64), first])


def _bus(limbs: int, k: int, pairs: tuple[int, ...]) -> Bus:
    bus = Bus(beta=0, first_aux=0, public_sum=2)
    for i in range(limbs):
        bus.send(RANGE_TAG, [col(i)], 1, f"limb {i} in range")
    bus.receive(RANGE_TAG, [fixed(0)], col(limbs), "range table")
    bus.send(PAIR_TAG, [col(0), col(1)], fixed(1), "first rows' pairs")
    rows = tuple((pairs[2 * j], pairs[2 * j + 1]) for j in range(k))
    bus.add_public_table(PublicTable(PAIR_TAG, rows, (1,) * k, receive=True))
    return bus


def build(num_rows: int, public_inputs: tuple[int, ...]) -> Air:
    """The AIR for ``(W, L, K, seed, result, pairs…)``.

    Raises:
        ValueError: malformed public inputs.
    """
    wide, limbs, k = _parse(num_rows, public_inputs)
    bus = _bus(limbs, k, tuple(public_inputs[_HEADER:]))
    layout = bus.build()
    base = limbs + 1
    x = [col(base + i) for i in range(wide)]
    transitions = list(layout.transitions)
    for i in range(wide):
        if i % 2 == 0:
            expr = x[i].next - (x[i] * x[i + 1] + x[(i + 2) % wide] + 1)
        else:
            expr = x[i].next - (x[i] * x[i] * x[i] + x[i - 1])
        transitions.append(Transition(expr, f"x{i}'"))
    boundaries = list(layout.boundaries)
    boundaries += [Boundary(0, x[i] - (pub(3) + i), f"x{i}[0] = seed + {i}") for i in range(wide)]
    boundaries.append(Boundary(-1, x[0] - pub(4), "x0[-1] = result"))
    fixed_values = partial(_fixed, num_rows, k)

    def derive(drawn: Sequence[Fp4]) -> list[Fp4]:
        return [bus.public_table_sum(drawn)]

    def aux_builder(main: fld.Array, challenges: Sequence[Fp4]) -> fld.Array:
        return bus.aux_columns(main, challenges, fixed=fixed_values())

    return Air(
        name=NAME,
        num_rows=num_rows,
        num_main_columns=base + wide,
        public_inputs=public_inputs,
        transitions=tuple(transitions),
        boundaries=tuple(boundaries),
        num_aux_columns=layout.num_aux_columns,
        num_challenges=bus.num_challenges,
        aux_builder=aux_builder,
        num_fixed_columns=2,
        fixed_builder=fixed_values,
        num_derived_challenges=1,
        derive_challenges=derive,
        column_names=(
            *(f"limb{i}" for i in range(limbs)),
            "m",
            *(f"x{i}" for i in range(wide)),
        ),
    )


def generate(
    num_rows: int,
    wide: int = DEFAULT_WIDE,
    limbs: int = DEFAULT_LIMBS,
    public_rows: int = DEFAULT_PUBLIC_ROWS,
    seed: int = 7,
) -> tuple[fld.Array, tuple[int, ...]]:
    """An honest trace (random limbs in ``[0, N)``) and its public inputs."""
    k = min(public_rows, num_rows)
    rng = np.random.default_rng(seed)
    limb_values = rng.integers(0, num_rows, size=(limbs, num_rows), dtype=np.uint64)
    m = np.bincount(limb_values.reshape(-1).astype(np.int64), minlength=num_rows).astype(np.uint64)
    trace = np.empty((limbs + 1 + wide, num_rows), np.uint64)
    trace[:limbs] = limb_values
    trace[limbs] = m
    row = fld.as_field([seed + i for i in range(wide)])
    even = np.arange(0, wide, 2)
    odd = even + 1
    nxt_even = (even + 2) % wide
    p = np.uint64(P)
    rows = np.empty((num_rows, wide), np.uint64)
    for r in range(num_rows):
        rows[r] = row
        new = np.empty_like(row)
        new[even] = (row[even] * row[odd] % p + row[nxt_even] + 1) % p
        new[odd] = (row[odd] * row[odd] % p * row[odd] % p + row[even]) % p
        row = new
    trace[limbs + 1 :] = rows.T
    pairs = tuple(int(v) for r in range(k) for v in (limb_values[0, r], limb_values[1, r]))
    public = (wide, limbs, k, seed % P, int(rows[-1, 0]), *pairs)
    return trace, public


def verify_bytes(data: bytes, min_security_bits: int = DEFAULT_MIN_SECURITY_BITS) -> SecurityReport:
    """Parse and verify a ``batch_shape`` proof (the AIR built from its public inputs).

    Raises:
        VerificationError: the proof is not for this AIR, or any check fails.
    """
    proof = StarkProof.from_bytes(data)
    if proof.air_name != NAME:
        raise VerificationError(f"expected a proof for AIR {NAME!r}, got {proof.air_name!r}")
    try:
        air = build(proof.num_rows, proof.public_inputs)
    except ValueError as exc:
        raise VerificationError(f"AIR {NAME!r} rejects the statement: {exc}") from exc
    return verify_proof(air, proof, min_security_bits=min_security_bits)
