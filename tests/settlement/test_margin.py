"""Margin: tiers, cross margin against a scalar reference, portfolio margin, reveal check."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.commit_reveal import (
    BatchWindows,
    Commit,
    CommitBook,
    Reveal,
    SignedCommit,
    compute_commitment,
)
from sealbatch.auction.errors import AuctionError
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import Eip712Domain, address_of
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.errors import InsufficientMargin, ReduceOnlyViolation, SettlementError
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.margin import (
    RevealMarginCheck,
    cap_reduce_only,
    cross_requirements,
    portfolio_requirements,
    requirements,
    stress_scenarios,
    tier_fractions,
)
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG, default_config
from tests.settlement.conftest import funded, key

MARKS = np.array([650_000, 350_000], dtype=np.int64)


def _with(state: LedgerState, positions: list[list[int]], marks: np.ndarray = MARKS) -> LedgerState:
    ms = tuple(
        replace(m, mark_price=int(p)) for m, p in zip(state.market_states, marks, strict=True)
    )
    return state.with_arrays(positions=np.array(positions, dtype=np.int64), market_states=ms)


def _cross_reference(pos: list[int], marks: list[int]) -> tuple[int, int]:
    im = mm = 0
    for j, (p, mark) in enumerate(zip(pos, marks, strict=True)):
        risk = DEFAULT_CONFIG.markets[j]
        tier = next(t for t in risk.tiers if abs(p) <= t.max_lots)
        n = abs(p) * mark * risk.multiplier
        im += -((-n * tier.initial_bps) // BPS)
        mm += -((-n * tier.maintenance_bps) // BPS)
    return im, mm


def test_tiers_pick_the_first_tier_that_fits() -> None:
    tiers = ((10, 100, 50), (100, 200, 100), (1 << 40, 500, 250))
    im, mm = tier_fractions(tiers, np.array([0, 10, 11, 100, 101, 10**9]))
    assert im.tolist() == [100, 100, 200, 200, 500, 500]
    assert mm.tolist() == [50, 50, 100, 100, 250, 250]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6)),
        min_size=1,
        max_size=10,
    ),
    st.integers(1, 10**6),
    st.integers(1, 10**6),
)
def test_cross_margin_matches_reference(rows: list[tuple[int, int]], m0: int, m1: int) -> None:
    pos = np.array(rows, dtype=np.int64)
    req = cross_requirements(pos, np.array([m0, m1], dtype=np.int64), DEFAULT_CONFIG)
    want = [_cross_reference(list(r), [m0, m1]) for r in rows]
    assert list(zip(req.initial.tolist(), req.maintenance.tolist(), strict=True)) == want


def test_scenarios_include_joint_and_decorrelated_moves() -> None:
    sc = stress_scenarios(DEFAULT_CONFIG).tolist()
    # shock 1 500 bps, correlation 8 000: co-move 1 200, weaker co-move 900
    assert [1500, 1500] in sc and [-1500, -1500] in sc
    assert [1500, 1200] in sc and [1500, 900] in sc and [-900, -1500] in sc
    assert len(sc) == 10  # per direction: the joint move, and two co-moves per lead


def test_portfolio_margin_rewards_a_hedge() -> None:
    # long BTC, short about the same notional of ETH
    pos = np.array([[1_000, -1_857]], dtype=np.int64)
    cross = cross_requirements(pos, MARKS, DEFAULT_CONFIG)
    port = portfolio_requirements(pos, MARKS, DEFAULT_CONFIG)
    assert int(port.initial[0]) < int(cross.initial[0]) // 2
    # the worst scenarios are the weaker co-moves:
    # BTC −15 % with ETH −9 %, or ETH +15 % with BTC +9 %
    n_btc, n_eth = 1_000 * 650_000 * 100, 1_857 * 350_000 * 100
    loss = max(n_btc * 1_500 - n_eth * 900, n_eth * 1_500 - n_btc * 900)
    worst = -((-loss) // BPS)
    assert int(port.initial[0]) == worst
    assert int(port.maintenance[0]) == -((-worst * 7_000) // BPS)


def test_portfolio_margin_has_a_floor() -> None:
    # a perfect hedge in perfectly correlated markets loses nothing in any scenario,
    # yet needs the floor: ceil(gross 40 000 × 200 / 10 000) = 800
    cfg = default_config(correlation_bps=BPS)
    pos = np.array([[2, -1]], dtype=np.int64)
    req = portfolio_requirements(pos, np.array([100, 200], dtype=np.int64), cfg)
    assert int(req.initial[0]) == 800
    assert int(req.maintenance[0]) == 560


def test_requirements_pick_mode_per_account() -> None:
    s = funded([1, 1])
    s = s.with_arrays(portfolio=np.array([False, True]))
    s = _with(s, [[1_000, -1_857], [1_000, -1_857]])
    req = requirements(s, DEFAULT_CONFIG)
    assert req.initial[1] < req.initial[0]


def test_unknown_market_is_refused() -> None:
    with pytest.raises(SettlementError, match="market"):
        DEFAULT_CONFIG.column("DOGE-PERP")


# --- the initial-margin check at reveal -------------------------------------------------------


def test_reveal_check_refuses_beyond_initial_margin() -> None:
    s = _with(funded([65_000_000]), [[0, 0]])
    check = RevealMarginCheck(s, DEFAULT_CONFIG)
    # 9 lots at 650 000: notional 585 000 000, IM 58 500 000, fee 292 500 → fits
    check(key(0).address, Order("BTC-PERP", Side.BUY, 650_000, 9))
    # the next lots count together with the 9 already taken
    with pytest.raises(InsufficientMargin, match="initial requirement"):
        check(key(0).address, Order("BTC-PERP", Side.BUY, 650_000, 2))


def test_reveal_check_uses_the_limit_price() -> None:
    s = _with(funded([65_000_000]), [[0, 0]])
    check = RevealMarginCheck(s, DEFAULT_CONFIG)
    # buying far above the mark loses (limit − mark) × lots at once
    with pytest.raises(InsufficientMargin):
        check(key(0).address, Order("BTC-PERP", Side.BUY, 710_000, 9))


def test_reduce_only_that_reduces_is_always_allowed() -> None:
    s = _with(funded([1]), [[50, 0]])
    check = RevealMarginCheck(s, DEFAULT_CONFIG)
    check(key(0).address, Order("BTC-PERP", Side.SELL, 1, 50, reduce_only=True))
    # the 50 lots are already claimed by the first reduce-only order: one more would flip
    with pytest.raises(ReduceOnlyViolation, match="at most 0 lots"):
        check(key(0).address, Order("BTC-PERP", Side.SELL, 1, 1, reduce_only=True))


@pytest.mark.parametrize(
    ("position", "side", "quantity", "allowed"),
    [
        (50, Side.SELL, 50, True),  # closes
        (50, Side.SELL, 51, False),  # would flip to short
        (50, Side.BUY, 1, False),  # would increase a long
        (-20, Side.BUY, 20, True),
        (-20, Side.SELL, 1, False),  # would increase a short
        (0, Side.SELL, 1, False),  # would open
        (0, Side.BUY, 1, False),
    ],
)
def test_reduce_only_never_opens_increases_or_flips(
    position: int, side: Side, quantity: int, allowed: bool
) -> None:
    # Ample collateral: the margin check alone would take every one of these orders.
    s = _with(funded([10**12]), [[position, 0]])
    check = RevealMarginCheck(s, DEFAULT_CONFIG)
    order = Order("BTC-PERP", side, 650_000, quantity, reduce_only=True)
    if allowed:
        check(key(0).address, order)
    else:
        with pytest.raises(ReduceOnlyViolation) as err:
            check(key(0).address, order)
        assert err.value.code == "reduce_only_increases"
        assert isinstance(err.value, AuctionError)  # the commit book records it
        # the refusal claimed nothing: a plain order of the same size still passes
        check(key(0).address, Order("BTC-PERP", side, 650_000, quantity))


def _resting(n: int, side: Side, quantity: int, reduce_only: bool = True) -> RestingOrder:
    order = Order("BTC-PERP", side, 650_000, quantity, TimeInForce.GTC, reduce_only)
    return RestingOrder(bytes([n]) * 32, key(0).address, order, 1)


def test_cap_reduce_only_shrinks_and_drops_carried_orders() -> None:
    s = _with(funded([10**12]), [[30, 0]])
    carried = [
        _resting(1, Side.SELL, 20),  # fits
        _resting(2, Side.BUY, 5, reduce_only=False),  # not reduce-only: unchanged
        _resting(3, Side.SELL, 25),  # only 10 left to reduce
        _resting(4, Side.SELL, 5),  # nothing left: dropped
        _resting(5, Side.BUY, 5),  # would increase the long: dropped
    ]
    out = cap_reduce_only(s, DEFAULT_CONFIG, carried)
    assert [(r.order_id[0], r.order.quantity) for r in out] == [(1, 20), (2, 5), (3, 10)]
    assert out[0] is carried[0] and out[1] is carried[1]
    assert out[2].order.reduce_only and out[2].order.time_in_force is TimeInForce.GTC


def test_cap_reduce_only_serves_reserved_liquidations_first() -> None:
    s = _with(funded([10**12]), [[30, 0]])
    liquidation = _resting(9, Side.SELL, 25)
    out = cap_reduce_only(s, DEFAULT_CONFIG, [_resting(1, Side.SELL, 20)], [liquidation])
    assert [(r.order_id[0], r.order.quantity) for r in out] == [(1, 5)]


def test_unknown_trader_is_refused() -> None:
    check = RevealMarginCheck(funded([1]), DEFAULT_CONFIG)
    with pytest.raises(InsufficientMargin, match="collateral"):
        check(key(9).address, Order("BTC-PERP", Side.BUY, 1, 1))


def test_insufficient_margin_is_recorded_by_the_commit_book() -> None:
    assert issubclass(InsufficientMargin, AuctionError)
    assert InsufficientMargin.code == "insufficient_margin"
    trader_key = keccak256(b"settlement test trader", (0).to_bytes(4, "big"))
    assert address_of(trader_key) == key(0).address
    s = _with(funded([1_000]), [[0, 0]])
    domain = Eip712Domain(chain_id=31337)
    book = CommitBook(
        1,
        DEFAULT_CONFIG.auction_markets,
        domain,
        keccak256(b"operator"),
        BatchWindows(0, 1_000, 2_000),
        reveal_check=RevealMarginCheck(s, DEFAULT_CONFIG),
    )
    order = Order("BTC-PERP", Side.BUY, 650_000, 5)
    salt = b"\x07" * 32
    cm = compute_commitment(order, salt, key(0).address, 1)
    book.commit(
        SignedCommit.sign(
            Commit(key(0).address, 1, "BTC-PERP", cm, 0, 0, 0, 10_000), trader_key, domain
        ),
        10,
    )
    with pytest.raises(InsufficientMargin):
        book.reveal(Reveal(cm, order, salt), 1_100)
    sealed = book.close(2_000)
    assert [r.code for r in sealed.rejections] == ["insufficient_margin"]
    assert not sealed.revealed
