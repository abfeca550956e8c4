"""State roots: a Poseidon2 (BabyBear) Merkle tree of account leaves, plus a header.

Every value is split into field elements below p = 15·2^27 + 1 so that an AIR
can recompute the leaf and range-check each limb (see docs/formats.md):

* a signed amount ``v`` (|v| < 2^72) is four elements
  ``[sign, l0, l1, l2]``: ``sign`` = 1 if ``v < 0`` else 0, and
  ``|v| = l0 + l1·2^24 + l2·2^48`` with 24-bit limbs (zero is never negative);
* an address (160 bits) is seven 24-bit limbs, least significant first;
* the account leaf is
  ``[ACCOUNT_DOMAIN, addr×7, subaccount, portfolio, collateral×4, position_m×4 …]``
  hashed with the Poseidon2 sponge (``sealbatch.crypto.poseidon2.hash_rows``);
* the account tree has ``2^depth`` leaves, ``depth = max(1, ⌈log2 n⌉)``, the
  accounts in ledger row order, padded with the all-zero digest;
* the header is the sponge of
  ``[HEADER_DOMAIN, batch_id×4, n×4, depth, fee_pool×4, insurance×4,
  socialised×4, timestamp×4]`` followed, per market in id order, by
  ``[mark, index, last, funding_index, index_time_ms, premium, premium_sum,
  premium_time, interval_batches]`` (×4 each) and ``[flagged, protective, calm]``,
  then zeros up to a whole rate block, ``config_digest×8`` (the state's
  :attr:`~LedgerState.config_digest`, :mod:`.config_digest`) as the next-to-last
  block and ``pending_digest×8`` as the last block (:func:`header_blocks` blocks
  in all; :data:`HEADER_FIELDS` and :func:`market_field` give each field's
  position, which the batch AIR reads; the config digest block is
  ``RATE·(header_blocks(m) − 2)``, :func:`config_digest_at`);
* every order the next batch inherits is a 24-element record, three rate blocks
  ``[kind, market_code, flags, limit, quantity, origin_batch×2, id_high]``,
  ``[trader×7, subaccount]``, ``[id×8]`` (kind 1 for a liquidation order, 0 for
  a GTC rest; ``limit`` in ticks, 0 for a market order, and ``quantity`` in lots
  are one element each; ``origin_batch`` two 24-bit limbs; ``id×8`` the order
  id's ``bytes32_elements`` — each 4-byte word ``w_i`` mod p — and
  ``id_high = Σ 3^i·⌊w_i / p⌋`` the quotients, so the record binds the id
  exactly; the ``client_id`` is not in it: it is not in the published files and
  changes nothing the order does), and ``pending_digest`` is the sponge of
  ``[PENDING_DOMAIN, liquidations, rests, 0×5]`` followed by the pending
  liquidation orders' records and then the GTC rests' records, in state order;
* ``state_root = compress(accounts_root, header_digest)``.

One account proves its balance on L1 with its leaf elements, its index, its
Merkle path and the header digest (:func:`account_proof`,
:func:`verify_account_proof`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.bounds import MAX_LOTS, MAX_PRICE
from sealbatch.auction.commitment import (
    address_limbs,
    bytes32_elements,
    limbs,
    market_code,
    order_flags,
)
from sealbatch.crypto import poseidon2
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.ledger import AccountKey, LedgerState

__all__ = [
    "ACCOUNT_DOMAIN",
    "HEADER_DOMAIN",
    "HEADER_FIELDS",
    "LIMB_BITS",
    "MARKET_FIELDS",
    "PENDING_DOMAIN",
    "PENDING_ORDER_SIZE",
    "AccountProof",
    "account_leaves",
    "account_proof",
    "config_digest_at",
    "decode_signed",
    "encode_signed",
    "header_blocks",
    "header_elements",
    "market_field",
    "pending_digest",
    "pending_elements",
    "pending_order_elements",
    "pending_orders",
    "state_root",
    "verify_account_proof",
]

U64 = npt.NDArray[np.uint64]

#: First element of every account leaf / of the header (domain separation).
ACCOUNT_DOMAIN = 0x5EA1_0001
HEADER_DOMAIN = 0x5EA1_0002
#: First element of the pending digest's preimage, its count block (a record's element
#: 0 is its kind). 0x5EA10003/4 tag commitments and market codes; the outputs digest's
#: header uses the same value (statement.OUTPUTS_DOMAIN), but the two are never compared.
PENDING_DOMAIN = 0x5EA1_0005
#: Elements of one pending-order record: three sponge rate blocks.
PENDING_ORDER_SIZE = 24
LIMB_BITS = 24
_RATE = poseidon2.RATE
#: Position of each header field before the markets' (the first element of its encoding).
HEADER_FIELDS = {
    "batch_id": 1,
    "n": 5,
    "depth": 9,
    "fee_pool": 10,
    "insurance": 14,
    "socialised": 18,
    "timestamp": 22,
}
_MARKETS_AT = 26
#: Each market's header fields in order: nine signed values (4 elements each), three flags.
MARKET_FIELDS = (
    "mark",
    "index",
    "last",
    "funding_index",
    "index_time_ms",
    "premium",
    "premium_sum",
    "premium_time",
    "interval_batches",
    "flagged",
    "protective",
    "calm",
)
_MARKET_SIZE = 9 * 4 + 3
_MASK = (1 << LIMB_BITS) - 1
_LIMBS = 3


def encode_signed(values: npt.ArrayLike) -> U64:
    """``(n,)`` signed integers (|v| < 2^63) → ``(n, 4)`` elements ``[sign, l0, l1, l2]``."""
    v = np.asarray(values, dtype=np.int64)
    neg = v < 0
    # |v| as uint64: exact for every int64 including -2^63
    mag = np.where(neg, (~v).astype(np.uint64) + np.uint64(1), v.astype(np.uint64))
    out = np.empty((*v.shape, 4), dtype=np.uint64)
    out[..., 0] = neg
    for k in range(_LIMBS):
        out[..., 1 + k] = (mag >> np.uint64(LIMB_BITS * k)) & np.uint64(_MASK)
    return out


def _encode_int(v: int) -> list[int]:
    if not -(1 << 72) < v < 1 << 72:
        raise SettlementError(f"expected |value| below 2^72 for the state root, got {v}")
    mag = abs(v)
    return [int(v < 0)] + [(mag >> (LIMB_BITS * k)) & _MASK for k in range(_LIMBS)]


def decode_signed(elements: Sequence[int]) -> int:
    """Inverse of the signed encoding: ``[sign, l0, l1, l2]`` → the integer."""
    sign, *limbs = (int(e) for e in elements)
    mag = sum(limb << (LIMB_BITS * k) for k, limb in enumerate(limbs))
    return -mag if sign else mag


def _address_limbs(accounts: Sequence[AccountKey]) -> U64:
    raw = b"".join(bytes.fromhex(k.address[2:]) for k in accounts)
    as_int = np.frombuffer(raw, dtype=np.uint8).reshape(len(accounts), 20).astype(np.uint64)
    # big-endian bytes → little-endian 24-bit limbs: limb k holds bytes 19-3k, 18-3k, 17-3k
    out = np.zeros((len(accounts), 7), dtype=np.uint64)
    for k in range(7):
        for b in range(3):
            byte = 19 - 3 * k - b
            if byte >= 0:
                out[:, k] |= as_int[:, byte] << np.uint64(8 * b)
    return out


def account_leaves(state: LedgerState) -> U64:
    """The ``(n, 14 + 4m)`` leaf elements of every account, in row order."""
    n = state.size
    parts = [
        np.full((n, 1), ACCOUNT_DOMAIN, dtype=np.uint64),
        _address_limbs(state.accounts),
        np.array([[k.subaccount] for k in state.accounts], dtype=np.uint64).reshape(n, 1),
        state.portfolio.astype(np.uint64).reshape(n, 1),
        encode_signed(state.collateral),
    ]
    parts.extend(encode_signed(state.positions[:, j]) for j in range(len(state.markets)))
    return np.concatenate(parts, axis=1)


def _depth(n: int) -> int:
    return max(1, (max(n, 1) - 1).bit_length())


def pending_order_elements(
    order: RestingOrder, subaccount: int = 0, liquidation: bool = False
) -> list[int]:
    """The 24-element record of one order the next batch inherits (module docstring).

    Raises:
        SettlementError: a field outside its encoding (an id not 32 bytes, a
            malformed address, a limit or quantity out of bounds, an origin batch
            beyond 2^48).
    """
    o = order.order
    try:
        if len(order.order_id) != 32:
            raise ValueError(f"order_id: expected 32 bytes, got {len(order.order_id)}")
        if not 0 <= subaccount < 1 << 16:
            raise ValueError(f"subaccount: expected 0 to 65535, got {subaccount}")
        limit = o.limit_price or 0
        if not 0 <= limit <= MAX_PRICE or not 1 <= o.quantity <= MAX_LOTS:
            raise ValueError(
                f"expected a limit of 0 to {MAX_PRICE} ticks and 1 to {MAX_LOTS} lots, "
                f"got {limit} and {o.quantity}"
            )
        words = [int.from_bytes(order.order_id[i : i + 4], "little") for i in range(0, 32, 4)]
        high = sum(3**i * (w // poseidon2.P) for i, w in enumerate(words))
        out = [int(liquidation), market_code(o.market), order_flags(o), limit, o.quantity]
        out += [*limbs(order.origin_batch, 2), high]
        out += [*address_limbs(order.trader), subaccount]
        out += bytes32_elements(order.order_id)
    except ValueError as exc:
        raise SettlementError(f"pending order 0x{order.order_id.hex()}: {exc}") from exc
    return out


def pending_orders(state: LedgerState) -> list[tuple[RestingOrder, int, bool]]:
    """Every order the next batch inherits as ``(order, subaccount, is_liquidation)``,
    in root order: the pending liquidation orders, then the GTC rests (subaccount 0)."""
    out = [(lo.resting, lo.account.subaccount, True) for lo in state.pending_liquidations]
    out += [(r, 0, False) for r in state.resting_orders]
    return out


def pending_elements(state: LedgerState) -> list[int]:
    """The preimage of :func:`pending_digest`: the count block, then every record."""
    out = [PENDING_DOMAIN, len(state.pending_liquidations), len(state.resting_orders)]
    out += [0] * (_RATE - 3)
    for p in pending_orders(state):
        out += pending_order_elements(*p)
    return out


def pending_digest(state: LedgerState) -> U64:
    """The sponge of the pending orders' count block and records (module docstring)."""
    return poseidon2.hash_elements(np.array(pending_elements(state), dtype=np.uint64))


def header_blocks(markets: int) -> int:
    """Rate blocks of the header of a state with ``markets`` markets (the last two: the
    config digest and the pending digest)."""
    return -(-(_MARKETS_AT + _MARKET_SIZE * markets) // _RATE) + 2


def config_digest_at(markets: int) -> int:
    """Position in the header of the config digest's first element (a whole rate block,
    the next-to-last)."""
    return _RATE * (header_blocks(markets) - 2)


def market_field(market: int, name: str) -> int:
    """Position in the header of market ``market``'s field ``name`` (``MARKET_FIELDS``).

    Raises:
        KeyError: no such field.
    """
    if name not in MARKET_FIELDS:
        raise KeyError(name)
    k = MARKET_FIELDS.index(name)
    return _MARKETS_AT + _MARKET_SIZE * market + (4 * k if k < 9 else 36 + (k - 9))


def header_elements(state: LedgerState) -> list[int]:
    """The header's field elements (see module docstring)."""
    out = [HEADER_DOMAIN]
    out += _encode_int(state.batch_id) + _encode_int(state.size) + [_depth(state.size)]
    for v in (state.fee_pool, state.insurance_fund, state.socialised_loss, state.timestamp_ms):
        out += _encode_int(v)
    for ms in state.market_states:
        for v in (
            ms.mark_price,
            ms.index_price,
            ms.last_price,
            ms.funding_index,
            ms.index_time_ms,
            ms.premium,
            ms.premium_sum,
            ms.premium_time,
            ms.interval_batches,
        ):
            out += _encode_int(v)
        out += [int(ms.flagged), int(ms.protective), ms.calm]
    out += [0] * (config_digest_at(len(state.market_states)) - len(out))
    out += [int(x) for x in state.config_digest]
    out += [int(x) for x in pending_digest(state)]
    return out


def _tree(state: LedgerState) -> list[U64]:
    leaves = np.zeros((1 << _depth(state.size), poseidon2.DIGEST_SIZE), dtype=np.uint64)
    if state.size:
        leaves[: state.size] = poseidon2.hash_rows(account_leaves(state))
    return poseidon2.merkle_levels(leaves)


def state_root(state: LedgerState) -> bytes:
    """The 32-byte state root (8 BabyBear elements, ``poseidon2.digest_to_bytes``).

    Computed once per state (states are immutable) and kept in its memo.
    """
    cached = state.memo().get("state_root")
    if isinstance(cached, bytes):
        return cached
    accounts_root = _tree(state)[-1][0]
    header = poseidon2.hash_elements(header_elements(state))
    root = poseidon2.digest_to_bytes(poseidon2.compress(accounts_root, header))
    state.memo()["state_root"] = root
    return root


@dataclass(frozen=True)
class AccountProof:
    """One account's leaf, its index and Merkle path, and the header digest."""

    leaf: tuple[int, ...]
    index: int
    path: U64
    header: U64

    @property
    def collateral(self) -> int:
        return decode_signed(self.leaf[10:14])

    def positions(self) -> list[int]:
        return [decode_signed(self.leaf[i : i + 4]) for i in range(14, len(self.leaf), 4)]


def account_proof(state: LedgerState, key: AccountKey) -> AccountProof:
    """The inclusion proof of ``key``'s leaf under :func:`state_root`."""
    row = state.row(key)
    levels = _tree(state)
    leaf = tuple(int(x) for x in account_leaves(state)[row])
    header = poseidon2.hash_elements(header_elements(state))
    return AccountProof(leaf, row, poseidon2.merkle_path(levels, row), header)


def verify_account_proof(root: bytes, proof: AccountProof) -> None:
    """Raise VerificationError unless the proof hashes up to ``root``."""
    digest = poseidon2.hash_elements(np.array(proof.leaf, dtype=np.uint64))
    accounts_root = poseidon2.path_root(digest, proof.index, proof.path)
    got = poseidon2.digest_to_bytes(poseidon2.compress(accounts_root, proof.header))
    if got != root:
        raise VerificationError(f"expected state root 0x{root.hex()}, got 0x{got.hex()}")
