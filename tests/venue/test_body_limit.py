"""The body limit holds for a body sent without Content-Length (chunked) too."""

from __future__ import annotations

from collections.abc import Iterator

from tests.venue.conftest import Venue


def _chunks(total: int, size: int = 65_536) -> Iterator[bytes]:
    yield b"["
    sent = 1
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


def test_a_chunked_body_over_the_limit_is_refused(venue: Venue) -> None:
    limit = venue.service.settings.max_body_bytes
    r = venue.tc.post(
        "/v1/commitments",
        content=_chunks(limit + 1),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "body_too_large"


def test_a_chunked_body_under_the_limit_still_reaches_the_route(venue: Venue) -> None:
    r = venue.tc.post(
        "/v1/commitments", content=iter([b"[", b"]"]), headers={"content-type": "application/json"}
    )
    assert r.status_code == 400, r.text  # an empty list: the route's own refusal


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(venue: Venue) -> None:
    limit = venue.service.settings.max_body_bytes
    r = venue.tc.post(
        "/v1/commitments",
        content=b"[" + b" " * limit + b"]",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "body_too_large"
