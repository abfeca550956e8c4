"""``POST /v1/commitments``: one signed commitment or a list, answered with receipts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from auction.commit_reveal import Receipt
from venue.api.deps import PROBLEM, OperatorDep, json_response, rate_headers
from venue.errors import BadRequest, problem_status
from venue.schemas import BulkItem, CommitIn, ReceiptOut

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


def problem_json(err: Any) -> dict[str, Any]:
    status = problem_status(err)
    return {
        "type": "about:blank",
        "title": type(err).__name__,
        "status": status,
        "code": getattr(err, "code", "error"),
        "detail": str(err),
    }


@router.post(
    "",
    response_model=ReceiptOut | list[BulkItem],
    responses=PROBLEM,
    summary="Commit to sealed orders",
    description="Send one signed commitment (answered with a receipt, or a problem) or a list "
    "of up to `bulk_max` (answered with one item per commitment, in order). A receipt leaves "
    "only after the commitment is durable.",
)
async def post_commitments(
    op: OperatorDep, body: Annotated[CommitIn | list[CommitIn], Body()]
) -> JSONResponse:
    if isinstance(body, list):
        if not 1 <= len(body) <= op.settings.bulk_max:
            raise BadRequest(
                f"commitments: expected 1 to {op.settings.bulk_max} per request, got {len(body)}"
            )
        results = await op.commit(body)
        items = [
            {"ok": False, "problem": problem_json(r)}
            if isinstance(r, Exception)
            else {"ok": True, "receipt": receipt_json(r, op.core.operator)}
            for r in results
        ]
        return json_response(items, headers=rate_headers(op, body[0].trader))
    (result,) = await op.commit([body])
    if isinstance(result, Exception):
        raise result
    return json_response(
        receipt_json(result, op.core.operator), headers=rate_headers(op, body.trader)
    )
