"""``POST /v1/commitments``: one signed commitment or a list, answered with receipts."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from sealbatch.auction.commit_reveal import Receipt
from sealbatch.venue.api.deps import PROBLEM, ServiceDep, json_response, rate_headers
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


def _bulk_receipt(r: Receipt, operator: str) -> bytes:
    """``{"ok": true, "receipt": receipt_json(r, operator)}`` as compact JSON, written
    directly (every field is an integer, ``0x``-hex or a checksummed address: nothing
    to escape); the hot path of a bulk answer."""
    return (
        f'{{"ok":true,"receipt":{{"batch_id":{r.batch_id},"sequence":{r.sequence},'
        f'"commitment":"0x{r.commitment.hex()}","received_at_ms":{r.received_at_ms},'
        f'"operator":"{operator}","operator_signature":"0x{r.operator_signature.hex()}"}}}}'
    ).encode()


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


def _parse(raw: bytes) -> CommitIn | list[CommitIn]:
    """Parse one commitment or a list straight from the body (the hot path)."""
    try:
        if raw.lstrip()[:1] == b"[":
            return _BULK.validate_json(raw)
        return CommitIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


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
