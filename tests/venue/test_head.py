"""``HEAD`` wherever ``GET`` is answered (RFC 9110, section 9.3.2): the status and
headers of the ``GET``, no body, under the same checks; every other method as
before (``venue/api/middleware.py``, :class:`HeadAsGet`)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from tests.venue.conftest import T0, Venue, make_settings
from tests.venue.server import ThreadServer


def _head_is_get_without_body(venue: Venue, path: str, **kw: object) -> httpx.Response:
    """``HEAD path`` answered as ``GET path`` without its body: the ``GET``'s answer."""
    got = venue.tc.get(path, **kw)  # type: ignore[arg-type]
    head = venue.tc.head(path, **kw)  # type: ignore[arg-type]
    assert head.status_code == got.status_code, head.text
    assert head.headers.multi_items() == got.headers.multi_items()
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(got.content) > 0
    return got


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/info", 200),
        ("/v1/markets", 200),
        ("/v1/markets/BTC-PERP", 200),
        ("/v1/batches", 200),
        ("/v1/rfqs", 200),
        ("/v1/stream/replay?topic=batches&after=0", 200),
        ("/healthz", 200),
        ("/", 200),  # the explorer page (a file: its etag and last-modified too)
        ("/explorer/explorer.css", 200),
        ("/v1/markets/NOPE-PERP", 404),
        ("/v1/batches/99999", 404),
        ("/v1/no-such-route", 404),
        ("/v1/batches/x", 422),
    ],
)
def test_head_answers_as_get_without_the_body(venue: Venue, path: str, status: int) -> None:
    assert _head_is_get_without_body(venue, path).status_code == status


def test_a_file_heads_etag_is_the_gets(venue: Venue) -> None:
    got = _head_is_get_without_body(venue, "/explorer/explorer.js")
    assert got.headers["etag"]


def test_head_needs_the_signed_read_get_needs(venue: Venue) -> None:
    alice, bob = venue.traders["alice"], venue.traders["bob"]
    path = f"/v1/accounts/{alice.address}"
    refused = _head_is_get_without_body(venue, path)
    assert refused.status_code == 401 and refused.json()["code"] == "signature_required"
    refused = _head_is_get_without_body(venue, path, headers=bob.read_headers())
    assert refused.status_code == 401
    topic = f"/v1/stream/replay?topic=account:{str(alice.address).lower()}&after=0"
    assert _head_is_get_without_body(venue, topic).status_code == 401
    read = alice.read_headers()
    assert _head_is_get_without_body(venue, path, headers=read).status_code == 200
    assert _head_is_get_without_body(venue, topic, headers=read).status_code == 200


def test_a_write_route_refuses_head_as_it_refuses_get(venue: Venue) -> None:
    """``HEAD`` goes where ``GET`` goes: to a route only ``POST`` takes, a 405 that says so."""
    refused = _head_is_get_without_body(venue, "/v1/reveals")
    assert refused.status_code == 405 and refused.json()["code"] == "method_not_allowed"
    assert refused.headers["allow"] == "POST"


def test_a_405_names_head_beside_get(venue: Venue) -> None:
    r = venue.tc.delete("/v1/markets")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET, HEAD"


def test_head_through_the_venues_server_sends_the_head_alone(tmp_path: Path) -> None:
    """On the wire: the ``GET``'s head with its ``content-length``, then nothing, so
    the next answer on the kept-alive connection follows at once."""
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'v.db'}"), ManualClock(T0 + 100))
    with ThreadServer(app) as server:
        body = httpx.get(f"{server.url}/v1/markets", timeout=10).content
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(
                b"HEAD /v1/markets HTTP/1.1\r\nhost: x\r\n\r\n"
                b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            )
            got = b""
            while chunk := s.recv(65536):
                got += chunk
    head, health = got.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert head.endswith(b"\r\n\r\n")  # the head alone
    assert f"content-length: {len(body)}\r\n".encode() in head
    assert health.split(b"\r\n\r\n", 1)[1].startswith(b'{"ok":')
