"""RFQ for blocks: windows, no last look, best quote, band check at settlement."""

from __future__ import annotations

from typing import Any

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import ApiError, SealedQuote
from tests.venue.conftest import T0, Venue


def _rfq_until_revealed(
    venue: Venue, side: str = "hidden", quotes: tuple[tuple[int, int], ...] = ((99, 101), (98, 100))
) -> tuple[dict[str, Any], list[SealedQuote]]:
    t = venue.traders
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, side=side, window_ms=400)
    opened = rfq["opened_ms"]
    sealed = [
        t[m].quote(rfq["rfq_id"], bid, ask)
        for m, (bid, ask) in zip(("bob", "carol"), quotes, strict=False)
    ]
    venue.clock.set(opened + 200)  # reveal phase
    for m, q in zip(("bob", "carol"), sealed, strict=False):
        t[m].reveal_quote(q)
    venue.clock.set(opened + 300)  # accept phase
    return rfq, sealed


def _prime_price(venue: Venue, price: int) -> None:
    """Trade once at ``price`` in batch 0 so the RFQ band has a reference."""
    t = venue.traders
    a = t["dave"].commit(Order("BTC-PERP", Side.BUY, price, 1))
    b = t["erin"].commit(Order("BTC-PERP", Side.SELL, price, 1))
    venue.to_reveal(0)
    t["dave"].reveal(a)
    t["erin"].reveal(b)
    venue.to_cleared(0)
    venue.clock.set(T0 + 2_000 + 50)


def _auction_trade(venue: Venue, batch_id: int, price: int) -> None:
    """Dave buys one lot from Erin at ``price`` in ``batch_id`` (collecting now)."""
    t = venue.traders
    a = t["dave"].commit(Order("BTC-PERP", Side.BUY, price, 1), batch_id=batch_id)
    b = t["erin"].commit(Order("BTC-PERP", Side.SELL, price, 1), batch_id=batch_id)
    venue.to_reveal(batch_id)
    t["dave"].reveal(a)
    t["erin"].reveal(b)


def test_block_settles_at_the_best_quote_in_the_next_batch(venue: Venue) -> None:
    _prime_price(venue, 100)
    rfq, _ = _rfq_until_revealed(venue)
    listed = venue.tc.get(f"/v1/rfqs/{rfq['rfq_id']}").json()
    assert listed["side"] == "hidden" and len(listed["quotes"]) == 2
    acc = venue.traders["alice"].accept_best(rfq["rfq_id"], "buy")
    # lowest ask: carol's 100
    assert acc["price"] == 100 and acc["seller"] == venue.traders["carol"].address
    assert acc["buyer"] == venue.traders["alice"].address
    _auction_trade(venue, acc["batch_id"], 99)
    before = venue.traders["alice"].account()
    rec = venue.to_cleared(acc["batch_id"])
    (block,) = rec["blocks"]
    assert block["status"] == "filled" and block["quantity"] == 10_000
    assert rec["markets"]["BTC-PERP"]["price"] == 99
    # Economically a trade at 100: 10 000 lots at the clearing price 99 plus
    # (100 − 99) × 10 000 × 100 base units from buyer to seller.
    (adj,) = rec["settlement"]["block_adjustments"]
    assert adj["buyer_pays_seller"] == 1 * 10_000 * 100
    after = venue.traders["alice"].account()
    assert after["positions"]["BTC-PERP"] - before["positions"]["BTC-PERP"] == 10_000
    fee = -(-(10_000 * 99 * 100 * 5) // 10_000)
    assert before["collateral"] + before["pending_deposits"] - after["collateral"] == (
        10_000 * 100 * 100 + fee
    )
    assert venue.tc.get(f"/v1/rfqs/{rfq['rfq_id']}").json()["phase"] == "accepted"


def test_block_without_an_auction_price_fails(venue: Venue) -> None:
    _prime_price(venue, 100)
    rfq, _ = _rfq_until_revealed(venue)
    acc = venue.traders["alice"].accept_best(rfq["rfq_id"], "buy")
    rec = venue.to_cleared(acc["batch_id"])
    assert rec["blocks"][0]["status"] == "failed"
    assert rec["blocks"][0]["reason"] == "no_clearing_price"


def test_accepting_a_worse_quote_is_refused(venue: Venue) -> None:
    rfq, sealed = _rfq_until_revealed(venue)
    alice = venue.traders["alice"]
    worse = next(q for q in sealed if q.ask == 101)
    quotes = venue.tc.get(f"/v1/rfqs/{rfq['rfq_id']}").json()["quotes"]
    assert any(q["commitment"] == "0x" + worse.commitment.hex() for q in quotes)
    # Hand-build an accept naming the worse quote.
    from sealbatch.venue.rfq import ACCEPT_TYPE

    rid = bytes.fromhex(rfq["rfq_id"][2:])
    nonce = alice.next_nonce()
    values = {
        "requester": alice.address,
        "rfqId": rid,
        "commitment": worse.commitment,
        "side": "buy",
        "nonce": nonce,
        "expiry": 2**63,
    }
    body = {
        "requester": alice.address,
        "rfq_id": rfq["rfq_id"],
        "commitment": "0x" + worse.commitment.hex(),
        "side": "buy",
        "nonce": nonce,
        "expiry_ms": 2**63,
        "signature": alice._sign(ACCEPT_TYPE, values),
    }
    r = venue.tc.post(f"/v1/rfqs/{rfq['rfq_id']}/accept", json=body)
    assert r.status_code == 409 and r.json()["code"] == "not_best_quote"


def test_block_outside_the_band_fails_at_settlement(venue: Venue) -> None:
    _prime_price(venue, 100)
    rfq, _ = _rfq_until_revealed(venue, quotes=((50, 150), (40, 160)))
    acc = venue.traders["alice"].accept_best(rfq["rfq_id"], "buy")
    rec = venue.to_cleared(acc["batch_id"])
    assert rec["blocks"][0]["status"] == "failed"
    assert rec["blocks"][0]["reason"] == "outside_band"


def test_undersized_block_is_refused(venue: Venue) -> None:
    with pytest.raises(ApiError) as e:
        venue.traders["alice"].request_rfq("BTC-PERP", 9_999, window_ms=400)
    assert e.value.status == 422 and e.value.code == "size_out_of_range"
    assert venue.tc.get("/v1/rfqs").json()["rfqs"] == []


def test_quotes_outside_their_phase_are_refused(venue: Venue) -> None:
    t = venue.traders
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    q = t["bob"].quote(rfq["rfq_id"], 99, 101)
    with pytest.raises(ApiError) as e:  # reveal during the quote phase
        t["bob"].reveal_quote(q)
    assert e.value.code == "outside_window"
    venue.clock.set(rfq["opened_ms"] + 250)
    with pytest.raises(ApiError) as e:  # a new quote during the reveal phase
        t["carol"].quote(rfq["rfq_id"], 99, 101)
    assert e.value.code == "outside_window"
    with pytest.raises(ApiError) as e:  # requester quoting its own RFQ
        venue.clock.set(rfq["opened_ms"] + 250)
        t["alice"].quote(rfq["rfq_id"], 99, 101)
    assert e.value.code in ("outside_window", "self_quote")


def test_disclosed_side_must_match_and_makers_cannot_withdraw(venue: Venue) -> None:
    rfq, _ = _rfq_until_revealed(venue, side="sell")
    with pytest.raises(ApiError) as e:
        venue.traders["alice"].accept_best(rfq["rfq_id"], "buy")
    assert e.value.code == "side_mismatch"
    # No route withdraws a revealed quote: the highest bid is still there to take.
    acc = venue.traders["alice"].accept_best(rfq["rfq_id"], "sell")
    assert acc["price"] == 99 and acc["seller"] == venue.traders["alice"].address


def test_accept_is_refused_when_a_side_lacks_margin(venue: Venue) -> None:
    from sealbatch.venue.client import VenueClient

    poor = VenueClient(
        "http://testserver", "0x" + "ab" * 32, http=venue.tc, clock=venue.clock.now_ms
    )
    # its RFQ's request bond and 1 000 more: far too little for 200 000 lots
    poor.deposit(venue.service.core.rfq_bond + 1_000)
    t = venue.traders
    rfq = poor.request_rfq("BTC-PERP", 200_000, window_ms=400)
    q = t["bob"].quote(rfq["rfq_id"], 99, 101)
    venue.clock.set(rfq["opened_ms"] + 200)
    t["bob"].reveal_quote(q)
    venue.clock.set(rfq["opened_ms"] + 300)
    with pytest.raises(ApiError) as e:
        poor.accept_best(rfq["rfq_id"], "buy")
    assert e.value.code == "insufficient_margin"
    assert venue.tc.get(f"/v1/rfqs/{rfq['rfq_id']}").json()["accepted"] is None
