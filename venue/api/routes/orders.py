"""``GET /v1/orders/{commitment}``: an order's status, with the reason when not filled."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sealbatch.venue.api.deps import (
    PROBLEM,
    ServiceDep,
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
    "outside_band, size_out_of_range; `detail` says it in words. Before its batch clears an "
    "order exists only for a signed read by its trader or the operator (404 to anyone else); "
    "once cleared, anyone sees its public outcome (what the published batch shows) and only "
    "its trader and the operator the `detail`.",
)
async def get_order(service: ServiceDep, commitment: str, read: SignedReadDep) -> JSONResponse:
    key = parse_hex32(commitment, "commitment")
    signer = allow_read(service, read, read.account) if read is not None else None
    status = await service.read_durable(lambda: service.order_status(key))
    if signer is not None and signer.lower() in (
        service.core.operator.lower(),
        status.trader.lower(),
    ):
        return json_response(status.to_json())
    if status.is_open:
        # Answered as for a hash never taken: an open commitment is listed nowhere
        # public, and whose order it is stays private.
        raise NotFound(f"commitment {commitment[:80]} was never taken", "unknown_commitment")
    # After clearing: the public outcome; the detail may quote the trader's margin.
    return json_response(dataclasses.replace(status, detail=None).to_json())
