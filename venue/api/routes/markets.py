"""``GET /v1/markets`` and ``/v1/markets/{id}``: rules, last price, oracle and funding."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sealbatch.venue.api.deps import PROBLEM, OperatorDep, json_response, rate_headers
from sealbatch.venue.api.public import MarketListPublic, MarketPublic, OracleTakenPublic
from sealbatch.venue.errors import NotFound
from sealbatch.venue.operator import Operator
from sealbatch.venue.schemas import OracleReportIn

router = APIRouter(prefix="/v1/markets", tags=["markets"])
oracle_router = APIRouter(prefix="/v1/oracle", tags=["oracle"])


def _market(op: Operator, market_id: str) -> dict[str, Any]:
    m = op.core.markets[market_id]
    return {
        **asdict(m),
        "last_price": op.core.references.get(market_id),
        **op.core.settlement.market_state(market_id).to_dict(),
    }


@router.get("", response_model=MarketListPublic, responses=PROBLEM, summary="All markets")
async def list_markets(op: OperatorDep) -> JSONResponse:
    return json_response(
        await op.read_durable(
            lambda: {"markets": [_market(op, m) for m in sorted(op.core.markets)]}
        )
    )


@router.get(
    "/{market_id}",
    response_model=MarketPublic,
    responses=PROBLEM,
    summary="One market, its oracle and funding",
)
async def get_market(op: OperatorDep, market_id: str) -> JSONResponse:
    if market_id not in op.core.markets:
        raise NotFound(
            f"market: expected one of {sorted(op.core.markets)}, got {market_id[:40]!r}",
            "unknown_market",
        )
    return json_response(await op.read_durable(lambda: _market(op, market_id)))


@oracle_router.post(
    "/reports",
    response_model=OracleTakenPublic,
    responses=PROBLEM,
    summary="Post a signed oracle price report",
    description="From a configured oracle source (two or more families); each batch's "
    "oracle round takes every source's newest fresh report per market.",
)
async def post_oracle_report(op: OperatorDep, body: OracleReportIn) -> JSONResponse:
    await op.oracle_report(body)
    return json_response({"status": "taken"}, headers=rate_headers(op, body.source))
