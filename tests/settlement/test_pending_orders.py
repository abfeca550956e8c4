"""Pending orders (staged liquidations, GTC rests) live in the ledger, under its root,
and a batch must carry in exactly the pending orders of its pre-state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.ledger import LedgerState, LiquidationOrder
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.transition import apply_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, key, make_batch, oracle_round

PRICES = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}


def _after_a_rest() -> LedgerState:
    """Batch 1: a GTC bid for 10 lots meets 4 lots offered; 6 lots rest."""
    state = funded([10**11, 10**11])
    orders = [
        (TRADERS[0], Order("BTC-PERP", Side.BUY, 650_000, 10, TimeInForce.GTC)),
        (TRADERS[1], Order("BTC-PERP", Side.SELL, 650_000, 4)),
    ]
    post, _ = apply_batch(
        state, make_batch(1, orders), oracle_round(1, 1_000, PRICES), DEFAULT_CONFIG, ORACLE
    )
    return post


def test_the_transition_stores_the_rests_and_the_root_binds_them() -> None:
    post = _after_a_rest()
    (rest,) = post.resting_orders
    assert (rest.trader, rest.order.quantity, rest.origin_batch) == (TRADERS[0], 6, 1)
    assert state_root(post) != state_root(replace(post, resting_orders=()))
    # The honest next batch carries it in and settles.
    sell = [(TRADERS[1], Order("BTC-PERP", Side.SELL, 650_000, 2))]
    nxt, w = apply_batch(
        post,
        make_batch(2, sell, carried_in=post.resting_orders, pre=post),
        oracle_round(2, 2_000, PRICES),
        DEFAULT_CONFIG,
        ORACLE,
    )
    assert [r.order.quantity for r in nxt.resting_orders] == [4]
    assert w.pre_root == state_root(post)


def _tampered(post: LedgerState, how: str) -> list[RestingOrder]:
    (rest,) = post.resting_orders
    if how == "drop":
        return []
    if how == "shrink":
        return [replace(rest, order=rest.order.with_quantity(1))]
    if how == "reprice":
        return [replace(rest, order=replace(rest.order, limit_price=600_000))]
    if how == "retrader":
        return [replace(rest, trader=TRADERS[1])]
    fake = RestingOrder(b"\x01" * 32, TRADERS[1], rest.order, 0)
    return [rest, fake]  # "add"


@pytest.mark.parametrize("how", ["drop", "shrink", "reprice", "retrader", "add"])
def test_an_operator_cannot_drop_add_or_alter_a_gtc_rest(how: str) -> None:
    post = _after_a_rest()
    sell = [(TRADERS[1], Order("BTC-PERP", Side.SELL, 650_000, 6))]
    batch = make_batch(2, sell, carried_in=_tampered(post, how), pre=post)
    with pytest.raises(SettlementError, match="carried-in"):
        apply_batch(post, batch, oracle_round(2, 2_000, PRICES), DEFAULT_CONFIG, ORACLE)


def _with_liquidation() -> tuple[LedgerState, LiquidationOrder]:
    state = funded([10**11, 10**11])
    lo = LiquidationOrder(
        key(0),
        RestingOrder(
            b"\x0f" * 32, TRADERS[0], Order("BTC-PERP", Side.SELL, 640_000, 5, reduce_only=True), 1
        ),
    )
    return replace(state, pending_liquidations=(lo,)), lo


@pytest.mark.parametrize("how", ["drop", "shrink", "raise_limit"])
def test_an_operator_cannot_skip_or_soften_a_pending_liquidation(how: str) -> None:
    state, lo = _with_liquidation()
    o = lo.resting.order
    carried = {
        "drop": [],
        "shrink": [replace(lo.resting, order=o.with_quantity(1))],
        "raise_limit": [replace(lo.resting, order=replace(o, limit_price=700_000))],
    }[how]
    batch = make_batch(1, [], carried_in=carried)
    with pytest.raises(SettlementError, match="liquidation order"):
        apply_batch(state, batch, oracle_round(1, 1_000, PRICES), DEFAULT_CONFIG, ORACLE)
    # the honest batch carries it in
    honest = make_batch(1, [], carried_in=[lo.resting])
    apply_batch(state, honest, oracle_round(1, 1_000, PRICES), DEFAULT_CONFIG, ORACLE)


def test_a_rest_in_a_halted_market_rests_on_and_may_not_be_carried_in() -> None:
    post = _after_a_rest()
    (rest,) = post.resting_orders
    # every index is too old at this time: the batch may not trade (a fresh round
    # gives the markets a trusted index again for the next one)
    late = 1_000 + ORACLE.max_price_age_ms + 1
    rnd = oracle_round(2, late, PRICES)
    with pytest.raises(SettlementError, match="carried-in"):
        apply_batch(
            post, make_batch(2, [], carried_in=[rest], pre=post), rnd, DEFAULT_CONFIG, ORACLE
        )
    nxt, _ = apply_batch(post, make_batch(2, [], pre=post), rnd, DEFAULT_CONFIG, ORACLE)
    assert nxt.resting_orders == (rest,)
