"""The arithmetic of apply_batch: fills, funding and forfeits are exact or refused
with a clear error, never wrapped by int64."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.markets import MAX_TICKS
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.settlement.errors import (
    InsufficientMargin,
    InvariantViolation,
    MarketFlagged,
    ReduceOnlyViolation,
    SettlementError,
)
from sealbatch.settlement.funding import funding_payments
from sealbatch.settlement.ledger import equity, total_value
from sealbatch.settlement.margin import RevealMarginCheck, cap_reduce_only, check_carried
from sealbatch.settlement.params import DEFAULT_CONFIG, DeleverageMode, default_config
from sealbatch.settlement.transition import apply_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, make_batch, oracle_round

BTC = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}


def test_a_fill_beyond_int64_is_refused_not_crashed() -> None:
    state = funded([(1 << 62) - 1, (1 << 62) - 1])
    lots = 1_000_000  # 10^6 lots × 2^40 ticks × 100 = 1.1 × 10^20 base units
    batch = make_batch(
        1,
        [
            (TRADERS[0], Order("BTC-PERP", Side.BUY, MAX_TICKS, lots)),
            (TRADERS[1], Order("BTC-PERP", Side.SELL, MAX_TICKS, lots)),
        ],
    )
    with pytest.raises(SettlementError, match="collateral"):
        apply_batch(state, batch, oracle_round(1, 1_000, BTC), DEFAULT_CONFIG, ORACLE)


def test_funding_payments_are_exact_beyond_int64() -> None:
    positions = np.array([[20_000_000, 0], [-20_000_000, 0]], dtype=np.int64)
    deltas = np.array([-824_633_720_832, 0], dtype=np.int64)  # 75 bps of 2^40 ticks × 100
    exact = [20_000_000 * -824_633_720_832, 20_000_000 * 824_633_720_832]
    assert abs(exact[0]) >= 1 << 63  # int64 would wrap
    with pytest.raises(SettlementError, match="funding"):
        funding_payments(positions, deltas)
    small = np.array([[3, 1], [-3, -1]], dtype=np.int64)
    assert funding_payments(small, np.array([7, -2], dtype=np.int64)).tolist() == [19, -19]


def test_a_forfeited_bond_beyond_the_equity_is_paid_and_the_deficit_covered() -> None:
    # a short: collateral 66 000 000 (1 000 000 own + 65 000 000 of sale proceeds),
    # position −1 lot of 65 000 000 → equity 1 000 000
    state = funded([1_000_000, 10**10])
    ms = tuple(replace(m, mark_price=BTC[m.market]) for m in state.market_states)
    state = state.with_arrays(
        collateral=np.array([66_000_000, 10**10 - 65_000_000], dtype=np.int64),
        positions=np.array([[-1, 0], [1, 0]], dtype=np.int64),
        market_states=ms,
        batch_id=0,
    )
    assert int(equity(state, DEFAULT_CONFIG)[0]) == 1_000_000
    batch = make_batch(1, [], forfeits=[(TRADERS[0], "BTC-PERP", 50_000_000)], pre=state)
    post, w = apply_batch(state, batch, oracle_round(1, 1_000, BTC), DEFAULT_CONFIG, ORACLE)
    # the whole bond goes (no equity cap); the account's deficit is covered
    assert w.forfeits[0][1] == 50_000_000
    assert [d.account for d in w.deficits] == [w.forfeits[0][0]]
    assert int(equity(post, DEFAULT_CONFIG)[0]) >= 0
    assert total_value(post) == total_value(state)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(1, (1 << 62) - 1), min_size=4, max_size=4),
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.booleans(),
            st.one_of(st.integers(1, 10), st.integers(MAX_TICKS - 10, MAX_TICKS)),
            st.one_of(st.integers(1, 10), st.integers(900_000, 1_000_000)),
        ),
        min_size=2,
        max_size=8,
    ),
)
def test_extreme_batches_settle_exactly_or_are_refused(
    cash: list[int], orders: list[tuple[int, bool, int, int]]
) -> None:
    state = funded(cash)
    batch = make_batch(
        1,
        [
            (TRADERS[t], Order("BTC-PERP", Side.BUY if buy else Side.SELL, p, q))
            for t, buy, p, q in orders
        ],
    )
    rnd = oracle_round(1, 1_000, {"BTC-PERP": MAX_TICKS, "ETH-PERP": 1_000})
    try:
        post, w = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
    except InvariantViolation:  # a wrap would show as a broken invariant
        raise
    except SettlementError as exc:
        assert "2^62" in str(exc)  # refused by a range check, naming the bound
        return
    assert total_value(post) == total_value(state)
    expected = {k: int(c) for k, c in zip(state.accounts, state.collateral.tolist(), strict=True)}
    for sf in w.fills:
        f = sf.fill
        expected[sf.account] -= f.side.sign * f.quantity * f.price * 100 + sf.fee
    for k, a in w.penalties:
        expected[k] -= a
    if not w.deficits:
        assert [expected[k] for k in post.accounts] == post.collateral.tolist()


_PRICE = st.one_of(
    st.integers(1, 50), st.integers(MAX_TICKS - 1_000, MAX_TICKS), st.integers(600_000, 700_000)
)
_ORDER = st.tuples(
    st.integers(0, 4),
    st.sampled_from(["BTC-PERP", "ETH-PERP"]),
    st.booleans(),
    st.one_of(st.none(), _PRICE),
    st.integers(1, 1_000_000),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.one_of(st.integers(1, 10**9), st.integers(1 << 60, (1 << 62) - 1)),
        min_size=5,
        max_size=5,
    ),
    st.lists(st.lists(_ORDER, max_size=8), min_size=1, max_size=3),
    st.lists(st.tuples(_PRICE, _PRICE, st.booleans()), min_size=3, max_size=3),
    st.sampled_from(list(DeleverageMode)),
)
def test_venue_like_batches_with_extreme_values_conserve_or_refuse(
    cash: list[int],
    batches: list[list[tuple[int, str, bool, int | None, int, bool, bool]]],
    prices: list[tuple[int, int, bool]],
    mode: DeleverageMode,
) -> None:
    """Orders pass the reveal check (as at the venue), GTC rests are capped and re-checked,
    oracles jump between 1 tick and the top tick, some rounds flagged: every batch
    conserves value and nets to zero, or is refused naming the 2^62 bound."""
    cfg = default_config(deleverage=mode)
    state = funded(cash, cfg)
    carried: list[RestingOrder] = []
    for b, orders in enumerate(batches, start=1):
        check = RevealMarginCheck(state, cfg, resting=carried)
        taken = []
        for t, m, buy, lim, q, gtc, ro in orders:
            tif = TimeInForce.GTC if gtc and lim is not None else TimeInForce.IOC
            order = Order(m, Side.BUY if buy else Side.SELL, lim, q, tif, ro)
            try:
                check(TRADERS[t], order)
            except (InsufficientMargin, MarketFlagged, ReduceOnlyViolation):
                continue
            taken.append((TRADERS[t], order))
        liq = [lo.resting for lo in state.pending_liquidations]
        batch = make_batch(b, taken, cfg, carried + liq, pre=state)
        pb, pe, flag = prices[b - 1]
        over = {("BTC-PERP", "dex"): min(MAX_TICKS, pb + pb // 10 + 1)} if flag else None
        rnd = oracle_round(b, 1_000 * b, {"BTC-PERP": pb, "ETH-PERP": pe}, over)
        try:
            post, _ = apply_batch(state, batch, rnd, cfg, ORACLE)
        except InvariantViolation:
            raise
        except SettlementError as exc:
            assert "2^62" in str(exc)
            return
        assert total_value(post) == total_value(state)
        assert (post.positions.sum(axis=0) == 0).all()
        reserved = [lo.resting for lo in post.pending_liquidations]
        carried = check_carried(post, cfg, cap_reduce_only(post, cfg, batch.carried, reserved))
        state = post
