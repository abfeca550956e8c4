"""A response's head leaves with its body in one write, never later than the end of
the event loop's turn, never after a later write, never lost on close."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from sealbatch.venue.http_protocol import HeadWithBody
from tests.venue.server import ThreadServer


class _Transport:
    def __init__(self) -> None:
        self.log: list[Any] = []

    def write(self, data: bytes) -> None:
        self.log.append(bytes(data))

    def close(self) -> None:
        self.log.append("close")

    def write_eof(self) -> None:
        self.log.append("eof")

    def abort(self) -> None:
        self.log.append("abort")

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n"


def _run(steps: Any) -> list[Any]:
    async def main() -> list[Any]:
        t = _Transport()
        held = HeadWithBody(t, asyncio.get_running_loop())  # type: ignore[arg-type]
        await steps(held, t)
        return t.log

    return asyncio.run(main())


def test_the_head_leaves_with_the_body_in_one_write() -> None:
    async def steps(held: HeadWithBody, t: _Transport) -> None:
        held.write(HEAD)
        assert t.log == [] and held.get_write_buffer_size() == len(HEAD)
        held.write(b"body")
        held.write(b"more")  # not a head: straight through
        await asyncio.sleep(0)

    assert _run(steps) == [HEAD + b"body", b"more"]


def test_a_head_alone_leaves_at_the_end_of_the_turn() -> None:
    async def steps(held: HeadWithBody, t: _Transport) -> None:
        held.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await asyncio.sleep(0)
        assert t.log == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        held.write(memoryview(HEAD))
        held.write(memoryview(b"body"))
        await asyncio.sleep(0)

    assert _run(steps) == [b"HTTP/1.1 100 Continue\r\n\r\n", HEAD + b"body"]


def test_close_and_eof_send_the_head_first_and_abort_drops_it() -> None:
    async def steps(held: HeadWithBody, t: _Transport) -> None:
        held.write(HEAD)
        held.close()
        held.write(HEAD)
        held.write_eof()
        held.write(HEAD)
        held.abort()
        await asyncio.sleep(0)  # nothing left to release

    assert _run(steps) == [HEAD, "close", HEAD, "eof", "abort"]


def test_uvicorn_answers_keep_alive_requests_through_it() -> None:
    """Three requests on one connection, a body-less answer among them: each answer
    whole and in order (the bytes are uvicorn's; only their writes are grouped)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        body = b"" if scope["path"] == "/empty" else scope["path"].encode()
        length = str(len(body)).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]}
        )
        await send({"type": "http.response.body", "body": body})

    with ThreadServer(app, log_level="warning") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            for path in ("/a", "/empty", "/bc"):
                s.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
            got = b""
            while got.count(b"HTTP/1.1 200 OK") < 3 or not got.endswith(b"/bc"):
                chunk = s.recv(65536)
                assert chunk, got
                got += chunk
        answers = got.split(b"HTTP/1.1 200 OK\r\n")[1:]
        assert [a.split(b"\r\n\r\n", 1)[1] for a in answers] == [b"/a", b"", b"/bc"]
        assert [
            b"content-length: " + str(len(p)).encode() in a
            for a, p in zip(answers, ("/a", "", "/bc"), strict=True)
        ] == [True] * 3


def _read_all(port: int, request: bytes) -> list[tuple[float, bytes]]:
    """Send ``request`` and read until the server closes: each chunk with its time."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        start = time.monotonic()
        s.sendall(request)
        while chunk := s.recv(1 << 20):
            out.append((time.monotonic() - start, chunk))
    return out


def test_streamed_late_large_and_failed_answers_through_it() -> None:
    """A head whose body comes later leaves at the end of its turn (not with the
    body); a streamed (chunked) answer, a 4 MB one and one whose app fails after the
    head arrive whole or as far as they went, then the connection closes."""
    big = bytes(range(256)) * (1 << 14)  # 4 MiB

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        path = scope["path"]
        headers = [] if path == "/chunks" else [(b"content-length", b"%d" % len(big))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if path == "/late":
            await asyncio.sleep(0.5)
            await send({"type": "http.response.body", "body": big})
        elif path == "/big":
            await send({"type": "http.response.body", "body": big})
        elif path == "/chunks":
            for part in (b"one", b"HTTP/ lookalike", b"three"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b""})
        else:
            raise RuntimeError("the app fails after the head")

    with ThreadServer(app, log_level="critical") as server:
        port = server.port
        ask = b"GET %s HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        late = _read_all(port, ask % b"/late")
        first_at, first = late[0]
        assert first.startswith(b"HTTP/1.1 200 OK") and first.endswith(b"\r\n\r\n")
        assert first_at < 0.4  # the head did not wait for the body
        assert b"".join(c for _, c in late[1:]) == big
        whole = b"".join(c for _, c in _read_all(port, ask % b"/big"))
        assert whole.split(b"\r\n\r\n", 1)[1] == big
        chunked = b"".join(c for _, c in _read_all(port, ask % b"/chunks"))
        assert b"transfer-encoding: chunked" in chunked
        assert chunked.split(b"\r\n\r\n", 1)[1] == (
            b"3\r\none\r\nf\r\nHTTP/ lookalike\r\n5\r\nthree\r\n0\r\n\r\n"
        )
        failed = b"".join(c for _, c in _read_all(port, ask % b"/fail"))
        assert failed.startswith(b"HTTP/1.1 200 OK") and failed.endswith(b"\r\n\r\n")


def test_a_websocket_upgrade_goes_through_it() -> None:
    """The ``101`` head is held like any other and the frames follow it in order."""
    from websockets.sync.client import connect

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hello"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"].upper()})

    with ThreadServer(app, log_level="critical") as server:
        port = server.port
        with connect(f"ws://127.0.0.1:{port}/") as ws:
            assert ws.recv(timeout=5) == "hello"
            for word in ("a", "bc", "HTTP/1.1 200 OK"):
                ws.send(word)
                assert ws.recv(timeout=5) == word.upper()
