"""The batch AIR's clearing section: the honest trace holds, and each forgery is caught
by the statement named in the test (refused by the prover, or rejected by the AIR)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.framework import Layout
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.errors import BatchStatementError
from tests.settlement.batch_air_helpers import check_all, small_batch_files, statement_of


@pytest.fixture(scope="module")
def statement() -> BatchStatement:
    return statement_of(small_batch_files())


def _with_orders(statement: BatchStatement, **changes_by_index: dict[str, int]) -> BatchStatement:
    orders = list(statement.orders)
    for i, changes in changes_by_index.items():
        orders[int(i.removeprefix("o"))] = replace(orders[int(i.removeprefix("o"))], **changes)
    return replace(statement, orders=tuple(orders))


def test_honest_trace_satisfies_every_constraint(statement: BatchStatement) -> None:
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)
    assert air.num_rows == 4096
    assert sum(statement.order_counts) == len(statement.orders) == 9


def _book(layout: Layout, name: str) -> int:
    return layout.column("book", name)


# ---- S1: uniform price


def test_non_uniform_fill_price_is_rejected_by_s1_uniform_price(statement: BatchStatement) -> None:
    """A published fill at another price than its market's: the fill tuple the AIR sends
    carries the market's public price, so the bus does not balance."""
    forged = _with_orders(statement, o0={"fill_price": statement.prices[0] + 1})
    air, trace = generate(forged, rows_for(forged))
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


def test_row_price_other_than_the_public_one_is_rejected_by_s1_uniform_price(
    statement: BatchStatement,
) -> None:
    """The prover writes another price into a row (and its limit distance): the market
    table lookup (TAG_MARKET, the public price) fails."""
    air, layout = build_with_layout(rows_for(statement), statement)
    _, trace = generate(statement, rows_for(statement))
    trace = trace.copy()
    trace[_book(layout, "price"), 0] += 1
    trace[_book(layout, "dlim"), 0] -= 1
    check = layout.range_checks[[c.name for c in layout.range_checks].index("limit_slack")]
    trace[check.limbs[0], 0] -= 1
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


# ---- S1: limit and quantity


def test_fill_beyond_its_limit_is_refused_by_s1_limit(statement: BatchStatement) -> None:
    # order 0 buys at most 650 010 and fills at 650 000: lower its limit below the price
    forged = _with_orders(statement, o0={"limit": statement.prices[0] - 1})
    with pytest.raises(BatchStatementError, match="S1 limit"):
        generate(forged, rows_for(forged))


def test_fill_beyond_its_limit_with_forged_limbs_is_rejected_by_the_range_check(
    statement: BatchStatement,
) -> None:
    """The AIR side of the same forgery: the negative distance written as limbs that
    sum to it in the field needs a limb of 2^12 or more, which the range table refuses."""
    air, layout = build_with_layout(rows_for(statement), statement)
    _, trace = generate(statement, rows_for(statement))
    trace = trace.copy()
    limit, dlim = _book(layout, "limit"), _book(layout, "dlim")
    price = int(trace[_book(layout, "price"), 0])
    trace[limit, 0] = price - 1  # a buy: distance −1
    trace[dlim, 0] = P - 1
    check = layout.range_checks[[c.name for c in layout.range_checks].index("limit_slack")]
    l0, l1, l2 = check.limbs
    # p − 1 = l0 + 2^12·l1 + 2^24·l2 with l0, l1 < 2^12: l2 = (p − 1) >> 24 = 120 ≥ 2^6
    trace[l0, 0], trace[l1, 0], trace[l2, 0] = 0, 0, (P - 1) >> 24
    air.check_trace(trace)  # the row's own constraints hold...
    with pytest.raises(ConstraintViolation, match="bus"):  # ...the top limb's lookup does not
        check_all(air, trace)


def test_fill_beyond_its_quantity_is_refused_by_s1_quantity(statement: BatchStatement) -> None:
    # order 6 (ETH market buy, 2 lots) fills 3; order 8 sells one more to stay balanced
    forged = _with_orders(statement, o6={"fill": 3}, o8={"fill": 2})
    with pytest.raises(BatchStatementError, match="S1 quantity"):
        generate(forged, rows_for(forged))


# ---- S2: bought = sold


def test_bought_not_sold_is_refused_by_s2(statement: BatchStatement) -> None:
    forged = _with_orders(statement, o5={"fill": 1, "fill_price": statement.prices[0]})
    with pytest.raises(BatchStatementError, match="S2 bought = sold"):
        generate(forged, rows_for(forged))


def test_bought_not_sold_is_rejected_by_the_air_s2(statement: BatchStatement) -> None:
    """The prover skips its own refusal: the AIR's running sum names S2."""
    # the unfilled BTC sell (limit 650 050 above the price) would need the limit too, so
    # take a filled sell one lot lower instead: order 3 sells 6 of 7
    forged = _with_orders(statement, o3={"fill": 6})
    air, trace = generate(forged, rows_for(forged), refuse=False)
    with pytest.raises(ConstraintViolation, match="S2 bought = sold"):
        air.check_trace(trace)


# ---- the rows are the published orders


def test_an_order_left_out_is_rejected_by_the_published_order_table(
    statement: BatchStatement,
) -> None:
    """The trace drops the unfilled BTC sell: the verifier's order table still holds it."""
    fewer = replace(statement, orders=statement.orders[:5] + statement.orders[6:])
    air = build_with_layout(rows_for(statement), statement)[0]
    _, trace = generate(fewer, rows_for(fewer))
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)
