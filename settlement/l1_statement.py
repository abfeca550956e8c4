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
    "BLOCK_TAG",
    "DEPOSIT_TAG",
    "INPUTS_DOMAIN",
    "KIND_DEPOSIT",
    "KIND_FORCED_WITHDRAWAL",
    "PUBLIC_HEADER",
    "PUBLIC_PER_MARKET",
    "WITHDRAWAL_TAG",
    "L1Request",
    "L1Withdrawal",
    "MarketValues",
    "block_elements",
    "digest_elements",
    "inputs_blocks",
    "inputs_digest",
    "public_inputs",
    "transfer_blocks",
]

#: First element of the inputs digest (docs/formats.md, "Batch digests").
INPUTS_DOMAIN = 0x5EA1_0006
KIND_DEPOSIT = 1
KIND_FORCED_WITHDRAWAL = 2
#: First element of each record of the inputs digest (docs/formats.md, "Batch digests").
DEPOSIT_TAG = 1
WITHDRAWAL_TAG = 2
BLOCK_TAG = 3
#: Elements per RFQ block: id×8, market code, buyer×7, seller×7, price, quantity.
BLOCK_ELEMENTS = 25
#: Public inputs before the per-market values: batch id ×3, five digests ×8, m, commitments.
PUBLIC_HEADER = 3 + 5 * 8 + 2
#: Public inputs per market: price, funding index ×4 (signed), mark, order count, reference,
#: then the post-state's index price, index time ×2 (24-bit limbs) and oracle flag, which the
#: contract derives from the oracle round (batch_air/statement.py ``index_inputs``).
PUBLIC_PER_MARKET = 12


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
    reference: int = 0  # the clearing's reference price (ticks, 0: none)


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


def _amount_digits(amount: int) -> list[int]:
    """``amount`` as six 12-bit digits, least significant first."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < 1 << 72:
        raise ValueError(f"expected an amount in [0, 2^72), got {amount!r}")
    return [(amount >> (12 * k)) & 0xFFF for k in range(6)]


def transfer_blocks(tag: int, account: str, subaccount: int, amount: int) -> list[list[int]]:
    """One deposit or withdrawal as its two rate-8 blocks of the inputs digest:
    ``[tag, amount digits×6, 0]`` and ``[address×7, subaccount]``.

    Raises:
        ValueError: a malformed address, or a subaccount or amount out of range.
    """
    if not 0 <= subaccount < 1 << 16:
        raise ValueError(f"expected a subaccount in [0, 65536), got {subaccount}")
    return [[tag, *_amount_digits(amount), 0], [*address_limbs(account), subaccount]]


def inputs_blocks(
    *,
    batch_id: int,
    oracle: OracleRound,
    deposits: Sequence[tuple[str, int, int]],
    block_elements: Sequence[int],
    withdrawals: Sequence[tuple[str, int, int]],
) -> tuple[tuple[int, ...], ...]:
    """The inputs digest's preimage as rate-8 blocks (docs/formats.md, "Batch digests").

    Three header blocks ``[INPUTS_DOMAIN, batch_id×3, round_id×3, 0]``,
    ``[timestamp_ms×3, 0×5]``, ``[oracle digest×8]``; then two blocks per deposit
    (:func:`transfer_blocks` with :data:`DEPOSIT_TAG`), four per RFQ block
    ``[BLOCK_TAG, market code, price, quantity, 0×4]``, ``[block_id×8]``,
    ``[buyer×7, 0]``, ``[seller×7, 0]``, and two per withdrawal
    (:data:`WITHDRAWAL_TAG`). Every record starts with a block whose first element
    is its tag, so the blocks parse one way only.

    Args:
        deposits, withdrawals: ``(address, subaccount, amount)`` each, in order.
        block_elements: the RFQ blocks' elements, :data:`BLOCK_ELEMENTS` per block
            (:func:`block_elements`).

    Raises:
        ValueError: a value out of range or a partial RFQ block.
    """
    if len(block_elements) % BLOCK_ELEMENTS:
        raise ValueError(
            f"expected {BLOCK_ELEMENTS} elements per RFQ block, got {len(block_elements)}"
        )
    blocks: list[list[int]] = [
        [INPUTS_DOMAIN, *limbs(batch_id, 3), *limbs(oracle.round_id, 3), 0],
        [*limbs(oracle.timestamp_ms, 3), 0, 0, 0, 0, 0],
        list(bytes32_elements(oracle.digest())),
    ]
    for account, sub, amount in deposits:
        blocks += transfer_blocks(DEPOSIT_TAG, account, sub, amount)
    for i in range(0, len(block_elements), BLOCK_ELEMENTS):
        e = [int(v) for v in block_elements[i : i + BLOCK_ELEMENTS]]
        blocks += [[BLOCK_TAG, e[8], e[23], e[24], 0, 0, 0, 0], e[0:8], [*e[9:16], 0]]
        blocks.append([*e[16:23], 0])
    for account, sub, amount in withdrawals:
        blocks += transfer_blocks(WITHDRAWAL_TAG, account, sub, amount)
    if any(not 0 <= v < poseidon2.P for b in blocks for v in b):
        raise ValueError("expected field elements in the inputs digest")
    return tuple(tuple(b) for b in blocks)


def inputs_digest(
    *,
    batch_id: int,
    oracle: OracleRound,
    deposits: Sequence[L1Request],
    block_elements: Sequence[int],
    withdrawals: Sequence[L1Withdrawal],
) -> bytes:
    """The inputs digest as ``Exchange.sol`` derives it (32 bytes): the sponge of
    :func:`inputs_blocks`.

    Args:
        deposits: the deposit requests the batch consumes, in queue order.
        block_elements: the RFQ blocks' elements, :data:`BLOCK_ELEMENTS` per block.

    Raises:
        SettlementError: a value out of range or a partial block.
    """
    try:
        blocks = inputs_blocks(
            batch_id=batch_id,
            oracle=oracle,
            deposits=[(d.account, d.subaccount, d.amount) for d in deposits],
            block_elements=block_elements,
            withdrawals=[(w.account, w.subaccount, w.amount) for w in withdrawals],
        )
        out = [v for b in blocks for v in b]
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
    commitments: int = 0,
    indexes: Sequence[Sequence[int]] = (),
) -> tuple[int, ...]:
    """The batch proof's public inputs, in the contract's (and the batch AIR's) order.

    Args:
        commitments: how many commitments the commitment root holds (revealed or forfeited).
        indexes: per market the post-state's ``[index price, index time low limb, high limb,
            flagged]`` the oracle round gives (``statement.index_inputs``; all 0 when left out).
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
            commitments,
        ]
    except ValueError as exc:
        raise SettlementError(f"batch id: {exc}") from None
    if indexes and len(indexes) != len(markets):
        raise SettlementError(f"expected an index reading per market, got {len(indexes)}")
    for j, m in enumerate(markets):
        for v in (m.price, m.mark, m.orders, m.reference):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < poseidon2.P:
                raise SettlementError(f"expected a field element in [0, {poseidon2.P}), got {v!r}")
        funding = (int(x) for x in encode_signed([m.funding_index])[0])
        out += [m.price, *funding, m.mark, m.orders, m.reference]
        out += [int(v) for v in indexes[j]] if indexes else [0, 0, 0, 0]
    for v in (commitments, *settlement):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < poseidon2.P:
            raise SettlementError(f"expected a field element in [0, {poseidon2.P}), got {v!r}")
    return (*out, *settlement)
