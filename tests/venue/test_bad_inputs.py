"""Bad inputs get a 4xx problem with a reason and change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address, Eip712Domain, address_of
from sealbatch.venue.client import ApiError, VenueClient
from tests.venue.conftest import Venue


def _state(venue: Venue) -> tuple[Any, ...]:
    core = venue.service.core
    return (
        core.events_applied,
        len(core.order_statuses),
        {b: len(book._order) for b, book in core.books.items()},
        len(core.rfqs.rfqs),
        venue.service._next_seq,
    )


def _good(venue: Venue) -> dict[str, Any]:
    body, _ = venue.traders["alice"]._commit_body(
        Order("BTC-PERP", Side.BUY, 100, 5), 0, 0, 0, 2**63
    )
    return body


def _assert_problem(r: Any, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    p = r.json()
    assert p["status"] == status and p["detail"]
    if code:
        assert p["code"] == code


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda b: b.update(batch_id="0"), 422, "invalid_request"),  # wrong type
        (lambda b: b.update(nonce=2**64), 422, "invalid_request"),  # huge number
        (lambda b: b.update(bond=10**100), 422, "invalid_request"),  # huger number
        (lambda b: b.update(nonce=-1), 422, "invalid_request"),
        (lambda b: b.pop("signature"), 422, "invalid_request"),
        (lambda b: b.update(extra=1), 422, "invalid_request"),
        (lambda b: b.update(commitment="0x1234"), 422, "invalid_request"),
        (lambda b: b.update(signature="0x" + "00" * 65), 401, "bad_signature"),
        (lambda b: b.update(bond=1), 401, "bad_signature"),  # tampered after signing
        (lambda b: b.update(batch_id=5), 409, "wrong_batch"),
        (lambda b: b.update(market="DOGE-PERP"), 422, "wrong_market"),
    ],
)
def test_bad_commitments(venue: Venue, mutate: Any, status: int, code: str) -> None:
    before = _state(venue)
    body = _good(venue)
    mutate(body)
    _assert_problem(venue.tc.post("/v1/commitments", json=body), status, code)
    assert _state(venue) == before


def test_malformed_json_and_oversized_bodies(venue: Venue) -> None:
    before = _state(venue)
    r = venue.tc.post(
        "/v1/commitments", content=b"{not json", headers={"content-type": "application/json"}
    )
    _assert_problem(r, 400, "malformed_json")
    r = venue.tc.post(
        "/v1/commitments", content=b"[]", headers={"content-type": "application/json"}
    )
    _assert_problem(r, 400, "bad_request")
    r = venue.tc.post("/v1/commitments", json=[_good(venue)] * 5_001)
    _assert_problem(r, 400, "bad_request")
    assert _state(venue) == before


def test_replays_are_refused(venue: Venue) -> None:
    body = _good(venue)
    assert venue.tc.post("/v1/commitments", json=body).status_code == 200
    before = _state(venue)
    _assert_problem(venue.tc.post("/v1/commitments", json=body), 409, "commitment_taken")
    # Same nonce, another commitment: nonce replay.
    alice = venue.traders["alice"]
    other, _ = alice._commit_body(Order("BTC-PERP", Side.BUY, 100, 6), 0, 0, 0, 2**63)
    other_nonce = dict(other, nonce=body["nonce"])
    from sealbatch.auction.commit_reveal import COMMIT_TYPE

    values = {
        "trader": alice.address,
        "batchId": 0,
        "market": "BTC-PERP",
        "commitment": bytes.fromhex(other["commitment"][2:]),
        "nonce": body["nonce"],
        "marginLock": 0,
        "bond": 0,
        "expiry": 2**63,
    }
    other_nonce["signature"] = alice._sign(COMMIT_TYPE, values)
    _assert_problem(venue.tc.post("/v1/commitments", json=other_nonce), 409, "nonce_reused")
    assert _state(venue) == before


def test_signature_for_another_chain_or_contract_is_refused(venue: Venue) -> None:
    before = _state(venue)
    for domain in (
        Eip712Domain(chain_id=5),
        Eip712Domain(verifying_contract=Address("0x" + "22" * 20)),
    ):
        c = VenueClient(
            "http://testserver", "0x" + "01" * 32, http=venue.tc, clock=venue.clock.now_ms
        )
        c._info = dict(venue.tc.get("/v1/info").json(), domain=domain.as_dict())
        body, _ = c._commit_body(Order("BTC-PERP", Side.BUY, 100, 5), 0, 0, 0, 2**63)
        _assert_problem(venue.tc.post("/v1/commitments", json=body), 401, "bad_signature")
    assert _state(venue) == before


def test_expired_commitment(venue: Venue) -> None:
    body, _ = venue.traders["alice"]._commit_body(
        Order("BTC-PERP", Side.BUY, 100, 5), 0, 0, 0, venue.clock.now_ms() - 1
    )
    _assert_problem(venue.tc.post("/v1/commitments", json=body), 422, "expired")


def test_late_and_early_reveals_change_nothing(venue: Venue) -> None:
    alice = venue.traders["alice"]
    p = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    before = _state(venue)
    r = venue.tc.post("/v1/reveals", json=_reveal_body(alice, p))  # still commit window
    _assert_problem(r, 409, "outside_window")
    assert _state(venue) == before
    venue.to_cleared(0)
    before = _state(venue)
    _assert_problem(
        venue.tc.post("/v1/reveals", json=_reveal_body(alice, p)), 409, "outside_window"
    )
    assert _state(venue) == before
    assert alice.order(p.commitment)["reason"] == "not_revealed"


def test_reveal_by_someone_else_is_refused(venue: Venue) -> None:
    alice, bob = venue.traders["alice"], venue.traders["bob"]
    p = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5))
    venue.to_reveal(0)
    before = _state(venue)
    _assert_problem(venue.tc.post("/v1/reveals", json=_reveal_body(bob, p)), 401, "bad_signature")
    assert _state(venue) == before


def test_unknown_route_and_method(venue: Venue) -> None:
    _assert_problem(venue.tc.get("/v1/nothing"), 404, "not_found")
    _assert_problem(venue.tc.delete("/v1/commitments"), 405, "method_not_allowed")


def test_rate_limit_429_with_retry_after(db_url: str, clock: Any) -> None:
    from fastapi.testclient import TestClient

    from sealbatch.venue.app import create_app
    from tests.venue.conftest import make_settings

    # min_bond=0: the trader has no collateral, and this test is about rate limits.
    settings = make_settings(db_url, rate_limit_per_s=1, rate_limit_burst=2, min_bond=0)
    app = create_app(settings, clock)
    with TestClient(app) as tc:
        alice = VenueClient("http://testserver", "0x" + "01" * 32, http=tc, clock=clock.now_ms)
        bodies = [
            alice._commit_body(Order("BTC-PERP", Side.BUY, 100, q), 0, 0, 0, 2**63)[0]
            for q in range(1, 7)
        ]
        codes = [tc.post("/v1/commitments", json=b) for b in bodies]
        assert [r.status_code for r in codes[:2]] == [200, 200]
        # 1 token/s: at most one refill in a slow run, so some of the rest are refused.
        refused = [r for r in codes[2:] if r.status_code == 429]
        assert refused
        r = refused[0]
        _assert_problem(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1


def _reveal_body(client: VenueClient, p: Any) -> dict[str, Any]:
    from sealbatch.venue.auth import REVEAL_TYPE, reveal_message

    nonce = client.next_nonce()
    values = reveal_message(client.address, p.commitment, p.order, p.salt, nonce, 2**63)
    return {
        "trader": client.address,
        "commitment": "0x" + p.commitment.hex(),
        "order": p.order.to_dict(),
        "salt": "0x" + p.salt.hex(),
        "nonce": nonce,
        "expiry_ms": 2**63,
        "signature": client._sign(REVEAL_TYPE, values),
    }


def test_oracle_report_from_an_unknown_source_is_refused(venue: Venue) -> None:
    before = _state(venue)
    with pytest.raises(ApiError) as e:
        venue.traders["alice"].post_oracle_price("BTC-PERP", 1_000)
    assert e.value.status == 403 and e.value.code == "unknown_oracle_source"
    assert "configured oracle source" in e.value.detail
    assert _state(venue) == before


def test_oracle_report_with_a_bad_signature_is_refused_401(venue: Venue) -> None:
    from sealbatch.settlement.dev_oracle import dev_oracle_keys
    from sealbatch.settlement.oracle import PriceReport, SignedReport

    k0, k1 = dev_oracle_keys()[:2]
    good = SignedReport.sign(
        PriceReport("BTC-PERP", 1_000, venue.clock.now_ms(), address_of(k0)), k0
    )
    forged = SignedReport(
        PriceReport("BTC-PERP", 1_000, venue.clock.now_ms(), address_of(k1)), good.signature
    )
    before = _state(venue)
    r = venue.tc.post("/v1/oracle/reports", json=forged.to_dict())
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    assert _state(venue) == before
