"""Bulk commitments recovered in worker processes: the same answers as in place,
and a forged or foreign signature is still refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto import eip712
from sealbatch.crypto.eip712 import address_of, recover_signer, remember_signer, sign_digest
from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.signer_pool import MIN_BULK
from tests.venue.conftest import KEYS, T0, Venue, make_settings


@pytest.fixture(params=[0, 1], ids=["in-place", "workers"])
def bulk_venue(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Venue]:
    clock = ManualClock(T0 + 100)
    settings = make_settings(f"sqlite:///{tmp_path / 'v.db'}", signer_workers=request.param)
    with TestClient(create_app(settings, clock)) as tc:
        v = Venue(tc, clock)
        v.fund()
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


def test_a_remembered_signer_is_used_once_and_only_for_its_pair() -> None:
    key = bytes.fromhex(KEYS["alice"][2:])
    digest = b"\x22" * 32
    sig = sign_digest(key, digest)
    remember_signer(digest, sig, address_of(bytes.fromhex(KEYS["bob"][2:])))
    assert (digest, sig) in eip712._RECOVERED
    first = recover_signer(digest, sig)
    assert first == address_of(bytes.fromhex(KEYS["bob"][2:]))  # the remembered answer
    assert (digest, sig) not in eip712._RECOVERED
    assert recover_signer(digest, sig) == address_of(key)  # used once: recovered again
