"""One program per batch shape: the settlement sections read the statement's values from the
public inputs (docs/contracts.md, "The batch verifier"), so two batches of one shape compile
to the same constraint program and one deployed verifier serves both."""

from __future__ import annotations

import dataclasses

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.expr import format_expr
from sealbatch.crypto.solidity import compile_constraints
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.settle_witness import (
    FEE_POOL_DIGITS,
    TARGET_DIGITS,
    SettleStatement,
)
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
    statement_from_files,
)
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch, reference_prices
from tests.settlement.batch_air_helpers import BTC, ETH, committed_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, oracle_round


def _two_batches() -> tuple[BatchStatement, BatchStatement]:
    """Two consecutive batches of one shape whose prices, funding, marks, roots differ."""
    state = funded([10**12] * len(TRADERS))
    out = []
    for i in range(2):
        batch = committed_batch(i + 1, [], reference_prices(state))
        rnd = oracle_round(i + 1, 1_000 * (i + 1), {BTC: 650_000 + 900 * i, ETH: 350_000 - 700 * i})
        post, _ = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
        files = BatchPublication(batch, rnd, state, post).files(DEFAULT_CONFIG, ORACLE)
        out.append(statement_from_files(files))
        state = post
    return out[0], out[1]


def _constraints(statement: BatchStatement) -> dict[str, str]:
    air, _ = build_with_layout(rows_for(statement), statement)
    out: dict[str, str] = {}
    for k, c in enumerate((*air.transitions, *air.boundaries)):
        out[f"{k} {c.name}"] = format_expr(c.expr)
    return out


def test_two_batches_of_one_shape_differ_only_where_the_headers_are_constants() -> None:
    a, b = _two_batches()
    assert rows_for(a) == rows_for(b)
    assert a.public_inputs != b.public_inputs
    assert a.settle.margins[0].mark != b.settle.margins[0].mark
    ca, cb = _constraints(a), _constraints(b)
    assert ca.keys() == cb.keys()
    differ = sorted(k for k in ca if ca[k] != cb[k])
    # the state headers are still statement constants (their hashing in the AIR removes
    # them); every other statement value is read from the public inputs
    assert all("header" in k for k in differ), differ
    if not differ:
        air_a, _ = build_with_layout(rows_for(a), a)
        air_b, _ = build_with_layout(rows_for(b), b)
        assert compile_constraints(air_a).code == compile_constraints(air_b).code


def test_the_derived_values_are_public_and_checked() -> None:
    a, _ = _two_batches()
    start = PUBLIC_HEADER + PUBLIC_PER_MARKET * len(a.markets)
    elements = a.public_inputs[start:]
    assert elements == a.settle.to_elements()
    derived = a.settle.derived_elements()
    assert elements[-len(derived) :] == derived
    ix = a.settle.derived_index(start)
    mt, mg = a.settle.markets[0], a.settle.margins[0]
    pm = mt.price * mt.multiplier
    assert a.public_inputs[ix.price_mult(0)] == pm % 4096
    assert (
        a.public_inputs[ix.margin_price(1, 0) + 1] == (mg.index_mark * mt.multiplier >> 12) % 4096
    )
    # a statement whose derived values disagree with it is refused when parsed
    parsed, used = SettleStatement.from_elements(elements)
    assert parsed == a.settle and used == len(elements)
    forged = list(elements)
    forged[-1] ^= 1
    with pytest.raises(ValueError, match="derived"):
        SettleStatement.from_elements(forged)
    moved = dataclasses.replace(a.settle, deposits=a.settle.deposits + 1)
    target = slice(-TARGET_DIGITS - FEE_POOL_DIGITS, -FEE_POOL_DIGITS)
    assert moved.derived_elements()[target] != derived[target]  # the conservation target moves
    assert moved.derived_elements()[-FEE_POOL_DIGITS:] == derived[-FEE_POOL_DIGITS:]


def _with_and_without_a_block() -> tuple[BatchStatement, BatchStatement]:
    """Two consecutive batches of one shape: the first settles the auction alone, the
    second an RFQ block beside it."""
    state = funded([10**12] * len(TRADERS))
    out = []
    for i in range(2):
        orders = [
            (TRADERS[0], Order(BTC, Side.BUY, 650_500, 4)),
            (TRADERS[1], Order(BTC, Side.SELL, 649_500, 4)),
        ]
        batch = committed_batch(i + 1, orders, reference_prices(state))
        blocks = (
            [BlockTrade(bytes(range(32)), BTC, TRADERS[2], TRADERS[3], 651_000, 6, i + 1)]
            if i
            else []
        )
        rnd = oracle_round(i + 1, 1_000 * (i + 1), {BTC: 650_000, ETH: 350_000})
        post, _ = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE, blocks=blocks)
        pub = BatchPublication(batch, rnd, state, post, blocks=tuple(blocks))
        out.append(statement_from_files(pub.files(DEFAULT_CONFIG, ORACLE)))
        state = post
    return out[0], out[1]


def test_a_batch_with_rfq_blocks_has_the_program_of_one_without() -> None:
    """RFQ blocks are rows of the inputs digest, not a part of the shape: a batch with a
    block compiles to the program of a batch without one."""
    plain, blocked = _with_and_without_a_block()
    assert any(f.block_price for f in blocked.settle_witness.fills)
    assert rows_for(plain) == rows_for(blocked)
    ca, cb = _constraints(plain), _constraints(blocked)
    assert ca.keys() == cb.keys()
    differ = sorted(k for k in ca if ca[k] != cb[k])
    assert all("header" in k for k in differ), differ


def test_a_batch_with_adjustments_has_the_program_of_one_without() -> None:
    """Whether a batch has adjustments (liquidation penalties, deficit cover,
    deleveraging) is not part of its shape: the accounts section always receives the
    adjustments table (each adjustment zero where an account has no row there), so one
    deployed verifier serves batches with and without them."""
    plain, _ = _with_and_without_a_block()
    adjusted = dataclasses.replace(
        plain, settle=dataclasses.replace(plain.settle, has_adjustments=True)
    )
    assert _constraints(plain) == _constraints(adjusted)


def test_the_oracles_price_age_is_part_of_the_program() -> None:
    """``max_price_age_ms`` decides which markets are halted (their pending orders held):
    it is a constant of the AIR, so a deployed verifier pins it and an operator who
    publishes another one in ``oracle.json`` proves for another program."""
    a, _ = _two_batches()
    other = dataclasses.replace(a, max_price_age_ms=a.max_price_age_ms + 1)
    air_a, _ = build_with_layout(rows_for(a), a)
    air_o, _ = build_with_layout(rows_for(other), other)
    assert compile_constraints(air_a).code != compile_constraints(air_o).code


def test_batches_whose_markets_trade_differently_share_the_program() -> None:
    """Which markets have orders is read from the public order counts, not written into the
    program: a batch trading both markets and one with no order in ETH, on the same ledger,
    compile to one program (one verifier serves both)."""
    from sealbatch.auction.orders import Order, Side
    from sealbatch.settlement.anchor_batch import batch_program_hash
    from tests.settlement.batch_air_helpers import small_batch_files

    t = TRADERS
    both = statement_from_files(small_batch_files())
    btc = [(t[0], Order(BTC, Side.BUY, 650_010, 3)), (t[1], Order(BTC, Side.SELL, None, 3))]
    one = statement_from_files(small_batch_files(btc))
    assert {both.order_counts[1] > 0, one.order_counts[1] > 0} == {True, False}
    assert rows_for(both) == rows_for(one)
    assert batch_program_hash(both) == batch_program_hash(one)
