"""Error types of sealbatch's crypto layer, and the project's root error.

Every error the project raises derives from :class:`SealbatchError`; each
layer adds one subclass (``CryptoError`` here, ``AuctionError`` in auction/,
``SettlementError`` in settlement/, ...). Classes that refine a builtin also
inherit it, so ``except ValueError`` keeps working for callers who expect it.
"""

from __future__ import annotations

__all__ = [
    "CryptoError",
    "ProofFormatError",
    "SealbatchError",
    "SignatureError",
    "VerificationError",
]


class SealbatchError(Exception):
    """Root of every error raised by sealbatch."""


class CryptoError(SealbatchError):
    """Root of the crypto layer's errors."""


class SignatureError(CryptoError, ValueError):
    """A signature is malformed or does not recover to the expected signer."""


class VerificationError(CryptoError):
    """A STARK proof failed verification; the message says which check failed."""


class ProofFormatError(VerificationError, ValueError):
    """Proof bytes cannot be parsed (truncated, wrong version, trailing data)."""
