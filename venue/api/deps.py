"""Shared dependencies of the routes: the running operator and rate-limit headers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from sealbatch.venue.errors import BadRequest
from sealbatch.venue.operator import Operator

__all__ = ["PROBLEM", "OperatorDep", "get_operator", "json_response", "parse_hex32"]

#: OpenAPI description of the problem answers every route may give.
PROBLEM: dict[int | str, dict[str, Any]] = {
    s: {"description": d, "content": {"application/problem+json": {}}}
    for s, d in (
        (400, "malformed request"),
        (401, "bad signature"),
        (404, "not found"),
        (409, "conflicts with the venue's state (window, duplicate, nonce)"),
        (422, "invalid field"),
        (429, "rate limited"),
    )
}


def get_operator(request: Request) -> Operator:
    op: Operator = request.app.state.operator
    return op


OperatorDep = Annotated[Operator, Depends(get_operator)]


def rate_headers(op: Operator, address: str) -> dict[str, str]:
    """``RateLimit-*`` headers (IETF draft) for a signed write by ``address``."""
    return {
        "RateLimit-Limit": str(op.limiter.burst),
        "RateLimit-Remaining": str(op.limiter.remaining(address.lower())),
        "RateLimit-Policy": f"{op.limiter.burst};w=1;rate={op.limiter.rate}",
    }


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=headers)


def parse_hex32(value: str, name: str) -> bytes:
    """``0x`` + 64 hex digits to bytes; raises BadRequest naming ``name``."""
    raw = value[2:] if value.startswith("0x") else ""
    try:
        out = bytes.fromhex(raw)
    except ValueError:
        out = b""
    if len(out) != 32:
        raise BadRequest(f"{name}: expected 0x and 64 hex digits, got {value[:80]!r}")
    return out
