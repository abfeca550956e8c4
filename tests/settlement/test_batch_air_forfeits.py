"""The forfeits' charges in the batch AIR (``batch_air/digests.py``, ``_declare_charges``):
each forfeit's third outputs-digest row proves its charge ``max(bond, forfeit_bond)`` (or
0, waived) and sends it to its trader's account as withdrawal digits. An operator who
charges another account, another amount, nothing, twice, or who changes the record, is
refused by the prover and rejected by the AIR (``refuse=False``), naming the statement."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import ConstraintViolation
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.ledger import AccountKey, deposit, empty_state
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch, reference_prices
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    check_all,
    committed_batch,
    refused_and_rejected,
    small_batch_files,
    statement_of,
)
from tests.settlement.conftest import ORACLE, TRADERS, oracle_round

#: what rejects a forged charge: the charge's own constraints (statement 3, on the
#: forfeit's row), the collateral identity, or the bus (the account row's withdrawal
#: digit sums and address lookups no longer match what the forfeit rows send)
_REJECTED = r"statement 3|odig: (charge|fdiff)|bus"


@pytest.fixture(scope="module")
def statement() -> BatchStatement:
    return statement_of(small_batch_files(forfeit_at=(1,)))


def _third_row(statement: BatchStatement, i: int = 0) -> int:
    return 1 + 2 * statement.output_fills + 3 * i + 2


def _refused_and_rejected(forged: BatchStatement, refused: str = "statement 3") -> None:
    refused_and_rejected(forged, refused, _REJECTED, ValueError)


def test_the_honest_charge_reaches_its_traders_account(statement: BatchStatement) -> None:
    """The forfeit charges its trader max(bond, forfeit_bond), as the transition did, and
    the honest trace satisfies the AIR."""
    ((account, charge),) = statement.forfeit_charges
    assert charge > 0 and statement.settle_witness.forfeits[account] == charge
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)
    _, layout = build_with_layout(rows_for(statement), statement)
    r = _third_row(statement)
    assert int(trace[layout.column("odig", "forfeit_account"), r]) == account
    assert int(trace[layout.column("odig", "waived"), r]) == 0


def test_a_charge_moved_to_another_account_is_caught_by_statement_3(
    statement: BatchStatement,
) -> None:
    """The forfeit's row names another account: that account's row neither has the
    trader's address nor expects the charge among its withdrawals."""
    ((account, charge),) = statement.forfeit_charges
    other = (account + 1) % len(statement.settle_witness.subaccount)
    _refused_and_rejected(replace(statement, forfeit_charges=((other, charge),)))


@pytest.mark.parametrize("delta", [-1, 1])
def test_another_amount_is_caught_by_statement_3(statement: BatchStatement, delta: int) -> None:
    """A charge one unit below or above max(bond, forfeit_bond) (the insurance fund's take
    shaved or padded) is not the row's charge."""
    ((account, charge),) = statement.forfeit_charges
    _refused_and_rejected(replace(statement, forfeit_charges=((account, charge + delta),)))


def test_a_charge_left_out_is_caught_by_statement_3(statement: BatchStatement) -> None:
    """The forfeit row claims nothing was charged (waived) while the account's published
    withdrawals include the charge: the account row expects digits no row sends."""
    ((account, _),) = statement.forfeit_charges
    _refused_and_rejected(replace(statement, forfeit_charges=((account, 0),)))


def test_a_charge_taken_twice_is_caught_by_statement_3(statement: BatchStatement) -> None:
    """The account row takes the forfeit's digits twice (one more address lookup, its
    withdrawal digit sums doubled): only one forfeit row sends them."""
    rows = rows_for(statement)
    air, layout = build_with_layout(rows, statement)
    _, trace = generate(statement, rows)
    ((account, charge),) = statement.forfeit_charges
    trace[layout.column("acct", "transfers"), account] += np.uint64(1)
    for k in range(3):
        digit = (charge >> (12 * k)) & 0xFFF
        trace[layout.column("acct", f"withdrawal[{k}]"), account] += np.uint64(digit)
    with pytest.raises(ConstraintViolation, match=_REJECTED):
        check_all(air, trace)


def test_a_charge_of_the_smaller_amount_is_caught_by_statement_3(
    statement: BatchStatement,
) -> None:
    """The row claims bond < forfeit_bond (charging the smaller one): the distance it
    range-checks is then negative, i.e. not below 2^30."""
    rows = rows_for(statement)
    air, layout = build_with_layout(rows, statement)
    _, trace = generate(statement, rows)
    r = _third_row(statement)
    hi = layout.column("odig", "forfeit_hi")
    trace[hi, r] = np.uint64(1) - trace[hi, r]
    with pytest.raises(ConstraintViolation, match=_REJECTED):
        check_all(air, trace)


def test_a_records_market_changed_misses_the_public_digest(statement: BatchStatement) -> None:
    """The record's market code (third block, last element) is bound by the outputs digest:
    a record naming another market (say, a halted one) hashes to another digest; and it
    is the one the forfeit's leaf binds (tests/settlement/test_batch_air_forfeit_market.py
    relabels a forfeit in every published file), so the tree's bus breaks too."""
    blocks = list(statement.output_blocks)
    r = _third_row(statement)  # block r is absorbed on row r
    blocks[r] = (*blocks[r][:7], blocks[r][7] + 1)
    forged = replace(statement, output_blocks=tuple(blocks))
    rows = rows_for(forged)
    with pytest.raises(ValueError, match="S8 completeness: the published forfeits"):
        generate(forged, rows)
    air, trace = generate(forged, rows, refuse=False)
    with pytest.raises(ConstraintViolation, match=r"outputs digest: output|bus"):
        check_all(air, trace)


def test_an_account_opened_in_the_batch_is_charged_and_proved() -> None:
    """A deposit opens the trader's account in the batch, before the forfeits are taken
    (the transition charges a forfeit of an account that exists after the deposits): the
    statement charges it too, and the honest trace proves it."""
    state = empty_state(DEFAULT_CONFIG)
    for i in range(1, 6):
        state = deposit(state, AccountKey(TRADERS[i], 0), 10**12)
    orders = [
        (TRADERS[2], Order(BTC, Side.BUY, 650_010, 5)),
        (TRADERS[3], Order(BTC, Side.SELL, 649_990, 5)),
    ]
    opening = ((AccountKey(TRADERS[0], 0), 10**12),)
    batch = committed_batch(1, orders, reference_prices(state), forfeit_at=(1,))
    rnd = oracle_round(1, 1_000, {BTC: 650_000, ETH: 350_000})
    post, w = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE, deposits=opening)
    ((key, amount),) = w.forfeits
    assert key == opening[0][0] and amount == max(1000, DEFAULT_CONFIG.forfeit_bond)
    st = statement_of(
        BatchPublication(batch, rnd, state, post, opening).files(DEFAULT_CONFIG, ORACLE)
    )
    ((account, charge),) = st.forfeit_charges
    assert charge == amount and account >= len(st.pre.accounts)
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
