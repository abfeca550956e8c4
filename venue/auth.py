"""Authentication without passwords or API keys: EIP-712 signed writes.

Every write names its signer, a nonce and an expiry and carries the signer's
EIP-712 signature under the venue's domain (name, version, chain id,
verifying contract), so a message signed for another chain or contract
recovers to another address and is refused, and a nonce works once per
trader across every kind of write (commitments, reveals, RFQ messages,
deposits). Commitments use :data:`sealbatch.auction.commit_reveal.COMMIT_TYPE`; the
RFQ types live in :mod:`sealbatch.venue.rfq`; this module adds the reveal and the
deposit, the shared verification and the per-address rate limiter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sealbatch.auction.commit_reveal import NonceRegistry
from sealbatch.auction.errors import BadSignature, CommitmentExpired, NonceReused
from sealbatch.auction.orders import ORDER_FIELDS, Order
from sealbatch.crypto.eip712 import (
    Address,
    Eip712Domain,
    StructType,
    checksum_address,
    recover_signer,
    signing_digest,
)
from sealbatch.crypto.exceptions import SignatureError
from sealbatch.venue.errors import RateLimited

__all__ = [
    "DEPOSIT_TYPE",
    "RESUME_TYPE",
    "REVEAL_TYPE",
    "WITHDRAW_TYPE",
    "RateLimiter",
    "check_fresh",
    "reveal_message",
    "verify_signed",
]

#: A reveal signs the order's own fields (what a wallet shows the trader: market,
#: side, limit price, quantity...), the commitment they open and its salt; the
#: venue recomputes the Poseidon2 commitment from them.
REVEAL_TYPE = StructType(
    "Reveal",
    (
        ("trader", "address"),
        ("commitment", "bytes32"),
        *ORDER_FIELDS,
        ("salt", "bytes32"),
        ("nonce", "uint64"),
        ("expiry", "uint64"),
    ),
)
DEPOSIT_TYPE = StructType(
    "Deposit",
    (("trader", "address"), ("amount", "uint256"), ("nonce", "uint64"), ("expiry", "uint64")),
)
WITHDRAW_TYPE = StructType(
    "Withdraw",
    (("trader", "address"), ("amount", "uint256"), ("nonce", "uint64"), ("expiry", "uint64")),
)
#: The operator's order to resume a venue halted after ``batchId`` failed.
RESUME_TYPE = StructType(
    "Resume",
    (("operator", "address"), ("batchId", "uint64"), ("nonce", "uint64"), ("expiry", "uint64")),
)


def reveal_message(
    trader: str, commitment: bytes, order: Order, salt: bytes, nonce: int, expiry_ms: int
) -> dict[str, Any]:
    """The EIP-712 ``Reveal`` message of ``order`` opening ``commitment``."""
    return {
        "trader": trader,
        "commitment": commitment,
        **order.typed_fields(),
        "salt": salt,
        "nonce": nonce,
        "expiry": expiry_ms,
    }


def verify_signed(
    domain: Eip712Domain,
    struct: StructType,
    values: Mapping[str, Any],
    signer_field: str,
    signature: bytes,
) -> Address:
    """Check that ``values[signer_field]`` signed ``values``; returns that address.

    Raises:
        BadSignature: a malformed field or signature, or another signer.
    """
    try:
        claimed = checksum_address(values[signer_field])
    except (ValueError, TypeError) as exc:
        raise BadSignature(
            f"{signer_field}: expected an address, got {values[signer_field]!r}"
        ) from exc
    try:
        signer = recover_signer(signing_digest(domain, struct, values), signature)
    except (SignatureError, ValueError) as exc:
        raise BadSignature(f"signature: {exc}") from exc
    if signer != claimed:
        raise BadSignature(f"signature: expected signer {claimed}, got {signer}")
    return Address(claimed)


def check_fresh(
    nonces: NonceRegistry, trader: str, nonce: int, expiry_ms: int, now_ms: int
) -> None:
    """Refuse an expired message or a used nonce (does not use the nonce).

    Raises:
        CommitmentExpired, NonceReused.
    """
    if now_ms > expiry_ms:
        raise CommitmentExpired(f"expiry: expected at least {now_ms}, got {expiry_ms}")
    if nonces.is_used(trader, nonce):
        raise NonceReused(f"nonce: {nonce} was already used by {trader}")


#: The bucket table is swept of refilled buckets once it reaches this size
#: (then twice what the last sweep left).
_MIN_SWEEP = 4096


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """A token bucket per address: ``rate`` writes per second, bursts of ``burst``.

    The venue spends a token only for a message whose signature verified, so
    nobody can drain another address's budget with forged messages. Only
    spending keeps a bucket (a missing one is full), and buckets that have
    refilled are dropped as the table grows, so addresses named in forged or
    one-off messages cost no memory for long.

    Args:
        rate: tokens per second.
        burst: bucket size.
        clock: seconds, monotonic (default :func:`time.monotonic`).
    """

    def __init__(self, rate: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._sweep_at = _MIN_SWEEP
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Buckets kept (addresses that spent recently)."""
        return len(self._buckets)

    def _tokens(self, key: str, now: float) -> float:
        b = self._buckets.get(key)
        if b is None:
            return float(self.burst)
        return min(float(self.burst), b.tokens + (now - b.stamp) * self.rate)

    def check(self, key: str, cost: int = 1) -> None:
        """Raise :class:`RateLimited` if ``key`` cannot afford ``cost`` now."""
        with self._lock:
            tokens = self._tokens(key, self._clock())
            if tokens < cost:
                wait = (cost - tokens) / self.rate
                raise RateLimited(
                    f"rate limit: expected at most {self.rate} signed writes/s (burst "
                    f"{self.burst}) from {key}, retry in {wait:.3f} s",
                    wait,
                )

    def spend(self, key: str, cost: int = 1) -> None:
        with self._lock:
            now = self._clock()
            self._buckets[key] = _Bucket(self._tokens(key, now) - cost, now)
            if len(self._buckets) >= self._sweep_at:
                full = [k for k in self._buckets if self._tokens(k, now) >= self.burst]
                for k in full:
                    del self._buckets[k]
                self._sweep_at = max(_MIN_SWEEP, 2 * len(self._buckets))

    def remaining(self, key: str) -> int:
        with self._lock:
            return max(0, int(self._tokens(key, self._clock())))
