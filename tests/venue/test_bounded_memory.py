"""Memory stays flat under sustained load: records, order fates and nonces of old
batches leave memory, and everything old still answers from the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.app import create_app
from sealbatch.venue.client import PendingOrder
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.service import VenueService
from tests.venue.conftest import T0, Venue, make_settings

#: Cleared batches kept in memory in these tests.
WINDOW = 4
#: Batches traded: many times the window.
BATCHES = 40
#: Bytes of JSON the stream keeps for replay in these tests: a few batches' messages.
STREAM_BYTES = 20_000


@pytest.fixture
def small(db_url: str) -> Iterator[Venue]:
    clock = ManualClock(T0 + 100)
    app = create_app(
        make_settings(db_url, memory_batches=WINDOW, stream_buffer_bytes=STREAM_BYTES), clock
    )
    with TestClient(app) as tc:
        v = Venue(tc, clock)
        v.fund()
        yield v


def _sizes(op: VenueService) -> dict[str, int]:
    core = op.core
    return {
        "records": len(core.records),
        "fates": len(core.order_statuses),
        "by_trader": sum(len(v) for v in core.by_trader.values()),
        "nonces": len(core.nonces),
        "taken_in": sum(len(v) for v in core._taken_in.values()),
        "statuses_out": len(core.statuses_out),
        "books": len(core.books),
        "publications": len(core.publications),
        # Without an L1 nothing anchors a batch: no queue position is kept for it.
        "l1_queue_to": len(core.l1_queue_to),
        "stream_messages": op.broker.kept,
    }


def _trade(venue: Venue, start: int, stop: int) -> list[tuple[PendingOrder, dict[str, Any]]]:
    """Every batch: dave buys, erin sells (both reveal), carol withholds (forfeit)."""
    t = venue.traders
    out = []
    for b in range(start, stop):
        venue.clock.set(max(venue.clock.now_ms(), T0 + b * 1_000 + 100))
        buy = t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
        sell = t["erin"].commit(Order("BTC-PERP", Side.SELL, 100, 1))
        t["carol"].commit(Order("BTC-PERP", Side.SELL, 100, 1))
        venue.to_reveal(b)
        t["dave"].reveal(buy)
        t["erin"].reveal(sell)
        record = venue.to_cleared(b)
        assert record["status"] == "settled"
        out.append((buy, record))
    return out


def test_memory_stays_flat_and_old_batches_answer_from_the_database(small: Venue) -> None:
    traded = _trade(small, 0, 10)
    at_10 = _sizes(small.service)
    traded += _trade(small, 10, BATCHES)
    at_end = _sizes(small.service)
    # Four times the history, the same memory: nothing grows with the batches traded
    # (nonces aside: they live as long as their message, 60 s from the SDK; the
    # stream keeps as many messages as fit in its bytes, which vary by a few digits).
    # Transitions for the published folder and the prover: a fixed number of the newest.
    flat = {"nonces": 0, "stream_messages": 0, "publications": 0}
    assert {**at_end, **flat} == {**at_10, **flat}, (at_10, at_end)
    assert at_end["stream_messages"] <= at_10["stream_messages"] + 2, (at_10, at_end)
    assert small.service.broker.kept_bytes <= STREAM_BYTES
    assert at_end["records"] <= WINDOW + 1
    assert at_end["fates"] <= 3 * (WINDOW + 1)
    assert at_end["statuses_out"] == 0
    assert at_end["l1_queue_to"] == 0
    assert at_end["publications"] <= small.service.core.publications_kept
    # The SDK's messages expire after 60 s: only those still valid keep a nonce.
    assert at_end["nonces"] <= 5 * BATCHES + len(small.traders)  # and the deposits
    # The oldest batch, long gone from memory, answers exactly as it did.
    buy, first = traded[0]
    assert 0 not in small.service.core.records
    assert small.tc.get("/v1/batches/0").json() == first
    listing = small.tc.get("/v1/batches", params={"limit": 500}).json()["batches"]
    assert [b["batch_id"] for b in listing] == list(range(BATCHES - 1, -1, -1))
    assert listing[-1]["result_hash"] == first["result_hash"]
    page = small.tc.get("/v1/batches", params={"limit": 3, "before": 2}).json()["batches"]
    assert [b["batch_id"] for b in page] == [1, 0]
    # So does an old order's fate, to its trader, and its public outcome to anyone.
    dave = small.traders["dave"]
    fate = dave.order(buy.commitment)
    assert (fate["status"], fate["filled"], fate["batch_id"]) == ("filled", 1, 0)
    public = small.tc.get(f"/v1/orders/0x{buy.commitment.hex()}").json()
    assert public["status"] == "filled" and public["detail"] is None
    # The account lists its latest orders across memory and the database.
    orders = dave.account()["orders"]
    assert len(orders) == BATCHES
    assert orders[0]["commitment"] == "0x" + buy.commitment.hex()
    assert [o["batch_id"] for o in orders] == list(range(BATCHES))
    # A minute and more later, one more batch: the expired messages' nonces are gone.
    later = BATCHES + 70
    small.clock.set(T0 + later * 1_000 + 100)
    _trade(small, later, later + 1)
    assert len(small.service.core.nonces) <= 5 + len(small.traders)


def test_a_hash_taken_long_ago_is_still_refused(small: Venue) -> None:
    """The attack: wait until a victim's commitment leaves memory, then take the same
    hash again so that the fate of the victim's order reads as the attacker's."""
    traded = _trade(small, 0, 3 * WINDOW)
    buy, _ = traded[0]
    assert buy.commitment not in small.service.core.order_statuses
    # The attacker signs a commitment of its own carrying the victim's hash.
    body = _signed_copy(small.traders["alice"], buy.commitment)
    r = small.tc.post("/v1/commitments", json=body)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "commitment_taken"
    assert small.traders["dave"].order(buy.commitment)["trader"] == small.traders["dave"].address


def _signed_copy(client: Any, commitment: bytes) -> dict[str, Any]:
    from sealbatch.auction.commit_reveal import COMMIT_TYPE
    from sealbatch.crypto.eip712 import sign_digest, signing_digest

    batch = client._collecting()
    nonce = client.next_nonce()
    values = {
        "trader": client.address,
        "batchId": batch,
        "market": "BTC-PERP",
        "commitment": commitment,
        "nonce": nonce,
        "marginLock": 0,
        "bond": 0,
        "expiry": 2**63,
    }
    sig = sign_digest(client.key, signing_digest(client.domain, COMMIT_TYPE, values))
    return {
        "trader": client.address,
        "batch_id": batch,
        "market": "BTC-PERP",
        "commitment": "0x" + commitment.hex(),
        "nonce": nonce,
        "margin_lock": 0,
        "bond": 0,
        "expiry_ms": 2**63,
        "signature": "0x" + sig.hex(),
    }


def test_a_restart_with_old_batches_out_of_memory_replays_identically(db_url: str) -> None:
    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url, memory_batches=WINDOW)
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        first, _ = _trade(venue, 0, 3 * WINDOW)[0]
        records = {
            b: json.dumps(r.to_json(), sort_keys=True)
            for b, r in venue.service.core.records.items()
        }
        sizes = _sizes(venue.service)
    with TestClient(create_app(settings, clock)) as tc:
        op: VenueService = tc.app.state.service  # type: ignore[attr-defined]
        assert {
            b: json.dumps(r.to_json(), sort_keys=True) for b, r in op.core.records.items()
        } == records
        # (the stream starts empty: a new epoch)
        assert {**_sizes(op), "stream_messages": 0} == {**sizes, "stream_messages": 0}
        assert tc.get("/v1/batches/0").status_code == 200
        venue = Venue(tc, clock)
        # Still unique after the restart, for a hash long out of memory.
        assert first.commitment not in op.core.order_statuses
        r = tc.post("/v1/commitments", json=_signed_copy(venue.traders["alice"], first.commitment))
        assert (r.status_code, r.json()["code"]) == (409, "commitment_taken")


def test_a_snapshot_without_an_l1_drops_the_queue_positions_of_old_batches(small: Venue) -> None:
    """A snapshot written while every batch kept its L1 queue position (nothing will
    anchor them without an L1) loads without them."""
    import pickle

    _trade(small, 0, 3)
    core = small.service.core
    core.l1_queue_to = {b: 0 for b in range(1_000)}
    restored = pickle.loads(pickle.dumps(core))
    assert restored.l1_queue_to == {}
    assert restored.last_cleared == core.last_cleared
