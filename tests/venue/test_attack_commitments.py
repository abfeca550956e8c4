"""Attacks on commitment ownership: copying a commitment, stealing a reveal.

A commitment hash is taken once, ever (any batch, anyone): a copy is refused
with ``commitment_taken`` and the owner's order is untouched.
"""

from __future__ import annotations

from typing import Any

from sealbatch.auction.commit_reveal import COMMIT_TYPE
from sealbatch.auction.orders import Order, Side
from sealbatch.venue.auth import REVEAL_TYPE, reveal_message
from sealbatch.venue.client import PendingOrder, VenueClient
from tests.venue.conftest import FUNDING, T0, Venue


def _copy_commit(thief: VenueClient, commitment: str, batch_id: int) -> dict[str, Any]:
    """A commitment body of ``thief`` naming somebody else's hash, validly signed."""
    nonce = thief.next_nonce()
    values = {
        "trader": thief._me(),
        "batchId": batch_id,
        "market": "BTC-PERP",
        "commitment": bytes.fromhex(commitment[2:]),
        "nonce": nonce,
        "marginLock": 0,
        "bond": 0,
        "expiry": 2**63,
    }
    return {
        "trader": thief._me(),
        "batch_id": batch_id,
        "market": "BTC-PERP",
        "commitment": commitment,
        "nonce": nonce,
        "margin_lock": 0,
        "bond": 0,
        "expiry_ms": 2**63,
        "signature": thief._sign(COMMIT_TYPE, values),
    }


def _reveal_body(signer: VenueClient, pending: PendingOrder) -> dict[str, Any]:
    """A reveal of ``pending`` (somebody's order and salt) signed by ``signer``."""
    nonce = signer.next_nonce()
    values = reveal_message(
        signer._me(), pending.commitment, pending.order, pending.salt, nonce, 2**63
    )
    return {
        "trader": signer._me(),
        "commitment": "0x" + pending.commitment.hex(),
        "order": pending.order.to_dict(),
        "salt": "0x" + pending.salt.hex(),
        "nonce": nonce,
        "expiry_ms": 2**63,
        "signature": signer._sign(REVEAL_TYPE, values),
    }


def test_copied_commitment_in_a_later_batch_is_refused_and_the_owner_reveals(
    venue: Venue,
) -> None:
    """Issue 10 attack 1: B copies A's hash into batch n+1 the moment it opens."""
    alice, bob = venue.traders["alice"], venue.traders["bob"]
    sell = venue.traders["carol"].commit(Order("BTC-PERP", Side.SELL, 100, 5))
    pending = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    c = "0x" + pending.commitment.hex()
    venue.to_reveal(0)  # batch 1 collects while batch 0 reveals
    r = venue.tc.post("/v1/commitments", json=_copy_commit(bob, c, 1))
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "commitment_taken"
    assert venue.service.core.order_status(pending.commitment).trader == alice._me()
    assert venue.service.core.order_statuses[pending.commitment].batch_id == 0
    alice.reveal(pending)
    venue.traders["carol"].reveal(sell)
    record = venue.to_cleared(0)
    assert record["forfeits"] == []
    fate = alice.order(c)
    assert fate["trader"] == alice._me() and fate["status"] == "filled"
    assert venue.service.core.settlement.account(bob._me()).collateral == FUNDING
    assert not venue.service.core.by_trader.get(bob._me())


def test_copied_commitment_in_the_same_batch_is_refused(venue: Venue) -> None:
    alice, bob = venue.traders["alice"], venue.traders["bob"]
    pending = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    r = venue.tc.post("/v1/commitments", json=_copy_commit(bob, "0x" + pending.commitment.hex(), 0))
    assert r.status_code == 409 and r.json()["code"] == "commitment_taken"
    assert venue.service.core.order_statuses[pending.commitment].trader == alice._me()


def test_a_hash_from_a_settled_batch_is_never_taken_again(venue: Venue) -> None:
    """Not even by its owner: a hash names one order for ever."""
    alice = venue.traders["alice"]
    pending = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    venue.to_cleared(0)
    for thief in (venue.traders["bob"], alice):
        venue.clock.set(T0 + 5_100)
        body = _copy_commit(thief, "0x" + pending.commitment.hex(), 5)
        r = venue.tc.post("/v1/commitments", json=body)
        assert r.status_code == 409 and r.json()["code"] == "commitment_taken"
    assert venue.service.core.order_statuses[pending.commitment].trader == alice._me()
    assert 5 not in venue.service.core.books


def test_another_traders_reveal_of_my_order_is_refused_and_mine_still_counts(
    venue: Venue,
) -> None:
    """B sees A's order and salt (say, A's reveal in flight) and races to reveal
    it under B's own signature: refused, nothing changes, A's reveal stands."""
    alice, bob = venue.traders["alice"], venue.traders["bob"]
    pending = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    venue.to_reveal(0)
    events = venue.service.core.events_applied
    r = venue.tc.post("/v1/reveals", json=_reveal_body(bob, pending))
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    assert venue.service.core.events_applied == events
    assert venue.service.core.order_statuses[pending.commitment].status == "committed"
    # The owner's reveal replayed verbatim is refused too (its nonce is spent).
    body = _reveal_body(alice, pending)
    assert venue.tc.post("/v1/reveals", json=body).status_code == 200
    again = venue.tc.post("/v1/reveals", json=body)
    assert again.status_code == 409 and again.json()["code"] == "nonce_reused"
    second = venue.tc.post("/v1/reveals", json=_reveal_body(alice, pending))
    assert second.status_code == 409 and second.json()["code"] == "duplicate_reveal"
    assert venue.service.core.order_statuses[pending.commitment].status == "revealed"
