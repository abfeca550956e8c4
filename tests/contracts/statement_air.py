"""A test AIR that takes the batch proof's public inputs, so the exchange runs on a real verifier.

The batch AIR's public inputs (docs/stark.md, "The batch AIR") are the batch
id (3 limbs), five digests of 8 elements, the market count and seven values
per market. This AIR proves nothing about a batch:
its trace is one column holding the public inputs on its first rows and a
running sum beside it. It exists so that the exchange's tests hand
``StarkVerifier.sol`` a real STARK proof bound (through the Fiat–Shamir
transcript and the boundary constraints) to exactly the public inputs the
contract derives, and see the verifier refuse a proof of any other statement.
It is not registered and ships nowhere; its generated evaluator sits in
``contracts/src/test/`` (``python -m tests.contracts.statement_air`` rewrites it,
``tests/contracts/test_exchange.py`` checks it is current).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, Boundary, Transition, col, pub
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.solidity import compile_constraints, contract_name, render_contract

NAME = "batch_statement_test"
MARKETS = 2
NUM_PUBLIC = 44 + 7 * MARKETS
ROWS = 64
SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "src" / "test"


def build(num_rows: int, public_inputs: tuple[int, ...]) -> Air:
    """The AIR: ``v[i] = pub(i)`` on the first rows, ``s' = s + v'`` with ``s[0] = v[0]``."""
    if len(public_inputs) != NUM_PUBLIC:
        raise ValueError(f"{NAME}: expected {NUM_PUBLIC} public inputs, got {len(public_inputs)}")
    v, s = col(0), col(1)
    return Air(
        name=NAME,
        num_rows=num_rows,
        num_main_columns=2,
        public_inputs=public_inputs,
        transitions=(Transition(s.next - (s + v.next), "s' = s + v'"),),
        boundaries=(
            Boundary(0, s - v, "s[0] = v[0]"),
            *(Boundary(i, v - pub(i), f"v[{i}] = pub[{i}]") for i in range(NUM_PUBLIC)),
        ),
        column_names=("v", "s"),
    )


def trace(num_rows: int, public_inputs: tuple[int, ...]) -> fld.Array:
    """The honest ``(2, num_rows)`` trace for ``public_inputs``."""
    v = np.zeros(num_rows, dtype=np.uint64)
    v[: len(public_inputs)] = public_inputs
    s = np.cumsum(v.astype(object)) % P
    return np.stack([v, s.astype(np.uint64)])


def evaluator_path() -> Path:
    return SOURCE / f"{contract_name(NAME)}.sol"


def render() -> str:
    """The generated evaluator's Solidity source."""
    air = build(ROWS, (0,) * NUM_PUBLIC)
    text = render_contract(compile_constraints(air), "tests/contracts/statement_air.py")
    return text.replace(
        "`make contracts` writes it", "`python -m tests.contracts.statement_air` writes it"
    )


if __name__ == "__main__":
    evaluator_path().write_text(render())
