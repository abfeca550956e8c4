"""TestClient tests per route: commitments, reveals, batches, orders, markets,
accounts, RFQs, stream replay, operator view, metrics, OpenAPI."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sealbatch.auction.commit_reveal import RECEIPT_TYPE
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import recover_signer, signing_digest
from sealbatch.venue.client import ApiError
from tests.venue.conftest import T0, Venue


def test_info_gives_domain_operator_schedule_and_limits(venue: Venue) -> None:
    info = venue.tc.get("/v1/info").json()
    assert info["domain"]["name"] == "sealbatch"
    assert info["schedule"]["collecting"] == 0
    assert info["rate_limits"]["signed_writes_per_s"] > 0
    assert info["operator"].startswith("0x")
    # the caps on open RFQs (409 too_many_open_rfqs beyond), at their defaults
    assert (info["rfq"]["max_open_per_account"], info["rfq"]["max_open"]) == (32, 10_000)


def test_commit_returns_a_receipt_signed_by_the_operator(venue: Venue) -> None:
    alice = venue.traders["alice"]
    p = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    r = p.receipt
    msg = {
        "batchId": r["batch_id"],
        "sequence": r["sequence"],
        "commitment": p.commitment,
        "receivedAt": r["received_at_ms"],
    }
    signer = recover_signer(
        signing_digest(alice.domain, RECEIPT_TYPE, msg), bytes.fromhex(r["operator_signature"][2:])
    )
    assert signer == r["operator"] == venue.tc.get("/v1/info").json()["operator"]
    assert (r["batch_id"], r["sequence"]) == (0, 0)


def test_commit_answers_carry_rate_limit_headers(db_url: str, clock: Any) -> None:
    from fastapi.testclient import TestClient

    from sealbatch.venue.app import create_app
    from sealbatch.venue.client import VenueClient
    from tests.venue.conftest import make_settings

    # 1 token/s refill, so the count below holds on a slow machine too.
    # min_bond=0: the trader has no collateral, and this test is about rate limits.
    settings = make_settings(db_url, rate_limit_per_s=1, rate_limit_burst=200, min_bond=0)
    app = create_app(settings, clock)
    with TestClient(app) as tc:
        alice = VenueClient("http://testserver", "0x" + "01" * 32, http=tc, clock=clock.now_ms)
        remaining = []
        for q in (1, 2, 3):
            body, _ = alice._commit_body(Order("BTC-PERP", Side.BUY, 100, q), 0, 0, 0, 2**63)
            r = tc.post("/v1/commitments", json=body)
            assert r.status_code == 200
            assert int(r.headers["RateLimit-Limit"]) == 200
            remaining.append(int(r.headers["RateLimit-Remaining"]))
        assert remaining[0] == 199 and remaining[2] <= 198 and remaining[2] < remaining[0]


def test_bulk_commit_answers_each_item_in_order(venue: Venue) -> None:
    alice = venue.traders["alice"]
    good, _ = alice._commit_body(Order("BTC-PERP", Side.BUY, 100, 5), 0, 0, 0, 2**63)
    wrong_batch, _ = alice._commit_body(Order("BTC-PERP", Side.BUY, 100, 6), 7, 0, 0, 2**63)
    r = venue.tc.post("/v1/commitments", json=[good, wrong_batch, good])
    items = r.json()
    assert [i["ok"] for i in items] == [True, False, False]
    assert items[1]["problem"]["code"] == "wrong_batch"
    assert items[2]["problem"]["code"] == "commitment_taken"


def test_reveal_clear_and_fates_with_reasons(venue: Venue) -> None:
    t = venue.traders
    buy = t["alice"].commit(Order("BTC-PERP", Side.BUY, 102, 5))
    sell = t["bob"].commit(Order("BTC-PERP", Side.SELL, 100, 3))
    low = t["carol"].commit(Order("BTC-PERP", Side.BUY, 90, 4))
    silent = t["dave"].commit(Order("BTC-PERP", Side.SELL, 101, 2), bond=500)
    venue.to_reveal(0)
    for trader, p in (("alice", buy), ("bob", sell), ("carol", low)):
        assert t[trader].reveal(p)["status"] == "revealed"
    rec = venue.to_cleared(0)
    m = rec["markets"]["BTC-PERP"]
    # D(p) = 5 for p in (90, 102], S(p) = 3 at p >= 100: volume 3 at the price nearest
    # the midpoint of [100, 102] that minimises imbalance.
    assert m["volume"] == 3 and 100 <= m["price"] <= 102
    assert rec["status"] == "settled" and rec["commitments"] == 4 and rec["revealed"] == 3
    assert [f["bond"] for f in rec["forfeits"]] == [500]
    assert sum(f["quantity"] for f in m["fills"] if f["side"] == "buy") == 3
    assert m["curves"]["prices"] == [90, 100, 102]
    fates = {
        n: t[n].order(p.commitment)
        for n, p in (("alice", buy), ("bob", sell), ("carol", low), ("dave", silent))
    }
    assert fates["alice"]["reason"] == "rationed" and fates["alice"]["share"] == "3/5"
    assert fates["bob"]["status"] == "filled"
    assert fates["carol"]["reason"] == "limit_not_reached"
    assert fates["dave"]["status"] == "forfeited" and fates["dave"]["reason"] == "not_revealed"


def test_reveal_mismatch_is_refused_and_becomes_the_fate(venue: Venue) -> None:
    alice = venue.traders["alice"]
    p = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    venue.to_reveal(0)
    p.order = Order("BTC-PERP", Side.BUY, 100, 6)  # not what was committed
    refused = venue.refused_then_forfeited(alice, p, "reveal_mismatch", "reveal_mismatch")
    assert refused.status == 422


def test_outside_band_reveal_is_recorded(venue: Venue) -> None:
    t = venue.traders
    venue.trade(0, [("alice", Order("BTC-PERP", Side.BUY, 1000, 1)),
                    ("bob", Order("BTC-PERP", Side.SELL, 1000, 1))])  # fmt: skip
    # the reference becomes 1000; band ±10 %
    venue.clock.set(venue.clock.now_ms() + 1_000)  # into batch 2's commit window
    far = t["alice"].commit(Order("BTC-PERP", Side.BUY, 2000, 1))
    venue.to_reveal(far.batch_id)
    with pytest.raises(ApiError) as e:
        t["alice"].reveal(far)
    assert e.value.code == "outside_band"
    venue.to_cleared(far.batch_id)
    assert t["alice"].order(far.commitment)["reason"] == "outside_band"


def test_gtc_rest_is_carried_and_reported_resting(venue: Venue) -> None:
    t = venue.traders
    a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 5, TimeInForce.GTC))
    b = t["bob"].commit(Order("BTC-PERP", Side.SELL, 100, 2))
    venue.to_reveal(0)
    t["alice"].reveal(a)
    t["bob"].reveal(b)
    rec = venue.to_cleared(0)
    assert rec["carried_out"] == 1
    assert t["alice"].order(a.commitment)["status"] == "resting"


def test_batches_list_and_open_batch_view(venue: Venue) -> None:
    r = venue.tc.get("/v1/batches/0").json()
    assert r["status"] == "committed" and r["phase"] == "commit"
    assert venue.tc.get("/v1/batches/99").status_code == 404
    alice = venue.traders["alice"]
    alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    venue.to_cleared(0)
    listing = venue.tc.get("/v1/batches").json()
    assert [b["batch_id"] for b in listing["batches"]] == [0]
    assert listing["batches"][0]["status"] == "settled"


def test_proof_is_an_honest_409_until_proven(venue: Venue) -> None:
    """This venue does not prove (tests/venue/test_proving.py has one that does):
    its settled batch has no proof, and the route says so."""
    venue.traders["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 5))
    venue.to_cleared(0)
    r = venue.tc.get("/v1/batches/0/proof")
    assert r.status_code == 409 and r.json()["code"] == "no_proof_yet"
    assert r.headers["content-type"] == "application/problem+json"
    assert venue.tc.get("/v1/batches/12345/proof").status_code == 404


def test_markets(venue: Venue) -> None:
    ms = venue.tc.get("/v1/markets").json()["markets"]
    assert [m["market_id"] for m in ms] == ["BTC-PERP", "ETH-PERP"]
    assert venue.tc.get("/v1/markets/BTC-PERP").json()["block_min_lots"] == 10_000
    r = venue.tc.get("/v1/markets/DOGE-PERP")
    assert r.status_code == 404 and r.json()["code"] == "unknown_market"


def test_orders_unknown_and_malformed(venue: Venue) -> None:
    signed = venue.traders["alice"].read_headers()
    r = venue.tc.get("/v1/orders/0x" + "00" * 32, headers=signed)
    assert r.status_code == 404 and r.json()["code"] == "unknown_commitment"
    r = venue.tc.get("/v1/orders/nothex", headers=signed)
    assert r.status_code == 400


def test_accounts_route(venue: Venue) -> None:
    addr = venue.traders["alice"].address
    r = venue.tc.get(f"/v1/accounts/{addr}", headers=venue.traders["alice"].read_headers())
    assert r.status_code == 200 and r.json()["address"] == addr
    assert venue.tc.get("/v1/accounts/0x1234").status_code == 400


def test_operator_view_metrics_and_openapi(venue: Venue) -> None:
    view = venue.tc.get("/v1/operator").json()
    assert view["batch_lag"] == 0 and "queues" in view
    venue.traders["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 5))
    text = venue.tc.get("/metrics").text
    assert 'sealbatch_writes_total{kind="commit"} 1.0' in text
    spec = venue.tc.get("/openapi.json").json()
    for path in (
        "/v1/commitments",
        "/v1/reveals",
        "/v1/batches/{batch_id}",
        "/v1/orders/{commitment}",
        "/v1/rfqs",
        "/v1/accounts/{address}",
    ):
        assert path in spec["paths"]
    assert spec["components"]["schemas"]["CommitIn"]["examples"]


def test_stream_replay_route(venue: Venue) -> None:
    venue.traders["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 5))
    venue.to_cleared(0)
    deadline = time.monotonic() + 5
    while True:  # published once the batch record is durable
        r = venue.tc.get("/v1/stream/replay", params={"topic": "batches", "after": 0}).json()
        if r["messages"] or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert [m["seq"] for m in r["messages"]] == [1]
    assert r["messages"][0]["data"]["batch_id"] == 0
    assert (
        venue.tc.get("/v1/stream/replay", params={"topic": "nope", "after": 0}).status_code == 400
    )


def test_websocket_snapshot_then_sequenced_messages(venue: Venue) -> None:
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_json({"op": "subscribe", "topics": ["batches"]})
        snap = ws.receive_json()
        assert snap["type"] == "snapshot" and snap["seq"] == 0
        venue.traders["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 5))
        venue.to_cleared(0)
        msg = ws.receive_json()
        assert (msg["type"], msg["seq"], msg["data"]["batch_id"]) == ("batch", 1, 0)
        assert msg["epoch"] == snap["epoch"]


def test_websocket_refuses_a_bad_subscription(venue: Venue) -> None:
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_json({"op": "subscribe", "topics": ["everything"]})
        assert ws.receive_json()["code"] == "bad_subscribe"


def test_unfunded_reveal_is_margin_rejected(venue: Venue) -> None:
    from sealbatch.venue.client import VenueClient

    broke = VenueClient(
        "http://testserver", "0x" + "ee" * 32, http=venue.tc, clock=venue.clock.now_ms
    )
    broke.deposit(5_000_000)  # 5 USDC: covers the 1 USDC bond, not 10 USDC of margin
    p = broke.commit(Order("BTC-PERP", Side.BUY, 100, 10_000))
    venue.to_reveal(0)
    venue.refused_then_forfeited(broke, p, "insufficient_margin", "margin_rejected")


def test_account_after_a_trade(venue: Venue) -> None:
    t = venue.traders
    rec = venue.trade(0, [("alice", Order("BTC-PERP", Side.BUY, 100, 50)),
                          ("bob", Order("BTC-PERP", Side.SELL, 100, 50))])  # fmt: skip
    assert rec["settlement"]["settled"] and rec["settlement"]["post_root"].startswith("0x")
    acct = t["alice"].account()
    assert acct["positions"]["BTC-PERP"] == 50
    assert acct["initial_margin"] > acct["maintenance_margin"] > 0
    # Liquidation price of a long lies below the mark.
    assert 0 < acct["liquidation_prices"]["BTC-PERP"] < acct["mark_prices"]["BTC-PERP"]
    assert acct["orders"][0]["status"] == "filled"


def _trade_at(venue: Venue, batch_id: int, price: int) -> None:
    t = venue.traders
    a = t["alice"].commit(Order("BTC-PERP", Side.BUY, price, 1), batch_id=batch_id)
    b = t["bob"].commit(Order("BTC-PERP", Side.SELL, price, 1), batch_id=batch_id)
    venue.to_reveal(batch_id)
    t["alice"].reveal(a)
    t["bob"].reveal(b)


@pytest.mark.parametrize("oracle", [False, True])
def test_circuit_breaker_widens_the_band(venue: Venue, oracle: bool) -> None:
    """Without fresh oracle reports the breaker holds the market in protective
    mode (band 20 %); with agreeing reports and a calm price, the band stays 10 %."""
    from sealbatch.settlement.dev_oracle import dev_oracle_keys
    from sealbatch.venue.client import VenueClient

    if oracle:
        for k in dev_oracle_keys():
            feeder = VenueClient("http://testserver", k, http=venue.tc, clock=venue.clock.now_ms)
            feeder.post_oracle_price("BTC-PERP", 1_000)
    _trade_at(venue, 0, 1_000)
    rec = venue.to_cleared(0)
    market = venue.tc.get("/v1/markets/BTC-PERP").json()
    assert market["breaker"]["protective"] is (not oracle)
    assert rec["settlement"]["readings"]["BTC-PERP"]["flagged"] is (not oracle)
    # What protective mode changes is served: the band in force and the liquidation slice.
    risk = venue.service.core.settlement.config.risk("BTC-PERP")
    breaker = market["breaker"]
    assert breaker["band_bps"] == market["band_bps"]
    assert breaker["band_bps"] == (risk.market.band_bps if oracle else risk.protective_band_bps)
    assert breaker["liquidation_lots"] == (
        risk.max_liquidation_lots if oracle else risk.protective_liquidation_lots
    )
    venue.clock.set(T0 + 2_000 + 100)
    p = venue.traders["carol"].commit(Order("BTC-PERP", Side.BUY, 1_150, 1))
    # ... and batches keep their length (docs/api.md, "Protective mode").
    assert p.batch_id == 2
    assert venue.tc.get("/v1/info").json()["schedule"]["collecting"] == 2
    venue.to_reveal(p.batch_id)
    if oracle:
        with pytest.raises(ApiError) as e:
            venue.traders["carol"].reveal(p)
        assert e.value.code == "outside_band"
    else:
        assert venue.traders["carol"].reveal(p)["status"] == "revealed"


def test_withdrawals(venue: Venue) -> None:
    from tests.venue.conftest import FUNDING

    alice = venue.traders["alice"]
    assert alice.withdraw(1_000_000)["status"] == "pending"
    assert alice.account()["pending_withdrawals"] == 1_000_000
    with pytest.raises(ApiError) as e:
        alice.withdraw(FUNDING)  # more than is left
    assert e.value.code == "insufficient_collateral"
    rec = venue.to_cleared(0)
    assert rec["settlement"]["withdrawals"] == [[alice.address, 1_000_000]]
    assert alice.account()["collateral"] == FUNDING - 1_000_000
    venue.clock.set(T0 + 2_000 + 100)
    alice.commit(Order("BTC-PERP", Side.BUY, 100, 1))
    with pytest.raises(ApiError) as e:
        alice.withdraw(1)
    assert (e.value.status, e.value.code) == (409, "orders_pending")


def test_a_revealed_order_stays_sealed_until_its_batch_clears(venue: Venue) -> None:
    alice = venue.traders["alice"]
    p = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    venue.to_reveal(0)
    assert alice.reveal(p)["order"]["quantity"] == 5  # the revealer sees its own order
    fate = alice.order(p.commitment)
    assert fate["status"] == "revealed" and fate["order"] is None
    venue.to_cleared(0)
    assert alice.order(p.commitment)["order"]["quantity"] == 5
