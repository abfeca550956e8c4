"""Errors of the auction layer: bad orders and every commit-reveal rejection.

Each rejection has its own type and a stable ``code`` (a snake_case string)
that the venue returns to clients, so a bot can branch on the code while a
person reads the message.
"""

from __future__ import annotations

from sealbatch.crypto.exceptions import SealbatchError

__all__ = [
    "AuctionError",
    "BadCommitment",
    "BadSignature",
    "CommitmentExpired",
    "DuplicateCommitment",
    "DuplicateReveal",
    "InvalidOrder",
    "NonceReused",
    "OutsideBand",
    "OutsideWindow",
    "RevealMismatch",
    "SizeOutOfRange",
    "UnknownCommitment",
    "WrongBatch",
    "WrongMarket",
]


class AuctionError(SealbatchError):
    """Root of the auction layer's errors."""

    code = "auction_error"


class InvalidOrder(AuctionError, ValueError):
    """An order's fields are malformed (non-integer price, zero quantity, ...)."""

    code = "invalid_order"


class BadCommitment(AuctionError, ValueError):
    """A commitment is not a Poseidon2 digest, or its batch has no room left."""

    code = "bad_commitment"


class BadSignature(AuctionError, ValueError):
    """A commitment's EIP-712 signature does not recover to its trader."""

    code = "bad_signature"


class WrongBatch(AuctionError, ValueError):
    """A commitment names a batch other than the one collecting commitments."""

    code = "wrong_batch"


class WrongMarket(AuctionError, ValueError):
    """A commitment or reveal names a market that is unknown or not the committed one."""

    code = "wrong_market"


class DuplicateCommitment(AuctionError, ValueError):
    """The same commitment hash was already taken."""

    code = "duplicate_commitment"


class NonceReused(AuctionError, ValueError):
    """The trader already used this nonce."""

    code = "nonce_reused"


class CommitmentExpired(AuctionError, ValueError):
    """The signed message's expiry has passed."""

    code = "expired"


class OutsideWindow(AuctionError, ValueError):
    """A commitment arrived outside the commit window, or a reveal outside the reveal window."""

    code = "outside_window"


class UnknownCommitment(AuctionError, KeyError):
    """A reveal names a commitment this batch never took."""

    code = "unknown_commitment"

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateReveal(AuctionError, ValueError):
    """The commitment was already revealed."""

    code = "duplicate_reveal"


class RevealMismatch(AuctionError, ValueError):
    """The revealed order and salt, with the trader and batch, do not hash to the commitment."""

    code = "reveal_mismatch"


class OutsideBand(AuctionError, ValueError):
    """A limit price lies outside the market's band around the reference price."""

    code = "outside_band"


class SizeOutOfRange(AuctionError, ValueError):
    """An order's quantity is below the market's minimum or above its maximum."""

    code = "size_out_of_range"
