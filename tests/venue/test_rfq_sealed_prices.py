"""Revealed quote prices stay sealed to everyone until the RFQ's reveal phase ends."""

from __future__ import annotations

from tests.venue.conftest import Venue


def test_quote_prices_stay_hidden_while_other_makers_may_still_reveal(venue: Venue) -> None:
    t = venue.traders
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    opened, rid = rfq["opened_ms"], rfq["rfq_id"]
    bob_q = t["bob"].quote(rid, 99, 101)
    carol_q = t["carol"].quote(rid, 98, 100)
    venue.clock.set(opened + 200)  # reveal phase: bob reveals first
    t["bob"].reveal_quote(bob_q)
    view = venue.tc.get(f"/v1/rfqs/{rid}").json()
    (bob_view,) = [q for q in view["quotes"] if q["maker"] == t["bob"].address]
    # Carol has not revealed yet: seeing bob's prices she could reveal only if she wins.
    assert bob_view["bid"] is None and bob_view["ask"] is None, view
    t["carol"].reveal_quote(carol_q)
    venue.clock.set(opened + 300)  # accept phase: now every revealed price shows
    view = venue.tc.get(f"/v1/rfqs/{rid}").json()
    prices = {q["maker"]: (q["bid"], q["ask"]) for q in view["quotes"]}
    assert prices == {t["bob"].address: (99, 101), t["carol"].address: (98, 100)}
