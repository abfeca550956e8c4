"""A block trade's margin check counts the batch's other orders, and a refused block
leaves nothing behind."""

from __future__ import annotations

import pytest

from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.clearinghouse import Clearinghouse
from sealbatch.settlement.errors import InsufficientMargin
from tests.settlement.conftest import trader

PRICE = 650_000  # 100 lots: 6 500 USDC notional, 650 USDC initial margin at 10 %


def _block(batch_id: int, buyer: Address, seller: Address, quantity: int) -> BlockTrade:
    return BlockTrade(
        block_id=bytes([batch_id]) * 32,
        market="BTC-PERP",
        buyer=buyer,
        seller=seller,
        price=PRICE,
        quantity=quantity,
        batch_id=batch_id,
    )


def _engine() -> tuple[Clearinghouse, Address, Address, Address]:
    engine = Clearinghouse(DEFAULT_MARKETS)
    buyer, seller, broke = trader(0), trader(1), trader(2)
    engine.deposit(buyer, 1_000_000_000, 0)  # 1 000 USDC: about 150 lots, not 200
    engine.deposit(seller, 10**12, 0)
    return engine, buyer, seller, broke


def test_a_block_counts_together_with_the_batchs_reveals() -> None:
    engine, buyer, seller, _ = _engine()
    assert engine.fits(1, buyer, Order("BTC-PERP", Side.BUY, PRICE, 100))  # alone: fits
    engine.reveal_check(1, buyer, Order("BTC-PERP", Side.BUY, PRICE, 100))
    with pytest.raises(InsufficientMargin):  # 100 revealed + 100 in the block
        engine.block_check(_block(1, buyer, seller, 100))


def test_a_block_for_the_next_batch_counts_together_with_this_batchs_reveals() -> None:
    """A block accepted for the batch collecting while this one reveals settles after
    it: both may fill, so one budget carries both, whichever comes first."""
    engine, buyer, seller, _ = _engine()
    engine.reveal_check(1, buyer, Order("BTC-PERP", Side.BUY, PRICE, 100))
    with pytest.raises(InsufficientMargin):  # 100 revealed in batch 1 + 100 in batch 2
        engine.block_check(_block(2, buyer, seller, 100))
    engine, buyer, seller, _ = _engine()
    engine.block_check(_block(2, buyer, seller, 100))
    with pytest.raises(InsufficientMargin):
        engine.reveal_check(1, buyer, Order("BTC-PERP", Side.BUY, PRICE, 100))


def test_a_block_accepted_before_the_reveals_counts_in_them() -> None:
    engine, buyer, seller, _ = _engine()
    engine.block_check(_block(1, buyer, seller, 100))
    with pytest.raises(InsufficientMargin):
        engine.reveal_check(1, buyer, Order("BTC-PERP", Side.BUY, PRICE, 100))


def test_a_refused_block_records_neither_side() -> None:
    engine, buyer, _, broke = _engine()
    engine.reveal_check(1, buyer, Order("BTC-PERP", Side.BUY, PRICE, 10))
    with pytest.raises(InsufficientMargin):  # the seller has no collateral
        engine.block_check(_block(1, buyer, broke, 100))
    # 10 + 130 lots fit; had the block's buy side been kept, 240 would not.
    engine.reveal_check(1, buyer, Order("BTC-PERP", Side.BUY, PRICE, 130))
