"""Shared dependencies of the routes: the running operator and rate-limit headers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from sealbatch.crypto.eip712 import Address
from sealbatch.venue.errors import BadRequest
from sealbatch.venue.read_auth import (
    ACCOUNT_HEADER,
    EXPIRY_HEADER,
    SIGNATURE_HEADER,
    SignedRead,
    check_read,
    read_from_headers,
)
from sealbatch.venue.service import VenueService

__all__ = [
    "DECIMAL",
    "MAX_ID",
    "PROBLEM",
    "BatchIdPath",
    "SequencePath",
    "ServiceDep",
    "SignedReadDep",
    "allow_read",
    "get_service",
    "json_response",
    "one_value_each",
    "parse_hex32",
]

#: The largest batch id, receipt number or sequence number a path or query names:
#: the database stores them as signed 64-bit integers.
MAX_ID = (1 << 63) - 1

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


async def get_service(request: Request) -> VenueService:
    service: VenueService = request.app.state.service
    return service


ServiceDep = Annotated[VenueService, Depends(get_service)]


def rate_headers(service: VenueService, address: str) -> dict[str, str]:
    """``RateLimit-*`` headers (IETF draft) for a signed write by ``address``."""
    return {
        "RateLimit-Limit": str(service.limiter.burst),
        "RateLimit-Remaining": str(service.limiter.remaining(address.lower())),
        "RateLimit-Policy": f"{service.limiter.burst};w=1;rate={service.limiter.rate}",
    }


def _decimal_digits(value: object) -> object:
    """Pass only ASCII decimal digits on to the integer parser.

    pydantic's lax integers also take ``+1``, `` 1``, ``1_000`` and ``-0``, so one
    batch would have many names and ``/v1/batches/1_000`` would answer "batch 1000
    does not exist"; a path or query number is written one way.
    """
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError("int_parsing", "Input should be decimal digits 0-9 only")
    return value


#: Metadata of an integer path or query parameter: decimal digits only.
DECIMAL = BeforeValidator(_decimal_digits)

#: A ``{batch_id}`` path parameter: decimal digits, 0 to :data:`MAX_ID`.
BatchIdPath = Annotated[
    int, Path(ge=0, le=MAX_ID, description="the batch's number, decimal"), DECIMAL
]

#: A ``{sequence}`` path parameter (a receipt number): decimal digits, 0 to :data:`MAX_ID`.
SequencePath = Annotated[
    int, Path(ge=0, le=MAX_ID, description="the receipt's number in its batch, decimal"), DECIMAL
]


def one_value_each(*names: str) -> Any:
    """A dependency that refuses a query naming one of ``names`` more than once.

    Which of two values the framework would take is nowhere written (it takes the
    last), and a cache or proxy in front may take the first: one value, or 400.
    """

    async def check(request: Request) -> None:
        for name in names:
            count = len(request.query_params.getlist(name))
            if count > 1:
                raise BadRequest(f"{name}: expected one value, got {count}")

    return Depends(check)


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


async def get_signed_read(
    account: Annotated[
        str | None,
        Header(alias=ACCOUNT_HEADER, description="signed read: the account it is for"),
    ] = None,
    expiry: Annotated[
        str | None,
        Header(alias=EXPIRY_HEADER, description="signed read: expiry, ms since the epoch"),
    ] = None,
    signature: Annotated[
        str | None,
        Header(
            alias=SIGNATURE_HEADER,
            description="signed read: EIP-712 AccountRead(account, expiry) signature, 0x-hex",
        ),
    ] = None,
) -> SignedRead | None:
    """The signed read a request carries (see venue/read_auth.py), or None."""
    headers = {
        k: v
        for k, v in (
            (ACCOUNT_HEADER, account),
            (EXPIRY_HEADER, expiry),
            (SIGNATURE_HEADER, signature),
        )
        if v is not None
    }
    return read_from_headers(headers)


SignedReadDep = Annotated[SignedRead | None, Depends(get_signed_read)]


def allow_read(service: VenueService, read: SignedRead | None, account: str) -> Address:
    """Raise Unauthorized unless ``read`` lets its bearer see ``account``'s data;
    returns the signer (the account or the operator)."""
    return check_read(
        read,
        account,
        domain=service.domain,
        operator=service.core.operator,
        now_ms=service.clock.now_ms(),
        max_ttl_ms=service.settings.read_max_ttl_ms,
    )
