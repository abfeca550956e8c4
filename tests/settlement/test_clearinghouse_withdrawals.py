"""A withdrawal may not take the collateral an accepted block (still to settle) needs."""

from __future__ import annotations

import pytest

from sealbatch.settlement.errors import InsufficientCollateral
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
