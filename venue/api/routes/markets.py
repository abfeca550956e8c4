"""``GET /v1/markets`` and ``/v1/markets/{id}``: rules, last price, oracle and funding."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from venue.api.deps import PROBLEM, OperatorDep, json_response
from venue.errors import NotFound
from venue.operator import Operator

router = APIRouter(prefix="/v1/markets", tags=["markets"])


def _market(op: Operator, market_id: str) -> dict[str, Any]:
    m = op.core.markets[market_id]
    return {
        **asdict(m),
        "last_price": op.core.references.get(market_id),
        **op.core.settlement.market_state(market_id),
    }


@router.get("", responses=PROBLEM, summary="All markets")
async def list_markets(op: OperatorDep) -> JSONResponse:
    return json_response({"markets": [_market(op, m) for m in sorted(op.core.markets)]})


@router.get("/{market_id}", responses=PROBLEM, summary="One market, its oracle and funding")
async def get_market(op: OperatorDep, market_id: str) -> JSONResponse:
    if market_id not in op.core.markets:
        raise NotFound(
            f"market: expected one of {sorted(op.core.markets)}, got {market_id[:40]!r}",
            "unknown_market",
        )
    return json_response(_market(op, market_id))
