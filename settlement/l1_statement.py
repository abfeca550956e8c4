"""The batch statement as the exchange contract derives it from L1 (no chain access here).

``contracts/src/Exchange.sol`` moves its state root only on a proof of the
batch AIR for public inputs it derives itself (docs/contracts.md, "The
statement"); this module computes the same values off chain, so the operator
and the batch proof use exactly what the contract will check, and the tests
compare the two.

Public inputs, in order (docs/stark.md)::

    batch_id, pre_root[8], post_root[8], commitment_root[8], inputs_digest[8],
    outputs_digest[8], n_markets, then per market (id order)
    clearing_price, funding_index, mark_price

``inputs_digest`` is the Poseidon2 sponge of ``44`` elements::

    INPUTS_DOMAIN,
    amount(queue_from), amount(queue_to),  # the L1 requests consumed, [from, to)
    hash(requests)[8],                     # each: kind, address×7, subaccount, amount×4
    hash(withdrawals)[8],                  # each: address×7, subaccount, amount×4
    oracle_digest as 11 limbs of 24 bits,  # OracleRound.digest(), least significant first
    offchain_digest[8]                     # the venue's other inputs (RFQ blocks …)

with ``amount(v)`` the state root's signed encoding ``[0, l0, l1, l2]``
(24-bit limbs) and an address as seven 24-bit limbs, least significant first
(both as in :mod:`sealbatch.settlement.roots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sealbatch.crypto import poseidon2
from sealbatch.settlement.errors import SettlementError

__all__ = [
    "INPUTS_DOMAIN",
    "KIND_DEPOSIT",
    "KIND_FORCED_WITHDRAWAL",
    "L1Request",
    "L1Withdrawal",
    "address_limbs",
    "amount_elements",
    "digest_elements",
    "inputs_digest",
    "oracle_limbs",
    "public_inputs",
    "request_elements",
    "withdrawal_elements",
]

#: First element of the L1 inputs digest (the account leaf is 0x5EA10001, the header 0x5EA10002).
INPUTS_DOMAIN = 0x5EA1_0003
KIND_DEPOSIT = 1
KIND_FORCED_WITHDRAWAL = 2
_MASK = (1 << 24) - 1
_AMOUNT_LIMIT = 1 << 62


@dataclass(frozen=True)
class L1Request:
    """A deposit or forced-withdrawal request as queued on L1 (``Exchange.queue``)."""

    kind: int
    account: str
    subaccount: int
    amount: int


@dataclass(frozen=True)
class L1Withdrawal:
    """A withdrawal a batch pays out of the ledger, credited on L1 to ``account``."""

    account: str
    subaccount: int
    amount: int


def address_limbs(address: str) -> list[int]:
    """A 20-byte hex address as seven 24-bit limbs, least significant first."""
    value = int(address, 16)
    if not 0 <= value < 1 << 160:
        raise SettlementError(f"expected a 20-byte address, got {address!r}")
    return [(value >> (24 * k)) & _MASK for k in range(7)]


def amount_elements(value: int) -> list[int]:
    """A non-negative amount below 2^62 as ``[0, l0, l1, l2]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _AMOUNT_LIMIT:
        raise SettlementError(f"expected an amount in [0, 2^62), got {value!r}")
    return [0, value & _MASK, (value >> 24) & _MASK, (value >> 48) & _MASK]


def digest_elements(digest: bytes) -> list[int]:
    """A 32-byte Poseidon2 digest as its 8 field elements (rejects non-canonical ones)."""
    try:
        return [int(v) for v in poseidon2.digest_from_bytes(digest)]
    except ValueError as exc:
        raise SettlementError(f"digest: {exc}") from None


def request_elements(requests: Sequence[L1Request]) -> list[int]:
    """The 13 elements per request the contract hashes: kind, address×7, subaccount, amount×4."""
    out: list[int] = []
    for r in requests:
        out += [r.kind, *address_limbs(r.account), r.subaccount, *amount_elements(r.amount)]
    return out


def withdrawal_elements(withdrawals: Sequence[L1Withdrawal]) -> list[int]:
    """The 12 elements per withdrawal: address×7, subaccount, amount×4."""
    out: list[int] = []
    for w in withdrawals:
        out += [*address_limbs(w.account), w.subaccount, *amount_elements(w.amount)]
    return out


def oracle_limbs(oracle_digest: bytes) -> list[int]:
    """A 32-byte Keccak digest (a big-endian integer) as 11 24-bit limbs, least significant
    first."""
    if len(oracle_digest) != 32:
        raise SettlementError(f"expected a 32-byte oracle digest, got {len(oracle_digest)} bytes")
    value = int.from_bytes(oracle_digest, "big")
    return [(value >> (24 * k)) & _MASK for k in range(11)]


def _hash(elements: Sequence[int]) -> list[int]:
    return [int(v) for v in poseidon2.hash_elements(np.array(elements, dtype=np.uint64))]


def inputs_digest(
    *,
    queue_from: int,
    queue_to: int,
    requests: Sequence[L1Request],
    withdrawals: Sequence[L1Withdrawal],
    oracle_digest: bytes,
    offchain_digest: bytes,
) -> bytes:
    """The batch's inputs digest as ``Exchange.sol`` derives it (32 bytes, 8 elements).

    Raises:
        SettlementError: ``requests`` are not the ``queue_to - queue_from`` consumed ones,
            or a value is out of range.
    """
    if len(requests) != queue_to - queue_from:
        raise SettlementError(
            f"expected {queue_to - queue_from} L1 requests for [{queue_from}, {queue_to}), "
            f"got {len(requests)}"
        )
    elements = [
        INPUTS_DOMAIN,
        *amount_elements(queue_from),
        *amount_elements(queue_to),
        *_hash(request_elements(requests)),
        *_hash(withdrawal_elements(withdrawals)),
        *oracle_limbs(oracle_digest),
        *digest_elements(offchain_digest),
    ]
    return poseidon2.digest_to_bytes(_hash(elements))


def public_inputs(
    *,
    batch_id: int,
    pre_root: bytes,
    post_root: bytes,
    commitment_root: bytes,
    inputs: bytes,
    outputs_digest: bytes,
    market_values: Sequence[tuple[int, int, int]],
) -> tuple[int, ...]:
    """The public inputs of the batch proof, in the contract's order.

    Args:
        market_values: per market in id order, ``(clearing_price, funding_index, mark_price)``,
            each a field element.

    Raises:
        SettlementError: a value is not a field element or a digest is malformed.
    """
    values = [v for triple in market_values for v in triple]
    for v in (batch_id, *values):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < poseidon2.P:
            raise SettlementError(f"expected a field element in [0, {poseidon2.P}), got {v!r}")
    return (
        batch_id,
        *digest_elements(pre_root),
        *digest_elements(post_root),
        *digest_elements(commitment_root),
        *digest_elements(inputs),
        *digest_elements(outputs_digest),
        len(market_values),
        *values,
    )
