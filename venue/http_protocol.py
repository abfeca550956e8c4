"""uvicorn's HTTP/1.1 protocol with each response's head sent together with its body.

uvicorn writes a response's status line and headers as soon as the app starts the
response, then its body as a second write: two system calls and two TCP segments
for every small answer (a receipt is ~350 bytes), and on 127.0.0.1 each write runs
the receiver's side of the stack too. :class:`HeadWithBody` holds a head until the
next write (the body, which the app sends in the same turn of the event loop) and
sends the two as one; a head that nothing follows (``100 Continue``, a streamed
answer's first part) still leaves at the end of the turn. The bytes on the wire and
their order are unchanged; only their grouping into writes is.

``sealbatch serve`` runs uvicorn with :class:`HeadWithBodyProtocol`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HeadWithBody", "HeadWithBodyProtocol"]


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


class HeadWithBodyProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through :class:`HeadWithBody`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        held = HeadWithBody(transport, asyncio.get_running_loop())
        super().connection_made(held)  # type: ignore[arg-type]
