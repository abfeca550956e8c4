"""The keyper committee's API: dealings, released shares, batch keys and seals.

``GET /v1/keypers`` (the committee), ``POST /v1/keypers/dealings``,
``POST /v1/keypers/complaints``, ``POST /v1/keypers/answers``,
``GET /v1/keypers/rounds/{id}`` (a batch's dealing round at any time),
``POST /v1/keypers/shares``, ``GET /v1/batches/{id}/key`` (the batch's threshold
key with its dealing round and its seal). docs/threshold.md gives the rules.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sealbatch.venue.api.deps import (
    PROBLEM,
    BatchIdPath,
    ServiceDep,
    json_response,
    rate_headers,
)
from sealbatch.venue.api.public import (
    AnswerTakenPublic,
    BatchKeyPublic,
    CommitteePublic,
    ComplaintTakenPublic,
    DealingTakenPublic,
    RoundPublic,
    ShareTakenPublic,
)
from sealbatch.venue.errors import NotFound
from sealbatch.venue.key_book import KeyBook
from sealbatch.venue.schemas import AnswerIn, ComplaintIn, DealingIn, KeyShareIn
from sealbatch.venue.service import VenueService

router = APIRouter(tags=["keypers"])


def _taken(service: VenueService, keyper: str, record: object, *fields: str) -> JSONResponse:
    """A keyper write's answer: ``fields`` of what the venue took, with the keyper's
    rate-limit headers."""
    return json_response(
        {f: getattr(record, f) for f in fields}, headers=rate_headers(service, keyper)
    )


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
    description="Signed (EIP-712 KeyperDealing) by the dealing keyper, at least 3 batches "
    "ahead of the batch collecting (before the batch's complaint round) and at most 16 "
    "batches ahead.",
)
async def post_dealing(service: ServiceDep, body: DealingIn) -> JSONResponse:
    record = await service.deal(body)
    return _taken(service, body.keyper, record, "batch_id", "dealer", "at_ms")


@router.post(
    "/v1/keypers/complaints",
    response_model=ComplaintTakenPublic,
    responses=PROBLEM,
    summary="A keyper's complaint about the share a dealer dealt it",
    description="Signed (EIP-712 KeyperComplaint) by the complaining keyper, at least 2 "
    "batches ahead of the batch collecting, against a keyper that dealt for the batch. The "
    "dealer must answer it before the batch opens or be left out of the batch key.",
)
async def post_complaint(service: ServiceDep, body: ComplaintIn) -> JSONResponse:
    record = await service.complain(body)
    return _taken(service, body.keyper, record, "batch_id", "index", "dealer", "at_ms")


@router.post(
    "/v1/keypers/answers",
    response_model=AnswerTakenPublic,
    responses=PROBLEM,
    summary="A dealer's answer to a complaint: the share in the clear",
    description="Signed (EIP-712 ComplaintAnswer) by the dealer, before the batch's commit "
    "window opens. A share that verifies against the dealer's commitments voids the "
    "complaint; one that does not is recorded and disqualifies the dealer (400 bad_request, "
    "detail bad_answer).",
)
async def post_answer(service: ServiceDep, body: AnswerIn) -> JSONResponse:
    outcome = await service.answer_complaint(body)
    fields = ("batch_id", "dealer", "index", "valid", "at_ms")
    return _taken(service, body.keyper, outcome.record, *fields)


@router.get(
    "/v1/keypers/rounds/{batch_id}",
    response_model=RoundPublic,
    responses=PROBLEM,
    summary="A batch's dealing round: dealings, complaints, answers, disqualified dealers",
    description="At any time: the phase (dealing, complaints, answers, closed), the "
    "deadlines of each, and what was taken. Keypers read it to check their shares and "
    "answer complaints before the batch opens.",
)
async def dealing_round(service: ServiceDep, batch_id: BatchIdPath) -> JSONResponse:
    def view() -> dict[str, Any]:
        keys = _book(service)
        now = service.clock.now_ms()
        return keys.round_view(
            batch_id,
            service.schedule.collecting(now),
            service.schedule.windows(batch_id).commit_open_ms,
            service.schedule.commit_ms,
        )

    return json_response(service.read(view))


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
    return _taken(service, body.keyper, outcome, "batch_id", "index", "early", "combined")


@router.get(
    "/v1/batches/{batch_id}/key",
    response_model=BatchKeyPublic,
    responses=PROBLEM,
    summary="A batch's threshold key, its dealing round and its seal",
    description="Exists once the batch's commit window opened with at least t qualified "
    "dealers (dealers: those not disqualified by an unanswered or badly answered "
    "complaint): traders encrypt to public_key; keypers find their encrypted shares in the "
    "dealings and the shares revealed to them in the answers; seal is the operator's signed "
    "commitment root once the reveal window closed.",
)
async def batch_key(service: ServiceDep, batch_id: BatchIdPath) -> JSONResponse:
    def view() -> dict[str, Any]:
        keys = _book(service)
        return keys.key_view(batch_id, service.schedule.collecting(service.clock.now_ms()))

    return json_response(service.read(view))
