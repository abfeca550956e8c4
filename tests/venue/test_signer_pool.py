"""Bulk commitments recovered in worker processes: the same answers as in place,
and a forged or foreign signature is still refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sealbatch.auction.commit_reveal import Receipt
from sealbatch.auction.errors import BadSignature
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import address_of, sign_digest
from sealbatch.venue.api.routes.commitments import _bulk_receipt, receipt_json
from sealbatch.venue.schemas import CommitIn
from sealbatch.venue.signer_pool import MIN_BULK
from tests.venue.conftest import KEYS, Venue, funded_venue


@pytest.fixture(params=[0, 1], ids=["in-place", "workers"])
def bulk_venue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Venue]:
    with funded_venue(tmp_path, signer_workers=request.param) as v:
        yield v


def _bodies(venue: Venue, n: int) -> list[dict[str, Any]]:
    dave = venue.traders["dave"]
    batch = dave._collecting()
    out = []
    for i in range(n):
        body, _ = dave._commit_body(
            Order("BTC-PERP", Side.BUY, 100 + i, 1), batch, 0, 0, venue.clock.now_ms() + 60_000
        )
        out.append(body)
    return out


def test_bulk_answers_are_the_same_with_workers(bulk_venue: Venue) -> None:
    bodies = _bodies(bulk_venue, MIN_BULK + 6)
    # A signature over another message: recovers, but to someone else than the trader.
    forged = dict(bodies[1], nonce=bodies[1]["nonce"] + 10**6)
    # A signature by another key naming dave as trader (the attack: commit as dave).
    erin = bytes.fromhex(KEYS["erin"][2:])
    foreign = dict(bodies[2], signature="0x" + sign_digest(erin, b"\x11" * 32).hex())
    sent = [*bodies[3:], forged, foreign]
    r = bulk_venue.tc.post("/v1/commitments", json=sent)
    assert r.status_code == 200, r.text
    items = r.json()
    assert [i["ok"] for i in items] == [True] * (len(sent) - 2) + [False, False]
    assert items[-2]["problem"]["code"] == items[-1]["problem"]["code"] == "bad_signature"
    service = bulk_venue.service
    assert len(service.core.books[bodies[0]["batch_id"]]._order) == len(sent) - 2
    if service.signers.workers:
        assert service.signers.recovered == len(sent)  # every one recovers, to someone
        assert service.signers.signed == len(sent) - 2  # the receipts signed there
    # Every receipt, wherever signed, is the operator's signature over its own fields.
    for item in items[:-2]:
        rec = item["receipt"]
        receipt = Receipt(
            rec["batch_id"],
            rec["sequence"],
            bytes.fromhex(rec["commitment"][2:]),
            rec["received_at_ms"],
            bytes.fromhex(rec["operator_signature"][2:]),
        )
        assert receipt.signer(service.domain) == rec["operator"] == service.core.operator
    assert [i["receipt"]["sequence"] for i in items[:-2]] == list(range(len(sent) - 2))


def test_a_bulk_receipt_is_the_json_of_its_receipt() -> None:
    r = Receipt(7, 3, bytes(range(32)), 1_700_000_000_123, bytes(range(65)))
    operator = address_of(bytes.fromhex(KEYS["alice"][2:]))
    assert json.loads(_bulk_receipt(r, operator)) == {
        "ok": True,
        "receipt": receipt_json(r, operator),
    }


def test_a_signer_recovered_elsewhere_must_still_be_the_named_trader(bulk_venue: Venue) -> None:
    # The workers hand each body's recovered address to the state machine: an
    # address that is not the named trader is refused like a bad signature there.
    (body,) = _bodies(bulk_venue, 1)
    service = bulk_venue.service
    bob = address_of(bytes.fromhex(KEYS["bob"][2:]))
    with pytest.raises(BadSignature, match="expected signer"):
        service.core.commit(CommitIn(**body), bulk_venue.clock.now_ms(), signer=bob)
    assert body["batch_id"] not in service.core.books  # refused: no trace
    receipt = service.core.commit(
        CommitIn(**body), bulk_venue.clock.now_ms(), signer=address_of(KEYS["dave"])
    )
    assert receipt.sequence == 0
