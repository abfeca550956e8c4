"""A withdrawal may not take the collateral an accepted block (still to settle) needs; a
forced withdrawal from L1 is served ahead of the voluntary ones, naming its queue position."""

from __future__ import annotations

import json

import pytest

from sealbatch.settlement.collateral import apply_withdrawal
from sealbatch.settlement.errors import InsufficientCollateral, SettlementError, UnknownAccount
from sealbatch.settlement.ledger import AccountKey, deposit
from sealbatch.settlement.publication import (
    forced_requests_from_dict,
    transfers_from_dict,
    transfers_to_dict,
)
from tests.settlement.conftest import trader
from tests.settlement.test_clearinghouse_blocks import _block, _engine


def test_a_withdrawal_leaves_an_accepted_block_covered() -> None:
    engine, buyer, seller, _ = _engine()
    engine.block_check(_block(1, buyer, seller, 100))  # 650 USDC initial margin
    with pytest.raises(InsufficientCollateral):  # 900 of the buyer's 1 000 USDC
        engine.withdraw(buyer, 900_000_000, 0)
    assert engine.pending_withdrawals == []
    engine.withdraw(buyer, 100_000_000, 0)  # well within what the block leaves free
    assert len(engine.pending_withdrawals) == 1


def test_a_trader_without_pending_orders_withdraws_its_free_collateral() -> None:
    engine, buyer, seller, broke = _engine()
    engine.block_check(_block(1, buyer, seller, 100))
    engine.deposit(broke, 1_000_000_000, 0)
    engine.withdraw(broke, 1_000_000_000, 0)  # not in the block: everything is free
    assert engine.pending_withdrawals[-1][1] == 1_000_000_000


def test_a_forced_withdrawal_with_nothing_to_give_is_served_with_nothing() -> None:
    """A forced withdrawal from L1 takes min(asked, free); with nothing free it is served
    with a withdrawal of nothing (consumed, so the L1 queue moves on), and a batch applies
    it without moving collateral. An address without an account cannot be served."""
    engine, buyer, seller, broke = _engine()
    engine.block_check(_block(1, buyer, seller, 100))
    engine.deposit(broke, 1_000_000_000, 0)
    assert engine.forced_withdrawal(broke, 0, 5 * 10**9, 0) == 1_000_000_000  # all, not more
    assert engine.forced_withdrawal(broke, 0, 1, 0) == 0  # nothing left to give
    assert engine.pending_withdrawals[-2:] == [
        (AccountKey(broke, 0), 1_000_000_000),
        (AccountKey(broke, 0), 0),
    ]
    with pytest.raises(InsufficientCollateral, match="expected an account"):
        engine.forced_withdrawal(broke, 3, 1, 0)  # subaccount 3 was never opened
    assert len(engine.pending_withdrawals) == 2


def test_a_batch_applies_a_withdrawal_of_nothing_only_for_an_account() -> None:
    engine, buyer, _, _ = _engine()
    key = AccountKey(buyer, 0)
    state = deposit(engine.state, key, 1_000)
    assert apply_withdrawal(state, key, 0, engine.config) is state
    with pytest.raises(UnknownAccount):
        apply_withdrawal(state, AccountKey(buyer, 7), 0, engine.config)
    with pytest.raises(SettlementError):
        apply_withdrawal(state, key, -1, engine.config)


def test_forced_withdrawals_come_first_with_their_queue_positions() -> None:
    """The exchange contract pays the k-th forced request a batch consumes with its k-th
    withdrawal: a forced withdrawal goes ahead of the voluntary ones pending (after the
    forced ones before it), and transfers.json names each one's queue position."""
    engine, _, seller, _ = _engine()
    key = AccountKey(seller, 0)
    engine.withdraw(seller, 100, 0)  # voluntary, first in time
    assert engine.forced_withdrawal(seller, 0, 50, 0, request=4) == 50
    assert engine.forced_withdrawal(seller, 0, 70, 0, request=9) == 70
    assert engine.pending_withdrawals == [(key, 50), (key, 70), (key, 100)]
    assert engine.forced_requests == [4, 9]
    for stale in (9, 2, -1):  # not after the last one taken: refused, nothing changes
        with pytest.raises(SettlementError, match="expected an L1 queue position of at least 10"):
            engine.forced_withdrawal(seller, 0, 1, 0, request=stale)
    assert engine.forced_requests == [4, 9] and len(engine.pending_withdrawals) == 3
    doc = transfers_to_dict([], [], engine.pending_withdrawals, engine.forced_requests)
    assert [w.get("request") for w in doc["withdrawals"]] == [4, 9, None]
    assert forced_requests_from_dict(json.loads(json.dumps(doc))) == (4, 9)
    assert transfers_from_dict(doc)[2] == tuple(engine.pending_withdrawals)


@pytest.mark.parametrize(
    ("requests", "error"),
    [
        ([None, 3], "expected forced withdrawals first"),
        ([5, 5], "at least 6, got 5"),
        ([-1, None], "at least 0, got -1"),
        (["1", None], "expected an integer"),
    ],
)
def test_transfers_with_forced_requests_out_of_order_are_refused(
    requests: list[object], error: str
) -> None:
    key = AccountKey(trader(0), 0)
    doc = transfers_to_dict([], [], [(key, 1), (key, 2)])
    for entry, request in zip(doc["withdrawals"], requests, strict=True):
        if request is not None:
            entry["request"] = request
    with pytest.raises(SettlementError, match=error):
        forced_requests_from_dict(doc)
