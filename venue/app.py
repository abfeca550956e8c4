"""``create_app(settings)``: the venue's FastAPI application.

One router per resource (venue/api/routes/), errors as RFC 9457
``application/problem+json`` with a stable ``code``; the operator loop runs
for the lifetime of the app.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from sealbatch.crypto.exceptions import SealbatchError
from sealbatch.venue.api.middleware import (
    BodyLimit,
    HeadAsGet,
    JsonDepthGuard,
    SignedWriteHeaders,
    error_problem,
    problem,
)
from sealbatch.venue.api.routes import (
    accounts,
    batches,
    commitments,
    keypers,
    markets,
    operator,
    orders,
    reveals,
    rfqs,
    stream,
)
from sealbatch.venue.clock import Clock
from sealbatch.venue.explorer import mount_explorer
from sealbatch.venue.schemas import CommitIn
from sealbatch.venue.service import VenueService
from sealbatch.venue.settings import Settings

if TYPE_CHECKING:
    from sealbatch.settlement.anchor import Chain

__all__ = ["create_app"]


def _allow(exc: StarletteHTTPException) -> dict[str, str] | None:
    """The ``Allow`` header of a 405 (RFC 9110 requires it), ``HEAD`` added beside
    ``GET`` (:class:`~sealbatch.venue.api.middleware.HeadAsGet` answers it); None
    for any other refusal."""
    allow = (exc.headers or {}).get("Allow")
    if exc.status_code != 405 or allow is None:
        return None
    methods = {m.strip() for m in allow.split(",") if m.strip()}
    if "GET" in methods:
        methods.add("HEAD")
    return {"Allow": ", ".join(sorted(methods))}


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, chain: Chain | None = None
) -> FastAPI:
    """Build the app; the operator (and its database) opens when the app starts.

    Args:
        settings: configuration (defaults from the environment).
        clock: time source; the system clock unless given (tests pass a ManualClock).
        chain: the L1 connection when ``settings.l1_url`` is set (default: connect to it;
            tests and the demo pass an embedded chain that outlives the venue).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = VenueService(settings, clock, chain)
        app.state.service = service
        task = asyncio.create_task(service.run())
        try:
            yield
        finally:
            service.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            service.close()

    app = FastAPI(
        title="sealbatch venue",
        version="1",
        summary="Sealed commit-reveal batch auctions for perpetuals, with RFQ for blocks.",
        description="Every write is EIP-712 signed (nonce + expiry, no API keys). Errors are "
        "`application/problem+json` with a stable `code`. See docs/api.md for rate limits, "
        "stream gap healing and the list of codes.",
        lifespan=lifespan,
        # The venue's telemetry is its Prometheus metrics (GET /metrics, ops/). FastAPI's
        # own OpenTelemetry hooks, on by default, asked on every request whether a
        # provider is configured (~6-12 us a request, more than the rest of the
        # framework in front of the single commitment's path) for nothing the venue
        # documents or exports.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings  # its connection deadlines (http_protocol.venue_protocol)

    @app.exception_handler(SealbatchError)
    async def sealbatch_error(_request: Request, exc: SealbatchError) -> JSONResponse:
        return error_problem(exc)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(_request: Request, _exc: ClientDisconnect) -> Response:
        # The client left mid-body: nothing was taken and no one reads an answer
        # (uvicorn drops it). Without this every such client logged a traceback.
        return Response(status_code=400)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(400, "malformed_json", "body: expected a JSON document")
        parts = []
        for e in errors[:5]:
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            got = repr(e.get("input"))[:60]
            parts.append(
                f"{loc or 'body'}: expected {e.get('msg', 'a valid value').lower()}, got {got}"
            )
        return problem(422, "invalid_request", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # The only 400 the framework raises: a body it could not parse (e.g.
            # JSON nested too deep for the parser, which is not a JSONDecodeError).
            return problem(400, "malformed_json", f"body: expected a JSON document ({exc.detail})")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail), headers=_allow(exc))

    for module in (
        commitments,
        reveals,
        batches,
        orders,
        markets,
        accounts,
        rfqs,
        stream,
        operator,
        keypers,
    ):
        app.include_router(module.router)
    app.include_router(markets.oracle_router)
    mount_explorer(app)  # the batch explorer page at / (venue/explorer/)
    app.add_middleware(JsonDepthGuard)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SignedWriteHeaders)  # a 413 carries the headers too
    app.add_middleware(HeadAsGet)  # every GET route answers HEAD too (RFC 9110)
    # Outermost: the single commitment's hot path, which hands the app everything else.
    app.add_middleware(commitments.SingleCommitPath, max_bytes=settings.max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            # The commitments route parses its body itself (the hot path); publish its model.
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas["CommitIn"] = CommitIn.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
