"""The single commitment's hot path (``SingleCommitPath``) answers byte for byte what
the framework's route answers, and hands the app every request it does not take.

Two venues on the same manual clock get the same requests, one with the hot path
and one without it (the layer taken out of the app's middleware); every answer's
status, headers (names, values, order) and body must be equal, and the hot path
must have answered the ordinary ones itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import sign_digest
from sealbatch.venue.api.routes.commitments import SingleCommitPath
from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.settings import Settings
from tests.venue.conftest import KEYS, T0, Venue, make_settings


def _fast_path(app: FastAPI) -> SingleCommitPath:
    layer: Any = app.middleware_stack
    while not isinstance(layer, SingleCommitPath):
        layer = layer.app
    return layer


class _Pair:
    """Two venues on one clock: ``fast`` with the hot path, ``plain`` without it."""

    def __init__(self, tmp: Path, **settings: Any) -> None:
        self.clock = ManualClock(T0 + 100)
        fast = create_app(self._settings(tmp / "fast.db", settings), self.clock)
        plain = create_app(self._settings(tmp / "plain.db", settings), self.clock)
        plain.user_middleware = [m for m in plain.user_middleware if m.cls is not SingleCommitPath]
        self.fast = TestClient(fast)
        self.plain = TestClient(plain)
        self.handed_on: list[str] = []

    @staticmethod
    def _settings(db: Path, extra: dict[str, Any]) -> Settings:
        return make_settings(f"sqlite:///{db}", **extra)

    def __enter__(self) -> _Pair:
        self.fast.__enter__()
        self.plain.__enter__()
        for tc in (self.fast, self.plain):
            # The rate limiter refills with wall time: frozen, both count the same.
            tc.app.state.service.limiter._clock = lambda: 1_000.0  # type: ignore[attr-defined]
            Venue(tc, self.clock).fund()
        path = _fast_path(self.fast.app)  # type: ignore[arg-type]
        inner = path.app

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/v1/commitments":
                self.handed_on.append(scope["method"])
            await inner(scope, receive, send)

        path.app = counting
        return self

    def __exit__(self, *exc: object) -> None:
        self.plain.__exit__(*exc)
        self.fast.__exit__(*exc)

    def post(self, content: bytes, headers: dict[str, str] | None = None) -> Any:
        """Send ``content`` to both; assert equal answers; return the fast one's."""
        hdrs = {"content-type": "application/json", **(headers or {})}
        a = self.fast.post("/v1/commitments", content=content, headers=hdrs)
        b = self.plain.post("/v1/commitments", content=content, headers=hdrs)
        assert (a.status_code, a.headers.raw, a.content) == (
            b.status_code,
            b.headers.raw,
            b.content,
        )
        return a


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[_Pair]:
    with _Pair(tmp_path) as p:
        yield p


def _body(pair: _Pair, name: str = "dave", price: int = 100, **change: Any) -> dict[str, Any]:
    client = Venue(pair.fast, pair.clock).traders[name]
    body, _ = client._commit_body(
        Order("BTC-PERP", Side.BUY, price, 1), 0, 0, 0, pair.clock.now_ms() + 60_000
    )
    return {**body, **change}


def _raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_a_taken_commitment_gets_the_routes_receipt_bytes(pair: _Pair) -> None:
    for i in range(3):
        r = pair.post(_raw(_body(pair, price=100 + i)))
        assert r.status_code == 200 and r.json()["sequence"] == i
        assert [k for k, _ in r.headers.raw] == [
            b"ratelimit-limit",
            b"ratelimit-remaining",
            b"ratelimit-policy",
            b"content-length",
            b"content-type",
        ]
    assert pair.handed_on == []  # answered by the hot path itself


def test_refusals_after_parsing_get_the_apps_problem_bytes(pair: _Pair) -> None:
    taken = _body(pair)
    assert pair.post(_raw(taken)).status_code == 200
    erin = bytes.fromhex(KEYS["erin"][2:])
    not_daves = "0x" + sign_digest(erin, b"\x22" * 32).hex()
    refused = {
        "commitment_taken": taken,
        "wrong_batch": _body(pair, price=101, batch_id=7),
        "bad_signature": _body(pair, price=102, signature=not_daves),
        "wrong_market": _body(pair, price=103, market="NOPE-PERP"),
    }
    for code, body in refused.items():
        r = pair.post(_raw(body))
        assert r.status_code >= 400 and r.json()["code"] == code, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert "RateLimit-Remaining" in r.headers
    assert pair.handed_on == []


def test_what_the_hot_path_does_not_take_goes_to_the_app(pair: _Pair) -> None:
    good = _body(pair)
    cases = [
        b"{not json",  # 400 malformed_json
        _raw({k: v for k, v in good.items() if k != "signature"}),  # 422
        _raw({**good, "nonce": -1}),  # 422
        b"[" + _raw(_body(pair, price=101)) + b"," + _raw(_body(pair, price=102)) + b"]",  # bulk
        b"[]",  # bulk of none: 400
        _raw({**_body(pair, price=103), "pad": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]] * 4}),
        _raw(good)[:-1] + b', "nonce": ' + str(good["nonce"]).encode() + b"}",  # 400: twice
        _raw({**_body(pair, price=105), "market": "BTC:PERP"}),  # a ":" more than its keys
        b"   " + _raw(_body(pair, price=104)),  # leading space: still parses
    ]
    for content in cases:
        pair.post(content)
    # all but the last (an ordinary body) went on to the app
    assert pair.handed_on == ["POST"] * (len(cases) - 1)


def test_a_body_over_the_limit_or_without_a_length_goes_to_the_app(pair: _Pair) -> None:
    limit = pair.fast.app.state.service.settings.max_body_bytes  # type: ignore[attr-defined]
    big = _raw({**_body(pair), "pad": "x" * limit})
    r = pair.post(big)
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"
    r = pair.post(_raw(_body(pair, price=101)), headers={"content-length": "12x"})
    assert r.status_code == 413

    chunked = _raw(_body(pair, price=102))

    def chunks() -> Iterator[bytes]:
        yield chunked

    a = pair.fast.post("/v1/commitments", content=chunks())  # chunked: no Content-Length
    assert a.status_code == 200
    assert pair.handed_on == ["POST"] * 3


def test_a_rate_limited_commitment_gets_the_apps_429(tmp_path: Path) -> None:
    with _Pair(tmp_path, rate_limit_burst=7, rate_limit_per_s=1) as pair:
        # funding spent 1 of dave's 7 (the limiter's clock stands still)
        answers = [pair.post(_raw(_body(pair, price=100 + i))) for i in range(7)]
        assert [a.status_code for a in answers] == [200] * 6 + [429]
        last = answers[-1]
        assert last.json()["code"] == "rate_limited" and "Retry-After" in last.headers
        assert last.headers["RateLimit-Remaining"] == "0"
        assert pair.handed_on == []


def test_other_methods_and_paths_go_to_the_app(pair: _Pair) -> None:
    for tc in (pair.fast, pair.plain):
        assert tc.get("/v1/commitments").status_code == 405
        r = tc.post("/v1/commitments/", content=_raw(_body(pair)), follow_redirects=False)
        assert r.status_code in (307, 404)
    assert pair.handed_on == ["GET"]


def test_a_halted_venue_and_a_failed_log_get_the_apps_503(pair: _Pair) -> None:
    """Halted: ``503 venue_halted``; the log unwritable: ``503 storage_unavailable``,
    for the commitment whose durable write failed and for every one after it; the
    same bytes from the hot path, which answers them itself."""
    services = [tc.app.state.service for tc in (pair.fast, pair.plain)]  # type: ignore[attr-defined]
    for service in services:
        service.core.halted = {"batch_id": 0, "reason": "a test halt"}
    r = pair.post(_raw(_body(pair)))
    assert (r.status_code, r.json()["code"]) == (503, "venue_halted")
    assert "RateLimit-Remaining" in r.headers
    for service in services:
        service.core.halted = None
        with service.store.engine.begin() as conn:  # the log becomes unwritable
            conn.execute(text("DROP TABLE event"))
    for price in (101, 102):  # the failed write, then one refused before it is applied
        r = pair.post(_raw(_body(pair, price=price)))
        assert (r.status_code, r.json()["code"]) == (503, "storage_unavailable"), r.text
    assert pair.handed_on == []


def test_a_body_of_exactly_the_limit_is_taken_and_one_byte_more_is_not(pair: _Pair) -> None:
    limit = pair.fast.app.state.service.settings.max_body_bytes  # type: ignore[attr-defined]
    doc = _raw(_body(pair))
    at_limit = doc + b" " * (limit - len(doc))  # JSON's own whitespace
    r = pair.post(at_limit)
    assert r.status_code == 200
    assert pair.handed_on == []  # the hot path took it
    over = _raw(_body(pair, price=101))
    r = pair.post(over + b" " * (limit + 1 - len(over)))
    assert (r.status_code, r.json()["code"]) == (413, "body_too_large")
    assert pair.handed_on == ["POST"]
