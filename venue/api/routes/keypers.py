"""The keyper committee's API: dealings, released shares, batch keys and seals.

``GET /v1/keypers`` (the committee), ``POST /v1/keypers/dealings``,
``POST /v1/keypers/shares``, ``GET /v1/batches/{id}/key`` (the batch's threshold
key with its dealings and its seal). docs/threshold.md gives the rules.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from sealbatch.venue.api.deps import PROBLEM, ServiceDep, json_response, rate_headers
from sealbatch.venue.api.public import (
    BatchKeyPublic,
    CommitteePublic,
    DealingTakenPublic,
    ShareTakenPublic,
)
from sealbatch.venue.errors import NotFound
from sealbatch.venue.key_book import KeyBook
from sealbatch.venue.schemas import DealingIn, KeyShareIn
from sealbatch.venue.service import VenueService

router = APIRouter(tags=["keypers"])

BatchId = Path(ge=0, le=(1 << 63) - 1)


def _book(service: VenueService) -> KeyBook:
    keys = service.core.keys
    if keys is None:
        raise NotFound("this venue runs no keyper committee", "no_committee")
    return keys


@router.get(
    "/v1/keypers",
    response_model=CommitteePublic,
    responses=PROBLEM,
    summary="The keyper committee",
    description="The threshold, each keyper's index, address and public key, and the batch "
    "collecting now (keypers deal for the batches after it).",
)
async def committee(service: ServiceDep) -> JSONResponse:
    def view() -> dict[str, Any]:
        keys = _book(service)
        return {
            **keys.committee.to_json(),
            "collecting": service.schedule.collecting(service.clock.now_ms()),
            "key_wait_ms": service.core.key_wait_ms,
        }

    return json_response(service.read(view))


@router.post(
    "/v1/keypers/dealings",
    response_model=DealingTakenPublic,
    responses=PROBLEM,
    summary="A keyper's dealing for a future batch",
    description="Signed (EIP-712 KeyperDealing) by the dealing keyper, before the batch's "
    "commit window opens and at most 16 batches ahead.",
)
async def post_dealing(service: ServiceDep, body: DealingIn) -> JSONResponse:
    record = await service.deal(body)
    return json_response(
        {"batch_id": record.batch_id, "dealer": record.dealer, "at_ms": record.at_ms},
        headers=rate_headers(service, body.keyper),
    )


@router.post(
    "/v1/keypers/shares",
    response_model=ShareTakenPublic,
    responses=PROBLEM,
    summary="A keyper's share of a sealed batch's secret",
    description="Signed (EIP-712 KeyShare) by the releasing keyper. A share that does not "
    "verify against the batch key is refused (422 bad_share) and recorded against its keyper; "
    "a valid share taken before the batch's seal is recorded as an early release.",
)
async def post_share(service: ServiceDep, body: KeyShareIn) -> JSONResponse:
    outcome = await service.release_share(body)
    return json_response(
        {
            "batch_id": outcome.batch_id,
            "index": outcome.index,
            "early": outcome.early,
            "combined": outcome.combined,
        },
        headers=rate_headers(service, body.keyper),
    )


@router.get(
    "/v1/batches/{batch_id}/key",
    response_model=BatchKeyPublic,
    responses=PROBLEM,
    summary="A batch's threshold key, its dealings and its seal",
    description="Exists once the batch's commit window opened with at least t dealings: "
    "traders encrypt to public_key; keypers find their encrypted shares in the dealings; "
    "seal is the operator's signed commitment root once the commit window closed.",
)
async def batch_key(service: ServiceDep, batch_id: int = BatchId) -> JSONResponse:
    def view() -> dict[str, Any]:
        keys = _book(service)
        return keys.key_view(batch_id, service.schedule.collecting(service.clock.now_ms()))

    return json_response(service.read(view))
