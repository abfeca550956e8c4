"""Statement 4 in the batch AIR: each account's initial requirement per market at the
marks (:mod:`sealbatch.settlement.batch_air.liq_slice`), the first figure of the
liquidation slice.

The batch is test_batch_air_margin's crash: account 0 (long 100 BTC lots) is below
maintenance. The initial requirement is not published (it is a figure of the prover's
witness, like the maintenance requirement), so each forgery edits the honest trace: an
initial requirement one unit off that still satisfies the digit identity (``δ`` moved by
``maintenance_bps``) leaves its remainder out of ``[0, 10 000 × maintenance_bps)``, and
the AIR names the constraint or the range lookup that fails.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.solidity import compile_constraints
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.limbs import AMOUNT_DIGITS
from sealbatch.settlement.batch_air.liq_slice import initial_witness
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.margin import cross_requirements
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG
from tests.settlement.batch_air_helpers import check_all, column, crash_publication, statement_of
from tests.settlement.test_batch_air_margin import _pre


@pytest.fixture(scope="module")
def honest() -> tuple[BatchStatement, Air, np.ndarray]:
    statement = statement_of(crash_publication(_pre())[0])
    air, trace = generate(statement, rows_for(statement))
    return statement, air, trace


def _initial(air: Air, trace: np.ndarray, j: int, row: int) -> int:
    return sum(
        int(trace[column(air, f"slice.i{j}[{k}]"), row]) << (12 * k) for k in range(AMOUNT_DIGITS)
    )


def test_the_initial_requirements_are_cross_requirements(
    honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """Every account's proved initial requirements add up to ``cross_requirements``'s
    initial requirement at the post-state marks, and the trace satisfies the AIR."""
    statement, air, trace = honest
    check_all(air, trace)
    post, m = statement.post, len(statement.markets)
    marks = np.array([ms.mark_price for ms in post.market_states], dtype=np.int64)
    want = cross_requirements(post.positions, marks, DEFAULT_CONFIG).initial
    got = [sum(_initial(air, trace, j, a) for j in range(m)) for a in range(len(post.accounts))]
    assert got == [int(v) for v in want]
    assert got[0] > 0


def test_the_initial_bps_are_part_of_the_program(
    honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """Another tier's initial bps is another AIR (the verifier builds it from the
    published configuration)."""
    statement, _, _ = honest
    bps = statement.liquidation_initial_bps
    other = dataclasses.replace(statement, liquidation_initial_bps=((1_001, *bps[0][1:]), bps[1]))
    air_a, _ = build_with_layout(rows_for(statement), statement)
    air_o, _ = build_with_layout(rows_for(other), other)
    assert compile_constraints(air_a).code != compile_constraints(air_o).code


def _forged(air: Air, trace: np.ndarray, statement: BatchStatement, step: int) -> np.ndarray:
    """Account 1's BTC initial requirement (short 200 lots, not staged: no slice reads
    it) moved by ``step`` with ``δ`` moved by ``step × maintenance_bps`` (the digit
    identity still holds)."""
    j, row = 0, 1
    size = abs(int(statement.settle_witness.positions_post[row, j]))
    k_mult = statement.settle.margins[j].mark * statement.settle.markets[j].multiplier
    tier = next(t for t, (lots, _) in enumerate(statement.settle.margins[j].tiers) if size <= lots)
    mbps = statement.settle.margins[j].tiers[tier][1]
    ibps = statement.liquidation_initial_bps[j][tier]
    x = size * k_mult * mbps
    q = -(-x // BPS)
    honest_wit = initial_witness(size * k_mult, ibps, mbps, q, BPS * q - x)
    big_i = honest_wit["I"] + step
    delta = mbps * big_i - ibps * q
    rem = BPS * delta + (BPS * q - x) * ibps
    room = BPS * mbps - 1 - rem
    out = trace.copy()
    for name, value, count in (
        ("i", big_i, AMOUNT_DIGITS),
        ("delta", delta + BPS, 2),
        ("rem", rem, 3),
        ("room", room, 3),
    ):
        for k in range(count):
            digit = (value >> (12 * k)) % 4096 if k < count - 1 else value >> (12 * k)
            out[column(air, f"slice.{name}{j}[{k}]"), row] = digit % P
    return out


@pytest.mark.parametrize("step", [1, -1])
def test_an_initial_requirement_one_off_is_rejected(
    honest: tuple[BatchStatement, Air, np.ndarray], step: int
) -> None:
    """One unit more: the remainder reaches 10 000 × maintenance bps (its room goes
    negative); one unit less: the remainder goes negative. Every polynomial constraint
    still holds; only the range lookups of those digits cannot balance the bus."""
    statement, air, trace = honest
    forged = _forged(air, trace, statement, step)
    assert _initial(air, forged, 0, 1) == _initial(air, trace, 0, 1) + step
    air.check_trace(forged)  # the identities hold
    with pytest.raises(ConstraintViolation, match=r"bus: Σ = −public sum"):
        check_all(air, forged)


def test_an_initial_requirement_off_the_identity_is_rejected(
    honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """One unit more with ``δ`` left as it was: the digit identity fails."""
    _, air, trace = honest
    out = trace.copy()
    at = column(air, "slice.i0[0]")
    out[at, 1] = (int(out[at, 1]) + 1) % P
    with pytest.raises(ConstraintViolation, match=r"initial requirement \[0\] \(digit"):
        check_all(air, out)
