"""A best quote its maker cannot carry does not block the RFQ: the requester may take
the best quote that can settle. An uncarried quote is refused at its reveal (it stays
sealed and forfeits its bond); one that stops being carried later (a mark moved) is
passed over at accept."""

from __future__ import annotations

from typing import Any

import pytest

from sealbatch.venue.client import ApiError, VenueClient
from sealbatch.venue.rfq import ACCEPT_TYPE
from tests.venue.conftest import Venue


def _accept(client: VenueClient, rfq_id: str, commitment: str) -> dict[str, Any]:
    nonce, expiry, me = client.next_nonce(), client.server_now_ms() + 60_000, client._me()
    values = {
        "requester": me,
        "rfqId": bytes.fromhex(rfq_id[2:]),
        "commitment": bytes.fromhex(commitment[2:]),
        "side": "buy",
        "nonce": nonce,
        "expiry": expiry,
    }
    body = {
        "requester": me,
        "rfq_id": rfq_id,
        "commitment": commitment,
        "side": "buy",
        "nonce": nonce,
        "expiry_ms": expiry,
        "signature": client._sign(ACCEPT_TYPE, values),
    }
    out: dict[str, Any] = client._req("POST", f"/v1/rfqs/{rfq_id}/accept", body)
    return out


def test_an_unfunded_best_quote_does_not_block_the_next_one(venue: Venue) -> None:
    t = venue.traders
    griefer = VenueClient(
        "http://testserver", "0x" + "77" * 32, http=venue.tc, clock=venue.clock.now_ms
    )
    griefer.deposit(venue.service.core.quote_bond)  # its quote bond, nothing to carry a block
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    rid, opened = rfq["rfq_id"], rfq["opened_ms"]
    honest = t["bob"].quote(rid, 99, 101)
    grief = griefer.quote(rid, 1, 100)  # the best ask, never payable
    venue.clock.set(opened + 200)
    t["bob"].reveal_quote(honest)
    with pytest.raises(ApiError) as unrevealed:
        griefer.reveal_quote(grief)
    assert unrevealed.value.code == "insufficient_margin"
    venue.clock.set(opened + 300)
    with pytest.raises(ApiError) as refused:
        _accept(t["alice"], rid, "0x" + grief.commitment.hex())
    assert refused.value.code == "not_best_quote"  # still sealed: not a quote to take
    acc = t["alice"].accept_best(rid, "buy")
    assert acc["price"] == 101 and acc["seller"] == t["bob"].address
    venue.clock.set(venue.clock.now_ms() + 5_000)
    venue.tc.get("/v1/batches")  # the batches due settle: the sealed quote forfeits
    assert griefer.account()["collateral"] == 0
