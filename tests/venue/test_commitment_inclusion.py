"""A trader checks that its receipt's commitment is under its batch's commitment
root (``GET /v1/batches/{id}/commitments/{sequence}``, ``VenueClient.check_inclusion``):
revealed or forfeited, its leaf with its own market, trader and bond hashes to the seed the
batch was cleared and proved with, and an answer for anything else is refused."""

from __future__ import annotations

from typing import Any

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import ApiError, PendingOrder, VenueError
from tests.venue.conftest import Venue


def _settled_batch(venue: Venue) -> tuple[PendingOrder, PendingOrder, PendingOrder]:
    """Alice (bond 7) and Bob trade, Carol (bond 3) commits and never reveals."""
    alice, bob, carol = (venue.traders[n] for n in ("alice", "bob", "carol"))
    a = alice.commit(Order("BTC-PERP", Side.BUY, 650_000, 10), bond=7)
    b = bob.commit(Order("BTC-PERP", Side.SELL, 649_000, 10), batch_id=a.batch_id)
    c = carol.commit(Order("BTC-PERP", Side.BUY, 640_000, 5), bond=3, batch_id=a.batch_id)
    venue.to_reveal(a.batch_id)
    alice.reveal(a)
    bob.reveal(b)
    rec = venue.to_cleared(a.batch_id)
    assert rec["status"] in ("settled", "proven"), rec["status"]
    return a, b, c


def test_each_trader_finds_its_commitment_under_the_root(venue: Venue) -> None:
    a, b, c = _settled_batch(venue)
    seed = venue.traders["alice"].batch(a.batch_id)["seed"]
    sequences = set()
    for name, pending in (("alice", a), ("bob", b), ("carol", c)):
        proof = venue.traders[name].check_inclusion(pending)
        assert proof["root"] == seed and proof["commitments"] == 3
        assert proof["bond"] == pending.bond and len(proof["path"]) == 20
        assert proof["market"] == pending.order.market
        sequences.add(proof["sequence"])
    assert sequences == {0, 1, 2}
    forfeited = venue.traders["alice"].batch(a.batch_id)["forfeits"]
    assert [f["commitment"] for f in forfeited] == ["0x" + c.commitment.hex()]


def test_an_answer_for_another_leaf_is_refused(
    venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator answers Alice with Bob's leaf relabelled, or with her commitment
    but another bond or market, or a path for another position: her client refuses
    each."""
    a, b, _ = _settled_batch(venue)
    alice = venue.traders["alice"]
    honest = venue.service.commitment_proof
    seq_a, seq_b = a.receipt["sequence"], b.receipt["sequence"]

    def answer(change: dict[str, Any], source: int) -> None:
        def forged(batch_id: int, sequence: int) -> dict[str, Any]:
            return honest(batch_id, source) | {"sequence": sequence} | change

        monkeypatch.setattr(venue.service, "commitment_proof", forged)

    answer({"commitment": "0x" + a.commitment.hex(), "trader": alice._me(), "bond": 7}, seq_b)
    with pytest.raises(VenueError, match="inclusion: expected the path to hash"):
        alice.check_inclusion(a)
    answer({"bond": 8}, seq_a)
    with pytest.raises(VenueError, match="inclusion: expected bond 7, got 8"):
        alice.check_inclusion(a)
    answer({"market": "ETH-PERP"}, seq_a)
    with pytest.raises(VenueError, match="inclusion: expected market BTC-PERP, got ETH-PERP"):
        alice.check_inclusion(a)
    answer({}, seq_b)
    with pytest.raises(VenueError, match="inclusion: expected commitment"):
        alice.check_inclusion(a)
    answer({"root": "0x" + "11" * 32}, seq_a)
    with pytest.raises(VenueError, match="inclusion: expected root"):
        alice.check_inclusion(a)
    monkeypatch.setattr(venue.service, "commitment_proof", honest)
    assert alice.check_inclusion(a)["sequence"] == seq_a


def test_unsettled_batches_and_unknown_receipts_are_named(venue: Venue) -> None:
    alice = venue.traders["alice"]
    pending = alice.commit(Order("BTC-PERP", Side.BUY, 650_000, 10), bond=1)
    with pytest.raises(ApiError) as early:
        alice.check_inclusion(pending)
    assert early.value.status == 409 and early.value.code == "batch_not_settled"
    venue.to_reveal(pending.batch_id)
    alice.reveal(pending)
    venue.to_cleared(pending.batch_id)
    assert alice.check_inclusion(pending)["commitments"] == 1
    r = venue.tc.get(f"/v1/batches/{pending.batch_id}/commitments/1")
    assert r.status_code == 404 and "expected a receipt number in [0, 1), got 1" in r.text
    r = venue.tc.get(f"/v1/batches/{pending.batch_id}/commitments/-1")
    assert r.status_code == 422 and r.json()["detail"].startswith("path.sequence: expected")
    with pytest.raises(VenueError, match="expected a receipt"):
        alice.check_inclusion(
            PendingOrder(pending.order, pending.salt, 0, pending.commitment, 0, {})
        )
