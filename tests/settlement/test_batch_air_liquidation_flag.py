"""The liquidation flag of a fill in the batch AIR: a book row is a liquidation order
exactly when it is carried in from a pre-state pending liquidation record (its kind, which
the pre-state root binds), and the flag travels with its fill through the outputs digest's
fill row to the settlement's fill row. Each forgery is refused by the prover and rejected
by the AIR (``refuse=False``), naming the statement that caught it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.settlement.batch_air.air import rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.errors import BatchStatementError
from sealbatch.settlement.publication import BatchPublication
from sealbatch.venue.demo import DemoConfig, demo_oracle, demo_settlement_config, run_demo
from tests.settlement.batch_air_helpers import check_all, statement_of


@pytest.fixture(scope="module")
def carried() -> BatchStatement:
    """The demo's fourth batch: it carries in the liquidation order the third staged,
    beside GTC rests, and the liquidation order fills."""
    config = DemoConfig()
    settle, (oracle, _) = demo_settlement_config(config), demo_oracle(config.seed)
    b = list(run_demo(config))[3]
    st = statement_of(
        BatchPublication(b.result, b.oracle_round, b.pre_state, b.post_state).files(settle, oracle)
    )
    liq = [o for o in st.orders if o.liquidation]
    assert liq and all(not o.revealed for o in liq) and any(o.fill for o in liq)
    assert any(not o.revealed and not o.liquidation for o in st.orders)
    return st


@pytest.fixture(scope="module")
def honest(carried: BatchStatement) -> tuple[Air, np.ndarray]:
    air, trace = generate(carried, rows_for(carried))
    return air, trace


def _col(air: Air, name: str) -> int:
    return air.column_names.index(name)


def _with_order(st: BatchStatement, pick: object, **change: int) -> BatchStatement:
    orders = list(st.orders)
    i = next(i for i, o in enumerate(orders) if pick(o))  # type: ignore[operator]
    orders[i] = replace(orders[i], **change)
    return replace(st, orders=tuple(orders))


def test_a_liquidation_fill_reaches_settlement_flagged(
    carried: BatchStatement, honest: tuple[Air, np.ndarray]
) -> None:
    """The honest trace: every fill of a liquidation order, and no other, is flagged on
    its book row, its outputs-digest fill row and its settlement fill row."""
    air, trace = honest
    check_all(air, trace)
    liq_fills = sum(1 for o in carried.orders if o.liquidation and o.fill)
    settled = sum(1 for f in carried.settle_witness.fills if f.liquidation)
    assert liq_fills == settled > 0
    book = trace[_col(air, "book.liq")] * (trace[_col(air, "book.fill")] > 0)
    assert int(book.sum()) == liq_fills
    assert int(trace[_col(air, "odig.liq")].sum()) == liq_fills
    assert int(trace[_col(air, "fill.liq")].sum()) == liq_fills


def test_a_gtc_rest_claimed_a_liquidation_order_is_caught(carried: BatchStatement) -> None:
    """The operator flags a carried GTC rest as a liquidation order (to charge its trader
    a penalty): its pre-state record's kind is 0, so no record receives the book row."""
    forged = _with_order(carried, lambda o: not o.revealed and not o.liquidation, liquidation=1)
    rows = rows_for(forged)
    with pytest.raises(BatchStatementError, match="carried"):
        generate(forged, rows)
    air, trace = generate(forged, rows, refuse=False)
    air.check_trace(trace)  # every row constraint holds: only the carried tuple breaks
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


def test_a_liquidation_order_claimed_a_plain_rest_is_caught(carried: BatchStatement) -> None:
    """The operator drops the flag of a carried liquidation order (to spare its trader the
    penalty): the record's kind 1 is not the book row's."""
    forged = _with_order(carried, lambda o: o.liquidation, liquidation=0)
    rows = rows_for(forged)
    with pytest.raises(BatchStatementError, match="carried"):
        generate(forged, rows)
    air, trace = generate(forged, rows, refuse=False)
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


def test_a_revealed_order_claimed_a_liquidation_order_is_caught(
    carried: BatchStatement,
) -> None:
    """A revealed order is never a liquidation order (it is not carried in)."""
    forged = _with_order(carried, lambda o: o.revealed and o.fill, liquidation=1)
    rows = rows_for(forged)
    with pytest.raises(BatchStatementError, match="liquidation: only an order carried in"):
        generate(forged, rows)
    air, trace = generate(forged, rows, refuse=False)
    with pytest.raises(ConstraintViolation, match="liquidation: only an order carried in"):
        air.check_trace(trace)


@pytest.mark.parametrize(
    ("column", "caught"),
    [("odig.liq", "bus"), ("fill.liq", "statement 3: liquidation penalty rounded up")],
)
def test_a_fill_flag_changed_on_its_way_to_settlement_is_caught(
    honest: tuple[Air, np.ndarray], column: str, caught: str
) -> None:
    """The flag dropped on the outputs digest's fill row (the fill tuples no longer
    balance on the bus), or on the settlement fill row (its penalty is no longer owed:
    the penalty identity fails before the bus does)."""
    air, honest_trace = honest
    c = _col(air, column)
    r = int(np.flatnonzero(honest_trace[c])[0])
    trace = honest_trace.copy()
    trace[c, r] = 0
    with pytest.raises(ConstraintViolation, match=caught):
        check_all(air, trace)
