"""Deficit cover in the settlement AIR (statements 3 and 5): each account whose equity is
negative after penalties (outside flagged markets) receives ``min(deficit, fund)`` from a
running insurance fund, in row order, and the fund after every cover is the post-state's.

An 8 % crash leaves leveraged longs with negative equity: with a fund that covers every
deficit the batch needs no adjustments table; with a fund short of them the first
bankrupt drains it and ADL takes the rest (the table keeps only ADL). Each forgery is
refused by the prover and rejected by the AIR, naming the statement that caught it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.settlement.batch_air import settle_air
from sealbatch.settlement.batch_air.limbs import AMOUNT_DIGITS
from sealbatch.settlement.batch_air.settle_witness import (
    SettleStatement,
    SettleWitness,
    settle_inputs,
)
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.transition import BatchWitness, apply_batch
from tests.settlement.batch_air_helpers import (
    SETTLE_ROWS,
    check_settle,
    column,
    crash_inputs,
    marked_state,
    settle_trace,
)
from tests.settlement.conftest import ORACLE

Settled = tuple[SettleStatement, SettleWitness, BatchWitness]


def pre_state(equity: list[int], longs: list[int], fund: int) -> LedgerState:
    """Four accounts at the pre-crash marks: ``longs[i]`` BTC lots each (trader 1 holds the
    short against them), ``equity[i]`` each, and the insurance fund ``fund``."""
    pos = np.zeros((4, 2), dtype=np.int64)
    pos[:, 0] = longs
    pos[1, 0] = -sum(longs)
    return marked_state(equity, pos, insurance_fund=fund)


def crash_batch(pre: LedgerState) -> tuple[LedgerState, BatchWitness]:
    """The crash batch applied to ``pre``."""
    batch, rnd = crash_inputs()
    return apply_batch(pre, batch, rnd, DEFAULT_CONFIG, ORACLE)


def _settled(equity: list[int], longs: list[int], fund: int) -> Settled:
    _, w = crash_batch(pre_state(equity, longs, fund))
    st, sw = settle_inputs(w, DEFAULT_CONFIG)
    return st, sw, w


@pytest.fixture(scope="module")
def covered() -> Settled:
    """Trader 0 bankrupt (deficit 4.2·10^8), a fund of 10^9 covers it."""
    return _settled([10**8, 10**12, 10**12, 10**12], [100, 0, 0, 0], 10**9)


@pytest.fixture(scope="module")
def short() -> Settled:
    """Traders 0 and 2 bankrupt (4.2·10^8 each), a fund of 5·10^8: row 0 is covered in
    full, row 2 gets the 8·10^7 left and ADL the rest."""
    return _settled([10**8, 10**12, 10**8, 10**12], [100, 0, 100, 0], 5 * 10**8)


def _forge(sw: SettleWitness, cover: list[int]) -> SettleWitness:
    """The witness with ``cover`` paid instead, each row's collateral kept: the difference
    booked in the account's other adjustments (the operator's table)."""
    adjust = [a - (c - h) for a, c, h in zip(sw.adjust, cover, sw.cover, strict=True)]
    return replace(sw, cover=tuple(cover), adjust=tuple(adjust))


def _fund(air: Air, main: np.ndarray, row: int) -> int:
    return sum(
        int(main[column(air, f"cover.fund[{k}]"), row]) << (12 * k) for k in range(AMOUNT_DIGITS)
    )


def _set_fund(air: Air, main: np.ndarray, row: int, value: int) -> None:
    for k in range(AMOUNT_DIGITS):
        main[column(air, f"cover.fund[{k}]"), row] = (value >> (12 * k)) & 0xFFF


def test_a_covered_deficit_needs_no_adjustments_table(covered: Settled) -> None:
    """The insurance fund pays the whole deficit: proved, so the batch has no adjustments."""
    st, sw, w = covered
    ((flow),) = w.deficits
    assert flow.insurance == flow.deficit > 0 and not flow.deleveraged
    assert not st.has_adjustments and not sw.adjust_rows()
    assert sw.cover[0] == flow.deficit and st.insurance_post == st.insurance_pre - flow.deficit
    air, main = settle_trace(st, sw)
    check_settle(air, main)
    assert int(main[column(air, "cover.covered"), 0]) == 1
    assert _fund(air, main, 0) == st.insurance_pre and _fund(air, main, 1) == st.insurance_post
    assert _fund(air, main, SETTLE_ROWS - 1) == st.insurance_post


def test_a_fund_short_of_the_deficits_drains_in_row_order(short: Settled) -> None:
    """Row 0 is covered in full, row 2 gets what is left; only ADL is in the table."""
    st, sw, w = short
    assert [f.insurance for f in w.deficits] == [420_000_000, 80_000_000]
    assert st.insurance_post == 0 and st.has_adjustments
    assert {row[0] for row in sw.adjust_rows()} >= {2}
    assert sw.cover[0] == 420_000_000 and sw.cover[2] == 80_000_000
    air, main = settle_trace(st, sw)
    check_settle(air, main)
    assert [int(main[column(air, "pen.capped"), r]) for r in (0, 2)] == [0, 1]


def test_a_deficit_covered_beyond_the_fund_is_caught(short: Settled) -> None:
    """The operator pays row 2's whole deficit from the fund (less ADL from the others):
    refused, and the cover's comparison with the fund (``pen.capped`` cleared on the
    short row, so the cover is the deficit) rejects it."""
    st, sw, _ = short
    cover = list(sw.cover)
    cover[2] = 420_000_000
    with pytest.raises(ValueError, match="statement 3: deficit cover: expected a fund of"):
        settle_air.generate(st, _forge(sw, cover), SETTLE_ROWS)
    air, main = settle_trace(st, sw)
    main[column(air, "pen.capped"), 2] = 0
    with pytest.raises(ConstraintViolation, match="statement 3"):
        air.check_trace(main)


def test_a_deficit_not_covered_is_caught(covered: Settled) -> None:
    """The operator keeps the fund and leaves the bankrupt account negative: refused, and
    ``cover.covered`` (negative equity outside flagged markets) rejects it."""
    st, sw, _ = covered
    with pytest.raises(ValueError, match="statement 3: deficit cover: expected account 0"):
        settle_air.generate(st, _forge(sw, [0] * len(sw.cover)), SETTLE_ROWS)
    air, main = settle_trace(st, sw)
    main[column(air, "cover.covered"), 0] = 0
    with pytest.raises(ConstraintViolation, match="statement 3"):
        air.check_trace(main)


def test_a_deficit_covered_out_of_row_order_is_caught(short: Settled) -> None:
    """The operator covers row 2 in full first and gives row 0 what is left: refused, and
    the running fund (which only falls by each row's cover, in row order) rejects it."""
    st, sw, _ = short
    cover = list(sw.cover)
    cover[0], cover[2] = cover[2], cover[0]
    with pytest.raises(ValueError, match="statement 3: deficit cover: expected account 0"):
        settle_air.generate(st, _forge(sw, cover), SETTLE_ROWS)
    air, main = settle_trace(st, sw)
    # the fund row 2 sees as if row 0 had not been covered yet
    _set_fund(air, main, 2, _fund(air, main, 0))
    with pytest.raises(ConstraintViolation, match="statement 3"):
        air.check_trace(main)


def test_a_solvent_account_covered_is_caught(covered: Settled) -> None:
    """The operator pays a solvent account from the insurance fund: refused, and the AIR
    rejects its row (``cover.covered`` only where the equity is negative; set, the cover
    leaves the row's identities)."""
    st, sw, _ = covered
    cover = list(sw.cover)
    cover[3] = 1_000
    with pytest.raises(ValueError, match="statement 3: deficit cover: expected account 3"):
        settle_air.generate(st, _forge(sw, cover), SETTLE_ROWS)
    air, main = settle_trace(st, sw)
    main[column(air, "cover.covered"), 3] = 1
    with pytest.raises(ConstraintViolation, match="statement 3"):
        air.check_trace(main)


@pytest.mark.parametrize("delta", [-1, 1])
def test_the_funds_final_value_off_by_one_is_caught(covered: Settled, delta: int) -> None:
    """The post-state's insurance fund one unit off (the unit moved to or from the fee
    pool's revenue, conservation kept whole): the prover refuses it, and with
    the fund's running digits rewritten to end there the cover's chain or its pin to the
    post-state's fund rejects it."""
    st, sw, _ = covered
    forged = replace(st, insurance_post=st.insurance_post + delta)
    with pytest.raises(ValueError, match=r"statement [35]"):
        settle_air.generate(forged, sw, SETTLE_ROWS)
    air, main = settle_trace(st, sw)
    for row in range(1, SETTLE_ROWS):
        _set_fund(air, main, row, _fund(air, main, row) + delta)
    forged_air = settle_air.build(SETTLE_ROWS, settle_air.public_inputs(forged, sw))
    with pytest.raises(ConstraintViolation, match=r"statement [35]"):
        forged_air.check_trace(main)
    honest_air = settle_air.build(SETTLE_ROWS, settle_air.public_inputs(st, sw))
    with pytest.raises(ConstraintViolation, match=r"statement [35]"):
        honest_air.check_trace(main)
