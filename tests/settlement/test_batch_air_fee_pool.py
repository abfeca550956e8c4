"""The fee pool and the insurance fund apart (statement 5): the fee pool moves by exactly
the batch's fees, so conservation (Σ collateral + fee pool + insurance fund) pins the
insurance fund. The batch is the demo's fourth: its fills pay fees, and a liquidation
penalty and a forfeited bond go to the insurance fund. Each forgery keeps conservation
whole (the operator only moves money between the two pools), is refused by the prover
and rejected by the AIR, naming the statement that caught it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.settlement.batch_air import settle_air
from sealbatch.settlement.batch_air.pools import UNCHECKED_ROWS
from sealbatch.settlement.batch_air.settle_witness import (
    FEE_POOL_DIGITS,
    SettleStatement,
    SettleWitness,
    settle_inputs,
)
from sealbatch.settlement.transition import apply_batch
from sealbatch.venue.demo import DemoConfig, demo_oracle, demo_settlement_config, run_demo
from tests.settlement.batch_air_helpers import SETTLE_CHALLENGES, SETTLE_ROWS, column, settle_trace


@pytest.fixture(scope="module")
def settled() -> tuple[SettleStatement, SettleWitness]:
    config = DemoConfig()
    settle, (oracle, _) = demo_settlement_config(config), demo_oracle(config.seed)
    b = list(run_demo(config))[3]
    _, w = apply_batch(b.pre_state, b.result, b.oracle_round, settle, oracle)
    return settle_inputs(w, settle)


def _air(st: SettleStatement, sw: SettleWitness) -> Air:
    return settle_air.build(SETTLE_ROWS, settle_air.public_inputs(st, sw))


def _total(air: Air, main: np.ndarray, row: int) -> int:
    return sum(
        int(main[column(air, f"fill.fee_total[{k}]"), row]) << (12 * k)
        for k in range(FEE_POOL_DIGITS)
    )


def _moved(st: SettleStatement, amount: int) -> SettleStatement:
    """``amount`` booked in the fee pool instead of the insurance fund (negative: back)."""
    return replace(
        st, fee_pool_post=st.fee_pool_post + amount, insurance_post=st.insurance_post - amount
    )


def test_the_honest_fee_total_is_the_fee_pools_change(
    settled: tuple[SettleStatement, SettleWitness],
) -> None:
    """The running total ends at Σ fees = Δ fee pool; the batch moves the insurance fund
    too (a penalty and a forfeit), so the two pools are told apart."""
    st, sw = settled
    fees = sum(f.fee for f in sw.fills)
    assert fees > 0 and st.fee_pool_post - st.fee_pool_pre == fees
    assert st.insurance_post > st.insurance_pre
    air, main = settle_trace(st, sw)
    air.check_trace(main)
    challenges = air.challenge_values(SETTLE_CHALLENGES)
    air.check_trace(main, air.build_aux(main, challenges), challenges)
    first_fee = sum(
        int(main[column(air, f"fill.fee[{k}]"), 0]) << (12 * k) for k in range(FEE_POOL_DIGITS)
    )
    assert first_fee > 0 and _total(air, main, 0) == first_fee
    assert _total(air, main, SETTLE_ROWS - 1) == fees
    assert SETTLE_ROWS <= UNCHECKED_ROWS


@pytest.mark.parametrize("direction", [1, -1], ids=["to_fee_pool", "to_insurance"])
def test_money_moved_between_the_pools_is_caught(
    settled: tuple[SettleStatement, SettleWitness], direction: int
) -> None:
    """The operator books the liquidation penalty and the forfeit (the insurance fund's
    gain) as fee revenue, or a fee in the insurance fund: conservation still holds (the
    target is unchanged), but the prover refuses and the fee pool's boundary rejects it."""
    st, sw = settled
    amount = direction * (
        st.insurance_post - st.insurance_pre if direction > 0 else sw.fills[0].fee
    )
    forged = _moved(st, amount)
    assert forged.net_collateral_change == st.net_collateral_change
    with pytest.raises(ValueError, match="statement 5: expected the fee pool to move by"):
        settle_air.generate(forged, sw, SETTLE_ROWS)
    _, main = settle_trace(st, sw)
    with pytest.raises(ConstraintViolation, match="statement 5: the fee pool moves by the fees"):
        _air(forged, sw).check_trace(main)


def test_a_fee_left_out_of_the_pool_is_caught(
    settled: tuple[SettleStatement, SettleWitness],
) -> None:
    """The operator charges a fill's fee but keeps it out of the fee pool's total (the
    running total skips it, the pool's change is one fee short, the insurance fund takes
    it): the running total's carries stop being bits where it skips the fee."""
    st, sw = settled
    forged = _moved(st, -sw.fills[-1].fee)
    air, main = settle_trace(st, sw)
    fills = int(main[column(air, "fill.on")].sum())
    skip = fills - 1  # the last fill row's fee is left out of the total from there on
    fee = sum(
        int(main[column(air, f"fill.fee[{k}]"), skip]) << (12 * k) for k in range(FEE_POOL_DIGITS)
    )
    assert fee > 0
    for row in range(skip, SETTLE_ROWS):
        value = _total(air, main, row) - fee
        for k in range(FEE_POOL_DIGITS):
            main[column(air, f"fill.fee_total[{k}]"), row] = (value >> (12 * k)) & 0xFFF
    with pytest.raises(ConstraintViolation, match="statement 5: the fee total's"):
        _air(forged, sw).check_trace(main)


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_fee_pool_off_by_one_is_caught(
    settled: tuple[SettleStatement, SettleWitness], delta: int
) -> None:
    """A fee pool one unit off, the unit taken from or given to the insurance fund, with
    the running total written to end there: refused, and rejected on the last fill row's
    step or the last row's boundary."""
    st, sw = settled
    forged = _moved(st, delta)
    with pytest.raises(ValueError, match="statement 5"):
        settle_air.generate(forged, sw, SETTLE_ROWS)
    air, main = settle_trace(st, sw)
    for k in range(FEE_POOL_DIGITS):  # the last row alone ends at the forged change
        value = _total(air, main, SETTLE_ROWS - 1) + delta
        main[column(air, f"fill.fee_total[{k}]"), SETTLE_ROWS - 1] = (value >> (12 * k)) & 0xFFF
    with pytest.raises(ConstraintViolation, match="statement 5: the fee total's"):
        _air(forged, sw).check_trace(main)


def test_a_fee_pool_that_shrinks_is_not_a_statement(
    settled: tuple[SettleStatement, SettleWitness],
) -> None:
    """Fees are never negative: a statement whose fee pool shrinks has no derived digits
    (the verifier and the contract refuse it before any proof is checked)."""
    st, _ = settled
    shrunk = replace(st, fee_pool_post=st.fee_pool_pre - 1)
    with pytest.raises(ValueError, match="expected a derived constant"):
        shrunk.derived_elements()
