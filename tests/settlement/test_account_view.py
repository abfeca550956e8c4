"""The account view's liquidation price: exact integers, the first price (up for a
long, down for a short) at which the account is still at or above maintenance."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.account_view import account_view, liquidation_price
from sealbatch.settlement.ledger import LedgerState, equity
from sealbatch.settlement.margin import requirements
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.transition import apply_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, key, make_batch, oracle_round

PRICES = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}


def _levered(lots: int, collateral: int) -> LedgerState:
    """Trader 0 holds ``lots`` BTC (negative: short) against ``collateral``."""
    state = funded([collateral, 10**13])
    mine, theirs = (Side.BUY, Side.SELL) if lots > 0 else (Side.SELL, Side.BUY)
    batch = make_batch(
        1,
        [
            (TRADERS[0], Order("BTC-PERP", mine, 650_000, abs(lots))),
            (TRADERS[1], Order("BTC-PERP", theirs, 650_000, abs(lots))),
        ],
    )
    post, _ = apply_batch(state, batch, oracle_round(1, 1_000, PRICES), DEFAULT_CONFIG, ORACLE)
    return post


def _at_mark(state: LedgerState, price: int) -> tuple[int, int]:
    """Equity and maintenance of trader 0 with BTC marked at ``price``."""
    ms = list(state.market_states)
    ms[0] = replace(ms[0], mark_price=price)
    moved = replace(state, market_states=tuple(ms))
    row = moved.row(key(0))
    return int(equity(moved, DEFAULT_CONFIG)[row]), int(
        requirements(moved, DEFAULT_CONFIG).maintenance[row]
    )


@pytest.mark.parametrize("lots", [100, -100, 37, -3])
def test_liquidation_price_is_the_exact_integer_edge(lots: int) -> None:
    state = _levered(lots, 1_000_000_000)
    row = state.row(key(0))
    eq, maint = _at_mark(state, int(state.mark_prices()[0]))
    price = liquidation_price(state, DEFAULT_CONFIG, row, 0, eq, maint)
    assert isinstance(price, int)
    e, m = _at_mark(state, price)
    assert e >= m  # safe at the price itself
    assert int(state.positions[row, 0]) == lots
    step = -1 if lots > 0 else 1
    e, m = _at_mark(state, price + step)
    assert e < m  # one tick further the account is below maintenance


def test_an_account_without_positions_has_no_liquidation_price() -> None:
    state = funded([10**9])
    view = account_view(state, DEFAULT_CONFIG, key(0), 0, 0)
    assert view.exists and view.liquidation_prices == {"BTC-PERP": None, "ETH-PERP": None}


def test_an_unknown_account_shows_zeros_and_no_root() -> None:
    view = account_view(funded([10**9]), DEFAULT_CONFIG, key(5), 7, 0)
    assert not view.exists and view.pending_deposits == 7 and view.collateral == 0
    assert set(view.to_dict()) == {
        "exists",
        "collateral",
        "pending_deposits",
        "pending_withdrawals",
        "positions",
        "equity",
        "initial_margin",
        "maintenance_margin",
        "liquidation_prices",
    }
