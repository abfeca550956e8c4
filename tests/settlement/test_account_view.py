"""The account view's liquidation price: exact integers, the first price (up for a
long, down for a short) at which the account is still at or above maintenance."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
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


def _at_index(state: LedgerState, price: int) -> tuple[int, int, bool]:
    """Equity and maintenance of trader 0 at the indexes with BTC's index at ``price``,
    and whether a batch that leaves the state so stages it for liquidation."""
    ms = list(state.market_states)
    ms[0] = replace(ms[0], index_price=price)
    moved = replace(state, market_states=tuple(ms))
    index = np.array([m.index_price or m.mark_price for m in moved.market_states], np.int64)
    row = moved.row(key(0))
    eq = int(equity(moved, DEFAULT_CONFIG, index)[row])
    need = int(requirements(moved, DEFAULT_CONFIG, index).maintenance[row])
    return eq, need, eq < need


@pytest.mark.parametrize("lots", [100, -100])
def test_the_views_liquidation_price_is_the_index_the_account_is_liquidated_at(
    lots: int,
) -> None:
    """Trader 0 also holds 100 ETH, whose mark is 0.5 % above its index: the view's BTC
    liquidation price is the index at which the account falls below maintenance at the
    indexes — the liquidation test —, not the edge with ETH held at its mark."""
    state = _levered(lots, 1_000_000_000)
    positions = state.positions.copy()
    positions[state.row(key(0)), 1], positions[state.row(key(1)), 1] = 100, -100
    ms = list(state.market_states)
    ms[1] = replace(ms[1], mark_price=ms[1].index_price * 201 // 200)
    state = replace(state, positions=positions, market_states=tuple(ms))
    price = account_view(state, DEFAULT_CONFIG, key(0), 0, 0).liquidation_prices["BTC-PERP"]
    assert isinstance(price, int)
    assert not _at_index(state, price)[2]  # safe at the price itself
    assert _at_index(state, price - (1 if lots > 0 else -1))[2]  # liquidated one tick on
    eq, maint = _at_mark(state, int(state.mark_prices()[0]))
    at_marks = liquidation_price(state, DEFAULT_CONFIG, state.row(key(0)), 0, eq, maint)
    assert isinstance(at_marks, int) and abs(price - at_marks) > 1_000


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
