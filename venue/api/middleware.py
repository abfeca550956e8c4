"""The venue's pure ASGI middleware and its problem answers.

Every answer that is not a route's own is an RFC 9457 ``application/problem+json``
document with a stable ``code`` (:func:`problem`); a refusal of the venue's is
:func:`error_problem`. The middleware guards every request before any route parses
it: :class:`BodyLimit` (413 beyond the size limit), :class:`JsonDepthGuard` (400 for
JSON nested too deep or with a key twice in one object), :class:`SignedWriteHeaders`
(``RateLimit-*`` headers on every answer to a signed write); :class:`HeadAsGet`
answers ``HEAD`` wherever ``GET`` is answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi.responses import JSONResponse
from pydantic_core import from_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sealbatch.crypto.eip712 import is_address
from sealbatch.crypto.exceptions import SealbatchError
from sealbatch.settlement.json_text import (
    FEW_BRACKETS,
    DuplicateKey,
    check_depth,
    check_unique_keys,
)
from sealbatch.venue.errors import RateLimited, problem_status

if TYPE_CHECKING:
    from sealbatch.venue.service import VenueService

__all__ = [
    "DEPTH_CHECKED_BY_ROUTE",
    "FEW_BRACKETS",
    "PROBLEM_TYPE",
    "BodyLimit",
    "HeadAsGet",
    "JsonDepthGuard",
    "SignedWriteHeaders",
    "claimed_signer_headers",
    "declared_length",
    "error_problem",
    "problem",
    "repeated_key",
    "request_timeout",
    "too_deep",
]

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


def error_problem(exc: SealbatchError) -> JSONResponse:
    """The problem answer to a refusal: its status, its ``code``, its message, the
    error's class as the title, and ``Retry-After`` when it is a rate limit."""
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


#: Digits beyond which a declared length is larger than any body limit (2^63 has 19).
_LENGTH_DIGITS = 19


def declared_length(value: bytes) -> int:
    """A ``Content-Length`` header's value as the number it declares, or -1 when it
    is not one (empty, a sign, a non-ASCII digit), whitespace around it ignored.

    The HTTP parser accepts leading zeros, any number of them, and so must this:
    ``int`` refuses a string of more than 4300 digits (a ``ValueError``, a 500 and a
    traceback for one header), so the zeros go first, and a number still longer
    than any body limit could be is answered as too large without converting it.
    """
    value = value.strip(b" \t")  # the parser passes trailing whitespace on (RFC 9110: OWS)
    if not value.isdigit():
        return -1
    digits = value.lstrip(b"0")
    if len(digits) > _LENGTH_DIGITS:
        return 1 << 64  # beyond any limit
    return int(digits or b"0")


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
                    length = declared_length(value)
                    if not 0 <= length <= self.max_bytes:
                        shown = value.lstrip(b"0") if length > 0 else value  # the number
                        response = problem(
                            413,
                            "body_too_large",
                            f"body: expected at most {self.max_bytes} bytes, got "
                            f"{shown[:20].decode(errors='replace')}",
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


#: ``POST`` paths whose route parses its body only with pydantic-core's Rust parser
#: and checks the body itself: its depth with :func:`too_deep` when that parse fails
#: (a bulk commitment list parsed once, not twice), its keys with
#: :func:`repeated_key` given the keys that parse found.
DEPTH_CHECKED_BY_ROUTE = frozenset({"/v1/commitments"})


def too_deep(body: bytes | bytearray) -> JSONResponse | None:
    """:class:`JsonDepthGuard`'s ``400 malformed_json`` answer to ``body`` when it is
    nested too deep (the rule published files are read by,
    :func:`~sealbatch.settlement.json_text.check_depth`), else None."""
    try:
        check_depth(body)
    except ValueError as exc:
        return problem(400, "malformed_json", f"body: expected a JSON document, got {exc}")
    return None


def repeated_key(body: bytes | bytearray, keys: int | None = None) -> JSONResponse | None:
    """:class:`JsonDepthGuard`'s ``400 malformed_json`` answer to ``body`` when one of
    its objects holds a key twice (the rule published files are read by,
    :func:`~sealbatch.settlement.json_text.check_unique_keys`), else None; also None
    for a body that is not JSON (its route's parse answers that). ``body`` must have
    passed :func:`too_deep`, or a parse by pydantic-core's parser.

    Only a body of more ``:`` than keys is parsed again, by ``json.loads``, to find
    out. ``keys``: the keys the caller's parse found (the fields a model took); by
    default pydantic-core's parser counts them (~1 µs for a signed write, a fifth of
    ``json.loads``).
    """
    try:
        check_unique_keys(body, keys)
    except DuplicateKey as exc:
        return problem(400, "malformed_json", f"body: expected a JSON document, got {exc}")
    return None


class JsonDepthGuard:
    """Pure ASGI middleware: refuse a request body nested deeper than JSON parsers
    can take safely, or with an object that holds a key twice (``400
    malformed_json``: the route would read the last value, another reader the
    first), before any route parses it.

    ``json.loads`` recurses on the C stack, and a library in the process may have
    raised the recursion limit (py_ecc sets 100 000), so 100 000 nested ``[``
    could crash the process. A body with few brackets cannot be deep; one with
    many is parsed by pydantic-core's Rust parser, whose depth limit does not
    depend on the interpreter's (:func:`too_deep`). A body of more than one ``:``
    then has its keys counted by that parser, and only one with more ``:`` than
    keys is parsed by ``json.loads`` to look for a key twice (:func:`repeated_key`).
    A ``POST`` to :data:`DEPTH_CHECKED_BY_ROUTE`
    goes on unread: its route parses with that parser alone and answers the same
    ``400``s (:func:`too_deep`, :func:`repeated_key`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT", "PATCH")
            or (scope["method"] == "POST" and scope["path"] in DEPTH_CHECKED_BY_ROUTE)
        ):
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
        response = too_deep(body)
        if response is None:
            response = repeated_key(body)
        if response is not None:
            await response(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def claimed_signer_headers(service: VenueService, body: bytes) -> list[tuple[bytes, bytes]]:
    """The ``RateLimit-*`` headers of an answer to a signed write that its route did
    not take (a refusal, a 413): the budget of the signer the body names, or of an
    address that spent nothing when it names none."""
    address = _claimed_signer(body) or ""
    limiter = service.limiter
    remaining = limiter.remaining(address) if address else limiter.burst
    return [
        (b"ratelimit-limit", str(limiter.burst).encode()),
        (b"ratelimit-remaining", str(remaining).encode()),
        (b"ratelimit-policy", f"{limiter.burst};w=1;rate={limiter.rate}".encode()),
    ]


def request_timeout(detail: str, method: str | None, service: VenueService | None) -> JSONResponse:
    """The answer to a request that did not arrive in time (``408 request_timeout``,
    written by the HTTP protocol, which then closes the connection): to a ``POST``
    with the ``RateLimit-*`` headers :class:`SignedWriteHeaders` would add, those of
    an address that spent nothing (a body cut short names no signer). Counted with
    the refusals (``sealbatch_rejections{code="request_timeout"}``)."""
    response = problem(408, "request_timeout", detail)
    if service is not None:
        service.metrics.rejections.labels("request_timeout").inc()
        if method == "POST":
            response.raw_headers += claimed_signer_headers(service, b"")
    return response


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
                        headers += claimed_signer_headers(service, b"".join(chunks))
                        message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, recording, sending)


class HeadAsGet:
    """Pure ASGI middleware: answer ``HEAD`` as the route answers ``GET``, without
    the body (RFC 9110, section 9.3.2): the same status and headers,
    ``content-length`` and ``etag`` included.

    FastAPI's routes answer only the methods they declare, so each ``GET`` route
    answered ``HEAD`` with 405; declaring ``HEAD`` on them would add to the OpenAPI
    document one operation per route, each a copy of its ``GET``. Here the request
    goes on as a ``GET`` (through the same route and its checks: a read that needs a
    signature needs one for ``HEAD`` too) and the body sent back is dropped (the
    server sends none after the head of an answer to ``HEAD`` either). Any other
    request goes on untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def head_only(message: Message) -> None:
            kind = message["type"]
            if kind in ("http.response.body", "http.response.pathsend"):
                if message.get("more_body", False):
                    return  # only the last part says the answer is complete
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, head_only)
