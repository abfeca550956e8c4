"""The venue caps carried GTC reduce-only remainders against the settled positions."""

from __future__ import annotations

import numpy as np

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.settlement.clearinghouse import Clearinghouse
from sealbatch.settlement.ledger import AccountKey, deposit
from sealbatch.settlement.margin import cap_reduce_only, check_carried
from tests.settlement.conftest import trader
from tests.venue.conftest import Venue


def _gtc(n: int, side: Side, quantity: int, reduce_only: bool) -> RestingOrder:
    order = Order("BTC-PERP", side, 650_000, quantity, TimeInForce.GTC, reduce_only)
    return RestingOrder(bytes([n]) * 32, trader(0), order, 1)


def test_carry_caps_reduce_only_remainders_and_keeps_the_rest() -> None:
    engine = Clearinghouse(DEFAULT_MARKETS)
    state = deposit(engine.state, AccountKey(trader(0), 0), 10**12)
    j = engine.config.column("BTC-PERP")
    positions = np.zeros_like(state.positions)
    positions[state.row(AccountKey(trader(0), 0)), j] = 8  # long 8 lots after the batch
    engine.state = state.with_arrays(positions=positions)

    carried = [
        _gtc(1, Side.SELL, 5, reduce_only=True),
        _gtc(2, Side.SELL, 5, reduce_only=True),  # only 3 lots left to reduce
        _gtc(3, Side.BUY, 4, reduce_only=True),  # would add to the long: dropped
        _gtc(4, Side.BUY, 4, reduce_only=False),  # plain GTC: unchanged
    ]
    # what the transition does with a batch's GTC remainders (step 11)
    out = check_carried(
        engine.state, engine.config, cap_reduce_only(engine.state, engine.config, carried)
    )
    assert [(r.order_id[0], r.order.side, r.order.quantity) for r in out] == [
        (1, Side.SELL, 5),
        (2, Side.SELL, 3),
        (4, Side.BUY, 4),
    ]


def test_reduce_only_reveal_without_a_position_is_refused_with_its_code(venue: Venue) -> None:

    alice = venue.traders["alice"]
    p = alice.commit(Order("BTC-PERP", Side.SELL, 100, 5, reduce_only=True))
    venue.to_reveal(0)
    venue.refused_then_forfeited(alice, p, "reduce_only_increases", "reduce_only_increases")


def test_gtc_reduce_only_rest_is_cancelled_once_the_position_is_gone(venue: Venue) -> None:
    t = venue.traders
    # Batch 0: alice goes long 50.
    venue.trade(0, [("alice", Order("BTC-PERP", Side.BUY, 100, 50)),
                    ("bob", Order("BTC-PERP", Side.SELL, 100, 50))])  # fmt: skip
    assert t["alice"].account()["positions"]["BTC-PERP"] == 50
    # Batch 1: a resting reduce-only ask above the price, and a plain sell that closes.
    ro = t["alice"].commit(
        Order("BTC-PERP", Side.SELL, 105, 50, TimeInForce.GTC, reduce_only=True), batch_id=1
    )
    close = t["alice"].commit(Order("BTC-PERP", Side.SELL, 100, 50), batch_id=1)
    bid = t["bob"].commit(Order("BTC-PERP", Side.BUY, 100, 50), batch_id=1)
    venue.to_reveal(1)
    for who, p in (("alice", ro), ("alice", close), ("bob", bid)):
        t[who].reveal(p)
    rec = venue.to_cleared(1)
    assert rec["markets"]["BTC-PERP"]["price"] == 100
    assert t["alice"].account()["positions"]["BTC-PERP"] == 0
    fate = t["alice"].order(ro.commitment)
    assert fate["status"] == "not_filled" and fate["reason"] == "rest_cancelled"
    assert rec["carried_out"] == 0


def test_a_commitment_needs_free_collateral_for_the_bonds_at_stake(venue: Venue) -> None:
    import pytest

    from sealbatch.venue.client import ApiError, VenueClient

    info = venue.tc.get("/v1/info").json()
    assert info["min_bond"] == 1_000_000
    carol = VenueClient(
        "http://testserver", "0x" + "c3" * 32, http=venue.tc, clock=venue.clock.now_ms
    )
    order = Order("BTC-PERP", Side.BUY, 100, 1)
    with pytest.raises(ApiError) as e:  # no collateral: a withheld reveal would cost nothing
        carol.commit(order)
    assert e.value.code == "insufficient_bond"
    carol.deposit(2_500_000)  # covers two bonds of 1 USDC, not three
    first, second = carol.commit(order), carol.commit(order)
    with pytest.raises(ApiError) as e:
        carol.commit(order)
    assert e.value.code == "insufficient_bond" and "2000000 at stake" in e.value.detail
    # A larger bond than the minimum counts in full.
    with pytest.raises(ApiError):
        carol.commit(order, bond=600_000)
    # Withheld reveals forfeit the bonds to the insurance fund when the batch settles.
    rec = venue.to_cleared(0)
    forfeited = [amount for who, amount in rec["settlement"]["forfeits"] if who == carol.address]
    assert forfeited == [1_000_000, 1_000_000]
    published = {f["commitment"] for f in rec["forfeits"]}
    assert {"0x" + p.commitment.hex() for p in (first, second)} <= published
