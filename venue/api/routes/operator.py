"""Venue info, the operator view, health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sealbatch.venue.api.deps import PROBLEM, ServiceDep, json_response
from sealbatch.venue.api.public import (
    HealthPublic,
    InfoPublic,
    OperatorViewPublic,
    ResumedPublic,
)
from sealbatch.venue.schemas import ResumeIn
from sealbatch.venue.stream import MAX_TOPICS

router = APIRouter(tags=["operator"])


@router.get(
    "/v1/info",
    response_model=InfoPublic,
    summary="What a client needs to sign: EIP-712 domain, operator, batch clock, limits",
)
async def info(service: ServiceDep) -> JSONResponse:
    now = service.clock.now_ms()
    return json_response(
        {
            "domain": service.domain.as_dict(),
            "exchange_contract": service.exchange_contract,
            "operator": service.core.operator,
            "now_ms": now,
            "schedule": {
                "genesis_ms": service.schedule.genesis_ms,
                "commit_window_ms": service.schedule.commit_ms,
                "reveal_window_ms": service.schedule.reveal_ms,
                "collecting": service.schedule.collecting(now),
            },
            "markets": sorted(service.core.markets),
            "rate_limits": {
                "signed_writes_per_s": service.limiter.rate,
                "burst": service.limiter.burst,
                "bulk_max": service.settings.bulk_max,
            },
            "rfq": {
                "min_window_ms": service.settings.rfq_min_window_ms,
                "max_window_ms": service.settings.rfq_max_window_ms,
                "band_bps": service.settings.rfq_band_bps,
                "quote_bond": service.core.quote_bond,
                "request_bond": service.core.rfq_bond,
                "max_open_per_account": service.settings.rfq_max_open_per_account,
                "max_open": service.settings.rfq_max_open,
            },
            "settlement": service.core.settlement.name,
            "min_bond": service.settings.min_bond,
            "read_max_ttl_ms": service.settings.read_max_ttl_ms,
            "oracle": service.core.settlement.oracle.to_dict(),
            "stream": {
                "max_topics": MAX_TOPICS,
                "buffer": service.settings.stream_buffer,
                "buffer_bytes": service.settings.stream_buffer_bytes,
            },
            "stream_epoch": service.broker.epoch,
        }
    )


@router.get(
    "/v1/operator",
    response_model=OperatorViewPublic,
    summary="Operator view: batch lag, breaker, queue depths",
)
async def operator_view(service: ServiceDep) -> JSONResponse:
    return json_response(await service.read_durable(service.operator_view))


@router.post(
    "/v1/operator/resume",
    response_model=ResumedPublic,
    responses=PROBLEM,
    summary="Resume a venue halted after a failed batch (operator-signed)",
    description="EIP-712 `Resume(operator, batchId, nonce, expiry)` signed by the operator "
    "key, naming the batch that failed. The batch clock restarts at the batch collecting "
    "now. `sealbatch resume` signs and sends it (docs/operator.md).",
)
async def resume(service: ServiceDep, body: ResumeIn) -> JSONResponse:
    return json_response(await service.resume(body))


@router.get(
    "/healthz",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "the durable log failed"}},
    summary="Liveness",
)
async def healthz(service: ServiceDep) -> JSONResponse:
    ok = service.writer.failed is None
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
async def metrics(service: ServiceDep) -> Response:
    await service.refresh_metrics_async()
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
