"""``POST /v1/commitments``: one signed commitment or a list, answered with receipts.

The route below takes every request; :class:`SingleCommitPath`, a pure ASGI layer
in front of the app's others, answers the ordinary single commitment itself (the
hot path: one request per commitment) with the same bytes the route would, and
hands everything else to the app.
"""

from __future__ import annotations

import json
from operator import attrgetter
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sealbatch.auction.commit_reveal import Receipt
from sealbatch.crypto.exceptions import SealbatchError
from sealbatch.venue.api.deps import PROBLEM, ServiceDep, json_response, rate_headers
from sealbatch.venue.api.middleware import (
    FEW_BRACKETS,
    claimed_signer_headers,
    declared_length,
    error_problem,
    repeated_key,
    too_deep,
)
from sealbatch.venue.errors import BadRequest, problem_status
from sealbatch.venue.schemas import BulkItem, CommitIn, ReceiptOut

router = APIRouter(prefix="/v1/commitments", tags=["commitments"])


def receipt_json(r: Receipt, operator: str) -> dict[str, Any]:
    return {
        "batch_id": r.batch_id,
        "sequence": r.sequence,
        "commitment": "0x" + r.commitment.hex(),
        "received_at_ms": r.received_at_ms,
        "operator": operator,
        "operator_signature": "0x" + r.operator_signature.hex(),
    }


def receipt_bytes(r: Receipt, operator: str) -> bytes:
    """:func:`receipt_json` as the compact JSON a ``JSONResponse`` renders, written
    directly (every field is an integer, ``0x``-hex or a checksummed address)."""
    return (
        f'{{"batch_id":{r.batch_id},"sequence":{r.sequence},'
        f'"commitment":"0x{r.commitment.hex()}","received_at_ms":{r.received_at_ms},'
        f'"operator":"{operator}","operator_signature":"0x{r.operator_signature.hex()}"}}'
    ).encode()


def _bulk_receipt(r: Receipt, operator: str) -> bytes:
    """``{"ok": true, "receipt": receipt_json(r, operator)}`` as compact JSON, written
    directly; the hot path of a bulk answer."""
    return b'{"ok":true,"receipt":' + receipt_bytes(r, operator) + b"}"


def problem_json(err: Any) -> dict[str, Any]:
    status = problem_status(err)
    return {
        "type": "about:blank",
        "title": type(err).__name__,
        "status": status,
        "code": getattr(err, "code", "error"),
        "detail": str(err),
    }


_BULK = TypeAdapter(list[CommitIn])
_FIELDS_SET = attrgetter("model_fields_set")


def _parse(raw: bytes) -> CommitIn | list[CommitIn] | Response:
    """Parse one commitment or a list straight from the body (the hot path), or the
    ``400 malformed_json`` of a body nested too deep or with a key twice in one
    object (the app's :class:`~sealbatch.venue.api.middleware.JsonDepthGuard`
    leaves this route's body to it: parsed here once, not twice).

    The parse keeps the last of two values for a key; a body of no more ``:`` than
    the fields it took holds no key twice, so only a body with more (a ``:`` in a
    market name, an unknown field, a key twice) is parsed again to find out."""
    body: CommitIn | list[CommitIn]
    try:
        if raw.lstrip()[:1] == b"[":
            body = _BULK.validate_json(raw)
            keys = sum(map(len, map(_FIELDS_SET, body)))
        else:
            body = CommitIn.model_validate_json(raw)
            keys = len(body.model_fields_set)
    except ValidationError as exc:
        refused = too_deep(raw)
        if refused is None:
            refused = repeated_key(raw)
        if refused is not None:
            return refused
        raise RequestValidationError(exc.errors(include_url=False)) from None
    refused = repeated_key(raw, keys)
    return body if refused is None else refused


_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/CommitIn"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/CommitIn"}},
                ]
            },
            "examples": {
                "one": {"value": CommitIn.model_config["json_schema_extra"]["examples"][0]},  # type: ignore[index]
            },
        }
    },
}


@router.post(
    "",
    response_model=ReceiptOut | list[BulkItem],
    responses=PROBLEM,
    summary="Commit to sealed orders",
    description="Send one signed commitment (answered with a receipt, or a problem) or a list "
    "of up to `bulk_max` (answered with one item per commitment, in order). A receipt leaves "
    "only after the commitment is durable.",
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def post_commitments(service: ServiceDep, request: Request) -> Response:
    body = _parse(await request.body())
    if isinstance(body, Response):
        return body
    if isinstance(body, list):
        bulk_max = service.settings.bulk_max
        if not 1 <= len(body) <= bulk_max:
            raise BadRequest(f"commitments: expected 1 to {bulk_max} per request, got {len(body)}")
        results = await service.commit(body)
        operator = service.core.operator
        items = b",".join(
            json.dumps(
                {"ok": False, "problem": problem_json(r)}, ensure_ascii=False, separators=(",", ":")
            ).encode()
            if isinstance(r, Exception)
            else _bulk_receipt(r, operator)
            for r in results
        )
        return Response(
            b"[" + items + b"]",
            media_type="application/json",
            headers=rate_headers(service, body[0].trader),
        )
    (result,) = await service.commit([body])
    if isinstance(result, Exception):
        raise result
    return json_response(
        receipt_json(result, service.core.operator), headers=rate_headers(service, body.trader)
    )


#: The path the fast path answers (``POST`` only, no query needed).
PATH = "/v1/commitments"


class SingleCommitPath:
    """Pure ASGI layer: answer an ordinary ``POST /v1/commitments`` of one commitment
    without the framework's routing, dependency and exception layers.

    "Ordinary" is a body of declared length within ``max_bytes``, with few
    brackets, that parses as one :class:`CommitIn` and has no more ``:`` than
    the fields it gave (so no key twice, see :func:`_parse`). The answer is byte for byte the
    route's: the receipt as :func:`receipt_json` with :func:`rate_headers`, or a
    refusal as the app's problem (:func:`error_problem`) with the headers
    :class:`~sealbatch.venue.api.middleware.SignedWriteHeaders` adds; the
    commitment goes through the same :meth:`VenueService.commit`, durable before
    the answer. Any other request (bulk, malformed, too large, chunked, a client
    gone mid-body) goes on to ``app`` untouched, its body replayed when it was read,
    so the app's middleware and route answer it exactly as before.

    Args:
        app: the rest of the stack (the app's middleware, then its routes).
        max_bytes: the body limit (the app's :class:`BodyLimit`'s).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != PATH
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        service = getattr(scope["app"].state, "service", None)
        length = -1
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = declared_length(value)
                break
        if service is None or not 0 <= length <= self.max_bytes:
            await self.app(scope, receive, send)  # the app answers it (413, chunked, ...)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        body: CommitIn | None = None
        if (
            message["type"] == "http.request"
            and raw.lstrip()[:1] != b"["
            and raw.count(b"[") + raw.count(b"{") <= FEW_BRACKETS
        ):
            try:
                body = CommitIn.model_validate_json(raw)
            except ValidationError:
                body = None  # the route answers it (422, 400 malformed_json)
            if body is not None and raw.count(b":") > len(body.model_fields_set):
                body = None  # perhaps a key twice: the route finds out (_parse)
        if body is None:

            async def replay() -> Message:
                return messages.pop(0) if messages else await receive()

            await self.app(scope, replay, send)
            return
        try:
            (result,) = await service.commit([body])
        except SealbatchError as exc:  # e.g. the durable log failed
            result = exc
        if isinstance(result, SealbatchError):
            response = error_problem(result)
            response.raw_headers += claimed_signer_headers(service, raw)
            await response(scope, receive, send)
            return
        payload = receipt_bytes(result, service.core.operator)
        limiter = service.limiter
        headers = [
            (b"ratelimit-limit", str(limiter.burst).encode()),
            (b"ratelimit-remaining", str(limiter.remaining(body.trader.lower())).encode()),
            (b"ratelimit-policy", f"{limiter.burst};w=1;rate={limiter.rate}".encode()),
            (b"content-length", str(len(payload)).encode()),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
