"""``POST /v1/reveals``: reveal a committed order and its salt."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sealbatch.venue.api.deps import PROBLEM, ServiceDep, json_response, rate_headers
from sealbatch.venue.api.public import RevealPublic
from sealbatch.venue.schemas import RevealIn

router = APIRouter(prefix="/v1/reveals", tags=["reveals"])


@router.post(
    "",
    response_model=RevealPublic,
    responses=PROBLEM,
    summary="Reveal a committed order",
    description="Signed by the committing trader, in the reveal window of the commitment's "
    "batch. A reveal that does not match, breaks the band, size or margin is refused with its "
    "code, and the refusal is recorded as the order's fate.",
)
async def post_reveal(service: ServiceDep, body: RevealIn) -> JSONResponse:
    revealed = await service.reveal(body)
    return json_response(
        {
            "commitment": "0x" + revealed.commitment.hex(),
            "trader": revealed.trader,
            "sequence": revealed.sequence,
            "order": revealed.order.to_dict(),
            "status": "revealed",
        },
        headers=rate_headers(service, body.trader),
    )
