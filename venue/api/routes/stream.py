"""``WS /v1/stream`` and ``GET /v1/stream/replay`` (gap healing; see venue/stream.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from sealbatch.venue.api.deps import PROBLEM, OperatorDep, json_response
from sealbatch.venue.api.public import StreamReplayPublic
from sealbatch.venue.errors import BadRequest, VenueError
from sealbatch.venue.operator import Operator
from sealbatch.venue.stream import valid_topic

router = APIRouter(prefix="/v1/stream", tags=["stream"])


@router.get(
    "/replay",
    response_model=StreamReplayPublic,
    responses={**PROBLEM, 410: {"description": "messages no longer kept: resubscribe"}},
    summary="Messages of a topic after a sequence number",
)
async def replay(
    op: OperatorDep, topic: str, after: int = Query(..., ge=0, le=(1 << 63) - 1)
) -> JSONResponse:
    topic = topic.lower()
    if not valid_topic(topic):
        raise BadRequest(f"topic: expected batches, rfqs or account:<address>, got {topic[:60]!r}")
    return json_response(
        {"epoch": op.broker.epoch, "topic": topic, "messages": op.broker.replay(topic, after)}
    )


@router.websocket("")
async def stream(ws: WebSocket) -> None:
    """Send ``{"op": "subscribe", "topics": [...]}``; get one snapshot per topic
    (``type: snapshot``, ``seq`` = the topic's current sequence number), then
    every message with ``seq`` counting up by one per topic."""
    op: Operator = ws.app.state.operator
    await ws.accept()
    try:
        first = json.loads(await ws.receive_text())
        topics = (
            {str(t).lower() for t in first.get("topics", [])} if isinstance(first, dict) else set()
        )
        if not topics or first.get("op") != "subscribe":
            raise BadRequest('expected {"op": "subscribe", "topics": [...]} first')
        sub = op.broker.subscribe(topics)
    except (ValueError, VenueError, WebSocketDisconnect) as exc:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.send_json({"type": "error", "code": "bad_subscribe", "detail": str(exc)})
            await ws.close(code=1008)
        return
    try:
        for topic in sorted(topics):
            await ws.send_json(
                {
                    "type": "snapshot",
                    "epoch": op.broker.epoch,
                    "topic": topic,
                    "seq": op.broker.seq(topic),
                    "data": await op.read_durable(lambda t=topic: op.snapshot(t)),  # type: ignore[misc]
                }
            )
        receiver = asyncio.ensure_future(ws.receive_text())
        while True:
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                getter.cancel()
                receiver.result()  # raises WebSocketDisconnect when the client left
                receiver = asyncio.ensure_future(ws.receive_text())
                continue
            await ws.send_json(getter.result())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        op.broker.unsubscribe(sub)
