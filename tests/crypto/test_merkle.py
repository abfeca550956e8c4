"""Binary Keccak Merkle trees: roots, domain separation, batched openings and tampering."""

from __future__ import annotations

import numpy as np
import pytest

from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.keccak_rows import _hash_rows_slow, hash_rows
from sealbatch.crypto.merkle import (
    BatchOpening,
    MerkleTree,
    encode_rows,
    leaf_digests,
    opening_size,
    verify_batch,
)


def _rows(n: int, width: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**31 - 1, size=(n, width), dtype=np.uint64)


def test_hash_rows_matches_keccak256() -> None:
    rng = np.random.default_rng(1)
    for width in (0, 1, 65, 135, 136, 137, 300):
        data = rng.integers(0, 256, size=(4, width), dtype=np.uint8)
        expected = [keccak256(data[i].tobytes()) for i in range(4)]
        assert [h.tobytes() for h in hash_rows(data)] == expected
        assert [h.tobytes() for h in _hash_rows_slow(data)] == expected
    # known answer: keccak256(b"") (Ethereum's empty hash)
    empty = hash_rows(np.zeros((1, 0), np.uint8))[0].tobytes()
    assert empty.hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_encoding_is_big_endian() -> None:
    rows = np.array([[1, 0x01020304]], dtype=np.uint64)
    assert encode_rows(rows)[0].tobytes() == bytes([0, 0, 0, 1, 1, 2, 3, 4])


def test_root_matches_reference() -> None:
    rows = encode_rows(_rows(32))
    tree = MerkleTree.from_rows(rows)
    level = [keccak256(b"\x00", r.tobytes()) for r in rows]
    while len(level) > 1:
        level = [keccak256(b"\x01", level[i], level[i + 1]) for i in range(0, len(level), 2)]
    assert tree.root == level[0]
    from sealbatch.crypto.keccak import keccak_merkle_root

    assert tree.root == keccak_merkle_root([r.tobytes() for r in rows])


def _reference_opening(levels: list[list[bytes]], indices: list[int]) -> list[bytes]:
    """The documented walk, written out plainly: per level, missing siblings by index."""
    out = []
    known = sorted(set(indices))
    for level in levels[:-1]:
        out += [level[i ^ 1] for i in known if i ^ 1 not in known]
        known = sorted({i // 2 for i in known})
    return out


@pytest.mark.parametrize("n", [1, 2, 16, 64, 128])
def test_batch_openings(n: int) -> None:
    rows = encode_rows(_rows(n, seed=n))
    digests = leaf_digests(rows)
    tree = MerkleTree(digests)
    levels = [[d.tobytes() for d in level] for level in tree.levels]
    rng = np.random.default_rng(n)
    for count in (1, 3, n):
        idx = sorted(set(rng.integers(0, n, size=count).tolist()))
        opening = tree.open(idx + idx[:1])  # duplicates are fine
        assert len(opening.nodes) == opening_size(n, idx)
        assert list(opening.nodes) == _reference_opening(levels, idx)
        leaves = {i: digests[i].tobytes() for i in idx}
        verify_batch(tree.root, n, leaves, opening)


def test_shared_nodes_sent_once() -> None:
    tree = MerkleTree(leaf_digests(encode_rows(_rows(1024))))
    single = len(tree.open([5]).nodes)
    assert single == 10
    # two neighbours share every node above the leaves
    assert len(tree.open([4, 5]).nodes) == 9
    assert len(tree.open(list(range(1024))).nodes) == 0


def test_tampering_is_detected() -> None:
    digests = leaf_digests(encode_rows(_rows(64)))
    tree = MerkleTree(digests)
    idx = [3, 17, 40]
    opening = tree.open(idx)
    leaves = {i: digests[i].tobytes() for i in idx}
    bad_leaf = dict(leaves)
    bad_leaf[17] = bytes(32)
    with pytest.raises(VerificationError, match="root"):
        verify_batch(tree.root, 64, bad_leaf, opening)
    for pos in range(len(opening.nodes)):
        nodes = list(opening.nodes)
        nodes[pos] = bytes(a ^ 1 for a in nodes[pos][:1]) + nodes[pos][1:]
        with pytest.raises(VerificationError):
            verify_batch(tree.root, 64, leaves, BatchOpening(tuple(nodes)))
    with pytest.raises(VerificationError, match="too few"):
        verify_batch(tree.root, 64, leaves, BatchOpening(opening.nodes[:-1]))
    with pytest.raises(VerificationError, match="unused"):
        verify_batch(tree.root, 64, leaves, BatchOpening((*opening.nodes, bytes(32))))
    with pytest.raises(VerificationError, match="out of range"):
        verify_batch(tree.root, 64, {64: bytes(32)}, opening)


def test_leaf_and_node_are_domain_separated() -> None:
    # An inner node's preimage presented as a leaf payload hashes differently.
    digests = leaf_digests(encode_rows(_rows(2)))
    tree = MerkleTree(digests)
    fake_leaf = keccak256(b"\x00", digests[0].tobytes() + digests[1].tobytes())
    assert fake_leaf != tree.root


def test_column_leaf_digests_match_row_encoding() -> None:
    from sealbatch.crypto.merkle import column_leaf_digests

    cols = np.ascontiguousarray(_rows(20000, width=3).T)  # two whole blocks and a part
    assert np.array_equal(column_leaf_digests(cols), leaf_digests(encode_rows(cols.T)))
    # the prover's uint32-stored LDEs hash to the same leaves
    assert np.array_equal(column_leaf_digests(cols.astype(np.uint32)), column_leaf_digests(cols))
    tree = MerkleTree.from_columns(cols[:, :1024])
    assert tree.root == MerkleTree.from_rows(encode_rows(cols[:, :1024].T)).root
