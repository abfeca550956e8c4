"""uvicorn's HTTP/1.1 protocol with each response's head sent together with its body.

uvicorn writes a response's status line and headers as soon as the app starts the
response, then its body as a second write: two system calls and two TCP segments
for every small answer (a receipt is ~350 bytes), and on 127.0.0.1 each write runs
the receiver's side of the stack too. :class:`HeadWithBody` holds a head until the
next write (the body, which the app sends in the same turn of the event loop) and
sends the two as one; a head that nothing follows (``100 Continue``, a streamed
answer's first part) still leaves at the end of the turn. The bytes on the wire and
their order are unchanged; only their grouping into writes is.

Slow clients. uvicorn closes a kept-alive connection that sends nothing for 5 s,
but has no deadline for a request itself: a client that opens connections and sends
nothing, trickles a head, or sends a head and then trickles (or never sends) the
body held its connection and buffers for ever, and a few hundred such sockets held
the venue's connections. :class:`HeadWithBodyProtocol` gives each request a
deadline for its head (``head_timeout_s``, counted from the connection's opening for
its first request and from a later request's first byte) and one for its whole body
(``body_timeout_s``, from the end of the head). Past one, a request that has begun
and has no answer yet gets ``408 request_timeout`` (the venue's problem document) and
the connection closes; a connection on which nothing arrived, or whose request was
answered already (a ``413`` before its body, say), is closed without one. The app
sees the client gone (``http.disconnect``), as when it resets the connection: a
body cut short is never parsed, so nothing of it is taken. While the server itself
is not reading the connection or not at this request yet (an earlier request on it
still being answered, or the app not taking a large body yet) the clock is not the
client's, and answers go in order: once the server is at it the client has a whole
period from then. The checks cost one timer per
connection, re-armed only when it fires (once a period, four times while the server
is not reading), and a clock read per request.

A client that does not read its answers (a batch archive, a proof, a stream) fills
its socket, then the transport's buffer: past its high-water mark the transport
pauses writing (``pause_writing``; uvicorn's sends wait) and the answer's bytes are
held until the client reads. A connection whose writing stays paused for
``write_timeout_s`` without a break (the buffer never drained below its low-water
mark, ``resume_writing``) is aborted: what it holds is dropped, and the app sees the
client gone. A slow client that reads keeps resuming the writes and is served
whole, however long the answer takes. One timer per pause.

Every way of running the venue (``sealbatch serve``, ``sealbatch demo serve``, the
thread venue of the examples and the demo) runs uvicorn with
:func:`venue_protocol`: :meth:`HeadWithBodyProtocol.serving` with the timeouts of
the venue's settings (``head_timeout_ms``, ``body_timeout_ms``,
``write_timeout_ms``).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from sealbatch.venue.api.middleware import declared_length, request_timeout

__all__ = ["HeadWithBody", "HeadWithBodyProtocol", "venue_protocol"]


class HeadWithBody:
    """A transport that holds a write starting with ``HTTP/`` (a response's head) until
    the next write or the end of the event loop's turn, whichever comes first.

    Everything else is the wrapped transport's: a held head leaves before any later
    write, before ``close`` and ``write_eof``, and is dropped with ``abort`` (as the
    wrapped transport drops what it has not sent).
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif bytes(data[:5]) == b"HTTP/":
            self._head = bytes(data)
            self._loop.call_soon(self._release)
        else:
            self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _release(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)

    def close(self) -> None:
        self._release()
        self._transport.close()

    def write_eof(self) -> None:
        self._release()
        self._transport.write_eof()

    def abort(self) -> None:
        self._head = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        held = len(self._head) if self._head is not None else 0
        return self._transport.get_write_buffer_size() + held

    def __getattr__(self, name: str) -> Any:
        # Reading, flow control, extra info, set_protocol (a websocket upgrade): as is.
        return getattr(self._transport, name)


#: A connection's phases, for its request deadlines.
_FRESH = 0  # open, nothing of its first request yet (the head's clock runs)
_HEAD = 1  # a request's head arriving
_BODY = 2  # a request's body arriving
_IDLE = 3  # no request arriving: the server's time (answering) or keep-alive's
#: The label of a connection closed in each phase (``sealbatch_slow_connections_closed``);
#: ``write``: its answers not read (writing paused past the write deadline).
_PHASE_NAMES = {_FRESH: "idle", _HEAD: "head", _BODY: "body"}


class HeadWithBodyProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through :class:`HeadWithBody`, with a
    deadline for each request's head and body (the module's "Slow clients")."""

    #: Seconds for a request's whole head: from the connection's opening (its first
    #: request) or from the request's first byte (a later one).
    head_timeout_s: float = 10.0
    #: Seconds for a request's whole body, from the end of its head.
    body_timeout_s: float = 30.0
    #: Seconds a connection's writing may stay paused (its client not reading).
    write_timeout_s: float = 30.0
    #: The venue's app (its ``state.service`` counts each connection closed and each
    #: 408, and gives the ``RateLimit-*`` headers of an answer to a ``POST``), or None.
    venue_app: Any = None

    @classmethod
    def serving(
        cls,
        app: Any,
        head_timeout_s: float,
        body_timeout_s: float,
        write_timeout_s: float = 30.0,
    ) -> type[HeadWithBodyProtocol]:
        """This protocol for ``app`` with these deadlines (uvicorn's ``http=``)."""
        if not (head_timeout_s > 0 and body_timeout_s > 0 and write_timeout_s > 0):
            raise ValueError(
                f"timeouts: expected seconds above 0, got head {head_timeout_s}, "
                f"body {body_timeout_s}, write {write_timeout_s}"
            )
        attributes = {
            "head_timeout_s": float(head_timeout_s),
            "body_timeout_s": float(body_timeout_s),
            "write_timeout_s": float(write_timeout_s),
            "venue_app": app,
        }
        return cast("type[HeadWithBodyProtocol]", type(cls.__name__, (cls,), attributes))

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        held = HeadWithBody(transport, asyncio.get_running_loop())
        self._write_timer: asyncio.TimerHandle | None = None
        super().connection_made(held)  # type: ignore[arg-type]
        self._phase = _FRESH
        self._received = 0  # bytes of the current body
        self._waited = False  # the server was not reading at the last check
        self._deadline = self.loop.time() + self.head_timeout_s
        self._timer: asyncio.TimerHandle | None = self.loop.call_at(self._deadline, self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()
        self._stop_write_timer()
        self._phase = _IDLE
        super().connection_lost(exc)

    # Flow control (the transport calls these as its write buffer crosses its marks)
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.write_timeout_s, self._write_stuck)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_write_timer()

    def _stop_write_timer(self) -> None:
        timer = self._write_timer
        if timer is not None:
            self._write_timer = None
            timer.cancel()

    def _write_stuck(self) -> None:
        """The write timer: writing paused a whole ``write_timeout_s`` (the client reads
        nothing): drop what the connection holds and close it."""
        self._write_timer = None
        if not self.flow.write_paused or self.transport.is_closing():
            return
        state = getattr(self.venue_app, "state", None)
        service = getattr(state, "service", None)
        if service is not None:
            service.metrics.slow_closed.labels("write").inc()
        self.transport.abort()

    def _arm(self, deadline: float) -> None:
        """Make ``deadline`` the current one; a timer due later is brought forward
        (one due earlier stays: when it fires it moves on to the deadline)."""
        self._deadline = deadline
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline, self._check)

    # Parser callbacks (httptools calls them while uvicorn feeds it what arrived)
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase == _FRESH:
            self._phase = _HEAD  # the first request: its clock runs since the opening
        else:
            self._phase = _HEAD
            self._waited = False
            self._arm(self.loop.time() + self.head_timeout_s)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.parser.should_upgrade() and self._should_upgrade():
            self._phase = _IDLE  # a websocket: its own protocol from here on
            return
        self._phase = _BODY
        self._received = 0
        self._waited = False
        self._arm(self.loop.time() + self.body_timeout_s)

    def on_body(self, body: bytes) -> None:
        self._received += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = _IDLE

    def _check(self) -> None:
        """The timer: past the deadline of a request still arriving, time it out."""
        self._timer = None
        phase = self._phase
        if phase == _IDLE or self.transport.is_closing():
            return
        now = self.loop.time()
        if now < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._check)
            return
        cycle = self.cycle
        if (
            self.flow.read_paused
            or self.pipeline
            or (phase == _HEAD and cycle is not None and not cycle.response_complete)
        ):
            # The server is not reading this connection, or not answering this request
            # yet (an earlier one on it is being answered; the app has not taken a
            # large body): not the client's time, and answers go in order. Look again
            # a quarter period on; once the server is at it the client has a whole
            # period from then.
            self._waited = True
            self._arm(now + self._period(phase) / 4)
            return
        if self._waited:
            self._waited = False
            self._arm(now + self._period(phase))
            return
        self._time_out(phase)

    def _period(self, phase: int) -> float:
        return self.body_timeout_s if phase == _BODY else self.head_timeout_s

    def _time_out(self, phase: int) -> None:
        """Answer ``408 request_timeout`` when a request has begun and has no answer
        yet, then close the connection (the app, if it runs, sees the client gone)."""
        cycle = self.cycle
        state = getattr(self.venue_app, "state", None)
        service = getattr(state, "service", None)
        if service is not None:
            service.metrics.slow_closed.labels(_PHASE_NAMES[phase]).inc()
        if phase == _BODY:
            cycle.disconnected = True  # the app's receive: http.disconnect; its sends: dropped
            cycle.message_event.set()
        if phase == _FRESH or (phase == _BODY and cycle.response_started):
            self.transport.close()  # nothing to answer, or answered already
            return
        if phase == _BODY:
            method: str | None = cycle.scope["method"]
            length = next(
                (declared_length(v) for k, v in cycle.scope["headers"] if k == b"content-length"),
                None,
            )
            expected = "the whole (chunked) body" if length is None else f"its {length} bytes"
            detail = (
                f"body: expected {expected} within {self.body_timeout_s:g} s of the request's "
                f"head, got {self._received}"
            )
        else:
            method = None
            detail = (
                f"request head: expected it whole within {self.head_timeout_s:g} s, got part of it"
            )
        self._phase = _IDLE
        response = request_timeout(detail, method, service)
        content = [STATUS_LINE[408]]
        for name, value in [*self.server_state.default_headers, *response.raw_headers]:
            content += [name, b": ", value, b"\r\n"]
        content += [b"connection: close\r\n\r\n", bytes(response.body)]
        self.transport.write(b"".join(content))
        self.transport.close()


def venue_protocol(app: Any, settings: Any = None) -> type[HeadWithBodyProtocol]:
    """uvicorn's ``http=`` for the venue ``app``: :class:`HeadWithBodyProtocol` with the
    deadlines of ``settings`` (default: those :func:`~sealbatch.venue.app.create_app`
    built ``app`` with, ``app.state.settings``), in seconds."""
    if settings is None:
        settings = app.state.settings
    return HeadWithBodyProtocol.serving(
        app,
        settings.head_timeout_ms / 1000,
        settings.body_timeout_ms / 1000,
        settings.write_timeout_ms / 1000,
    )
