"""Restart from the durable log: the same state, identical batch results."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import address_of
from sealbatch.venue.app import create_app
from sealbatch.venue.client import ApiError
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.errors import StateDiverged
from sealbatch.venue.persistence import Store
from sealbatch.venue.service import VenueService
from sealbatch.venue.tables import BatchRow
from tests.venue.conftest import KEYS, T0, Venue, make_settings


def _trade(venue: Venue, batches: int) -> None:
    t = venue.traders
    for b in range(batches):
        venue.clock.set(T0 + b * 1_000 + 100)
        p = [
            t["alice"].commit(Order("BTC-PERP", Side.BUY, 100 + b, 5, TimeInForce.GTC)),
            t["bob"].commit(Order("BTC-PERP", Side.SELL, 99, 3)),
            t["carol"].commit(Order("ETH-PERP", Side.SELL, 50, 2), bond=7),
        ]
        venue.to_reveal(b)
        t["alice"].reveal(p[0])
        t["bob"].reveal(p[1])  # carol never reveals: forfeit


def _records(service: VenueService) -> dict[int, Any]:
    return {b: json.dumps(r.to_json(), sort_keys=True) for b, r in service.core.records.items()}


def test_restart_rebuilds_identical_results(db_url: str) -> None:
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(make_settings(db_url), clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        _trade(venue, 3)
        venue.to_cleared(2)
        before = _records(venue.service)
        statuses = dict(venue.service.core.order_statuses)
        alice = venue.traders["alice"].address
        assert alice is not None
        root = venue.service.core.settlement.account(alice).state_root
        nonces = set(venue.service.core.nonces._used)
    assert sorted(before) == [0, 1, 2]
    with TestClient(create_app(make_settings(db_url), clock)) as tc:
        service = tc.app.state.service  # type: ignore[attr-defined]
        assert service.replayed > 0
        assert _records(service) == before
        assert service.core.order_statuses == statuses and set(service.core.nonces._used) == nonces
        assert service.core.settlement.account(alice).state_root == root
        # The batch clock resumes: batch 4 collects and clears after restart.
        venue = Venue(tc, clock)
        clock.set(T0 + 4_000 + 100)
        a = venue.traders["alice"].commit(Order("BTC-PERP", Side.SELL, 100, 1))
        assert a.batch_id == 4
        venue.to_reveal(4)
        venue.traders["alice"].reveal(a)
        assert venue.to_cleared(4)["status"] == "settled"


def one_batch_stored(db_url: str) -> tuple[Store, ManualClock]:
    """A venue on ``db_url`` without snapshots (a restart replays the whole log) clears
    batch 0 (:func:`_trade`) and stops: its store, and its clock."""
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(make_settings(db_url, snapshot_every=0), clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        _trade(venue, 1)
        venue.to_cleared(0)
    return Store(db_url), clock


def test_a_tampered_store_refuses_to_start(db_url: str) -> None:
    # The whole log replayed (no snapshot): every stored batch is checked.
    store, clock = one_batch_stored(db_url)
    table = BatchRow.__table__  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        conn.execute(
            update(table).where(table.c.batch_id == 0).values(result_hash="0x" + "00" * 32)
        )
    store.close()
    with pytest.raises(StateDiverged):
        VenueService(make_settings(db_url, snapshot_every=0), clock)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    orders=st.lists(
        st.tuples(
            st.sampled_from(["alice", "bob", "carol", "dave"]),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.one_of(st.none(), st.integers(95, 105)),
            st.integers(1, 20),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_replay_is_deterministic_for_any_batch(tmp_path_factory: Any, orders: Any) -> None:
    """Property: whatever is committed and revealed, a restart reproduces every
    record byte for byte, and each market's bought and sold lots match."""
    db_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'v.db'}"
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(make_settings(db_url), clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        pending = []
        for name, side, limit, qty, reveal in orders:
            p = venue.traders[name].commit(Order("BTC-PERP", side, limit, qty))
            pending.append((name, p, reveal))
        venue.to_reveal(0)
        for name, p, reveal in pending:
            if reveal:
                # Refusals (market orders before the first mark) are part of the property.
                with contextlib.suppress(ApiError):
                    venue.traders[name].reveal(p)
        rec = venue.to_cleared(0)
        fills = rec["markets"]["BTC-PERP"]["fills"]
        bought = sum(f["quantity"] for f in fills if f["side"] == "buy")
        sold = sum(f["quantity"] for f in fills if f["side"] == "sell")
        assert bought == sold == rec["markets"]["BTC-PERP"]["volume"]
        before = _records(venue.service)
    service = VenueService(make_settings(db_url), clock)
    try:
        assert _records(service) == before
    finally:
        service.close()


def test_every_kind_of_write_replays(db_url: str) -> None:
    """Deposits, withdrawals, oracle reports, RFQ messages and a settled block
    all come back identical after a restart."""
    from sealbatch.settlement.dev_oracle import dev_oracle_keys
    from sealbatch.venue.client import VenueClient

    clock = ManualClock(T0 + 100)
    with TestClient(create_app(make_settings(db_url), clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        t = venue.traders
        for k in dev_oracle_keys():
            VenueClient("http://testserver", k, http=tc, clock=clock.now_ms).post_oracle_price(
                "BTC-PERP", 100
            )
        t["erin"].withdraw(5_000_000)
        rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
        q = t["bob"].quote(rfq["rfq_id"], 99, 101)
        clock.set(rfq["opened_ms"] + 200)
        t["bob"].reveal_quote(q)
        clock.set(rfq["opened_ms"] + 300)
        acc = t["alice"].accept_best(rfq["rfq_id"], "buy")
        a = t["carol"].commit(Order("BTC-PERP", Side.BUY, 100, 2), batch_id=acc["batch_id"])
        b = t["dave"].commit(Order("BTC-PERP", Side.SELL, 100, 2), batch_id=acc["batch_id"])
        venue.to_reveal(acc["batch_id"])
        t["carol"].reveal(a)
        t["dave"].reveal(b)
        rec = venue.to_cleared(acc["batch_id"])
        assert rec["blocks"][0]["status"] == "filled"
        before = _records(venue.service)
        rfqs = {k: r.to_dict(clock.now_ms()) for k, r in venue.service.core.rfqs.rfqs.items()}
        accounts = {n: c.account() for n, c in t.items()}
    service = VenueService(make_settings(db_url), clock)
    try:
        assert _records(service) == before
        assert {k: r.to_dict(clock.now_ms()) for k, r in service.core.rfqs.rfqs.items()} == rfqs
        for n, key in KEYS.items():
            acct = service.core.settlement.account(address_of(key)).to_dict()
            assert {k: acct[k] for k in ("collateral", "positions", "state_root")} == {
                k: accounts[n][k] for k in ("collateral", "positions", "state_root")
            }
    finally:
        service.close()


def test_a_replay_hashes_the_reveals_at_once_and_still_refuses_a_wrong_one(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The attack: a reveal refused live (its salt does not open the commitment)
    # must not become a fill when the log is replayed with the reveals' hashes
    # computed ahead of need.
    clock = ManualClock(T0 + 100)
    settings_ = make_settings(db_url, snapshot_every=0)  # the whole log replayed
    with TestClient(create_app(settings_, clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        t = venue.traders
        a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 4))
        b = t["bob"].commit(Order("BTC-PERP", Side.SELL, 100, 4))
        c = t["carol"].commit(Order("BTC-PERP", Side.SELL, 99, 4))
        venue.to_reveal(0)
        t["alice"].reveal(a)
        t["bob"].reveal(b)
        wrong = dataclasses.replace(c, salt=bytes(32))  # a salt that does not open it
        with contextlib.suppress(ApiError):
            t["carol"].reveal(wrong)
        rec = venue.to_cleared(0)
        assert rec["markets"]["BTC-PERP"]["volume"] == 4  # alice and bob only
        before = _records(venue.service)
        statuses = dict(venue.service.core.order_statuses)
    assert statuses[c.commitment].reason is not None  # refused, and recorded
    # No reveal is hashed one at a time on replay: all of them in one vectorised call.
    from sealbatch.auction import commit_reveal

    def scalar(*_: Any) -> bytes:
        raise AssertionError("a reveal hashed one at a time on replay")

    monkeypatch.setattr(commit_reveal, "compute_commitment", scalar)
    service = VenueService(settings_, clock)
    try:
        assert service.replayed > 0
        assert _records(service) == before
        assert service.core.order_statuses == statuses
        assert service.core.replay_digests == {}
    finally:
        service.close()
