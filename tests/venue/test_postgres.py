"""The venue on PostgreSQL (``SEALBATCH_TEST_PG_URL``; run by .ci/run with a
temporary local cluster): routes, durability and identical replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.service import VenueService
from tests.venue.conftest import T0, Venue, make_settings, pg_url, reset_pg

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(pg_url() is None, reason="SEALBATCH_TEST_PG_URL is not set"),
]


@pytest.fixture
def pg() -> Iterator[str]:
    url = pg_url()
    assert url is not None
    reset_pg(url)
    yield url
    reset_pg(url)


def _two_batches(pg: str, clock: ManualClock, **settings: Any) -> dict[Any, Any]:
    """Two batches with fills, a GTC rest and a forfeit; returns the stored records."""
    with TestClient(create_app(make_settings(pg, **settings), clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        t = venue.traders
        for b in range(2):
            clock.set(T0 + b * 1_000 + 100)
            pa = t["alice"].commit(Order("BTC-PERP", Side.BUY, 101, 5, TimeInForce.GTC))
            pb = t["bob"].commit(Order("BTC-PERP", Side.SELL, 100, 3), bond=9)
            t["carol"].commit(Order("ETH-PERP", Side.BUY, 10, 1), bond=4)
            venue.to_reveal(b)
            t["alice"].reveal(pa)
            t["bob"].reveal(pb)
        rec = venue.to_cleared(1)
        assert rec["markets"]["BTC-PERP"]["volume"] == 3 and len(rec["forfeits"]) == 1
        assert t["carol"].order(venue.service.core.by_trader[str(t["carol"].address)][0])[
            "status"
        ] == ("forfeited")
        r = tc.post("/v1/commitments", content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 400
        return _records(venue.service)


def test_commit_reveal_clear_and_replay_on_postgres(pg: str) -> None:
    clock = ManualClock(T0 + 100)
    before = _two_batches(pg, clock, snapshot_every=0)
    service = VenueService(make_settings(pg, snapshot_every=0), clock)
    try:
        assert service.replayed == 10 + 5  # commits and reveals, 5 deposits
        assert _records(service) == before
        assert set(service.store.load_batches()) == {0, 1}
    finally:
        service.close()


def test_restart_from_a_snapshot_on_postgres(pg: str) -> None:
    """A snapshot stored on PostgreSQL restores the same venue from a shorter replay."""
    clock = ManualClock(T0 + 100)
    before = _two_batches(pg, clock, snapshot_every=1)
    service = VenueService(make_settings(pg, snapshot_every=1), clock)
    try:
        assert service.replayed < 10 + 5  # only the log after the newest snapshot
        assert _records(service) == before
        assert set(service.store.load_batches()) == {0, 1}
    finally:
        service.close()


def test_bulk_commit_on_postgres(pg: str) -> None:
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(make_settings(pg), clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        pending = venue.traders["alice"].commit_many(
            [Order("BTC-PERP", Side.BUY, 100, q) for q in range(1, 201)]
        )
        assert [p.receipt["sequence"] for p in pending] == list(range(200))
        assert len(venue.service.store.load_events()) == 200 + 5  # and 5 deposits


def _records(service: VenueService) -> dict[int, str]:
    return {b: json.dumps(r.to_json(), sort_keys=True) for b, r in service.core.records.items()}
