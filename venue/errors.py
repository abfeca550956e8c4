"""Errors of the venue, each with a stable ``code`` and an HTTP status.

Domain errors from the lower layers (``AuctionError`` and, once present,
``SettlementError``) keep their own codes; :func:`problem_status` maps any
of them to the HTTP status the API answers with. Responses are RFC 9457
``application/problem+json`` documents (see ``venue/app.py``).
"""

from __future__ import annotations

from sealbatch.auction.errors import AuctionError
from sealbatch.crypto.exceptions import SealbatchError

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Gone",
    "Halted",
    "NotFound",
    "RateLimited",
    "SnapshotDamaged",
    "StateDiverged",
    "StorageUnavailable",
    "Unauthorized",
    "VenueError",
    "problem_status",
]


class VenueError(SealbatchError):
    """Root of the venue's errors."""

    code = "venue_error"
    status = 400


class ApiError(VenueError):
    """The venue answered with a problem document."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class BadRequest(VenueError, ValueError):
    """A request is malformed in a way the schema cannot express."""

    code = "bad_request"
    status = 400


class NotFound(VenueError, LookupError):
    """The named batch, order, RFQ, market or proof does not exist (yet)."""

    code = "not_found"
    status = 404

    def __init__(self, message: str, code: str = "not_found") -> None:
        super().__init__(message)
        self.code = code


class Unauthorized(VenueError):
    """A read of private account data without a valid signed read (venue/read_auth.py)."""

    code = "signature_required"
    status = 401

    def __init__(self, message: str, code: str = "signature_required") -> None:
        super().__init__(message)
        self.code = code


class Gone(VenueError):
    """What was asked for is no longer kept (old stream messages)."""

    code = "gone"
    status = 410


class Conflict(VenueError):
    """The request is well formed but the state does not allow it."""

    code = "conflict"
    status = 409

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


class Halted(VenueError):
    """The venue halted after a failed batch: no write that trades is taken until the
    operator resumes it (``sealbatch resume``, docs/operator.md)."""

    code = "venue_halted"
    status = 503


class RateLimited(VenueError):
    """The address spent its request budget; retry after ``retry_after_s``."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageUnavailable(VenueError):
    """The durable log cannot be written: the venue refuses writes until restarted."""

    code = "storage_unavailable"
    status = 503


class SnapshotDamaged(VenueError, ValueError):
    """A stored snapshot's blob has no valid header or does not hash to the digest
    stored in it (venue/snapshot_blob.py): it is not unpickled, and not used."""

    code = "snapshot_damaged"
    status = 500


class StateDiverged(VenueError):
    """Replaying the durable log gave a batch result other than the stored one."""

    code = "state_diverged"
    status = 500


#: HTTP status per auction rejection code; the rest answer 422.
_AUCTION_STATUS = {
    "bad_signature": 401,
    "duplicate_commitment": 409,
    "nonce_reused": 409,
    "duplicate_reveal": 409,
    "outside_window": 409,
    "wrong_batch": 409,
    "unknown_commitment": 404,
    "expired": 422,
}


#: HTTP status per settlement refusal code (oracle reports); the rest answer 422.
_SETTLEMENT_STATUS = {
    "bad_signature": 401,
    "unknown_oracle_source": 403,
}


def problem_status(err: SealbatchError) -> int:
    """The HTTP status to answer ``err`` with (4xx for every refusal)."""
    if isinstance(err, VenueError):
        return err.status
    code = getattr(err, "code", "")
    if isinstance(err, AuctionError):
        return _AUCTION_STATUS.get(code, 422)
    return _SETTLEMENT_STATUS.get(code, 422)
