"""Keccak-256 known answers and the domain-separated Keccak Merkle root."""

from __future__ import annotations

import hashlib

from eth_utils import keccak as eth_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.crypto.keccak import LEAF_TAG, NODE_TAG, keccak256, keccak_merkle_root

# Standard Ethereum values (the empty-code hash, and keccak256("abc") as printed
# by every EVM toolchain, e.g. `cast keccak abc`).
EMPTY = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
ABC = "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
# keccak256("transfer(address,uint256)")[:4] is the ERC-20 transfer selector.
TRANSFER_SELECTOR = "a9059cbb"


def test_known_answers() -> None:
    assert keccak256(b"").hex() == EMPTY
    assert keccak256(b"abc").hex() == ABC
    assert keccak256(b"transfer(address,uint256)")[:4].hex() == TRANSFER_SELECTOR


def test_is_keccak_not_nist_sha3() -> None:
    assert keccak256(b"").hex() != hashlib.sha3_256(b"").hexdigest()


def test_no_parts_is_the_empty_hash() -> None:
    assert keccak256().hex() == EMPTY


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=5))
def test_parts_hash_their_concatenation(parts: list[bytes]) -> None:
    joined = b"".join(parts)
    assert keccak256(*parts) == keccak256(joined) == eth_keccak(joined)


def test_long_input_crosses_the_rate() -> None:
    data = bytes(range(256)) * 10  # several 136-byte blocks
    assert keccak256(data) == eth_keccak(data)


# --- Merkle root ----------------------------------------------------------------


def leaf(x: bytes) -> bytes:
    return eth_keccak(b"\x00" + x)


def node(a: bytes, b: bytes) -> bytes:
    return eth_keccak(b"\x01" + a + b)


def reference_root(leaves: list[bytes]) -> bytes:
    """The documented rule written recursively: pair up, carry an odd last node."""
    if not leaves:
        return bytes(32)

    def up(level: list[bytes]) -> bytes:
        if len(level) == 1:
            return level[0]
        pairs = [node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        return up(pairs + ([level[-1]] if len(level) % 2 else []))

    return up([leaf(x) for x in leaves])


def test_tags() -> None:
    assert (LEAF_TAG, NODE_TAG) == (b"\x00", b"\x01")


def test_empty_and_single() -> None:
    a = bytes([1]) * 32
    assert keccak_merkle_root([]) == bytes(32)
    assert keccak_merkle_root([a]) == leaf(a)
    assert keccak_merkle_root([a]) != a  # a single leaf is still hashed


def test_small_trees_by_hand() -> None:
    a, b, c, d, e = (bytes([i]) * 32 for i in range(1, 6))
    assert keccak_merkle_root([a, b]) == node(leaf(a), leaf(b))
    # odd level: c is carried up unchanged, then paired
    assert keccak_merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c))
    four = node(node(leaf(a), leaf(b)), node(leaf(c), leaf(d)))
    assert keccak_merkle_root([a, b, c, d]) == four
    assert keccak_merkle_root([a, b, c, d, e]) == node(four, leaf(e))


def test_order_matters() -> None:
    a, b = bytes([1]) * 32, bytes([2]) * 32
    assert keccak_merkle_root([a, b]) != keccak_merkle_root([b, a])


def test_leaves_and_nodes_are_separated() -> None:
    """An inner node cannot pass for a leaf: the classic second preimage fails."""
    a, b = bytes([1]) * 32, bytes([2]) * 32
    root = keccak_merkle_root([a, b])
    # present the two leaf hashes as one 64-byte leaf
    assert keccak_merkle_root([leaf(a) + leaf(b)]) != root
    # or the inner node as a single leaf
    assert keccak_merkle_root([node(leaf(a), leaf(b))]) != root
    # without tags the tree would collide with plain hashing of the concatenation
    assert root != eth_keccak(eth_keccak(a) + eth_keccak(b))


def test_duplicating_the_last_leaf_changes_the_root() -> None:
    """Carrying the odd node up (not duplicating it) keeps [a,b,c] and [a,b,c,c] apart."""
    a, b, c = (bytes([i]) * 32 for i in range(1, 4))
    assert keccak_merkle_root([a, b, c]) != keccak_merkle_root([a, b, c, c])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=20))
def test_matches_reference(leaves: list[bytes]) -> None:
    assert keccak_merkle_root(leaves) == reference_root(leaves)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=12), st.data())
def test_changing_any_leaf_changes_the_root(leaves: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(leaves) - 1))
    other = data.draw(st.binary(min_size=32, max_size=32).filter(lambda x: x != leaves[i]))
    changed = [*leaves[:i], other, *leaves[i + 1 :]]
    assert keccak_merkle_root(changed) != keccak_merkle_root(leaves)
