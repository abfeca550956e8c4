"""Malformed stream messages and bodies get a documented code, never a traceback;
every answer to a signed write carries the rate-limit headers (issue 10, item 7)."""

from __future__ import annotations

import json

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import ApiError
from tests.venue.conftest import Venue, make_settings

DEEP = "[" * 100_000


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"op":"subscribe","topics":5}', "bad_subscribe"),
        ('{"op":"subscribe","topics":[5]}', "bad_subscribe"),
        ('{"op":"subscribe","topics":[]}', "bad_subscribe"),
        ('{"op":"subscribe","topics":["batches"],"auth":7}', "bad_subscribe"),
        ('{"op":"unsubscribe","topics":["batches"]}', "bad_subscribe"),
        ("[1, 2]", "bad_subscribe"),
        ("null", "bad_subscribe"),
        (DEEP, "malformed_json"),
        ("{not json", "malformed_json"),
    ],
)
def test_a_malformed_subscribe_gets_an_error_frame_and_a_clean_close(
    venue: Venue, frame: str, code: str
) -> None:
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_text(frame)
        msg = ws.receive_json()
        assert msg["type"] == "error" and msg["code"] == code and msg["detail"]
        closed = ws.receive()
        assert closed["type"] == "websocket.close" and closed["code"] == 1008
    assert venue.service.broker.subscribers == 0
    assert venue.tc.get("/healthz").json()["ok"]


def test_a_binary_subscribe_frame_gets_malformed_json(venue: Venue) -> None:
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(b"\x00\x01")
        assert ws.receive_json()["code"] == "malformed_json"


def test_later_malformed_messages_leave_the_subscription_usable(venue: Venue) -> None:
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_json({"op": "subscribe", "topics": ["batches"]})
        assert ws.receive_json()["type"] == "snapshot"
        for frame, code in ((DEEP, "malformed_json"), ('{"op":"subscribe"}', "unexpected_message")):
            ws.send_text(frame)
            msg = ws.receive_json()
            assert msg["type"] == "error" and msg["code"] == code
        ws.send_bytes(b"\xff")
        assert ws.receive_json()["code"] == "malformed_json"
        # still subscribed: a cleared batch arrives
        venue.traders["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 5))
        venue.to_cleared(0)
        msg = ws.receive_json()
        assert msg["type"] == "batch" and msg["topic"] == "batches" and msg["seq"] == 1


#: Subscribe frames holding a key twice: the parse kept the last value (here the
#: ``batches`` topic, the socket subscribed), another reader keeps the first.
TWICE_FRAMES = [
    pytest.param('{"op":"subscribe","topics":["rfqs"],"topics":["batches"]}', "topics", id="top"),
    pytest.param(
        '{"op":"subscribe","topics":["batches"],'
        '"auth":[{"account":"0x1","expiry":1,"signature":"0x","account":"0x2"}]}',
        "account",
        id="nested",
    ),
    pytest.param(
        '{"op":"subscribe","topics":["rfqs"],"\\u0074opics":["batches"]}',
        "topics",
        id="spelled-two-ways",
    ),
]


@pytest.mark.parametrize(("frame", "key"), TWICE_FRAMES)
def test_a_subscribe_with_a_key_twice_gets_malformed_json_and_a_clean_close(
    venue: Venue, frame: str, key: str
) -> None:
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_text(frame)
        assert ws.receive_json() == {
            "type": "error",
            "code": "malformed_json",
            "detail": f'frame: expected a JSON document, got the key "{key}" twice in one object',
        }
        closed = ws.receive()
        assert closed["type"] == "websocket.close" and closed["code"] == 1008
    assert venue.service.broker.subscribers == 0


def test_a_later_message_with_a_key_twice_gets_malformed_json(venue: Venue) -> None:
    """As any other malformed later message: an error frame, the subscription goes on."""
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_json({"op": "subscribe", "topics": ["batches"]})
        assert ws.receive_json()["type"] == "snapshot"
        ws.send_text('{"op":"subscribe","op":"unsubscribe"}')
        assert ws.receive_json() == {
            "type": "error",
            "code": "malformed_json",
            "detail": 'frame: expected a JSON document, got the key "op" twice in one object',
        }
        # a key in two objects, or a ":" in a string, is no key twice
        ws.send_text('{"a":{"a":"x:y"}}')
        assert ws.receive_json()["code"] == "unexpected_message"
        venue.traders["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 5))
        venue.to_cleared(0)
        msg = ws.receive_json()
        assert msg["type"] == "batch" and msg["topic"] == "batches" and msg["seq"] == 1


@pytest.mark.parametrize(
    "path", ["/v1/reveals", "/v1/commitments", "/v1/deposits", "/v1/rfqs", "/v1/oracle/reports"]
)
def test_deeply_nested_json_is_malformed_json(venue: Venue, path: str) -> None:
    events = venue.service.core.events_applied
    r = venue.tc.post(path, content=DEEP.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "malformed_json"
    assert r.headers["content-type"] == "application/problem+json"
    assert int(r.headers["RateLimit-Limit"]) == venue.service.limiter.burst
    assert venue.service.core.events_applied == events


def test_every_refused_signed_write_carries_rate_limit_headers(venue: Venue) -> None:
    alice = venue.traders["alice"]
    body, _ = alice._commit_body(Order("BTC-PERP", Side.BUY, 100, 5), 7, 0, 0, 2**63)
    r = venue.tc.post("/v1/commitments", json=body)  # wrong batch
    assert r.status_code == 409
    assert r.headers["RateLimit-Policy"] == "200;w=1;rate=100"
    assert 0 <= int(r.headers["RateLimit-Remaining"]) <= venue.service.limiter.burst
    r = venue.tc.post("/v1/reveals", json={"trader": str(alice.address)})  # schema
    assert r.status_code == 422 and "RateLimit-Remaining" in r.headers
    r = venue.tc.post("/v1/withdrawals", json={"nonsense": 1})
    assert r.status_code == 422 and "RateLimit-Limit" in r.headers


def test_a_429_carries_rate_limit_headers(db_url: str, clock: object) -> None:
    from fastapi.testclient import TestClient

    from sealbatch.venue.app import create_app
    from sealbatch.venue.client import VenueClient
    from sealbatch.venue.clock import ManualClock
    from tests.venue.conftest import KEYS

    assert isinstance(clock, ManualClock)
    app = create_app(make_settings(db_url, rate_limit_burst=2, rate_limit_per_s=1), clock)
    with TestClient(app) as tc:
        alice = VenueClient("http://testserver", KEYS["alice"], http=tc, clock=clock.now_ms)
        alice.deposit(1_000_000_000)
        alice.deposit(1_000_000_000)
        with pytest.raises(ApiError) as refused:
            alice.deposit(1_000_000_000)
        assert refused.value.status == 429
        body, _ = alice._commit_body(Order("BTC-PERP", Side.BUY, 100, 5), 0, 0, 0, 2**63)
        r = tc.post("/v1/commitments", json=body)
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert r.headers["RateLimit-Remaining"] == "0"
        assert r.headers["RateLimit-Limit"] == "2" and "Retry-After" in r.headers


@pytest.mark.parametrize("depth", [10, 150, 300])
def test_a_request_body_is_held_to_the_published_files_depth_rule(venue: Venue, depth: int) -> None:
    """One rule for JSON depth: a body the published-file reader
    (``settlement.json_text.loads_json``) refuses as nested too deep is refused with
    the reader's reason (400 malformed_json); a body it reads gets past the guard."""
    from sealbatch.settlement.json_text import loads_json

    body = "[" * depth + "]" * depth
    try:
        loads_json(body)
        refusal = None
    except ValueError as exc:
        refusal = str(exc)
    r = venue.tc.post(
        "/v1/withdrawals", content=body.encode(), headers={"content-type": "application/json"}
    )
    if refusal is None:
        assert r.status_code == 422, r.text  # read, then refused as no withdrawal
    else:
        assert refusal.startswith("nested too deep")
        assert r.status_code == 400 and r.json()["code"] == "malformed_json"
        assert r.json()["detail"] == f"body: expected a JSON document, got {refusal}"


def test_deep_json_is_refused_even_with_a_raised_recursion_limit(venue: Venue) -> None:
    """py_ecc (imported with the in-process EVM) raises the recursion limit to
    100 000; json.loads would then recurse 100 000 deep on the C stack and crash
    the process. Deep bodies and frames never reach it."""
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 100_000))
    try:
        for path in ("/v1/reveals", "/v1/withdrawals"):
            r = venue.tc.post(
                path, content=DEEP.encode(), headers={"content-type": "application/json"}
            )
            assert r.status_code == 400 and r.json()["code"] == "malformed_json"
            assert "RateLimit-Limit" in r.headers
        with venue.tc.websocket_connect("/v1/stream") as ws:
            ws.send_text(DEEP)
            assert ws.receive_json()["code"] == "malformed_json"
    finally:
        sys.setrecursionlimit(old)
    assert venue.tc.get("/healthz").json()["ok"]


#: A lone surrogate escape: json.loads takes it, pydantic-core's parser refuses it
#: before it sees how deep the rest goes.
SNEAKY = '["\\ud800",' + "[" * 100_000


@pytest.mark.parametrize("path", ["/v1/reveals", "/v1/withdrawals", "/v1/commitments"])
def test_deep_json_behind_a_string_the_rust_parser_refuses_is_malformed_json(
    venue: Venue, path: str
) -> None:
    """With py_ecc's recursion limit the guard used to let this body through to
    json.loads (the route's parse), which crashed the process."""
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 100_000))
    events = venue.service.core.events_applied
    try:
        r = venue.tc.post(
            path, content=SNEAKY.encode(), headers={"content-type": "application/json"}
        )
    finally:
        sys.setrecursionlimit(old)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "malformed_json"
    assert r.json()["detail"].startswith("body: expected a JSON document, got nested too deep (")
    assert "RateLimit-Limit" in r.headers
    assert venue.service.core.events_applied == events


def _twice(body: dict[str, object], key: str, value: object) -> bytes:
    """``body`` as JSON with ``key`` given again at the end, as ``value``."""
    return (json.dumps(body)[:-1] + f", {json.dumps(key)}: {json.dumps(value)}}}").encode()


def _commitment(venue: Venue, price: int) -> dict[str, object]:
    alice = venue.traders["alice"]
    order = Order("BTC-PERP", Side.BUY, price, 5)
    return alice._commit_body(order, alice._collecting(), 0, 0, 2**63)[0]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/v1/reveals", "trader"),
        ("/v1/deposits", "amount"),
        ("/v1/withdrawals", "amount"),
        ("/v1/rfqs", "market"),
        ("/v1/oracle/reports", "price"),
    ],
)
def test_a_signed_write_with_a_key_twice_is_malformed_json(
    venue: Venue, path: str, key: str
) -> None:
    """The route would read the last value, another reader the first: refused before
    any route reads it, naming the key."""
    events = venue.service.core.events_applied
    body = _twice({"trader": str(venue.traders["alice"].address), key: 5}, key, 7)
    r = venue.tc.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "malformed_json"
    assert r.json()["detail"] == (
        f'body: expected a JSON document, got the key "{key}" twice in one object'
    )
    assert "RateLimit-Limit" in r.headers
    assert venue.service.core.events_applied == events


@pytest.mark.parametrize(
    ("key", "value"), [("nonce", None), ("bond", 10**6), ("market", "ETH-PERP"), ("bond", "x")]
)
@pytest.mark.parametrize("bulk", [False, True], ids=["one", "bulk"])
def test_a_commitment_with_a_key_twice_is_malformed_json(
    venue: Venue, key: str, value: object, bulk: bool
) -> None:
    """The commitment route parses with pydantic-core alone (last value wins), on
    the single commitment's hot path too: a body with more ``:`` than fields is
    checked, and a key twice refused like on any other write. ``None``: the same
    value again; ``"x"``: a value the schema refuses (the route's failed parse)."""
    good = _commitment(venue, 100)
    twice = _twice(good, key, good[key] if value is None else value)
    content = (
        b"[" + json.dumps(_commitment(venue, 101)).encode() + b"," + twice + b"]" if bulk else twice
    )
    headers = {"content-type": "application/json"}
    events = venue.service.core.events_applied
    r = venue.tc.post("/v1/commitments", content=content, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "malformed_json"
    assert r.json()["detail"] == (
        f'body: expected a JSON document, got the key "{key}" twice in one object'
    )
    assert "RateLimit-Limit" in r.headers
    assert venue.service.core.events_applied == events
    # the same commitment with the key once is taken
    r = venue.tc.post("/v1/commitments", json=good)
    assert r.status_code == 200, r.text


def test_a_colon_inside_a_value_is_not_a_key_twice(venue: Venue) -> None:
    """A body with more ``:`` than keys (here in a market name) is parsed again and
    answered as usual: refused for its market, not as malformed."""
    body = {**_commitment(venue, 100), "market": "BTC:PERP"}
    r = venue.tc.post("/v1/commitments", json=body)
    assert r.status_code != 400 and r.json()["code"] != "malformed_json", r.text
    r = venue.tc.post("/v1/commitments", json=[body, {**body, "nonce": body["nonce"] + 1}])
    assert r.status_code == 200 and not r.json()[0]["ok"], r.text
    assert r.json()[0]["problem"]["code"] != "malformed_json"
