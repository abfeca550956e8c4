"""The single commitment's hot path against hostile clients, on the wire.

Two real uvicorn servers on 127.0.0.1, as ``sealbatch serve`` runs them
(:class:`HeadWithBodyProtocol`), one venue with the hot path and one without it
(the layer taken out), on one manual clock. Raw bytes go to both over sockets:
request shapes an HTTP client would not send, pipelined requests, clients that
leave mid-body or before the answer. Every answer must be the same bytes (but
the ``date`` header), in the same order, and both venues must keep serving with
the same state and the same metrics.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.api.routes.commitments import SingleCommitPath
from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.http_protocol import HeadWithBodyProtocol
from sealbatch.venue.read_auth import EXPIRY_HEADER
from tests.venue.conftest import T0, Venue, make_settings
from tests.venue.server import ThreadServer


class _Server(ThreadServer):
    """One app served by uvicorn (as ``sealbatch serve`` does) on a thread, and a
    client of it."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(app, HeadWithBodyProtocol)
        self.http = httpx.Client(base_url=self.url, timeout=10)

    @property
    def service(self) -> Any:
        return self.app.state.service

    def stop(self) -> None:
        self.http.close()
        super().stop()


def _exchange(port: int, data: bytes, leave: bool = False) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it (or,
    with ``leave``, reset the connection at once: a client gone before the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        if leave:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return b""
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    return re.sub(rb"date: [^\r]*\r\n", b"", got)


def _request(
    body: bytes,
    headers: bytes = b"",
    method: bytes = b"POST",
    target: bytes = b"/v1/commitments",
    version: bytes = b"HTTP/1.1",
    length: bool = True,
    close: bool = True,
) -> bytes:
    head = method + b" " + target + b" " + version + b"\r\nhost: venue\r\n"
    if length:
        head += b"content-length: " + str(len(body)).encode() + b"\r\n"
    if close:
        head += b"connection: close\r\n"
    return head + headers + b"\r\n" + body


class _Pair:
    def __init__(self, tmp: Path) -> None:
        self.clock = ManualClock(T0 + 100)
        fast = create_app(make_settings(f"sqlite:///{tmp / 'fast.db'}"), self.clock)
        plain = create_app(make_settings(f"sqlite:///{tmp / 'plain.db'}"), self.clock)
        plain.user_middleware = [m for m in plain.user_middleware if m.cls is not SingleCommitPath]
        self.servers = [_Server(fast), _Server(plain)]
        self.venues = []
        for server in self.servers:
            # The rate limiter refills with wall time: frozen, both count the same.
            server.service.limiter._clock = lambda: 1_000.0
            venue = Venue(server.http, self.clock)  # type: ignore[arg-type]
            venue.fund()
            self.venues.append(venue)
        self.price = 100

    def body(self, name: str = "dave", **change: Any) -> bytes:
        """A fresh signed commitment (a new price each time) as JSON bytes."""
        self.price += 1
        client = self.venues[0].traders[name]
        body, _ = client._commit_body(
            Order("BTC-PERP", Side.BUY, self.price, 1), 0, 0, 0, self.clock.now_ms() + 60_000
        )
        return json.dumps({**body, **change}).encode()

    def both(self, data: bytes) -> bytes:
        """Send ``data`` to both servers; assert the same bytes back; return them."""
        fast, plain = (_exchange(s.port, data) for s in self.servers)
        assert fast == plain
        return fast

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Pair]:
    p = _Pair(tmp_path_factory.mktemp("wire"))
    try:
        yield p
    finally:
        p.stop()


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_content_length_padded_with_zeros_is_the_number_it_declares(pair: _Pair) -> None:
    """The HTTP parser takes any number of leading zeros; ``int`` refused more than
    4300 digits, so one header got a 500 and a traceback (from both paths)."""
    body = pair.body()
    padded = b"0" * 5_000 + str(len(body)).encode()
    answer = pair.both(_request(body, b"content-length: " + padded + b"\r\n", length=False))
    assert _status(answer) == 200 and b'"sequence":' in answer
    # Zeros before a number beyond the limit: 413, naming the number, not the zeros.
    huge = b"0" * 5_000 + b"9" * 19  # (the parser takes up to 2^64 - 1)
    answer = pair.both(_request(b"", b"content-length: " + huge + b"\r\n", length=False))
    assert _status(answer) == 413 and b'"code":"body_too_large"' in answer
    assert b"got 9999999999999999999 " not in answer and b'got 9999999999999999999"' in answer


def test_a_content_length_with_trailing_whitespace_is_the_number_it_declares(
    pair: _Pair,
) -> None:
    """The HTTP parser reads ``352 \t`` as 352 (whitespace around a field value is
    not part of it) and passes the whitespace on: it was a 413 ``got 352 ``."""
    body = pair.body()
    declared = str(len(body)).encode() + b" \t"
    answer = pair.both(_request(body, b"content-length: " + declared + b"\r\n", length=False))
    assert _status(answer) == 200 and b'"sequence":' in answer, answer


@pytest.mark.parametrize(
    "shape",
    [
        "ordinary",
        "charset",
        "uppercase type",
        "text/plain",
        "no type",
        "expect 100-continue",
        "HTTP/1.0",
        "keep-alive",
        "query string",
        "percent-encoded path",
        "absolute target",
        "trailing slash",
        "HEAD",
        "OPTIONS",
        "trailing whitespace",
        "trailing garbage",
        "BOM",
        "NaN",
        "huge integer",
        "duplicate key",
        "duplicate signer",
        "list of one",
        "nested 31",
        "nested 32",
        "Content-Length and chunked",
        "two Content-Lengths",
        "Content-Length short",
    ],
)
def test_a_request_shape_gets_the_same_bytes_from_both_paths(pair: _Pair, shape: str) -> None:
    body = pair.body()
    n = json.loads(body)["nonce"]
    nonce = b'"nonce": %d' % n
    assert nonce in body  # the replacements below apply
    typed = b"content-type: application/json\r\n"
    data = {
        "ordinary": lambda: _request(body, typed),
        "charset": lambda: _request(body, b"content-type: application/json; charset=utf-8\r\n"),
        "uppercase type": lambda: _request(body, b"Content-Type: APPLICATION/JSON\r\n"),
        "text/plain": lambda: _request(body, b"content-type: text/plain\r\n"),
        "no type": lambda: _request(body),
        "expect 100-continue": lambda: _request(body, b"expect: 100-continue\r\n"),
        "HTTP/1.0": lambda: _request(body, version=b"HTTP/1.0", close=False),
        "keep-alive": lambda: (
            _request(body, b"connection: keep-alive\r\n", close=False) + _request(pair.body())
        ),
        "query string": lambda: _request(body, target=b"/v1/commitments?x=1&x=2"),
        "percent-encoded path": lambda: _request(body, target=b"/v1/%63ommitments"),
        "absolute target": lambda: _request(body, target=b"http://venue/v1/commitments"),
        "trailing slash": lambda: _request(body, target=b"/v1/commitments/"),
        "HEAD": lambda: _request(body, method=b"HEAD"),
        "OPTIONS": lambda: _request(body, method=b"OPTIONS"),
        "trailing whitespace": lambda: _request(body + b" \r\n\t"),
        "trailing garbage": lambda: _request(body + b"}"),
        "BOM": lambda: _request(b"\xef\xbb\xbf" + body),
        "NaN": lambda: _request(body.replace(nonce, b'"nonce": NaN')),
        "huge integer": lambda: _request(body.replace(nonce, b'"nonce": ' + b"9" * 400)),
        "duplicate key": lambda: _request(body[:-1] + b', "nonce": %d}' % (n + 1)),
        "duplicate signer": lambda: _request(body[:-1] + b', "trader": "0x' + b"11" * 20 + b'"}'),
        "list of one": lambda: _request(b"[" + body + b"]"),
        "nested 31": lambda: _request(body[:-1] + b', "pad": ' + b"[" * 31 + b"]" * 31 + b"}"),
        "nested 32": lambda: _request(body[:-1] + b', "pad": ' + b"[" * 32 + b"]" * 32 + b"}"),
        "Content-Length and chunked": lambda: _request(body, b"transfer-encoding: chunked\r\n"),
        "two Content-Lengths": lambda: _request(body, b"content-length: 5\r\n"),
        "Content-Length short": lambda: _request(
            body, b"content-length: " + str(len(body) - 5).encode() + b"\r\n", length=False
        ),
    }[shape]()
    answer = pair.both(data)
    assert answer.startswith(b"HTTP/1.1 ")


def test_pipelined_requests_are_answered_in_order(pair: _Pair) -> None:
    """Six requests written at once on one connection, the hot path's and the app's
    mixed: six whole answers, in the order asked, the same bytes from both."""
    one, two = pair.body(), pair.body()
    bulk = b"[" + pair.body() + b"," + pair.body() + b"]"
    requests = [
        (one, 200),
        (b"{not json", 400),
        (bulk, 200),
        (two, 200),
        (one, 409),  # commitment_taken
        (pair.body(), 200),
    ]
    data = b"".join(_request(b, close=i == len(requests) - 1) for i, (b, _) in enumerate(requests))
    answer = pair.both(data)
    heads = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert [int(h) for h in heads] == [s for _, s in requests]
    sequences = [int(s) for s in re.findall(rb'"sequence":(\d+)', answer)]
    assert sequences == sorted(sequences) and len(sequences) == 5


def _counters(text: str) -> list[str]:
    """The metrics' sample lines but those of time (``_created``, durations)."""
    return [
        line
        for line in text.splitlines()
        if not line.startswith("#")
        and "_created" not in line
        and "_seconds" not in line
        and "latency" not in line
    ]


def test_a_client_gone_mid_body_leaves_no_trace(
    pair: _Pair, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that resets its connection mid-body: nothing recorded on either, both
    keep serving (the group-commit writer alive), the same metrics, and no error
    logged (the route's ClientDisconnect logged a traceback for every such client)."""
    for server in pair.servers:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(_request(pair.body())[:-40])  # most of the body, then a reset
            time.sleep(0.1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.2)
    answer = pair.both(_request(pair.body()))  # the same sequence: nothing recorded
    assert _status(answer) == 200
    assert [s.service.writer.failed for s in pair.servers] == [None, None]
    metrics = [_counters(s.http.get("/metrics").text) for s in pair.servers]
    assert metrics[0] == metrics[1]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_a_client_gone_before_the_answer(pair: _Pair) -> None:
    """A client that resets its connection right after its body: the commitment is
    durable or not recorded at all (the reset may drop the unread body), never half;
    sent again it is taken once; the writer lives on and the next sequences agree."""
    # Another signer than the next one's: a body the reset dropped on one server and
    # not the other spends a refusal of erin's budget there, never dave's.
    gone = pair.body("erin")
    for server in pair.servers:
        _exchange(server.port, _request(gone), leave=True)
    for server in pair.servers:
        again = _exchange(server.port, _request(gone))
        assert _status(again) in (200, 409), again  # taken now or before
        if _status(again) == 409:
            assert b'"code":"commitment_taken"' in again
    answer = pair.both(_request(pair.body()))
    assert _status(answer) == 200
    assert [s.service.writer.failed for s in pair.servers] == [None, None]


@pytest.mark.parametrize("expiry", [b"1\xb2", b"\xb9\xb3", b"+1", b""])
def test_a_signed_read_expiry_that_is_not_ascii_digits_is_refused(
    pair: _Pair, expiry: bytes
) -> None:
    """Header bytes are Latin-1 (an HTTP client library re-encodes them, so this is
    on the wire): ``'\\xb2'`` (superscript two) is a digit to ``str.isdigit`` but not
    to ``int``, which raised (a 500 and a traceback) instead of ``401 bad_signature``."""
    alice = pair.venues[0].traders["alice"]
    headers = b"".join(
        name.encode() + b": " + (expiry if name == EXPIRY_HEADER else value.encode()) + b"\r\n"
        for name, value in alice.read_headers().items()
    )
    answer = pair.both(
        _request(b"", headers, method=b"GET", target=f"/v1/accounts/{alice.address}".encode())
    )
    assert _status(answer) == 401 and b'"code":"bad_signature"' in answer, answer


def test_a_slow_body_is_taken_when_it_is_whole(pair: _Pair) -> None:
    """A body trickled in ten pieces (the hot path reads every one before it parses):
    one receipt, the same bytes from both."""
    data = _request(pair.body())
    answers = []
    for server in pair.servers:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            step = -(-len(data) // 10)
            for i in range(0, len(data), step):
                s.sendall(data[i : i + step])
                time.sleep(0.03)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
        answers.append(re.sub(rb"date: [^\r]*\r\n", b"", got))
    assert answers[0] == answers[1] and _status(answers[0]) == 200
