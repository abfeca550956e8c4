"""Slow clients cannot hold the venue: a deadline for each request's head and body.

A real uvicorn server on 127.0.0.1 running the venue as ``sealbatch serve`` does
(:meth:`HeadWithBodyProtocol.serving`), with short deadlines, and raw sockets: a
connection that sends nothing, a trickled head, a head without its body, a
trickled body. Each is closed at its deadline (with ``408 request_timeout`` when a
request had begun), nothing of a body cut short is taken, and other connections
are served meanwhile. A plain ASGI app checks the clock is not the client's while
the server itself is not reading (pipelined requests behind a slow answer).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import StreamingResponse

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.http_protocol import HeadWithBodyProtocol
from tests.venue.conftest import T0, Venue, make_settings
from tests.venue.server import ThreadServer, free_port

HEAD_S = 0.4
BODY_S = 0.6
WRITE_S = 0.8
#: A large answer (a batch archive, a proof): far more than the sockets' buffers hold.
LARGE = 24 << 20


def _server(
    app: Any, head_s: float = HEAD_S, body_s: float = BODY_S, write_s: float = WRITE_S
) -> ThreadServer:
    """``app`` served by uvicorn on a thread, with the venue's protocol and deadlines."""
    return ThreadServer(app, HeadWithBodyProtocol.serving(app, head_s, body_s, write_s))


def _chunks() -> Iterator[bytes]:
    chunk = b"y" * 65536
    for _ in range(LARGE // len(chunk)):
        yield chunk


class _Venue:
    def __init__(
        self, tmp: Path, head_s: float = HEAD_S, body_s: float = BODY_S, write_s: float = WRITE_S
    ) -> None:
        self.clock = ManualClock(T0 + 100)
        self.app: FastAPI = create_app(make_settings(f"sqlite:///{tmp / 'slow.db'}"), self.clock)
        # a large answer, whole (one send) or streamed (the app waits while writing pauses)
        self.app.add_api_route("/test/large", lambda: Response(b"x" * LARGE))
        self.app.add_api_route("/test/stream", lambda: StreamingResponse(_chunks()))
        self.server = _server(self.app, head_s, body_s, write_s)
        self.http = httpx.Client(base_url=self.server.url, timeout=10)
        self.venue = Venue(self.http, self.clock)  # type: ignore[arg-type]
        self.venue.fund()
        self.price = 100

    @property
    def service(self) -> Any:
        return self.app.state.service

    def body(self, name: str = "dave") -> bytes:
        """A fresh signed commitment (a new price each time) as JSON bytes."""
        self.price += 1
        client = self.venue.traders[name]
        body, _ = client._commit_body(
            Order("BTC-PERP", Side.BUY, self.price, 1), 0, 0, 0, self.clock.now_ms() + 60_000
        )
        return json.dumps(body).encode()

    def stop(self) -> None:
        self.http.close()
        self.server.stop()


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Venue]:
    v = _Venue(tmp_path_factory.mktemp("slow"))
    try:
        yield v
    finally:
        v.stop()


#: Deadlines for the tests whose honest client must finish well inside them: long
#: enough that a loaded machine (a CI worker beside a proving one) cannot make an
#: honest request miss them, so those tests do not depend on the machine's speed.
PATIENT_HEAD_S = 4.0
PATIENT_BODY_S = 5.0
PATIENT_WRITE_S = 4.0


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Venue]:
    v = _Venue(tmp_path_factory.mktemp("patient"), PATIENT_HEAD_S, PATIENT_BODY_S, PATIENT_WRITE_S)
    try:
        yield v
    finally:
        v.stop()


def _still_open(s: socket.socket) -> bool:
    """The server has neither answered nor closed ``s`` yet."""
    s.setblocking(False)
    try:
        s.recv(1, socket.MSG_PEEK)  # an answer's first byte, or b"" once closed
    except BlockingIOError:
        return True
    finally:
        s.setblocking(True)
    return False


def _request(body: bytes, close: bool = False, target: bytes = b"/v1/commitments") -> bytes:
    head = b"POST " + target + b" HTTP/1.1\r\nhost: venue\r\n"
    head += b"content-length: " + str(len(body)).encode() + b"\r\n"
    head += b"content-type: application/json\r\n"
    if close:
        head += b"connection: close\r\n"
    return head + b"\r\n" + body


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_to_close(s: socket.socket) -> tuple[bytes, float]:
    """Everything until the server closes, and when it closed (monotonic)."""
    got = b""
    while chunk := s.recv(65536):
        got += chunk
    return got, time.monotonic()


def _answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


def _timeouts(service: Any) -> float:
    value = service.metrics.rejections.labels("request_timeout")._value.get()
    return float(value)


def _closed(service: Any) -> dict[str, float]:
    """``sealbatch_slow_connections_closed_total`` by phase."""
    counter = service.metrics.slow_closed
    return {p: float(counter.labels(p)._value.get()) for p in ("idle", "head", "body", "write")}


def _more(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {p: after[p] - before[p] for p in before if after[p] != before[p]}


def test_a_trickled_body_gets_408_and_nothing_of_it_is_taken(
    venue: _Venue, caplog: pytest.LogCaptureFixture
) -> None:
    """A head, then the body a few bytes at a time, slower than the deadline: 408
    ``request_timeout`` (the venue's problem, with the ``RateLimit-*`` headers of an
    answer to a POST) at the body deadline, then the connection closes, counted in
    the metrics and with no error logged. The same commitment sent whole afterwards
    is taken: nothing of the cut body was."""
    body = venue.body()
    data = _request(body)
    head_len = data.index(b"\r\n\r\n") + 4
    before = _timeouts(venue.service)
    closed_before = _closed(venue.service)
    with _connect(venue.server.port) as s:
        s.sendall(data[:head_len])
        start = time.monotonic()
        sent = head_len
        s.settimeout(0.15)
        got = b""
        while True:  # 8 bytes every 0.15 s: the body would take ~20 s
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                try:
                    s.sendall(data[sent : sent + 8])
                except OSError:  # the server closed first
                    break
                sent += 8
                continue
            if not chunk:
                break
            got += chunk
        closed = time.monotonic()
    assert sent < len(data), "the whole body went: not a slow client"
    status, headers, problem = _answer(got)
    assert status == 408, got
    assert BODY_S - 0.05 <= closed - start < BODY_S + 1.5
    doc = json.loads(problem)
    assert doc["code"] == "request_timeout" and doc["status"] == 408
    assert doc["detail"].startswith(f"body: expected its {len(body)} bytes within 0.6 s")
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert headers["ratelimit-limit"] == headers["ratelimit-remaining"] == "200"
    assert _timeouts(venue.service) == before + 1
    assert _more(closed_before, _closed(venue.service)) == {"body": 1}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    # nothing half-applied: the same bytes, sent whole, are a new commitment
    answer = venue.http.post("/v1/commitments", content=body)
    assert answer.status_code == 200, answer.text
    assert venue.service.writer.failed is None


def test_a_head_without_its_body_gets_408(venue: _Venue) -> None:
    body = venue.body()
    data = _request(body)
    with _connect(venue.server.port) as s:
        s.sendall(data[: data.index(b"\r\n\r\n") + 4])
        start = time.monotonic()
        got, closed = _read_to_close(s)
    status, _, problem = _answer(got)
    assert status == 408 and json.loads(problem)["detail"].endswith("got 0")
    assert BODY_S - 0.05 <= closed - start < BODY_S + 1.5
    assert venue.http.post("/v1/commitments", content=body).status_code == 200


def test_an_idle_connection_is_closed_without_an_answer(venue: _Venue) -> None:
    before = _closed(venue.service)
    with _connect(venue.server.port) as s:
        start = time.monotonic()
        got, closed = _read_to_close(s)
    assert got == b""
    assert HEAD_S - 0.05 <= closed - start < HEAD_S + 1.5
    assert _more(before, _closed(venue.service)) == {"idle": 1}


def test_a_trickled_head_gets_408(venue: _Venue) -> None:
    data = b"GET /v1/info HTTP/1.1\r\nhost: venue\r\nx-slow: " + b"a" * 200
    before = _closed(venue.service)
    with _connect(venue.server.port) as s:
        start = time.monotonic()
        s.settimeout(0.1)
        got = b""
        for i in range(0, len(data), 4):
            try:
                s.sendall(data[i : i + 4])
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            got += chunk
            if not chunk:
                break
        closed = time.monotonic()
    status, headers, problem = _answer(got)
    assert status == 408 and "ratelimit-limit" not in headers  # not a signed write
    assert json.loads(problem)["detail"].startswith("request head: expected it whole within 0.4 s")
    assert HEAD_S - 0.05 <= closed - start < HEAD_S + 1.5
    assert _more(before, _closed(venue.service)) == {"head": 1}


def test_others_are_served_while_slow_clients_wait(patient: _Venue) -> None:
    """Forty connections holding idle, trickled heads and bodies without ends: a
    commitment on another connection is answered meanwhile, while every slow one is
    still held open; then every slow one is closed by its deadline."""
    slow = []
    for i in range(40):
        s = _connect(patient.server.port)
        if i % 3 == 1:
            s.sendall(b"POST /v1/commitments HTTP/1.1\r\nhost: v")
        elif i % 3 == 2:
            s.sendall(_request(patient.body("erin"))[:-30])
        slow.append(s)
    try:
        start = time.monotonic()
        answer = patient.http.post("/v1/commitments", content=patient.body())
        assert answer.status_code == 200, answer.text
        # answered before any slow one's deadline: every slow connection still open
        assert all(_still_open(s) for s in slow)
        assert time.monotonic() - start < PATIENT_HEAD_S
        for s in slow:
            s.settimeout(PATIENT_BODY_S + 10)
            _read_to_close(s)
        assert time.monotonic() - start < PATIENT_BODY_S + 5
    finally:
        for s in slow:
            s.close()


def test_a_slow_body_within_the_deadline_is_taken(patient: _Venue) -> None:
    """A body in five pieces, the last well before the deadline: one receipt."""
    data = _request(patient.body(), close=True)
    head_len = data.index(b"\r\n\r\n") + 4
    with _connect(patient.server.port) as s:
        s.sendall(data[:head_len])
        step = -(-(len(data) - head_len) // 5)
        for i in range(head_len, len(data), step):
            time.sleep(PATIENT_BODY_S / 20)
            s.sendall(data[i : i + step])
        got, _ = _read_to_close(s)
    status, _, receipt = _answer(got)
    assert status == 200, got
    assert json.loads(receipt)["commitment"] == json.loads(data[head_len:])["commitment"]


def test_a_kept_alive_connection_has_a_deadline_per_request(venue: _Venue) -> None:
    """The head's clock of a later request starts at its first byte: a connection
    older than the head deadline still has its next request served."""
    with _connect(venue.server.port) as s:
        for _ in range(2):
            s.sendall(b"GET /v1/info HTTP/1.1\r\nhost: venue\r\n\r\n")
            got = b""
            while b"\r\n\r\n" not in got:
                got += s.recv(65536)
            assert got.startswith(b"HTTP/1.1 200 OK"), got
            time.sleep(HEAD_S + 0.2)  # within uvicorn's keep-alive (5 s)


def test_a_body_answered_before_it_arrived_is_closed_at_its_deadline(venue: _Venue) -> None:
    """A declared body above the limit is answered 413 at once; if it then trickles
    on, the connection is closed at the body deadline, with no second answer."""
    head = b"POST /v1/commitments HTTP/1.1\r\nhost: venue\r\ncontent-length: 9000000\r\n\r\n"
    before = (_closed(venue.service), _timeouts(venue.service))
    with _connect(venue.server.port) as s:
        s.sendall(head)
        start = time.monotonic()
        s.settimeout(0.1)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                try:
                    s.sendall(b" " * 8)
                except OSError:
                    break
                continue
            if not chunk:
                break
            got += chunk
        closed = time.monotonic()
    assert got.count(b"HTTP/1.1 ") == 1 and got.startswith(b"HTTP/1.1 413 "), got
    assert BODY_S - 0.05 <= closed - start < BODY_S + 1.5
    assert _more(before[0], _closed(venue.service)) == {"body": 1}
    assert _timeouts(venue.service) == before[1]  # closed, not answered 408


# The clock is not the client's while the server is not reading the connection.


async def _slow_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/slow":
        await asyncio.sleep(3 * BODY_S)
    answer = scope["path"].encode() + b":" + body
    length = str(len(answer)).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]}
    )
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def plain() -> Iterator[ThreadServer]:
    server = _server(_slow_app)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("cut", ["head", "body"])
def test_a_request_behind_a_slow_answer_is_not_timed_out(
    plain: ThreadServer, cut: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Pipelined behind an answer that takes three body deadlines, a request whose
    head (or body) is partly sent: the server does not read it until the first is
    answered, so its deadline waits; its rest, sent then, is served."""
    second = b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n"
    second += b"\r\nhello"
    split = second.index(b"host") if cut == "head" else len(second) - 2
    with _connect(plain.port) as s:
        s.sendall(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n" + second[:split])
        got = b""
        while b"/slow:" not in got:
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
        s.sendall(second[split:])
        rest, _ = _read_to_close(s)
    answers = re.findall(rb"HTTP/1.1 (\d+) ", got + rest)
    assert answers == [b"200", b"200"], got + rest
    assert (got + rest).endswith(b"/echo:hello")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


# A client that reads none of its answer (writing paused past the write deadline).


def _get(target: str) -> bytes:
    return b"GET " + target.encode() + b" HTTP/1.1\r\nhost: venue\r\n\r\n"


def _small_buffer_connect(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: its window
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def _dechunk(data: bytes) -> bytes:
    """A chunked body's content (each chunk: its size in hex, CRLF, it, CRLF)."""
    out, at = bytearray(), 0
    while True:
        end = data.index(b"\r\n", at)
        size = int(data[at:end], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2 : end + 2 + size]
        at = end + 2 + size + 2


def _wait_for(condition: Any, within: float) -> float:
    """Poll ``condition()`` until true; when it became so (monotonic)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.01)
    return time.monotonic()


@pytest.mark.parametrize("target", ["/test/large", "/test/stream"])
def test_a_client_that_reads_nothing_is_aborted_at_the_write_deadline(
    venue: _Venue, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A large answer (whole, or streamed) to a client with a small receive buffer
    that never reads: writing pauses, and once it has stayed paused for the write
    deadline the server aborts the connection (counted, phase ``write``; nothing
    logged as an error)."""
    before = _closed(venue.service)
    with _small_buffer_connect(venue.server.port) as s:
        s.sendall(_get(target))
        start = time.monotonic()
        closed = _wait_for(lambda: _closed(venue.service)["write"] > before["write"], 10)
        assert WRITE_S - 0.05 <= closed - start < WRITE_S + 1.5
        got = 0
        try:  # what reached this socket before the abort, then the reset (or the end)
            while chunk := s.recv(1 << 20):
                got += len(chunk)
        except ConnectionResetError:
            pass
    assert got < LARGE // 2
    assert _more(before, _closed(venue.service)) == {"write": 1}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_others_are_served_while_clients_read_nothing(patient: _Venue) -> None:
    """Two connections that never read a large answer (whole, streamed) held at the
    write deadline: a commitment on another connection is answered meanwhile, while
    neither is aborted yet; then both are."""
    before = _closed(patient.service)
    held = [_small_buffer_connect(patient.server.port) for _ in range(2)]
    try:
        for s, target in zip(held, ["/test/large", "/test/stream"], strict=True):
            s.sendall(_get(target))
        start = time.monotonic()
        answer = patient.http.post("/v1/commitments", content=patient.body())
        assert answer.status_code == 200, answer.text
        assert _closed(patient.service)["write"] == before["write"]  # both still held
        assert time.monotonic() - start < PATIENT_WRITE_S
        _wait_for(lambda: _closed(patient.service)["write"] == before["write"] + 2, 20)
    finally:
        for s in held:
            s.close()


@pytest.mark.parametrize("target", ["/test/large", "/test/stream"])
def test_a_slow_client_that_reads_is_served_whole(patient: _Venue, target: str) -> None:
    """The same answer read slowly (256 kB at a time, 0.2 s between MB), longer in all
    than the write deadline: writing pauses and resumes, and the answer arrives whole
    (the deadline is for one pause, not for the answer)."""
    before = _closed(patient.service)
    with _small_buffer_connect(patient.server.port) as s:
        s.sendall(_get(target)[:-2] + b"connection: close\r\n\r\n")
        start = time.monotonic()
        raw = bytearray()
        while True:
            part = s.recv(1 << 18)
            if not part:
                break
            raw += part
            if len(raw) // (1 << 20) != (len(raw) - len(part)) // (1 << 20):
                time.sleep(0.2)  # 0.2 s a MB: slower in all than the write deadline
        took = time.monotonic() - start
    head, _, body = bytes(raw).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    if target == "/test/stream":
        body = _dechunk(body)
    assert len(body) == LARGE and set(body) <= {ord("x"), ord("y")}
    assert took > PATIENT_WRITE_S
    assert _more(before, _closed(patient.service)) == {}


# Every way of running the venue has the deadlines.


def _idle_closed_within(port: int) -> float:
    """Seconds until the server closes a connection that sends nothing."""
    with _connect(port) as s:
        start = time.monotonic()
        got, closed = _read_to_close(s)
    assert got == b""
    return closed - start


def test_the_thread_venue_runs_the_settings_deadlines(tmp_path: Path) -> None:
    """``ThreadVenue`` (the examples', the demo's) serves with the venue's protocol and
    its settings' deadlines: an idle connection closes at ``head_timeout_ms`` (plain
    uvicorn would hold it for its 5 s keep-alive)."""
    from sealbatch.venue.local_venue import ThreadVenue

    settings = make_settings(
        f"sqlite:///{tmp_path / 'thread.db'}", head_timeout_ms=300, write_timeout_ms=1_500
    )
    venue = ThreadVenue(create_app(settings))
    with venue as url:
        http = venue._server.config.http
        assert issubclass(http, HeadWithBodyProtocol) and http.venue_app is venue.app
        assert (http.head_timeout_s, http.body_timeout_s, http.write_timeout_s) == (0.3, 30, 1.5)
        assert 0.25 <= _idle_closed_within(int(url.rsplit(":", 1)[1])) < 2.0
        assert _closed(venue.app.state.service)["idle"] == 1


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_live_demo_runs_the_settings_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sealbatch demo --serve`` (``serve_live_demo``) too, with the settings from the
    environment (``SEALBATCH_HEAD_TIMEOUT_MS``) and the others' defaults; stopped by
    ``should_exit`` (no signal), its traders stop with it, none failing on the closed port."""
    from sealbatch.venue.live_demo import LiveDemoConfig, serve_live_demo

    monkeypatch.setenv("SEALBATCH_HEAD_TIMEOUT_MS", "300")
    servers: list[uvicorn.Server] = []
    run = uvicorn.Server.run

    def recording_run(self: uvicorn.Server, *args: Any, **kw: Any) -> None:
        servers.append(self)
        run(self, *args, **kw)

    monkeypatch.setattr(uvicorn.Server, "run", recording_run)
    port = free_port()
    done: list[int] = []
    demo = threading.Thread(
        target=lambda: done.append(serve_live_demo(port, LiveDemoConfig(), quiet=True))
    )
    demo.start()
    try:
        _wait_for(lambda: bool(servers) and servers[0].started, 60)
        http = servers[0].config.http
        assert issubclass(http, HeadWithBodyProtocol)
        assert (http.head_timeout_s, http.body_timeout_s, http.write_timeout_s) == (0.3, 30, 30)
        assert 0.25 <= _idle_closed_within(port) < 2.0
    finally:
        _wait_for(lambda: bool(servers), 60)
        servers[0].should_exit = True
        demo.join(timeout=30)
    assert done == [0]
