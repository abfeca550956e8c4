"""Signed reads: an account's own data is served only to that account or the operator.

A read of private account data (``GET /v1/accounts/{a}``, ``GET /v1/orders/{c}``,
``GET /v1/stream/replay?topic=account:{a}``, the ``account:{a}`` stream topic)
carries an EIP-712 signature of

    AccountRead(address account, uint64 expiry)

under the venue's domain (``GET /v1/info``), signed by ``account`` itself or
by the operator. ``expiry`` (ms since the epoch) must lie in
``[now, now + max_ttl_ms]``: a signed read is short-lived, so a leaked one
soon stops working. Over HTTP the three values travel as headers
(:data:`ACCOUNT_HEADER`, :data:`EXPIRY_HEADER`, :data:`SIGNATURE_HEADER`); on
the stream they travel in the subscribe message, and the subscription lives
as long as its socket (a signed session).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sealbatch.crypto.eip712 import (
    Address,
    Eip712Domain,
    StructType,
    checksum_address,
    is_address,
    recover_signer,
    signing_digest,
)
from sealbatch.crypto.exceptions import SignatureError
from sealbatch.venue.errors import Unauthorized

__all__ = [
    "ACCOUNT_HEADER",
    "DEFAULT_MAX_TTL_MS",
    "EXPIRY_HEADER",
    "READ_TYPE",
    "SIGNATURE_HEADER",
    "SignedRead",
    "check_read",
    "read_from_headers",
]

READ_TYPE = StructType("AccountRead", (("account", "address"), ("expiry", "uint64")))

#: HTTP headers of a signed read.
ACCOUNT_HEADER = "Sealbatch-Account"
EXPIRY_HEADER = "Sealbatch-Expiry"
SIGNATURE_HEADER = "Sealbatch-Signature"

#: The longest a signed read may stay valid: 5 minutes.
DEFAULT_MAX_TTL_MS = 300_000


@dataclass(frozen=True)
class SignedRead:
    """A signed read as sent: the account it is for, its expiry and signature."""

    account: str
    expiry_ms: int
    signature: str


def read_from_headers(headers: Mapping[str, str]) -> SignedRead | None:
    """The signed read in ``headers``, or None when none of its headers is present.

    Raises:
        Unauthorized: some of the three headers are present but not all, or
            the expiry is not a decimal integer.
    """
    values = [headers.get(h) for h in (ACCOUNT_HEADER, EXPIRY_HEADER, SIGNATURE_HEADER)]
    if all(v is None for v in values):
        return None
    account, expiry, signature = values
    if account is None or expiry is None or signature is None:
        raise Unauthorized(
            f"signed read: expected the headers {ACCOUNT_HEADER}, {EXPIRY_HEADER} and "
            f"{SIGNATURE_HEADER} together, got {sum(v is not None for v in values)} of them",
            "signature_required",
        )
    # ASCII digits only: a header is Latin-1, and str.isdigit takes '\xb2' (²), which
    # int() refuses.
    if not (expiry.isascii() and expiry.isdigit()) or len(expiry) > 20:
        raise Unauthorized(
            f"{EXPIRY_HEADER}: expected ms since the epoch, got {expiry[:30]!r}", "bad_signature"
        )
    return SignedRead(account, int(expiry), signature)


def check_read(
    read: SignedRead | None,
    account: str,
    *,
    domain: Eip712Domain,
    operator: str,
    now_ms: int,
    max_ttl_ms: int = DEFAULT_MAX_TTL_MS,
) -> Address:
    """Allow a read of ``account``'s data; returns who signed it (the account or
    the operator).

    Raises:
        Unauthorized: ``signature_required`` (no signed read), ``read_expired``
            (expiry outside ``[now, now + max_ttl_ms]``), ``bad_signature``
            (malformed, for another account, or signed by anyone but the
            account and the operator).
    """
    if read is None:
        raise Unauthorized(
            f"account data of {account}: expected a signed read (AccountRead signed by the "
            "account or the operator), got none",
            "signature_required",
        )
    if not is_address(read.account):
        raise Unauthorized(
            f"account: expected 0x and 40 hex digits, got {read.account[:60]!r}", "bad_signature"
        )
    if read.account.lower() != account.lower():
        raise Unauthorized(
            f"account: expected a read signed for {account}, got one for {read.account}",
            "bad_signature",
        )
    if not now_ms <= read.expiry_ms <= now_ms + max_ttl_ms:
        raise Unauthorized(
            f"expiry: expected a time in [{now_ms}, {now_ms + max_ttl_ms}], got {read.expiry_ms}",
            "read_expired",
        )
    raw = read.signature.removeprefix("0x")
    try:
        signature = bytes.fromhex(raw)
        digest = signing_digest(
            domain, READ_TYPE, {"account": checksum_address(account), "expiry": read.expiry_ms}
        )
        signer = recover_signer(digest, signature)
    except (SignatureError, ValueError) as exc:
        raise Unauthorized(f"signature: {exc}", "bad_signature") from exc
    if signer.lower() not in (account.lower(), operator.lower()):
        raise Unauthorized(
            f"signature: expected the account {checksum_address(account)} or the operator, "
            f"got {signer}",
            "bad_signature",
        )
    return signer
