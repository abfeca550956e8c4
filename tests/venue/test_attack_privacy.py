"""Attacks on account privacy: reading another account's positions, margin,
open commitments, fates, deposits or stream (issue 10, attack 5).

An account's own data is served only on a read signed by that account (or
the operator); public after-clearing data (batch records) stays public, and
no open commitment is listed publicly before its batch clears.
"""

from __future__ import annotations

import os

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import ApiError, VenueClient
from sealbatch.venue.read_auth import ACCOUNT_HEADER, EXPIRY_HEADER, SIGNATURE_HEADER
from tests.venue.conftest import Venue


def _operator(venue: Venue) -> VenueClient:
    return VenueClient(
        "http://testserver",
        venue.service.settings.operator_key,
        http=venue.tc,
        clock=venue.clock.now_ms,
    )


def test_nobody_reads_another_account_without_its_signature(venue: Venue) -> None:
    alice, bob = venue.traders["alice"], venue.traders["bob"]
    pending = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5), bond=2_000_000)
    path = f"/v1/accounts/{alice.address}"
    r = venue.tc.get(path)
    assert r.status_code == 401 and r.json()["code"] == "signature_required"
    assert "positions" not in r.text and pending.commitment.hex() not in r.text
    # bob signs a read "for alice": his signature does not recover to alice
    forged = bob.read_headers()
    forged[ACCOUNT_HEADER] = str(alice.address)
    r = venue.tc.get(path, headers=forged)
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    # bob's own valid read does not open alice's account
    r = venue.tc.get(path, headers=bob.read_headers())
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    # alice herself and the operator may
    assert alice.account()["orders"][0]["commitment"] == "0x" + pending.commitment.hex()
    assert _operator(venue).account(str(alice.address))["address"] == alice.address


def test_an_open_commitment_is_not_public_before_its_batch_clears(venue: Venue) -> None:
    """What made the copying attack targetable: reading a victim's open hashes."""
    alice, bob = venue.traders["alice"], venue.traders["bob"]
    pending = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    c = "0x" + pending.commitment.hex()
    for path in ("/v1/batches", "/v1/batches/0", "/v1/operator", "/v1/rfqs", "/v1/markets"):
        r = venue.tc.get(path)
        assert r.status_code == 200 and pending.commitment.hex() not in r.text, path
    r = venue.tc.get(f"/v1/orders/{c}")
    assert r.status_code == 404 and r.json()["code"] == "unknown_commitment"
    # another trader's signed read learns nothing, not even whose order it is
    r = venue.tc.get(f"/v1/orders/{c}", headers=bob.read_headers())
    assert r.status_code == 404 and r.json()["code"] == "unknown_commitment"
    assert str(alice.address) not in r.text
    assert alice.order(pending.commitment)["status"] == "committed"
    # After clearing, the batch record is public (forfeits included), and so is
    # the order's outcome, without the detail meant for its trader.
    record = venue.to_cleared(0)
    assert record["forfeits"][0]["commitment"] == c
    public = venue.tc.get(f"/v1/orders/{c}").json()
    assert public["status"] == "forfeited" and public["detail"] is None
    assert alice.order(pending.commitment)["detail"]


def test_a_signed_read_expires_and_cannot_live_long(venue: Venue) -> None:
    alice = venue.traders["alice"]
    path = f"/v1/accounts/{alice.address}"
    headers = alice.read_headers()
    assert venue.tc.get(path, headers=headers).status_code == 200
    venue.clock.advance(61_000)  # the SDK signs reads for 60 s
    r = venue.tc.get(path, headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "read_expired"
    long = alice.signed_read(ttl_ms=venue.service.settings.read_max_ttl_ms + 1)
    r = venue.tc.get(
        path,
        headers={
            ACCOUNT_HEADER: long["account"],
            EXPIRY_HEADER: str(long["expiry"]),
            SIGNATURE_HEADER: long["signature"],
        },
    )
    assert r.status_code == 401 and r.json()["code"] == "read_expired"
    partial = {ACCOUNT_HEADER: str(alice.address)}
    r = venue.tc.get(path, headers=partial)
    assert r.status_code == 401 and r.json()["code"] == "signature_required"


@pytest.mark.parametrize("garbage", ["0x", "0x" + "00" * 65, "nothex", "0x" + "ab" * 200])
def test_a_malformed_read_signature_is_refused(venue: Venue, garbage: str) -> None:
    alice = venue.traders["alice"]
    headers = alice.read_headers()
    headers[SIGNATURE_HEADER] = garbage
    r = venue.tc.get(f"/v1/accounts/{alice.address}", headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"


def test_the_account_stream_and_its_replay_need_the_accounts_signature(venue: Venue) -> None:
    alice, bob = venue.traders["alice"], venue.traders["bob"]
    topic = f"account:{str(alice.address).lower()}"
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_json({"op": "subscribe", "topics": ["batches", topic]})
        msg = ws.receive_json()
        assert msg["type"] == "error" and msg["code"] == "signature_required"
    with venue.tc.websocket_connect("/v1/stream") as ws:
        own = bob.signed_read()  # bob's valid read is for bob, not for alice
        ws.send_json({"op": "subscribe", "topics": [topic], "auth": [own]})
        assert ws.receive_json()["code"] == "signature_required"
    with venue.tc.websocket_connect("/v1/stream") as ws:
        forged = {**bob.signed_read(), "account": str(alice.address)}
        ws.send_json({"op": "subscribe", "topics": [topic], "auth": [forged]})
        assert ws.receive_json()["code"] == "bad_signature"
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_json({"op": "subscribe", "topics": [topic], "auth": [alice.signed_read()]})
        snap = ws.receive_json()
        assert snap["type"] == "snapshot" and snap["data"]["account"]["pending_deposits"] > 0
    r = venue.tc.get("/v1/stream/replay", params={"topic": topic, "after": 0})
    assert r.status_code == 401 and r.json()["code"] == "signature_required"
    r = venue.tc.get(
        "/v1/stream/replay", params={"topic": topic, "after": 0}, headers=bob.read_headers()
    )
    assert r.status_code == 401
    r = venue.tc.get(
        "/v1/stream/replay", params={"topic": topic, "after": 0}, headers=alice.read_headers()
    )
    assert r.status_code == 200


def test_a_read_only_client_cannot_sign_reads(venue: Venue) -> None:
    reader = VenueClient("http://testserver", http=venue.tc, clock=venue.clock.now_ms)
    with pytest.raises(Exception, match="signing"):
        reader.account("0x" + os.urandom(20).hex())
    with pytest.raises(ApiError):
        VenueClient("http://testserver", os.urandom(32), http=venue.tc).account(
            str(venue.traders["alice"].address)
        )
