"""Binary Keccak-256 Merkle trees with one leaf per row, and batched openings.

A leaf is ``keccak(0x00 || row)``, where ``row`` is the canonical encoding of
the row's field elements (4-byte big-endian each, extension elements as their
four coefficients, see :func:`encode_rows`); an inner node is
``keccak(0x01 || left || right)`` (65 bytes). The tags separate leaves from
nodes, so no row can pose as a node. The number of leaves is a power of two
``2^d``; the tree has ``d`` levels above the leaves.

A batched opening of many leaves (:meth:`MerkleTree.open`) lists the sibling
nodes the verifier cannot compute itself, level by level from the leaves up
and, within a level, by increasing index: at each level, for each known index
``i`` in increasing order whose sibling ``i ^ 1`` is not itself known, the
sibling comes next in the opening. A node is never sent twice and never sent
when it can be computed. The verifier (:func:`verify_batch`) recomputes the
root with the same walk and requires that every node is consumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.keccak import LEAF_TAG, NODE_TAG, keccak256
from sealbatch.crypto.keccak_rows import hash_rows

__all__ = [
    "BatchOpening",
    "MerkleTree",
    "column_leaf_digests",
    "encode_rows",
    "leaf_digests",
    "opening_size",
    "verify_batch",
]

Digest = bytes
Bytes2D = npt.NDArray[np.uint8]


def encode_rows(values: npt.NDArray[np.uint64]) -> Bytes2D:
    """``(n, c)`` field elements -> ``(n, 4c)`` bytes, each element 4-byte big-endian."""
    arr = np.asarray(values)
    n = arr.shape[0]
    return np.ascontiguousarray(arr, dtype=">u4").view(np.uint8).reshape(n, -1)


def leaf_digests(rows: Bytes2D) -> Bytes2D:
    """``keccak(0x00 || row)`` for each row of an ``(n, L)`` byte matrix."""
    n, width = rows.shape
    buf = np.empty((n, width + 1), np.uint8)
    buf[:, 0] = LEAF_TAG[0]
    buf[:, 1:] = rows
    return hash_rows(buf)


def column_leaf_digests(columns: npt.NDArray[np.uint64] | npt.NDArray[np.uint32]) -> Bytes2D:
    """Leaf digests of the rows of a column-major ``(C, n)`` array: ``keccak(0x00 || row)``.

    Same digests as ``leaf_digests(encode_rows(columns.T))``, but the tag,
    the transpose and the big-endian conversion are written straight into
    the hash buffer, in cache-sized blocks (about 5x faster).
    """
    cols = np.asarray(columns)
    c, n = cols.shape
    # One block of leaves at a time: the buffer never holds more than ``block`` rows
    # (a whole tree's would be as large as the uint32 LDE it hashes).
    block = max(1, min(n, 1 << 13))
    buf = np.empty((block, 1 + 4 * c), np.uint8)
    buf[:, 0] = LEAF_TAG[0]
    view = buf[:, 1:].view(">u4")
    out = np.empty((n, 32), np.uint8)
    for start in range(0, n, block):
        stop = min(n, start + block)
        view[: stop - start] = cols[:, start:stop].T
        out[start:stop] = hash_rows(buf[: stop - start])
    return out


def _check_leaves(num_leaves: int) -> None:
    if num_leaves < 1 or num_leaves & (num_leaves - 1):
        raise ValueError(f"expected a power-of-two number of leaves, got {num_leaves}")


@dataclass(frozen=True)
class BatchOpening:
    """The sibling nodes that open a set of leaves, in walk order."""

    nodes: tuple[Digest, ...]


class MerkleTree:
    """A binary tree over leaf digests (``(n, 32)`` uint8, ``n`` a power of two)."""

    def __init__(self, leaves: Bytes2D) -> None:
        _check_leaves(leaves.shape[0])
        self.levels: list[Bytes2D] = [np.ascontiguousarray(leaves, dtype=np.uint8)]
        while self.levels[-1].shape[0] > 1:
            cur = self.levels[-1]
            buf = np.empty((cur.shape[0] // 2, 65), np.uint8)
            buf[:, 0] = NODE_TAG[0]
            buf[:, 1:] = cur.reshape(-1, 64)
            self.levels.append(hash_rows(buf))

    @classmethod
    def from_rows(cls, rows: Bytes2D) -> MerkleTree:
        """The tree whose leaves are the given encoded rows."""
        return cls(leaf_digests(rows))

    @classmethod
    def from_columns(cls, columns: npt.NDArray[np.uint64] | npt.NDArray[np.uint32]) -> MerkleTree:
        """The tree over the rows of a column-major ``(C, n)`` field-element array."""
        return cls(column_leaf_digests(columns))

    @property
    def root(self) -> Digest:
        return self.levels[-1][0].tobytes()

    @property
    def num_leaves(self) -> int:
        return self.levels[0].shape[0]

    def open(self, indices: Sequence[int]) -> BatchOpening:
        """The opening of the leaves at ``indices`` (sorted and deduplicated first)."""
        known = sorted(set(indices))
        for i in known:
            if not 0 <= i < self.num_leaves:
                raise ValueError(f"leaf index {i} out of range for {self.num_leaves} leaves")
        nodes: list[Digest] = []
        for level in self.levels[:-1]:
            have = set(known)
            for i in known:
                if i ^ 1 not in have:
                    nodes.append(level[i ^ 1].tobytes())
            known = sorted({i >> 1 for i in known})
        return BatchOpening(tuple(nodes))


def verify_batch(
    root: Digest,
    num_leaves: int,
    leaves: dict[int, Digest],
    opening: BatchOpening,
    what: str = "Merkle",
) -> None:
    """Check that ``leaves`` (index -> leaf digest) are in the tree with ``root``.

    Raises:
        VerificationError: the recomputed root differs, or the opening has too
            few or too many nodes (``what`` names the tree in the message).
    """
    try:
        _check_leaves(num_leaves)
    except ValueError as exc:
        raise VerificationError(f"{what}: {exc}") from exc
    if not leaves:
        raise VerificationError(f"{what}: expected at least one opened leaf")
    for i in leaves:
        if not 0 <= i < num_leaves:
            raise VerificationError(f"{what}: leaf index {i} out of range")
    known = dict(leaves)
    supply = iter(opening.nodes)
    used = 0
    width = num_leaves
    while width > 1:
        nxt: dict[int, Digest] = {}
        for i in sorted(known):
            parent = i >> 1
            if parent in nxt:
                continue
            sibling = known.get(i ^ 1)
            if sibling is None:
                sibling = next(supply, None)
                if sibling is None:
                    raise VerificationError(f"{what}: opening has too few nodes")
                used += 1
            left, right = (known[i], sibling) if i % 2 == 0 else (sibling, known[i])
            nxt[parent] = keccak256(NODE_TAG, left, right)
        known = nxt
        width //= 2
    if used != len(opening.nodes):
        raise VerificationError(f"{what}: opening has {len(opening.nodes) - used} unused node(s)")
    if known[0] != root:
        raise VerificationError(f"{what}: opened rows do not match the committed root")


def opening_size(num_leaves: int, indices: Sequence[int]) -> int:
    """How many nodes an opening of ``indices`` holds."""
    _check_leaves(num_leaves)
    known = sorted(set(indices))
    count = 0
    width = num_leaves
    while width > 1:
        have = set(known)
        count += sum(1 for i in known if i ^ 1 not in have)
        known = sorted({i >> 1 for i in known})
        width //= 2
    return count
