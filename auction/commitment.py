"""Order commitments, the commitment root and tie-break keys, in Poseidon2.

Everything here is what the batch proof must recompute, so it is hashed with
Poseidon2 over BabyBear (p = 15·2^27 + 1; :mod:`sealbatch.crypto.poseidon2`)
instead of Keccak: one permutation is ~300 AIR cells against ~60 000 for a
Keccak-f. docs/formats.md ("Commitments") gives every encoding step by step
with known-answer vectors; in short:

* **Limbs.** An unsigned integer is split into 24-bit limbs, least
  significant first (each far below p, so an AIR range-checks it with one
  lookup); an address is its 160-bit big-endian value in 7 limbs, a 32-byte
  string (the salt) its 256-bit big-endian value in 11 limbs, a uint64 3 limbs.
* **Market code.** ``hash_elements([MARKET_DOMAIN, n, b_0, …, b_{n-1}])[0]``
  over the ``n`` UTF-8 bytes of the market id: one element naming the market
  (the batch proof's market table holds each market's code).
* **Commitment.** The Poseidon2 sponge :func:`~sealbatch.crypto.poseidon2.hash_elements`
  of 31 elements (:func:`commitment_preimage`): the domain tag, the market
  code, the order's flags, limit price, quantity and client id, the salt, the
  batch id and the trader. Its 8 digest elements, each as 4 bytes
  little-endian (:func:`~sealbatch.crypto.poseidon2.digest_to_bytes`), are the
  ``bytes32 commitment`` of the EIP-712 ``Commit``. Binding the batch and the
  trader makes a commitment useless to anyone else and in any other batch.
* **Leaf** of a commitment:
  ``compress(compress(commitment, [market code, 0×7]), [trader×7, bond])``
  (:func:`commitment_leaf`): the market, trader and bond of its signed
  ``Commit`` — the market's code, the trader's 7 address limbs and the bond it
  put at stake, one element below 2^30 (:data:`~sealbatch.auction.bounds.MAX_BOND`) —
  so the root binds who forfeits what, in which market.
* **Commitment root** (the batch seed). A binary Poseidon2 Merkle tree of
  fixed depth :data:`COMMITMENT_TREE_DEPTH` over the leaves in receipt
  order; a missing leaf is the all-zero digest and an empty subtree of height
  ``h`` the constant ``EMPTY_SUBTREES[h]``; a parent is
  ``compress(left, right)``.
* **Tie-break key** of an order: ``compress(seed, id)``, both 32-byte strings
  read as 8 field elements by :func:`bytes32_elements`; keys compare as
  8-tuples, element 0 first.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from sealbatch.auction.bounds import MAX_BOND
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.poseidon2 import (
    DIGEST_SIZE,
    P,
    compress,
    digest_from_bytes,
    digest_to_bytes,
    hash_rows,
)
from sealbatch.crypto.poseidon2_ints import compress_ints, hash_ints

__all__ = [
    "COMMITMENT_DOMAIN",
    "COMMITMENT_PREIMAGE_SIZE",
    "COMMITMENT_TREE_DEPTH",
    "EMPTY_SUBTREES",
    "LIMB_BITS",
    "MARKET_DOMAIN",
    "address_limbs",
    "bytes32_elements",
    "commitment_leaf",
    "commitment_leaves",
    "commitment_path",
    "commitment_preimage",
    "commitment_root",
    "compute_commitment",
    "compute_commitments",
    "digest_preimages",
    "is_commitment_digest",
    "leaf_market",
    "leaf_tail",
    "limbs",
    "market_code",
    "order_flags",
    "receipt_order",
    "tiebreak_key",
    "tiebreak_keys",
    "verify_commitment_path",
]

#: Domain tag, element 0 of every commitment preimage (after the state root's
#: ``0x5EA10001`` account leaf and ``0x5EA10002`` header).
COMMITMENT_DOMAIN = 0x5EA10003
#: Domain tag, element 0 of a market code's preimage.
MARKET_DOMAIN = 0x5EA10004
#: Width of one limb: 24 bits, as in the state root's encoding.
LIMB_BITS = 24
#: Elements in a commitment preimage: four sponge blocks (four permutations).
COMMITMENT_PREIMAGE_SIZE = 31
#: Depth of the commitment tree: room for 2^20 (1 048 576) commitments per
#: batch, far above what one batch window takes; the proof pays one
#: compression per level above the last commitment.
COMMITMENT_TREE_DEPTH = 20

_MASK = (1 << LIMB_BITS) - 1
_SCALAR_BELOW = 4  # levels this narrow compress faster one node at a time (measured)
_SCALAR_KEYS = 2  # as many tie-break keys or fewer: one at a time
_SCALAR_COMMITMENTS = 3  # as many commitments or fewer: one at a time
_SALT_BYTES = 32


def limbs(value: int, count: int) -> list[int]:
    """``value`` as ``count`` 24-bit limbs, least significant first.

    Raises:
        ValueError: ``value`` is negative or needs more than ``count`` limbs.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    if not 0 <= value < 1 << (LIMB_BITS * count):
        raise ValueError(f"expected 0 to 2^{LIMB_BITS * count} - 1, got {value}")
    return [(value >> (LIMB_BITS * i)) & _MASK for i in range(count)]


def address_limbs(address: str) -> list[int]:
    """The 7 limbs of a 20-byte address (its big-endian value, low limb first).

    Raises:
        ValueError: ``address`` is not ``0x`` and 40 hex digits.
    """
    text = address.removeprefix("0x") if isinstance(address, str) else ""
    if len(text) != 40:
        raise ValueError(f"trader: expected an address (0x and 40 hex digits), got {address!r}")
    try:
        value = int(text, 16)
    except ValueError as exc:
        raise ValueError(f"trader: expected an address, got {address!r}") from exc
    return limbs(value, 7)


@lru_cache(maxsize=256)
def market_code(market: str) -> int:
    """The field element naming a market: ``hash_elements([MARKET_DOMAIN, n, bytes…])[0]``."""
    data = market.encode()
    return hash_ints([MARKET_DOMAIN, len(data), *data])[0]


def order_flags(order: Order) -> int:
    """``isBuy | hasLimit << 1 | isGtc << 2 | reduceOnly << 3``."""
    return (
        int(order.side is Side.BUY)
        | int(order.limit_price is not None) << 1
        | int(order.time_in_force is TimeInForce.GTC) << 2
        | int(order.reduce_only) << 3
    )


def _check_salt(salt: bytes) -> bytes:
    if not isinstance(salt, bytes | bytearray) or len(salt) != _SALT_BYTES:
        raise ValueError(f"salt: expected {_SALT_BYTES} bytes, got {salt!r}")
    return bytes(salt)


def _check_batch(batch_id: int) -> int:
    if isinstance(batch_id, bool) or not isinstance(batch_id, int) or not 0 <= batch_id < 1 << 64:
        raise ValueError(f"batch_id: expected a uint64, got {batch_id!r}")
    return batch_id


def commitment_preimage(order: Order, salt: bytes, trader: str, batch_id: int) -> list[int]:
    """The 31 field elements a commitment hashes, in order.

    ====== =========================================================
    index  element
    ====== =========================================================
    0      ``COMMITMENT_DOMAIN``
    1      ``market_code(order.market)``
    2      ``order_flags(order)``
    3–4    limit price in ticks (0 for a market order), 2 limbs
    5–6    quantity in lots, 2 limbs
    7–9    client id, 3 limbs
    10–20  salt (32 bytes, big-endian value), 11 limbs
    21–23  batch id, 3 limbs
    24–30  trader address, 7 limbs
    ====== =========================================================

    Raises:
        ValueError: the salt is not 32 bytes, the batch id not a uint64, the
            trader not an address, or the price or quantity 2^48 or more.
    """
    salt = _check_salt(salt)
    return [
        COMMITMENT_DOMAIN,
        market_code(order.market),
        order_flags(order),
        *limbs(order.limit_price or 0, 2),
        *limbs(order.quantity, 2),
        *limbs(order.client_id, 3),
        *limbs(int.from_bytes(salt, "big"), 11),
        *limbs(_check_batch(batch_id), 3),
        *address_limbs(trader),
    ]


def compute_commitment(order: Order, salt: bytes, trader: str, batch_id: int) -> bytes:
    """The 32-byte commitment to ``order``: ``digest_to_bytes(hash_elements(preimage))``.

    Args:
        order: the sealed order.
        salt: 32 secret random bytes (256 bits of entropy; the trader keeps
            them until the reveal).
        trader: the committing trader's address.
        batch_id: the batch the commitment is for.

    Raises:
        ValueError: see :func:`commitment_preimage`.
    """
    return _digest_bytes(hash_ints(commitment_preimage(order, salt, trader, batch_id)))


def compute_commitments(
    orders: Sequence[Order], salts: Sequence[bytes], traders: Sequence[str], batch_id: int
) -> list[bytes]:
    """:func:`compute_commitment` for many orders of one batch, in one vectorised hash.

    Raises:
        ValueError: the sequences differ in length, or see :func:`commitment_preimage`.
    """
    if not len(orders) == len(salts) == len(traders):
        raise ValueError(
            f"expected one salt and trader per order, got {len(orders)} orders, "
            f"{len(salts)} salts and {len(traders)} traders"
        )
    return digest_preimages(
        [
            commitment_preimage(o, s, t, batch_id)
            for o, s, t in zip(orders, salts, traders, strict=True)
        ]
    )


def digest_preimages(preimages: Sequence[Sequence[int]]) -> list[bytes]:
    """The commitments (32 bytes each) of preimages built by :func:`commitment_preimage`.

    Many are hashed in one vectorised :func:`~sealbatch.crypto.poseidon2.hash_rows`
    call; three or fewer one at a time (numpy pays per call, not per row, and
    below four rows the Python-int permutation is faster).

    Raises:
        ValueError: a preimage is not 31 field elements.
    """
    for row in preimages:
        if len(row) != COMMITMENT_PREIMAGE_SIZE:
            raise ValueError(
                f"expected preimages of {COMMITMENT_PREIMAGE_SIZE} elements, got {len(row)}"
            )
    if len(preimages) <= _SCALAR_COMMITMENTS:
        return [_digest_bytes(hash_ints(row)) for row in preimages]
    rows = np.array(preimages, dtype=np.uint64)
    return [digest_to_bytes(d) for d in hash_rows(rows)]


def _digest_bytes(elements: Sequence[int]) -> bytes:
    return b"".join(int(e).to_bytes(4, "little") for e in elements)


#: A digest's 32 bytes as its 8 little-endian uint32 words.
_EIGHT_WORDS = struct.Struct("<8I")


def is_commitment_digest(commitment: bytes) -> bool:
    """Whether 32 bytes are a Poseidon2 digest a commitment can be: 8 little-endian
    uint32 elements, each below p, not all zero (the all-zero digest marks an
    empty leaf of the commitment tree)."""
    if not isinstance(commitment, bytes | bytearray) or len(commitment) != 32:
        return False
    words = _EIGHT_WORDS.unpack(commitment)
    return max(words) < P and any(words)


def bytes32_elements(data: bytes) -> list[int]:
    """32 bytes as 8 field elements: word ``i`` is bytes ``4i..4i+3`` little-endian, mod p.

    For a Poseidon2 digest (a commitment, a seed) this is the digest itself;
    any other 32 bytes (a liquidation order's Keccak id, a seed given on the
    command line) map to elements too.

    Raises:
        ValueError: ``data`` is not 32 bytes.
    """
    if not isinstance(data, bytes | bytearray) or len(data) != 32:
        raise ValueError(f"expected 32 bytes, got {data!r}")
    return [int.from_bytes(data[i : i + 4], "little") % P for i in range(0, 32, 4)]


def _empty_subtrees(depth: int) -> tuple[tuple[int, ...], ...]:
    out = [(0,) * DIGEST_SIZE]
    for _ in range(depth):
        out.append(tuple(compress_ints(out[-1], out[-1])))
    return tuple(out)


EMPTY_SUBTREES: tuple[tuple[int, ...], ...] = _empty_subtrees(COMMITMENT_TREE_DEPTH)
"""``EMPTY_SUBTREES[h]``: the root of an empty subtree of height ``h``
(``[0]`` is the all-zero leaf, ``[h+1] = compress([h], [h])``)."""


def _check_bond(bond: int) -> int:
    if isinstance(bond, bool) or not isinstance(bond, int) or not 0 <= bond <= MAX_BOND:
        raise ValueError(f"bond: expected 0 to {MAX_BOND} base units, got {bond!r}")
    return bond


def leaf_market(market: str) -> list[int]:
    """The right half of a commitment leaf's inner compression: ``[market code, 0×7]``."""
    return [market_code(market), *[0] * (DIGEST_SIZE - 1)]


def leaf_tail(trader: str, bond: int) -> list[int]:
    """The right half of a commitment's leaf: ``[trader×7, bond]``.

    Raises:
        ValueError: ``trader`` is not an address or ``bond`` not in ``[0, MAX_BOND]``.
    """
    return [*address_limbs(trader), _check_bond(bond)]


def _check_markets(markets: Sequence[str]) -> None:
    for market in markets:
        if not isinstance(market, str) or not market:
            raise ValueError(f"market: expected a market id, got {market!r}")


def commitment_leaf(commitment: bytes, market: str, trader: str, bond: int) -> bytes:
    """Leaf of a commitment in the commitment tree:
    ``compress(compress(commitment, [market code, 0×7]), [trader×7, bond])``.

    Args:
        commitment: the 32-byte commitment.
        market, trader, bond: the market, trader and bond of its signed ``Commit``.

    Raises:
        ValueError: ``commitment`` is not a Poseidon2 digest (:func:`is_commitment_digest`),
            ``market`` not a market id, or see :func:`leaf_tail`.
    """
    if not is_commitment_digest(commitment):
        raise ValueError(
            f"commitment: expected a Poseidon2 digest, got 0x{bytes(commitment).hex()}"
        )
    _check_markets([market])
    tail = leaf_tail(trader, bond)
    head = compress_ints(bytes32_elements(commitment), leaf_market(market))
    return _digest_bytes(compress_ints(head, tail))


def commitment_leaves(
    commitments: Sequence[bytes],
    markets: Sequence[str],
    traders: Sequence[str],
    bonds: Sequence[int],
) -> npt.NDArray[np.uint64]:
    """The leaves (:func:`commitment_leaf`) of many commitments, one row of 8 elements each,
    in two vectorised compressions.

    Raises:
        ValueError: the sequences differ in length, or see :func:`commitment_leaf`.
    """
    if not len(commitments) == len(markets) == len(traders) == len(bonds):
        raise ValueError(
            "expected one market, trader and bond per commitment, got "
            f"{len(commitments)} commitments, {len(markets)} markets, {len(traders)} traders "
            f"and {len(bonds)} bonds"
        )
    for c in commitments:
        if not is_commitment_digest(c):
            raise ValueError(f"commitment: expected a Poseidon2 digest, got 0x{bytes(c).hex()}")
    _check_markets(markets)
    if not commitments:
        return np.zeros((0, DIGEST_SIZE), np.uint64)
    left = np.stack([digest_from_bytes(bytes(c)) for c in commitments])
    codes = np.array([leaf_market(m) for m in markets], dtype=np.uint64)
    right = np.array(
        [leaf_tail(t, b) for t, b in zip(traders, bonds, strict=True)], dtype=np.uint64
    )
    return compress(compress(left, codes), right)


def commitment_root(
    commitments: Sequence[bytes],
    markets: Sequence[str],
    traders: Sequence[str],
    bonds: Sequence[int],
) -> bytes:
    """The Poseidon2 Merkle root of commitments in receipt order (the batch seed).

    A fixed-depth tree (:data:`COMMITMENT_TREE_DEPTH`): leaf ``i`` is
    :func:`commitment_leaf` of commitment ``i`` with its market, trader and bond, the
    other leaves are empty; each level is one vectorised
    :func:`~sealbatch.crypto.poseidon2.compress` over the nodes that hold a
    commitment, and an odd node out pairs with the level's empty-subtree
    constant. The root of no commitments is ``EMPTY_SUBTREES[20]``.

    Args:
        commitments: the commitments in receipt order.
        markets: each commitment's market id (its signed ``Commit``'s).
        traders: each commitment's trader (its signed ``Commit``'s).
        bonds: each commitment's bond in base units (its signed ``Commit``'s).

    Raises:
        ValueError: a commitment is not a Poseidon2 digest (:func:`is_commitment_digest`),
            a market not a market id, a trader not an address, a bond above
            :data:`MAX_BOND`, the sequences differ in length, or there are more than 2^20
            commitments.
    """
    n = len(commitments)
    if n > 1 << COMMITMENT_TREE_DEPTH:
        raise ValueError(f"expected at most 2^{COMMITMENT_TREE_DEPTH} commitments, got {n}")
    level = commitment_leaves(commitments, markets, traders, bonds)
    if n == 0:
        return _digest_bytes(EMPTY_SUBTREES[COMMITMENT_TREE_DEPTH])
    height = 0
    while level.shape[0] > _SCALAR_BELOW:  # wide levels: one vectorised compress each
        if level.shape[0] % 2:
            empty = np.array(EMPTY_SUBTREES[height], dtype=np.uint64)[None, :]
            level = np.concatenate((level, empty))
        level = compress(level[0::2], level[1::2])
        height += 1
    nodes = [list(row) for row in level.tolist()]
    for h in range(height, COMMITMENT_TREE_DEPTH):  # narrow levels: Python ints are faster
        if len(nodes) % 2:
            nodes.append(list(EMPTY_SUBTREES[h]))
        nodes = [compress_ints(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
    return _digest_bytes(nodes[0])


def commitment_path(
    commitments: Sequence[bytes],
    markets: Sequence[str],
    traders: Sequence[str],
    bonds: Sequence[int],
    index: int,
) -> list[bytes]:
    """The inclusion proof of commitment ``index`` under :func:`commitment_root`: its
    leaf's sibling at each of the :data:`COMMITMENT_TREE_DEPTH` levels, bottom up
    (an empty subtree's constant where the tree holds no commitment).

    Args:
        commitments, markets, traders, bonds: the batch's commitments in receipt order, as for
            :func:`commitment_root`.
        index: the commitment's receipt number (its leaf's position).

    Raises:
        ValueError: ``index`` is not a receipt number of the batch, or see
            :func:`commitment_root`.
    """
    n = len(commitments)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
        raise ValueError(f"index: expected a receipt number in [0, {n}), got {index!r}")
    if n > 1 << COMMITMENT_TREE_DEPTH:
        raise ValueError(f"expected at most 2^{COMMITMENT_TREE_DEPTH} commitments, got {n}")
    level = commitment_leaves(commitments, markets, traders, bonds)
    path: list[bytes] = []
    at = index
    for h in range(COMMITMENT_TREE_DEPTH):
        sibling = at ^ 1
        if sibling < level.shape[0]:
            path.append(_digest_bytes([int(v) for v in level[sibling]]))
        else:
            path.append(_digest_bytes(EMPTY_SUBTREES[h]))
        if level.shape[0] % 2:
            empty = np.array(EMPTY_SUBTREES[h], dtype=np.uint64)[None, :]
            level = np.concatenate((level, empty))
        level = compress(level[0::2], level[1::2])
        at >>= 1
    return path


def verify_commitment_path(
    root: bytes,
    commitment: bytes,
    market: str,
    trader: str,
    bond: int,
    index: int,
    path: Sequence[bytes],
) -> bool:
    """Whether ``path`` (:func:`commitment_path`) proves that leaf ``index`` of the
    commitment tree with root ``root`` is ``commitment`` with ``market``, ``trader`` and
    ``bond``.

    False for a path of another length, a digest that is not 32 bytes or an index
    outside the tree; the leaf's inputs are checked as :func:`commitment_leaf` does.

    Raises:
        ValueError: see :func:`commitment_leaf`.
    """
    if len(path) != COMMITMENT_TREE_DEPTH or not 0 <= index < 1 << COMMITMENT_TREE_DEPTH:
        return False
    if len(root) != 32 or any(len(sibling) != 32 for sibling in path):
        return False
    node = bytes32_elements(commitment_leaf(commitment, market, trader, bond))
    for sibling in path:
        other = bytes32_elements(bytes(sibling))
        node = compress_ints(other, node) if index & 1 else compress_ints(node, other)
        index >>= 1
    return _digest_bytes(node) == bytes(root)


def receipt_order(
    revealed: Sequence[tuple[bytes, str, str, int]],
    forfeited: Sequence[tuple[int, bytes, str, str, int]],
) -> list[tuple[bytes, str, str, int]]:
    """A batch's commitments in receipt order from what it publishes: each forfeit
    names its receipt number, the revealed orders (in receipt order) fill the rest.

    Args:
        revealed: ``(commitment, market, trader, bond)`` of each revealed order, in receipt
            order.
        forfeited: ``(sequence, commitment, market, trader, bond)`` of each forfeited order
            commitment (not RFQ quotes: they are not under the root).

    Raises:
        ValueError: a forfeit's number is outside the batch or taken twice.
    """
    total = len(revealed) + len(forfeited)
    slots: list[tuple[bytes, str, str, int] | None] = [None] * total
    for sequence, commitment, market, trader, bond in forfeited:
        if not 0 <= sequence < total or slots[sequence] is not None:
            raise ValueError(f"forfeit sequence {sequence}: expected a free slot in [0, {total})")
        slots[sequence] = (commitment, market, trader, bond)
    fill = iter(revealed)
    return [s if s is not None else next(fill) for s in slots]


def _key_bytes(elements: Sequence[int]) -> bytes:
    # Big-endian words, so that bytes compare as the 8-tuple, element 0 first.
    return b"".join(int(e).to_bytes(4, "big") for e in elements)


def tiebreak_key(seed: bytes, order_id: bytes) -> bytes:
    """``compress(seed, order id)`` as 32 bytes that compare like the 8-tuple of elements.

    The smaller key wins a tied remainder lot (:mod:`sealbatch.auction.allocation`).

    Raises:
        ValueError: ``seed`` or ``order_id`` is not 32 bytes.
    """
    return _key_bytes(compress_ints(bytes32_elements(seed), bytes32_elements(order_id)))


def tiebreak_keys(seed: bytes, order_ids: Sequence[bytes]) -> list[bytes]:
    """:func:`tiebreak_key` of many orders under one seed, in one vectorised compress
    (a few are faster one at a time: numpy pays per call, not per row)."""
    if len(order_ids) <= _SCALAR_KEYS:
        return [tiebreak_key(seed, i) for i in order_ids]
    left = np.tile(np.array(bytes32_elements(seed), dtype=np.uint64), (len(order_ids), 1))
    right = np.array([bytes32_elements(i) for i in order_ids], dtype=np.uint64)
    return [_key_bytes(row) for row in compress(left, right).tolist()]
