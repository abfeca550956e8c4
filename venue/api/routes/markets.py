"""``GET /v1/markets`` and ``/v1/markets/{id}``: rules, last price, oracle and funding."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sealbatch.venue.api.deps import PROBLEM, ServiceDep, json_response, rate_headers
from sealbatch.venue.api.public import MarketListPublic, MarketPublic, OracleTakenPublic
from sealbatch.venue.errors import NotFound
from sealbatch.venue.schemas import OracleReportIn
from sealbatch.venue.service import VenueService

router = APIRouter(prefix="/v1/markets", tags=["markets"])
oracle_router = APIRouter(prefix="/v1/oracle", tags=["oracle"])


def _market(service: VenueService, market_id: str) -> dict[str, Any]:
    m = service.core.markets[market_id]
    return {
        **asdict(m),
        "last_price": service.core.references.get(market_id),
        **service.core.settlement.market_state(market_id).to_dict(),
    }


@router.get("", response_model=MarketListPublic, responses=PROBLEM, summary="All markets")
async def list_markets(service: ServiceDep) -> JSONResponse:
    return json_response(
        await service.read_durable(
            lambda: {"markets": [_market(service, m) for m in sorted(service.core.markets)]}
        )
    )


@router.get(
    "/{market_id}",
    response_model=MarketPublic,
    responses=PROBLEM,
    summary="One market, its oracle and funding",
)
async def get_market(service: ServiceDep, market_id: str) -> JSONResponse:
    if market_id not in service.core.markets:
        raise NotFound(
            f"market: expected one of {sorted(service.core.markets)}, got {market_id[:40]!r}",
            "unknown_market",
        )
    return json_response(await service.read_durable(lambda: _market(service, market_id)))


@oracle_router.post(
    "/reports",
    response_model=OracleTakenPublic,
    responses=PROBLEM,
    summary="Post a signed oracle price report",
    description="From a configured oracle source (two or more families); each batch's "
    "oracle round takes every source's newest fresh report per market.",
)
async def post_oracle_report(service: ServiceDep, body: OracleReportIn) -> JSONResponse:
    await service.oracle_report(body)
    return json_response({"status": "taken"}, headers=rate_headers(service, body.source))
