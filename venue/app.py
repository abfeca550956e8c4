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
from fastapi.responses import JSONResponse
from pydantic_core import from_json
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sealbatch.crypto.eip712 import is_address
from sealbatch.crypto.exceptions import SealbatchError
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
from sealbatch.venue.errors import RateLimited, problem_status
from sealbatch.venue.explorer import mount_explorer
from sealbatch.venue.schemas import CommitIn
from sealbatch.venue.service import VenueService
from sealbatch.venue.settings import Settings

if TYPE_CHECKING:
    from sealbatch.settlement.anchor import Chain

__all__ = ["BodyLimit", "JsonDepthGuard", "SignedWriteHeaders", "create_app", "problem"]

PROBLEM_TYPE = "application/problem+json"


def problem(
    status: int, code: str, detail: str, title: str = "", headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {
            "type": "about:blank",
            "title": title or code.replace("_", " "),
            "status": status,
            "code": code,
            "detail": detail,
        },
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers=headers,
    )


class BodyLimit:
    """Pure ASGI middleware: refuse a body larger than ``max_bytes`` (413), declared
    or (chunked, no Content-Length) counted as it arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if not value.isdigit() or int(value) > self.max_bytes:
                        response = problem(
                            413,
                            "body_too_large",
                            f"body: expected at most {self.max_bytes} bytes, got "
                            f"{value[:20].decode(errors='replace')}",
                        )
                        await response(scope, receive, send)
                        return
                    break
            else:  # no declared length (chunked): count what arrives
                buffered = await self._buffered(scope, receive, send)
                if buffered is None:
                    return
                receive = buffered
        await self.app(scope, receive, send)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Read a body of undeclared length up to ``max_bytes``; answer 413 and
        return None beyond it, else a ``receive`` that hands the body on."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                response = problem(
                    413,
                    "body_too_large",
                    f"body: expected at most {self.max_bytes} bytes, got more (chunked)",
                )
                await response(scope, receive, send)
                return None
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay


#: The field naming the signer of each kind of signed write.
_SIGNER_FIELDS = ("trader", "maker", "requester", "source")


def _claimed_signer(body: bytes) -> str | None:
    """The address a signed write's body names as its signer (the first item's in
    a bulk list), or None when the body is not JSON or names no address."""
    try:
        doc = from_json(body)  # Rust parser, its own depth limit (never the C stack)
    except ValueError:
        return None
    if isinstance(doc, list) and doc:
        doc = doc[0]
    if not isinstance(doc, dict):
        return None
    for name in _SIGNER_FIELDS:
        value = doc.get(name)
        if isinstance(value, str) and is_address(value):
            return value.lower()
    return None


#: Brackets a body may hold before its nesting depth is checked.
_FEW_BRACKETS = 64


class JsonDepthGuard:
    """Pure ASGI middleware: refuse a request body nested deeper than JSON parsers
    can take safely (``400 malformed_json``) before any route parses it.

    ``json.loads`` recurses on the C stack, and a library in the process may have
    raised the recursion limit (py_ecc sets 100 000), so 100 000 nested ``[``
    could crash the process. A body with few brackets cannot be deep; one with
    many is parsed once by pydantic-core's Rust parser, whose depth limit does
    not depend on the interpreter's.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if body.count(b"[") + body.count(b"{") > _FEW_BRACKETS:
            try:
                from_json(bytes(body))
            except ValueError as exc:
                if "recursion" in str(exc):
                    response = problem(
                        400, "malformed_json", f"body: expected a JSON document, got {exc}"
                    )
                    await response(scope, receive, send)
                    return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class SignedWriteHeaders:
    """Pure ASGI middleware: every answer to a signed write (every ``POST``) carries
    the ``RateLimit-*`` headers, refusals and 429 included.

    A route that took the write sets them itself; for any other answer the
    signer is read from the body (only then: the hot path parses it once),
    and a body with no readable signer gets the budget of an address that
    spent nothing (it spent nothing either).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"ratelimit-limit" for k, _ in headers):
                    service = getattr(scope["app"].state, "service", None)
                    if service is not None:
                        address = _claimed_signer(b"".join(chunks)) or ""
                        limiter = service.limiter
                        remaining = limiter.remaining(address) if address else limiter.burst
                        headers += [
                            (b"ratelimit-limit", str(limiter.burst).encode()),
                            (b"ratelimit-remaining", str(remaining).encode()),
                            (
                                b"ratelimit-policy",
                                f"{limiter.burst};w=1;rate={limiter.rate}".encode(),
                            ),
                        ]
                        message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, recording, sending)


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
    )

    @app.exception_handler(SealbatchError)
    async def sealbatch_error(_request: Request, exc: SealbatchError) -> JSONResponse:
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(max(1, round(exc.retry_after_s + 0.5)))}
        return problem(
            problem_status(exc),
            getattr(exc, "code", "error"),
            str(exc),
            type(exc).__name__,
            headers,
        )

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
        return problem(exc.status_code, code, str(exc.detail))

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
    app.add_middleware(SignedWriteHeaders)  # outermost: a 413 carries the headers too

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
