"""The RFQ rules that hold collateral replay from the venue's log as they ran: each
open RFQ's request bond, and a quote reveal refused because its maker could not carry
it (the quote stays sealed and forfeits its bond). A reveal taken before that check
existed still replays."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.settlement.clearinghouse import Clearinghouse
from sealbatch.venue.app import create_app
from sealbatch.venue.client import ApiError
from sealbatch.venue.clock import ManualClock
from tests.venue.conftest import T0, Venue, make_settings
from tests.venue.test_rfq import _prime_price


def _held(venue: Venue) -> dict[str, Any]:
    core = venue.service.core
    ch = core.settlement
    return {
        "stake": dict(ch._stake),
        "requests": dict(ch._requests),
        "rooms": {n: ch.room(c._me()) for n, c in venue.traders.items()},
        "revealed": {
            "0x" + r.rfq_id.hex(): sorted(q.revealed_ms is not None for q in r.quotes.values())
            for r in core.rfqs.rfqs.values()
        },
        "collateral": {n: c.account()["collateral"] for n, c in venue.traders.items()},
    }


@pytest.mark.parametrize("snapshot_every", [0, 1])
def test_request_bonds_and_a_refused_quote_reveal_replay(db_url: str, snapshot_every: int) -> None:
    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url, snapshot_every=snapshot_every)
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        t = venue.traders
        _prime_price(venue, 100)
        rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
        kept = t["bob"].quote(rfq["rfq_id"], 99, 101)
        dropped = t["carol"].quote(rfq["rfq_id"], 98, 100)
        t["carol"].withdraw(venue.service.core.settlement.room(t["carol"]._me()))
        clock.set(rfq["opened_ms"] + 200)
        with pytest.raises(ApiError) as refused:
            t["carol"].reveal_quote(dropped)
        assert refused.value.code == "insufficient_margin"
        t["bob"].reveal_quote(kept)
        clock.set(rfq["opened_ms"] + 300)
        t["alice"].accept_best(rfq["rfq_id"], "buy")
        clock.set(clock.now_ms() + 5_000)
        tc.get("/v1/batches")  # carol's sealed quote forfeits its bond
        t["dave"].request_rfq("BTC-PERP", 10_000, window_ms=2_000)  # open at the restart
        before = _held(venue)
    assert before["requests"]  # dave's bond is held
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        assert _held(venue) == before


def test_a_logged_reveal_from_before_the_carry_check_still_replays(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log written before reveals were checked may hold a reveal its maker could not
    carry: the replay takes it as it was taken (the venue starts), rather than refusing
    it as a live reveal is now."""
    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url)
    with monkeypatch.context() as m:
        m.setattr(Clearinghouse, "quote_check", lambda self, maker, orders: None)
        with TestClient(create_app(settings, clock)) as tc:
            venue = Venue(tc, clock)
            venue.fund()
            t = venue.traders
            _prime_price(venue, 100)
            rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
            q = t["carol"].quote(rfq["rfq_id"], 98, 100)
            t["carol"].withdraw(venue.service.core.settlement.room(t["carol"]._me()))
            clock.set(rfq["opened_ms"] + 200)
            t["carol"].reveal_quote(q)  # taken: no check then
            before = _held(venue)
    assert before["revealed"][rfq["rfq_id"]] == [True]
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        assert _held(venue) == before
