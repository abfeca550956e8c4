"""RFQ for blocks: request, sealed quotes, reveals, accept (``/v1/rfqs``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from sealbatch.venue.api.deps import (
    DECIMAL,
    PROBLEM,
    ServiceDep,
    json_response,
    one_value_each,
    parse_hex32,
    rate_headers,
)
from sealbatch.venue.api.public import AcceptancePublic, QuotePublic, RfqListPublic, RfqPublic
from sealbatch.venue.errors import BadRequest
from sealbatch.venue.rfq import OPEN_PAGE_MAX
from sealbatch.venue.schemas import AcceptIn, QuoteCommitIn, QuoteRevealIn, RfqIn

router = APIRouter(prefix="/v1/rfqs", tags=["rfqs"])

#: The most open RFQs one page of ``GET /v1/rfqs`` lists (docs/api.md).
PAGE_MAX = OPEN_PAGE_MAX


def _same_id(path_id: str, body_id: str) -> None:
    parse_hex32(path_id, "rfq_id")  # the path's own form first: 0X... is no id
    if path_id.lower() != body_id.lower():
        raise BadRequest(f"rfq_id: expected {path_id[:80]} (from the path), got {body_id}")


@router.post(
    "",
    response_model=RfqPublic,
    responses=PROBLEM,
    status_code=201,
    summary="Request quotes for a block",
    description="Signed EIP-712 `Rfq`: market, size >= the market's `block_min_lots`, side "
    "(hidden, buy or sell), window length. Quotes are committed in the first half of the "
    "window, revealed in the third quarter, accepted in the last quarter.",
)
async def post_rfq(service: ServiceDep, body: RfqIn) -> JSONResponse:
    rfq = await service.request_rfq(body)
    return json_response(
        rfq.to_dict(service.clock.now_ms()), 201, headers=rate_headers(service, body.requester)
    )


@router.get(
    "",
    response_model=RfqListPublic,
    responses=PROBLEM,
    summary="Open RFQs (what makers can quote)",
    description=f"Oldest first, at most `limit` (1 to {PAGE_MAX}, the default) a page; the "
    "next page: `after` = the last one's `rfq_id`. A page shorter than `limit` is the last.",
    dependencies=[one_value_each("limit", "after")],
)
async def list_rfqs(
    service: ServiceDep,
    limit: Annotated[
        int, Query(ge=1, le=PAGE_MAX, description=f"RFQs per page, at most {PAGE_MAX}"), DECIMAL
    ] = PAGE_MAX,
    after: Annotated[
        str | None, Query(description="the rfq_id the previous page ended with")
    ] = None,
) -> JSONResponse:
    start = None if after is None else parse_hex32(after, "after")
    return json_response({"rfqs": await service.rfq_page(start, limit)})


@router.get(
    "/{rfq_id}",
    response_model=RfqPublic,
    responses=PROBLEM,
    summary="One RFQ, its quotes and acceptance",
)
async def get_rfq(service: ServiceDep, rfq_id: str) -> JSONResponse:
    return json_response(await service.rfq_view(parse_hex32(rfq_id, "rfq_id")))


@router.post(
    "/{rfq_id}/quotes",
    response_model=QuotePublic,
    responses=PROBLEM,
    status_code=201,
    summary="Post a sealed quote",
    description="Signed EIP-712 `QuoteCommit` with commitment "
    "`keccak(abi.encode(QUOTE_TAG, rfqId, maker, bid, ask, salt))`.",
)
async def post_quote(service: ServiceDep, rfq_id: str, body: QuoteCommitIn) -> JSONResponse:
    _same_id(rfq_id, body.rfq_id)
    q = await service.quote_commit(body)
    return json_response(q.to_dict(), 201, headers=rate_headers(service, body.maker))


@router.post(
    "/{rfq_id}/reveals",
    response_model=QuotePublic,
    responses=PROBLEM,
    summary="Reveal a sealed quote (firm until the window closes: no last look)",
)
async def post_quote_reveal(service: ServiceDep, rfq_id: str, body: QuoteRevealIn) -> JSONResponse:
    _same_id(rfq_id, body.rfq_id)
    q = await service.quote_reveal(body)
    return json_response(q.to_dict(), headers=rate_headers(service, body.maker))


@router.post(
    "/{rfq_id}/accept",
    response_model=AcceptancePublic,
    responses=PROBLEM,
    summary="Accept the best revealed quote",
    description="Signed EIP-712 `Accept`. The block settles in the batch collecting "
    "commitments now, at the quote price, if that price lies within `rfq_band_bps` of the "
    "batch's clearing price.",
)
async def post_accept(service: ServiceDep, rfq_id: str, body: AcceptIn) -> JSONResponse:
    _same_id(rfq_id, body.rfq_id)
    a = await service.accept(body)
    return json_response(a.to_dict(), headers=rate_headers(service, body.requester))
