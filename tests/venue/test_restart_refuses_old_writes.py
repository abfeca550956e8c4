"""Every logged signed write, sent again after a restart, is refused and changes nothing
(the nonces and books come back from the log)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from tests.venue.conftest import T0, Venue, make_settings


def _route(kind: str, payload: dict[str, object]) -> str:
    rid = payload.get("rfq_id")
    return {
        "commit": "/v1/commitments",
        "reveal": "/v1/reveals",
        "deposit": "/v1/deposits",
        "withdraw": "/v1/withdrawals",
        "rfq": "/v1/rfqs",
        "quote_commit": f"/v1/rfqs/{rid}/quotes",
        "quote_reveal": f"/v1/rfqs/{rid}/reveals",
        "accept": f"/v1/rfqs/{rid}/accept",
    }[kind]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_logged_write_sent_again_after_a_restart_is_refused(db_url: str) -> None:
    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url)
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        t = venue.traders
        t["erin"].withdraw(1_000_000)
        pending = t["carol"].commit(Order("BTC-PERP", Side.BUY, 650_000, 2))
        rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
        quote = t["bob"].quote(rfq["rfq_id"], 99, 101)
        clock.set(rfq["opened_ms"] + 200)
        t["bob"].reveal_quote(quote)
        clock.set(rfq["opened_ms"] + 300)
        t["alice"].accept_best(rfq["rfq_id"], "buy")
        venue.to_reveal(pending.batch_id)
        t["carol"].reveal(pending)
        events = venue.service.store.load_events()
    kinds = {e.kind for e in events}
    assert {"deposit", "withdraw", "commit", "rfq", "quote_commit", "quote_reveal", "accept"} <= (
        kinds
    )
    with TestClient(create_app(settings, clock)) as tc:
        service = tc.app.state.service  # type: ignore[attr-defined]
        for e in events:
            payload = json.loads(e.payload)
            r = tc.post(_route(e.kind, payload), json=payload)
            assert 400 <= r.status_code < 500, (e.kind, r.text)
            assert r.json()["code"] != "bad_signature", (e.kind, r.text)
        assert len(service.store.load_events()) == len(events)
