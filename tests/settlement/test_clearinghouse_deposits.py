"""A deposit counts in the reveal margin check at once, even in a batch already revealing."""

from __future__ import annotations

from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.clearinghouse import Clearinghouse
from tests.settlement.conftest import trader

PRICE = 650_000  # 100 lots: 650 USDC initial margin at 10 %


def test_a_deposit_during_the_reveal_window_counts_for_the_next_reveal() -> None:
    engine = Clearinghouse(DEFAULT_MARKETS)
    early, late = trader(0), trader(1)
    engine.deposit(early, 10**12, 0)
    engine.deposit(late, 1_000_000, 0)  # 1 USDC: not enough for 100 lots
    engine.reveal_check(1, early, Order("BTC-PERP", Side.SELL, PRICE, 1))  # batch 1 reveals
    engine.deposit(late, 10_000_000_000, 0)  # 10 000 USDC, in batch 1's reveal window
    engine.reveal_check(1, late, Order("BTC-PERP", Side.BUY, PRICE, 100))  # must fit now
