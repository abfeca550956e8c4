"""``GET /v1/orders/{commitment}``: an order's fate, with the reason when not filled."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sealbatch.venue.api.deps import PROBLEM, OperatorDep, json_response, parse_hex32
from sealbatch.venue.api.public import OrderStatusPublic

router = APIRouter(prefix="/v1/orders", tags=["orders"])


@router.get(
    "/{commitment}",
    response_model=OrderStatusPublic,
    responses=PROBLEM,
    summary="An order's fate",
    description="`status`: committed, revealed, filled, partially_filled, resting, not_filled, "
    "forfeited. `reason` when not (fully) filled: not_revealed, reveal_mismatch, "
    "limit_not_reached, rationed (with `share` = filled/quantity), no_trade, margin_rejected, "
    "outside_band, size_out_of_range; `detail` says it in words.",
)
async def get_order(op: OperatorDep, commitment: str) -> JSONResponse:
    key = parse_hex32(commitment, "commitment")
    return json_response(await op.read_durable(lambda: op.core.fate(key)))
