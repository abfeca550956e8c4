"""The batch statement as the exchange contract derives it from L1 (no chain access here).

``contracts/src/Exchange.sol`` moves its state root only on a proof of the
batch AIR for public inputs it derives itself (docs/contracts.md, "The
statement"); this module computes the same values off chain, so the operator
proves exactly what the contract will check, and the tests compare the two.

The layout is the batch AIR's (docs/stark.md, "The batch AIR")::

    batch_id×3, pre_root×8, post_root×8, commitment_root×8, inputs_digest×8,
    outputs_digest×8, n_markets, then per market (id order)
    clearing_price, funding_index×4 (signed), mark_price, order_count,
    then the settlement statement's elements (``SettleStatement.to_elements``)

and the inputs digest is that of docs/formats.md ("Batch digests"), built
from what L1 knows: the batch id, the oracle round (its digest recomputed
after every signature is checked), the deposits the batch consumes from the
contract's queue, the RFQ blocks' elements (the operator's) and the
withdrawals the contract credits. Forced-withdrawal requests are consumed from
the same queue but are not in the digest: a batch serves one as a withdrawal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sealbatch.auction.commitment import address_limbs, bytes32_elements, limbs, market_code
from sealbatch.crypto import poseidon2
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.oracle import OracleRound
from sealbatch.settlement.roots import encode_signed

__all__ = [
    "BLOCK_ELEMENTS",
    "INPUTS_DOMAIN",
    "KIND_DEPOSIT",
    "KIND_FORCED_WITHDRAWAL",
    "PUBLIC_HEADER",
    "PUBLIC_PER_MARKET",
    "L1Request",
    "L1Withdrawal",
    "MarketValues",
    "block_elements",
    "digest_elements",
    "inputs_digest",
    "public_inputs",
]

#: First element of the inputs digest (docs/formats.md, "Batch digests").
INPUTS_DOMAIN = 0x5EA1_0006
KIND_DEPOSIT = 1
KIND_FORCED_WITHDRAWAL = 2
#: Elements per RFQ block: id×8, market code, buyer×7, seller×7, price, quantity.
BLOCK_ELEMENTS = 25
PUBLIC_HEADER = 3 + 5 * 8 + 1
PUBLIC_PER_MARKET = 7


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


@dataclass(frozen=True)
class MarketValues:
    """One market's public values after a batch (``Exchange.MarketValues``)."""

    price: int
    funding_index: int
    mark: int
    orders: int


def digest_elements(digest: bytes) -> list[int]:
    """A 32-byte Poseidon2 digest as its 8 field elements (rejects non-canonical ones)."""
    try:
        return [int(v) for v in poseidon2.digest_from_bytes(digest)]
    except ValueError as exc:
        raise SettlementError(f"digest: {exc}") from None


def block_elements(blocks: Sequence[BlockTrade]) -> list[int]:
    """RFQ blocks as the inputs digest encodes them: id×8, market code, buyer×7, seller×7,
    price, quantity (docs/formats.md, "Batch digests")."""
    out: list[int] = []
    for b in blocks:
        out += [
            *bytes32_elements(b.block_id),
            market_code(b.market),
            *address_limbs(b.buyer),
            *address_limbs(b.seller),
            b.price,
            b.quantity,
        ]
    return out


def _flow(account: str, subaccount: int, amount: int) -> list[int]:
    return [*address_limbs(account), subaccount, *limbs(amount, 3)]


def inputs_digest(
    *,
    batch_id: int,
    oracle: OracleRound,
    deposits: Sequence[L1Request],
    block_elements: Sequence[int],
    withdrawals: Sequence[L1Withdrawal],
) -> bytes:
    """The inputs digest as ``Exchange.sol`` derives it (32 bytes).

    Args:
        deposits: the deposit requests the batch consumes, in queue order.
        block_elements: the RFQ blocks' elements, :data:`BLOCK_ELEMENTS` per block.

    Raises:
        SettlementError: a value out of range or a partial block.
    """
    if len(block_elements) % BLOCK_ELEMENTS:
        raise SettlementError(
            f"expected {BLOCK_ELEMENTS} elements per RFQ block, got {len(block_elements)}"
        )
    try:
        out = [
            INPUTS_DOMAIN,
            *limbs(batch_id, 3),
            *limbs(oracle.round_id, 3),
            *limbs(oracle.timestamp_ms, 3),
            *bytes32_elements(oracle.digest()),
            len(deposits),
        ]
        for d in deposits:
            out += _flow(d.account, d.subaccount, d.amount)
        out += [len(block_elements) // BLOCK_ELEMENTS, *block_elements, len(withdrawals)]
        for w in withdrawals:
            out += _flow(w.account, w.subaccount, w.amount)
        digest = poseidon2.hash_elements(np.array(out, dtype=np.uint64))
    except ValueError as exc:
        raise SettlementError(f"inputs digest: {exc}") from None
    return poseidon2.digest_to_bytes(digest)


def public_inputs(
    *,
    batch_id: int,
    pre_root: bytes,
    post_root: bytes,
    commitment_root: bytes,
    inputs: bytes,
    outputs_digest: bytes,
    markets: Sequence[MarketValues],
    settlement: Sequence[int] = (),
) -> tuple[int, ...]:
    """The batch proof's public inputs, in the contract's (and the batch AIR's) order.

    Args:
        settlement: the settlement statement's elements, as the operator states them.

    Raises:
        SettlementError: a value is not a field element or a digest is malformed.
    """
    try:
        out = [
            *limbs(batch_id, 3),
            *digest_elements(pre_root),
            *digest_elements(post_root),
            *digest_elements(commitment_root),
            *digest_elements(inputs),
            *digest_elements(outputs_digest),
            len(markets),
        ]
    except ValueError as exc:
        raise SettlementError(f"batch id: {exc}") from None
    for m in markets:
        for v in (m.price, m.mark, m.orders):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < poseidon2.P:
                raise SettlementError(f"expected a field element in [0, {poseidon2.P}), got {v!r}")
        out += [m.price, *(int(x) for x in encode_signed([m.funding_index])[0]), m.mark, m.orders]
    for v in settlement:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < poseidon2.P:
            raise SettlementError(f"expected a field element in [0, {poseidon2.P}), got {v!r}")
    return (*out, *settlement)
