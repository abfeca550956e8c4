"""Venue info, the operator view, health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sealbatch.venue.api.deps import OperatorDep, json_response
from sealbatch.venue.api.public import HealthPublic, InfoPublic, OperatorViewPublic

router = APIRouter(tags=["operator"])


@router.get(
    "/v1/info",
    response_model=InfoPublic,
    summary="What a client needs to sign: EIP-712 domain, operator, batch clock, limits",
)
async def info(op: OperatorDep) -> JSONResponse:
    now = op.clock.now_ms()
    return json_response(
        {
            "domain": op.domain.as_dict(),
            "operator": op.core.operator,
            "now_ms": now,
            "schedule": {
                "genesis_ms": op.schedule.genesis_ms,
                "commit_window_ms": op.schedule.commit_ms,
                "reveal_window_ms": op.schedule.reveal_ms,
                "collecting": op.schedule.collecting(now),
            },
            "markets": sorted(op.core.markets),
            "rate_limits": {
                "signed_writes_per_s": op.limiter.rate,
                "burst": op.limiter.burst,
                "bulk_max": op.settings.bulk_max,
            },
            "rfq": {
                "min_window_ms": op.settings.rfq_min_window_ms,
                "max_window_ms": op.settings.rfq_max_window_ms,
                "band_bps": op.settings.rfq_band_bps,
                "quote_bond": op.core.quote_bond,
            },
            "settlement": op.core.settlement.name,
            "min_bond": op.settings.min_bond,
            "stream_epoch": op.broker.epoch,
        }
    )


@router.get(
    "/v1/operator",
    response_model=OperatorViewPublic,
    summary="Operator view: batch lag, breaker, queue depths",
)
async def operator_view(op: OperatorDep) -> JSONResponse:
    return json_response(await op.read_durable(op.operator_view))


@router.get(
    "/healthz",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "the durable log failed"}},
    summary="Liveness",
)
async def healthz(op: OperatorDep) -> JSONResponse:
    ok = op.writer.failed is None
    return json_response({"ok": ok}, 200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(op: OperatorDep) -> Response:
    op.refresh_metrics()
    return Response(generate_latest(op.metrics.registry), media_type=CONTENT_TYPE_LATEST)
