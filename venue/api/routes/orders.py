"""``GET /v1/orders/{commitment}``: an order's fate, with the reason when not filled."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sealbatch.venue.api.deps import (
    PROBLEM,
    OperatorDep,
    SignedReadDep,
    allow_read,
    json_response,
    parse_hex32,
)
from sealbatch.venue.api.public import OrderStatusPublic
from sealbatch.venue.errors import NotFound

router = APIRouter(prefix="/v1/orders", tags=["orders"])


@router.get(
    "/{commitment}",
    response_model=OrderStatusPublic,
    responses=PROBLEM,
    summary="An order's fate",
    description="`status`: committed, revealed, filled, partially_filled, resting, not_filled, "
    "forfeited. `reason` when not (fully) filled: not_revealed, reveal_mismatch, "
    "limit_not_reached, rationed (with `share` = filled/quantity), no_trade, margin_rejected, "
    "outside_band, size_out_of_range; `detail` says it in words. Private: only on a signed "
    "read by the order's trader or the operator; to anyone else the order does not exist.",
)
async def get_order(op: OperatorDep, commitment: str, read: SignedReadDep) -> JSONResponse:
    key = parse_hex32(commitment, "commitment")
    signer = allow_read(op, read, read.account if read is not None else "")
    fate = await op.read_durable(lambda: op.core.fate(key))
    if signer.lower() != op.core.operator.lower() and fate["trader"].lower() != signer.lower():
        # Answered as for a hash never taken: whose order it is stays private.
        raise NotFound(f"commitment {commitment[:80]} was never taken", "unknown_commitment")
    return json_response(fate)
