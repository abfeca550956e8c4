"""The reveal-time margin check: orders of one account cannot lean on each other,
pending liquidation orders claim the reducible position, and overflow is refused cleanly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.errors import AuctionError
from sealbatch.auction.markets import MAX_TICKS
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.settlement.errors import InsufficientMargin, PositionLimit, ReduceOnlyViolation
from sealbatch.settlement.ledger import LedgerState, LiquidationOrder, equity
from sealbatch.settlement.margin import (
    RevealMarginCheck,
    check_carried,
    cross_requirements,
    requirements,
)
from sealbatch.settlement.params import DEFAULT_CONFIG
from tests.settlement.conftest import funded, key

MARK = 650_000  # BTC-PERP: one lot is 65 000 000 base units of notional, IM 10 %, fee 5 bps
LOT = MARK * 100


def _with(state: LedgerState, btc: int) -> LedgerState:
    ms = (replace(state.market_states[0], mark_price=MARK), *state.market_states[1:])
    pos = np.zeros_like(state.positions)
    pos[0, 0] = btc
    collateral = state.collateral.copy()
    collateral[0] -= btc * LOT  # bought at the mark
    return state.with_arrays(positions=pos, collateral=collateral, market_states=ms)


def _equity_if(state: LedgerState, fills: list[tuple[Side, int, int]]) -> tuple[int, int]:
    """Equity and initial requirement of account 0 after ``(side, price, lots)`` fills."""
    cash = int(state.collateral[0])
    pos = int(state.positions[0, 0])
    for side, price, lots in fills:
        cash -= side.sign * lots * price * 100 + -((-lots * price * 100 * 5) // 10_000)
        pos += side.sign * lots
    positions = np.array([[pos, 0]], dtype=np.int64)
    marks = np.array([MARK, 0], dtype=np.int64)
    need = int(cross_requirements(positions, marks, DEFAULT_CONFIG).initial[0])
    return cash + pos * LOT, need


def test_opposite_orders_cannot_lean_on_each_other() -> None:
    state = _with(funded([3_300_000_000]), 0)  # enough for the initial margin of 500 lots
    check = RevealMarginCheck(state, DEFAULT_CONFIG)
    check(key(0).address, Order("BTC-PERP", Side.BUY, MARK, 500))
    sell = Order("BTC-PERP", Side.SELL, MARK, 1_000)
    # were the sell taken, and only the sell filled, the account would sit below initial margin
    eq, need = _equity_if(state, [(Side.SELL, MARK, 1_000)])
    assert eq < need
    with pytest.raises(InsufficientMargin):
        check(key(0).address, sell)


def test_paper_gain_of_a_resting_limit_funds_nothing() -> None:
    state = _with(funded([10_000_000]), 0)
    check = RevealMarginCheck(state, DEFAULT_CONFIG)
    # a bid far below the mark rests unfilled; its "gain" at the mark is no collateral
    with pytest.raises(InsufficientMargin):
        check(key(0).address, Order("BTC-PERP", Side.BUY, 580_000, 100))


def test_both_sides_need_the_margin_of_the_larger_side_only() -> None:
    # a market maker quoting 100 lots each side needs the margin of 100 lots, not of 200
    im_100 = 100 * LOT // 10
    state = _with(funded([im_100 + 2 * 100 * LOT * 5 // 10_000]), 0)
    check = RevealMarginCheck(state, DEFAULT_CONFIG)
    check(key(0).address, Order("BTC-PERP", Side.BUY, MARK, 100))
    check(key(0).address, Order("BTC-PERP", Side.SELL, MARK, 100))
    with pytest.raises(InsufficientMargin):
        check(key(0).address, Order("BTC-PERP", Side.SELL, MARK, 1))


def test_a_closing_order_is_taken_below_initial_margin() -> None:
    # long 100 with equity between maintenance (325 000 000) and initial (650 000 000)
    state = _with(funded([500_000_000]), 100)
    eq = int(equity(state, DEFAULT_CONFIG)[0])
    req = requirements(state, DEFAULT_CONFIG)
    assert int(req.maintenance[0]) <= eq < int(req.initial[0])
    check = RevealMarginCheck(state, DEFAULT_CONFIG)
    check(key(0).address, Order("BTC-PERP", Side.SELL, MARK, 100))
    # ... but not an order that adds risk
    with pytest.raises(InsufficientMargin):
        check(key(0).address, Order("BTC-PERP", Side.SELL, MARK, 101))


@pytest.mark.parametrize("lots", [101, 150, 200])
def test_below_initial_margin_an_order_cannot_flip_the_position(lots: int) -> None:
    """Long 100 lots below initial margin: selling 200 keeps the requirement of 100 lots
    (the box is [-100, +100]) but would open a 100-lot short on 493 500 000 of equity, below
    its 650 000 000 initial requirement. It was taken; only closing is taken now."""
    state = _with(funded([500_000_000]), 100)
    eq, need = _equity_if(state, [(Side.SELL, MARK, lots)])
    assert eq < need or lots < 200
    check = RevealMarginCheck(state, DEFAULT_CONFIG)
    with pytest.raises(InsufficientMargin, match="through zero"):
        check(key(0).address, Order("BTC-PERP", Side.SELL, MARK, lots))
    check(key(0).address, Order("BTC-PERP", Side.SELL, MARK, 100))  # closing: taken


def test_below_initial_margin_a_short_cannot_flip_either() -> None:
    state = _with(funded([500_000_000]), -100)
    check = RevealMarginCheck(state, DEFAULT_CONFIG)
    with pytest.raises(InsufficientMargin, match="through zero"):
        check(key(0).address, Order("BTC-PERP", Side.BUY, MARK, 200))
    check(key(0).address, Order("BTC-PERP", Side.BUY, MARK, 100))


def test_a_closing_order_cannot_sell_into_bankruptcy() -> None:
    state = _with(funded([500_000_000]), 100)
    check = RevealMarginCheck(state, DEFAULT_CONFIG)
    # selling 100 lots 10 % below the mark loses 650 000 000: more than the equity
    with pytest.raises(InsufficientMargin):
        check(key(0).address, Order("BTC-PERP", Side.SELL, 585_000, 100))


def test_a_reduce_only_order_cannot_sell_into_bankruptcy() -> None:
    # long 100 with 340 000 000 of equity: selling at 585 000 (mark - 10 %) loses
    # 650 000 000; the reduce-only sell was taken (reduce-only skipped every equity check)
    state = _with(funded([340_000_000]), 100)
    check = RevealMarginCheck(state, DEFAULT_CONFIG)
    with pytest.raises(InsufficientMargin, match="reduce-only"):
        check(key(0).address, Order("BTC-PERP", Side.SELL, 585_000, 100, reduce_only=True))
    with pytest.raises(InsufficientMargin, match="reduce-only"):  # a market order alike
        check(key(0).address, Order("BTC-PERP", Side.SELL, None, 100, reduce_only=True))
    # closing at a price the equity covers is still taken (the loss stays the account's)
    check(key(0).address, Order("BTC-PERP", Side.SELL, 620_000, 100, reduce_only=True))


def test_pending_liquidation_claims_the_reducible_position() -> None:
    state = _with(funded([500_000_000]), 50)
    liq = Order("BTC-PERP", Side.SELL, 637_000, 50, reduce_only=True)
    lo = LiquidationOrder(key(0), RestingOrder(b"\x01" * 32, key(0).address, liq, 2))
    state = replace(state, pending_liquidations=(lo,))
    check = RevealMarginCheck(state, DEFAULT_CONFIG)
    # the liquidation order sells all 50 lots next batch: another reduce-only sell would flip
    with pytest.raises(ReduceOnlyViolation, match="at most 0 lots"):
        check(key(0).address, Order("BTC-PERP", Side.SELL, MARK, 50, reduce_only=True))


def test_an_order_beyond_the_position_bound_is_refused_as_a_rejection() -> None:
    """Orders that could together take a position to 2^22 lots are refused one by
    one (the proof range-checks positions below 2^22); the other side does not
    lean on them, and a rich account gains nothing by splitting."""
    check = RevealMarginCheck(funded([(1 << 62) - 1]), DEFAULT_CONFIG)
    for _ in range(4):
        check(key(0).address, Order("BTC-PERP", Side.BUY, MAX_TICKS, 1_000_000))
    check(key(0).address, Order("BTC-PERP", Side.SELL, MAX_TICKS, 1_000_000))  # the other side
    with pytest.raises(PositionLimit, match=r"at most 4194303 lots \(below 2\^22\)") as err:
        check(key(0).address, Order("BTC-PERP", Side.BUY, MAX_TICKS, 194_304))
    assert isinstance(err.value, AuctionError)  # recorded by the commit book, not a crash
    check(key(0).address, Order("BTC-PERP", Side.BUY, MAX_TICKS, 194_303))  # exactly the bound


def _gtc(n: int, side: Side, price: int, lots: int) -> RestingOrder:
    order = Order("BTC-PERP", side, price, lots, TimeInForce.GTC)
    return RestingOrder(bytes([n]) * 32, key(0).address, order, 1)


def test_carried_orders_that_lost_their_margin_are_cancelled() -> None:
    # margin for 100 lots: a resting bid for 100 stays, one for 150 is cancelled
    im_100 = 100 * LOT // 10 + 100 * LOT * 5 // 10_000
    state = _with(funded([im_100]), 0)
    assert check_carried(state, DEFAULT_CONFIG, [_gtc(1, Side.BUY, MARK, 100)]) != []
    kept = check_carried(
        state, DEFAULT_CONFIG, [_gtc(1, Side.BUY, MARK, 150), _gtc(2, Side.SELL, MARK, 80)]
    )
    assert [r.order_id[0] for r in kept] == [2]


def test_reveals_count_the_carried_orders() -> None:
    im_100 = 100 * LOT // 10 + 100 * LOT * 5 // 10_000
    state = _with(funded([im_100]), 0)
    check = RevealMarginCheck(state, DEFAULT_CONFIG, resting=[_gtc(1, Side.BUY, MARK, 100)])
    # the resting bid already uses the margin: one more lot on the same side is refused
    with pytest.raises(InsufficientMargin):
        check(key(0).address, Order("BTC-PERP", Side.BUY, MARK, 1))
    check(key(0).address, Order("BTC-PERP", Side.SELL, MARK, 100))


def test_a_market_order_is_judged_at_the_edge_of_the_price_band() -> None:
    # The last clearing price is the mark; the band is ±10 %. A market buy may fill at
    # any price up to the band's top, 8 % beyond the 2 % slippage the check assumed.
    state = _with(funded([10**12]), 0)
    ms = (replace(state.market_states[0], last_price=MARK), *state.market_states[1:])
    state = replace(state, market_states=ms)
    lots = 100
    top = MARK * 11_000 // 10_000
    # collateral that covers the fill at mark + 2 % but not at the band's top
    at_slip = lots * (MARK * 10_200 // 10_000 - MARK) * 100 + lots * LOT // 10 + 10**7
    state = state.with_arrays(collateral=np.array([at_slip], dtype=np.int64))
    eq_top, need_top = _equity_if(state, [(Side.BUY, top, lots)])
    assert eq_top < need_top  # filled at the band's top, the account is under-margined
    with pytest.raises(InsufficientMargin):
        RevealMarginCheck(state, DEFAULT_CONFIG)(
            key(0).address, Order("BTC-PERP", Side.BUY, None, lots)
        )


def test_a_market_order_is_judged_at_the_band_around_the_mark_not_the_last_print() -> None:
    # A thin print 9.5 % below the mark left the last price at 588 250; the batch clears
    # around the mark, so a market buy may still fill up to MARK + 10 %. Judged around
    # the last print (its top 647 075, below mark + 2 %) the buy was taken on the
    # collateral of a fill at mark + 2 %.
    state = _with(funded([10**12]), 0)
    ms = (replace(state.market_states[0], last_price=588_250), *state.market_states[1:])
    state = replace(state, market_states=ms)
    lots = 100
    top = MARK * 11_000 // 10_000
    at_slip = lots * (MARK * 10_200 // 10_000 - MARK) * 100 + lots * LOT // 10 + 10**7
    state = state.with_arrays(collateral=np.array([at_slip], dtype=np.int64))
    eq_top, need_top = _equity_if(state, [(Side.BUY, top, lots)])
    assert eq_top < need_top
    with pytest.raises(InsufficientMargin):
        RevealMarginCheck(state, DEFAULT_CONFIG)(
            key(0).address, Order("BTC-PERP", Side.BUY, None, lots)
        )
    # a market sell, with a print above the mark, alike
    ms = (replace(state.market_states[0], last_price=711_750), *state.market_states[1:])
    state = replace(state, market_states=ms)
    with pytest.raises(InsufficientMargin):
        RevealMarginCheck(state, DEFAULT_CONFIG)(
            key(0).address, Order("BTC-PERP", Side.SELL, None, lots)
        )


def test_headroom_counts_the_orders_taken() -> None:
    im_100 = 100 * LOT // 10 + 100 * LOT * 5 // 10_000
    state = _with(funded([im_100 + 1_000]), 0)
    check = RevealMarginCheck(state, DEFAULT_CONFIG)
    assert check.headroom(key(0).address) == im_100 + 1_000  # no order: all of it
    check(key(0).address, Order("BTC-PERP", Side.BUY, MARK, 100))
    # withdrawing more than 1 000 now would leave the bid under-margined if it filled
    assert check.headroom(key(0).address) == 1_000
    assert check.headroom(key(9).address) == 0


def test_stress_moves_round_away_from_zero_in_both_directions() -> None:
    from sealbatch.settlement.margin import stress_scenarios
    from sealbatch.settlement.params import default_config

    cfg = default_config(correlation_bps=3_333)  # 3 333 × 1 500 / 10 000 = 499.95 bps
    moves = {tuple(r) for r in stress_scenarios(cfg).tolist()}
    assert moves == {tuple(-v for v in r) for r in moves}  # up and down alike
    assert (1_500, 500) in moves and (-1_500, -500) in moves
