"""The inputs digest recomputed in the batch AIR (``batch_air/inputs_digest.py``) and the
deposits and withdrawals reaching their accounts from its rows: the honest sponge equals
the public digest (the contract's layout), and a trace that credits a transfer to another
account, with another amount, drops or doubles one, or reads blocks that do not hash to
the public digest is refused by the prover and rejected by the AIR (``refuse=False``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.poseidon2 import hash_elements
from sealbatch.settlement.batch_air import inputs_digest
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.settle_witness import replay_published, settle_inputs
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.errors import BatchStatementError
from sealbatch.settlement.l1_statement import BLOCK_TAG, DEPOSIT_TAG, WITHDRAWAL_TAG
from sealbatch.settlement.ledger import AccountKey, LedgerState
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.snapshot import state_to_dict
from tests.settlement.batch_air_helpers import (
    check_all,
    refused_and_rejected,
    statement_of,
    transfer_batch_files,
)
from tests.settlement.conftest import key

_DIGEST = slice(27, 35)
#: Two deposits to trader 0 (their digits add up at position 0: 0xFFF + 0xFFF carries),
#: one to trader 1, one opening a new account; withdrawals from traders 2 and 3.
DEPOSITS = ((key(0), 0xFFF), (key(1), 123_456_789), (key(0), 0xFFF_FFF), (key(10), 10**9))
WITHDRAWALS = ((key(2), 1_000_000), (key(3), 2_000_000))


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return transfer_batch_files(DEPOSITS, WITHDRAWALS)


@pytest.fixture(scope="module")
def statement(files: dict[str, str]) -> BatchStatement:
    return statement_of(files)


def test_the_public_digest_is_the_sponge_of_tagged_block_aligned_records(
    statement: BatchStatement,
) -> None:
    blocks = statement.input_blocks
    assert all(len(b) == 8 for b in blocks)
    assert len(blocks) == inputs_digest.HEADER_BLOCKS + 2 * (len(DEPOSITS) + len(WITHDRAWALS))
    assert blocks[0][1:4] == statement.public_inputs[0:3]  # batch id limbs
    heads = blocks[inputs_digest.HEADER_BLOCKS :: 2]
    assert [h[0] for h in heads] == [DEPOSIT_TAG] * 4 + [WITHDRAWAL_TAG] * 2
    amounts = [sum(d << (12 * k) for k, d in enumerate(h[1:7])) for h in heads]
    assert amounts == [a for _, a in (*DEPOSITS, *WITHDRAWALS)]
    digest = hash_elements([v for b in blocks for v in b])
    assert tuple(int(v) for v in digest) == statement.public_inputs[_DIGEST]


def test_honest_inputs_rows_satisfy_the_air_and_sum_an_accounts_deposits(
    statement: BatchStatement,
) -> None:
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)
    _, layout = build_with_layout(rows_for(statement), statement)
    row = statement.post.row(key(0))
    # two deposits' digit 0 summed, not normalised; two address lookups
    assert int(trace[layout.column("acct", "deposit[0]"), row]) == 0xFFF + 0xFFF
    assert int(trace[layout.column("acct", "transfers"), row]) == 2


Moves = tuple[tuple[AccountKey, int], ...]


def _forged(
    files: dict[str, str],
    statement: BatchStatement,
    deposits: Moves,
    withdrawals: Moves,
) -> BatchStatement:
    """The statement of a published post-state that settles ``deposits`` and
    ``withdrawals`` instead of the published transfers (the verifier's digest stays that
    of transfers.json), with the operator's witness for exactly that post-state."""
    honest = replay_published(files, statement.pre, DEFAULT_CONFIG)
    post = statement.post
    c = post.collateral.copy()
    for moves, sign in ((DEPOSITS, -1), (WITHDRAWALS, 1), (deposits, 1), (withdrawals, -1)):
        for k, amount in moves:
            c[post.row(k)] += sign * amount
    forged_post: LedgerState = post.with_arrays(collateral=c)
    forged_files = {
        **files,
        "post_state.json": json.dumps(state_to_dict(forged_post, DEFAULT_CONFIG)),
    }
    forged = statement_of(forged_files)
    w = replace(
        honest,
        post=forged_post,
        post_root=state_root(forged_post),
        deposits=deposits,
        withdrawals=withdrawals,
    )
    _, sw = settle_inputs(w, DEFAULT_CONFIG)
    assert not any(sw.adjust)  # the forged transfers explain every account's change
    return replace(forged, settle_witness=sw)


_TRANSFERS = "inputs digest: the published transfers are not the transfers settled"


@pytest.mark.parametrize(
    ("deposits", "withdrawals"),
    [
        # trader 1's deposit credited to trader 3 (value conserved)
        (((key(0), 0xFFF), (key(3), 123_456_789), *DEPOSITS[2:]), WITHDRAWALS),
        # trader 0's deposit credited with 1 more, trader 1's with 1 less
        (((key(0), 0x1000), (key(1), 123_456_788), *DEPOSITS[2:]), WITHDRAWALS),
        # trader 0's first deposit doubled, paid for out of trader 1's
        (
            ((key(0), 0xFFF), (key(0), 0xFFF), (key(1), 123_456_789 - 0xFFF), *DEPOSITS[2:]),
            WITHDRAWALS,
        ),
        # trader 2 withdraws more than published, trader 3 less
        (DEPOSITS, ((key(2), 1_500_000), (key(3), 1_500_000))),
    ],
    ids=["another-account", "another-amount", "duplicated", "larger-withdrawal"],
)
def test_a_transfer_settled_otherwise_than_published_is_caught_by_statement_3(
    files: dict[str, str], statement: BatchStatement, deposits: Moves, withdrawals: Moves
) -> None:
    forged = _forged(files, statement, deposits, withdrawals)
    assert forged.input_blocks == statement.input_blocks  # the published digest stays
    refused_and_rejected(forged, _TRANSFERS, "bus")


def test_a_dropped_deposit_is_caught(files: dict[str, str], statement: BatchStatement) -> None:
    """Trader 1's deposit is not credited (and its amount stays out of the ledger): the
    account rows no longer receive it (and value is no longer conserved)."""
    forged = _forged(files, statement, (DEPOSITS[0], *DEPOSITS[2:]), WITHDRAWALS)
    refused_and_rejected(forged, r"inputs digest|statement", r"bus|statement 5")


def _published(
    statement: BatchStatement, change: Callable[[list[list[int]]], None]
) -> BatchStatement:
    """The statement with its inputs blocks changed and the public digest kept: the prover
    absorbs a preimage that is not that of the published transfers.json."""
    blocks = [list(b) for b in statement.input_blocks]
    change(blocks)
    return replace(statement, input_blocks=tuple(tuple(b) for b in blocks))


def test_inputs_that_do_not_hash_to_the_public_digest_are_rejected(
    statement: BatchStatement,
) -> None:
    """The prover absorbs a deposit of 1 unit more than transfers.json publishes."""

    def more(blocks: list[list[int]]) -> None:
        blocks[inputs_digest.HEADER_BLOCKS][1] += 1

    forged = _published(statement, more)
    rows = rows_for(forged)
    with pytest.raises(BatchStatementError, match="inputs digest"):
        generate(forged, rows)
    air, trace = generate(forged, rows, refuse=False)
    with pytest.raises(ConstraintViolation, match="inputs digest: output"):
        check_all(air, trace)


def test_a_deposit_passed_off_as_an_rfq_block_is_rejected_by_the_parse(
    statement: BatchStatement,
) -> None:
    """The prover marks the first deposit's two rows as the first rows of an RFQ block
    (so nothing is credited): the record's tag says deposit."""
    rows = rows_for(statement)
    air, trace = generate(statement, rows)
    _, layout = build_with_layout(rows, statement)
    head = inputs_digest.HEADER_BLOCKS
    for name, value in (("dep", 0), ("addr", 0), ("rfq", 1), ("r2", 1)):
        trace[layout.column("idig", name), head + (name in ("addr", "r2"))] = value
    with pytest.raises(ConstraintViolation, match="inputs digest"):
        check_all(air, trace)


def test_a_transfer_row_pointed_at_another_account_is_rejected(
    statement: BatchStatement,
) -> None:
    """The prover sends trader 1's deposit digits to trader 3's row: the address lookup
    names trader 1."""
    rows = rows_for(statement)
    air, trace = generate(statement, rows)
    _, layout = build_with_layout(rows, statement)
    r = inputs_digest.HEADER_BLOCKS + 2
    column = layout.column("idig", "account")
    assert int(trace[column, r]) == statement.post.row(key(1))
    trace[column, r : r + 2] = statement.post.row(key(3))
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


def test_the_section_takes_at_most_2_19_block_rows_so_digit_sums_never_wrap(
    statement: BatchStatement,
) -> None:
    """In a trace of 2^20 rows the block rows end by row 2^19: at most 2^18 transfers,
    so a digit sum stays below 2^30 < p."""
    air, _ = build_with_layout(2 * inputs_digest.MAX_ROWS, statement)
    (bound,) = [b for b in air.boundaries if b.name.endswith("block rows")]
    assert bound.row == inputs_digest.MAX_ROWS
    small, _ = build_with_layout(rows_for(statement), statement)
    assert not [b for b in small.boundaries if b.name.endswith("block rows")]


def test_the_header_rows_are_exactly_three(statement: BatchStatement) -> None:
    """A trace that calls the first deposit's head a header row (crediting nothing) is
    rejected: the header is rows 0–2."""
    rows = rows_for(statement)
    air, trace = generate(statement, rows)
    _, layout = build_with_layout(rows, statement)
    head = inputs_digest.HEADER_BLOCKS
    trace[layout.column("idig", "hdr"), head] = 1
    trace[layout.column("idig", "dep"), head] = 0
    with pytest.raises(ConstraintViolation, match="inputs digest"):
        check_all(air, trace)
    assert BLOCK_TAG not in {b[0] for b in statement.input_blocks[head:]}
    assert np.all(trace[layout.column("idig", "rfq")] == 0)


def test_a_withdrawal_of_nothing_proves_and_moves_nothing() -> None:
    """A forced withdrawal from L1 that the account could not serve is published as a
    withdrawal of nothing (the contract takes one only for a forced request): it is
    absorbed into the inputs digest, looked up on its account, and credits no digit."""
    files = transfer_batch_files(((key(0), 5_000),), ((key(2), 0), (key(3), 7)))
    statement = statement_of(files)
    heads = statement.input_blocks[inputs_digest.HEADER_BLOCKS :: 2]
    assert [h[0] for h in heads] == [DEPOSIT_TAG, WITHDRAWAL_TAG, WITHDRAWAL_TAG]
    assert heads[1][1:7] == (0,) * 6
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)
    _, layout = build_with_layout(rows_for(statement), statement)
    row = statement.post.row(key(2))
    assert int(trace[layout.column("acct", "transfers"), row]) == 1
    assert all(int(trace[layout.column("acct", f"withdrawal[{k}]"), row]) == 0 for k in range(6))
