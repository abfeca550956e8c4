"""The bulk commitment path's direct encodings: the logged payload is the model's
JSON, a new commitment's status the constructor's value, and a bulk request with bad
items answers per item and loses nothing else (the same with or without workers)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import sign_digest
from sealbatch.venue.order_status import OrderStatus
from sealbatch.venue.schemas import CommitIn
from sealbatch.venue.signer_pool import MIN_BULK
from tests.venue.conftest import KEYS, Venue, funded_venue

_TRADER = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"


def _body(rng: random.Random, market: str, ciphertext: bool) -> CommitIn:
    return CommitIn(
        trader=rng.choice([_TRADER, _TRADER.lower(), "0x" + rng.randbytes(20).hex().upper()]),
        batch_id=rng.choice([0, (1 << 64) - 1, rng.randrange(1 << 64)]),
        market=market,
        commitment="0x" + rng.randbytes(32).hex(),
        nonce=rng.randrange(1 << 64),
        margin_lock=rng.choice([0, rng.randrange(10**12)]),
        bond=rng.choice([0, rng.randrange(10**9)]),
        expiry_ms=rng.choice([(1 << 64) - 1, rng.randrange(1 << 64)]),
        signature="0x" + rng.randbytes(65).hex(),
        ciphertext="0x" + rng.randbytes(80).hex() if ciphertext else None,
        ciphertext_signature="0x" + rng.randbytes(65).hex() if ciphertext else None,
    )


@pytest.mark.parametrize(
    "market",
    [
        "BTC-PERP",
        "x" * 32,
        "a b/c",
        'say "hi"',
        "back\\slash",
        "é-PERP",
        "tab\t",
        "del\x7f",
        "line\u2028sep",
        "<script>&",
    ],
)
@pytest.mark.parametrize("ciphertext", [False, True])
def test_the_logged_payload_is_the_models_json(market: str, ciphertext: bool) -> None:
    rng = random.Random(market)
    for _ in range(20):
        body = _body(rng, market, ciphertext)
        assert body.log_json() == body.model_dump_json()
        assert CommitIn.model_validate_json(body.log_json()) == body  # the replay parses it


def test_a_new_commitments_status_is_the_constructors() -> None:
    made = OrderStatus.committed(b"\x01" * 32, _TRADER, "BTC-PERP", 3, 7, 1000)  # type: ignore[arg-type]
    plain = OrderStatus(b"\x01" * 32, _TRADER, "BTC-PERP", 3, 7, 1000)  # type: ignore[arg-type]
    assert made == plain and hash(made) == hash(plain)
    assert made.__dict__ == plain.__dict__  # every field, in order, defaults included
    with pytest.raises(AttributeError):
        made.status = "filled"  # type: ignore[misc]  # still frozen


@pytest.fixture(params=[0, 2], ids=["in-place", "workers"])
def bulk_venue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Venue]:
    with funded_venue(tmp_path, signer_workers=request.param) as v:
        yield v


def _dave_bodies(venue: Venue, price: int, count: int) -> list[dict[str, Any]]:
    """``count`` signed commitment bodies of dave's in the collecting batch: buys of one
    BTC-PERP lot at ``price``, ``price + 1``, …"""
    dave = venue.traders["dave"]
    batch = dave._collecting()
    expiry = venue.clock.now_ms() + 60_000
    return [
        dave._commit_body(Order("BTC-PERP", Side.BUY, price + i, 1), batch, 0, 0, expiry)[0]
        for i in range(count)
    ]


def test_a_bulk_request_with_bad_items_answers_each_and_loses_nothing_else(
    bulk_venue: Venue,
) -> None:
    bodies = _dave_bodies(bulk_venue, 100, MIN_BULK + 8)
    erin = bytes.fromhex(KEYS["erin"][2:])
    bad = {
        3: dict(bodies[3], signature="0x" + sign_digest(erin, b"\x22" * 32).hex()),  # not dave
        10: dict(bodies[10], nonce=bodies[10]["nonce"] + 10**6),  # signed another message
        11: dict(bodies[11], signature="0x" + "00" * 64 + "1b"),  # recovers to nobody
        20: dict(bodies[20], market="NOPE-PERP"),  # a market that does not trade
        30: dict(bodies[9]),  # the same commitment again (dave's nonce too)
    }
    sent = [bad.get(i, b) for i, b in enumerate(bodies)]
    service = bulk_venue.service
    seq0 = service._next_seq
    r = bulk_venue.tc.post("/v1/commitments", json=sent)
    assert r.status_code == 200, r.text
    items = r.json()
    assert len(items) == len(sent)
    codes = {i: item["problem"]["code"] for i, item in enumerate(items) if not item["ok"]}
    assert codes == {
        3: "bad_signature",
        10: "bad_signature",
        11: "bad_signature",
        20: "wrong_market",
        30: "commitment_taken",
    }
    taken = [b for i, b in enumerate(sent) if i not in codes]
    # every other item has its receipt, in order, and is durable in the log exactly
    # as the model writes it
    assert [i["receipt"]["sequence"] for i in items if i["ok"]] == list(range(len(taken)))
    assert [i["receipt"]["commitment"] for i in items if i["ok"]] == [
        b["commitment"] for b in taken
    ]
    logged = service.store.load_events(seq0 - 1)
    assert [e.kind for e in logged] == ["commit"] * len(taken)
    assert [e.payload for e in logged] == [CommitIn(**b).model_dump_json() for b in taken]
    assert [json.loads(e.payload)["nonce"] for e in logged] == [b["nonce"] for b in taken]


_DEEP_BODIES = {
    "brackets": b"[" * 100_000,
    "objects": b'{"a":' * 50_000,
    "in a bulk item": b'[{"trader":' + b"[" * 100_000,
    "after a good item": b'[{"nonce":1},' + b"[" * 100_000 + b"]" * 100_000 + b"]",
}


@pytest.mark.parametrize("shape", list(_DEEP_BODIES))
def test_a_deep_commitment_body_gets_the_guards_answer(bulk_venue: Venue, shape: str) -> None:
    """``POST /v1/commitments`` parses its body once (the route's Rust parse, not the
    depth guard's first): a body nested too deep still gets the guard's exact answer,
    the one any other signed write gets for it, and changes nothing."""
    body = _DEEP_BODIES[shape]
    headers = {"content-type": "application/json"}
    events = bulk_venue.service.core.events_applied
    answers = [
        bulk_venue.tc.post(path, content=body, headers=headers)
        for path in ("/v1/commitments", "/v1/reveals")
    ]
    assert answers[0].status_code == answers[1].status_code == 400, answers[0].text
    assert answers[0].content == answers[1].content
    assert answers[0].json()["code"] == "malformed_json"
    assert [list(a.headers.items()) for a in answers[:1]] == [
        list(a.headers.items()) for a in answers[1:]
    ]
    assert bulk_venue.service.core.events_applied == events


def test_a_bulk_body_is_parsed_once(bulk_venue: Venue, monkeypatch: pytest.MonkeyPatch) -> None:
    """The depth guard leaves a commitment list to its route: no second parse."""
    from sealbatch.venue.api import middleware

    calls: list[int] = []
    real = middleware.from_json

    def counted(data: bytes) -> object:
        calls.append(len(data))
        return real(data)

    monkeypatch.setattr(middleware, "from_json", counted)
    bodies = _dave_bodies(bulk_venue, 300, MIN_BULK)
    r = bulk_venue.tc.post("/v1/commitments", json=bodies)
    assert r.status_code == 200 and all(item["ok"] for item in r.json()), r.text
    assert calls == []
    r = bulk_venue.tc.post("/v1/reveals", json=bodies)  # any other signed write: guarded
    assert r.status_code == 422 and calls  # (and its refusal's signer read)
