"""``WS /v1/stream`` and ``GET /v1/stream/replay`` (gap healing; see venue/stream.py)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic_core import from_json
from starlette.types import Message

from sealbatch.settlement.json_text import check_unique_keys, count_keys
from sealbatch.venue.api.deps import (
    DECIMAL,
    MAX_ID,
    PROBLEM,
    ServiceDep,
    SignedReadDep,
    allow_read,
    json_response,
    one_value_each,
)
from sealbatch.venue.api.public import StreamReplayPublic
from sealbatch.venue.errors import BadRequest, VenueError
from sealbatch.venue.read_auth import SignedRead
from sealbatch.venue.service import VenueService
from sealbatch.venue.stream import MAX_TOPICS, valid_topic

router = APIRouter(prefix="/v1/stream", tags=["stream"])


@router.get(
    "/replay",
    response_model=StreamReplayPublic,
    responses={**PROBLEM, 410: {"description": "messages no longer kept: resubscribe"}},
    summary="Messages of a topic after a sequence number",
    description="An `account:<address>` topic is private: only on a signed read by the "
    "account or the operator (docs/api.md). Each parameter once.",
    dependencies=[one_value_each("topic", "after")],
)
async def replay(
    service: ServiceDep,
    topic: Annotated[str, Query(description="batches, rfqs, keys or account:<address>")],
    read: SignedReadDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_ID, description="the last sequence number the client has"), DECIMAL
    ],
) -> JSONResponse:
    topic = topic.lower()
    if not valid_topic(topic):
        raise BadRequest(f"topic: expected batches, rfqs or account:<address>, got {topic[:60]!r}")
    if topic.startswith("account:"):
        allow_read(service, read, topic.split(":", 1)[1])
    return json_response(
        {
            "epoch": service.broker.epoch,
            "topic": topic,
            "messages": service.broker.replay(topic, after),
        }
    )


class StreamRefused(VenueError):
    """A stream message the venue cannot follow; answered with an error frame."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _parse_frame(message: Message) -> Any:
    """The JSON document of a text frame.

    Raises:
        StreamRefused: ``malformed_json`` (a binary frame, not JSON, nested too deep,
            a key twice in one object: the parse keeps the last value, another
            reader the first, as for a request body).
    """
    text = message.get("text")
    if not isinstance(text, str):
        raise StreamRefused(
            "frame: expected a text frame holding JSON, got binary", "malformed_json"
        )
    try:
        # pydantic-core's Rust parser: its depth limit never depends on the
        # interpreter's recursion limit (which a library may have raised)
        doc = from_json(text)
        check_unique_keys(text, count_keys(doc))
    except ValueError as exc:  # DuplicateKey too
        raise StreamRefused(
            f"frame: expected a JSON document, got {exc}", "malformed_json"
        ) from None
    return doc


def _subscription(service: VenueService, doc: Any) -> set[str]:
    """The topics a subscribe message asks for, each account topic checked against
    its signed read.

    Raises:
        StreamRefused: ``bad_subscribe`` (not ``{"op": "subscribe", "topics":
            [str, ...]}``, an unknown topic, too many); Unauthorized for an
            account topic without a valid signed read in ``auth``.
    """
    if not isinstance(doc, dict) or doc.get("op") != "subscribe":
        raise StreamRefused('expected {"op": "subscribe", "topics": [...]} first', "bad_subscribe")
    raw = doc.get("topics")
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise StreamRefused(
            f"topics: expected a non-empty list of strings, got {str(raw)[:60]}", "bad_subscribe"
        )
    if len(raw) > MAX_TOPICS:
        raise StreamRefused(
            f"topics: expected at most {MAX_TOPICS}, got {len(raw)}", "bad_subscribe"
        )
    topics = {t.lower() for t in raw}
    bad = sorted(t for t in topics if not valid_topic(t))
    if bad:
        raise StreamRefused(
            f"topic: expected batches, rfqs or account:<address>, got {bad[0][:60]!r}",
            "bad_subscribe",
        )
    auth = doc.get("auth", [])
    if not isinstance(auth, list) or not all(
        isinstance(a, dict)
        and isinstance(a.get("account"), str)
        and isinstance(a.get("expiry"), int)
        and not isinstance(a.get("expiry"), bool)
        and isinstance(a.get("signature"), str)
        for a in auth
    ):
        raise StreamRefused(
            'auth: expected a list of {"account", "expiry", "signature"}', "bad_subscribe"
        )
    reads = {
        a["account"].lower(): SignedRead(a["account"], a["expiry"], a["signature"]) for a in auth
    }
    for topic in topics:
        if topic.startswith("account:"):
            account = topic.split(":", 1)[1]
            allow_read(service, reads.get(account), account)
    return topics


async def _error_frame(ws: WebSocket, err: VenueError) -> None:
    await ws.send_json({"type": "error", "code": getattr(err, "code", "error"), "detail": str(err)})


@router.websocket("")
async def stream(ws: WebSocket) -> None:
    """Send ``{"op": "subscribe", "topics": [...], "auth": [...]}``; get one snapshot
    per topic (``type: snapshot``, ``seq`` = the topic's current sequence number),
    then every message with ``seq`` counting up by one per topic. A refused
    subscribe gets an error frame and the socket closes (1008); any later
    message gets an error frame and the socket stays open."""
    service: VenueService = ws.app.state.service
    await ws.accept()
    try:
        first = await ws.receive()
        if first["type"] == "websocket.disconnect":
            return
        topics = _subscription(service, _parse_frame(first))
        sub = service.broker.subscribe(topics)
    except VenueError as exc:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await _error_frame(ws, exc)
            await ws.close(code=1008)
        return
    except WebSocketDisconnect:
        return
    try:
        for topic in sorted(topics):
            await ws.send_json(
                {
                    "type": "snapshot",
                    "epoch": service.broker.epoch,
                    "topic": topic,
                    "seq": service.broker.seq(topic),
                    "data": await service.read_durable(lambda t=topic: service.snapshot(t)),  # type: ignore[misc]
                }
            )
        receiver = asyncio.ensure_future(ws.receive())
        while True:
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                getter.cancel()
                message = receiver.result()
                if message["type"] == "websocket.disconnect":
                    break
                try:
                    _parse_frame(message)
                    raise StreamRefused(
                        "expected nothing after the subscribe message (one subscription per "
                        "socket: open another to follow other topics)",
                        "unexpected_message",
                    )
                except StreamRefused as exc:
                    await _error_frame(ws, exc)
                receiver = asyncio.ensure_future(ws.receive())
                continue
            await ws.send_json(getter.result())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        service.broker.unsubscribe(sub)
