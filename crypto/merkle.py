"""Keccak-256 Merkle trees with one leaf per row, and batched openings.

A leaf is ``keccak(0x00 || row)``, where ``row`` is the canonical encoding of
the row's field elements (4-byte big-endian each, extension elements as their
four coefficients, see :func:`encode_rows`); an inner node is
``keccak(0x01 || child_0 || ... || child_(k-1))`` for arity ``k`` (2, 4 or
8). The number of leaves is a power of two; a tree over ``n = 2^d`` leaves has
``ceil(d / log2 k)`` levels of nodes, the top node having fewer than ``k``
children when ``log2 k`` does not divide ``d``.

A batched opening of many leaves (:meth:`MerkleTree.open`) lists the sibling
nodes the verifier cannot compute itself, level by level from the leaves up,
left to right; a node shared by several paths is sent once. The verifier
(:func:`verify_batch`) recomputes the root with the same walk and requires
that every node in the opening is consumed.
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
    "ARITIES",
    "BatchOpening",
    "MerkleTree",
    "column_leaf_digests",
    "encode_rows",
    "leaf_digests",
    "opening_size",
    "verify_batch",
]

ARITIES = (2, 4, 8)
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


def column_leaf_digests(columns: npt.NDArray[np.uint64]) -> Bytes2D:
    """Leaf digests of the rows of a column-major ``(C, n)`` array: ``keccak(0x00 || row)``.

    Same digests as ``leaf_digests(encode_rows(columns.T))``, but the tag,
    the transpose and the big-endian conversion are written straight into
    the hash buffer, in cache-sized blocks (about 5x faster).
    """
    cols = np.asarray(columns)
    c, n = cols.shape
    buf = np.empty((n, 1 + 4 * c), np.uint8)
    buf[:, 0] = LEAF_TAG[0]
    view = buf[:, 1:].view(">u4")
    block = 1 << 13
    for start in range(0, n, block):
        view[start : start + block] = cols[:, start : start + block].T
    return hash_rows(buf)


def _level_widths(num_leaves: int, arity: int) -> list[int]:
    widths = [num_leaves]
    while widths[-1] > 1:
        widths.append(max(1, widths[-1] // arity))
    return widths


def _family_size(width: int, arity: int) -> int:
    """Children per node above a level of ``width`` nodes (the top level may be narrower)."""
    return min(arity, width)


def _check_shape(num_leaves: int, arity: int) -> None:
    if arity not in ARITIES:
        raise ValueError(f"expected a Merkle arity in {ARITIES}, got {arity}")
    if num_leaves < 1 or num_leaves & (num_leaves - 1):
        raise ValueError(f"expected a power-of-two number of leaves, got {num_leaves}")


@dataclass(frozen=True)
class BatchOpening:
    """The sibling nodes that open a set of leaves, in walk order."""

    nodes: tuple[Digest, ...]


class MerkleTree:
    """A tree over leaf digests (``(n, 32)`` uint8, ``n`` a power of two)."""

    def __init__(self, leaves: Bytes2D, arity: int = 2) -> None:
        _check_shape(leaves.shape[0], arity)
        self.arity = arity
        self.levels: list[Bytes2D] = [np.ascontiguousarray(leaves, dtype=np.uint8)]
        while self.levels[-1].shape[0] > 1:
            cur = self.levels[-1]
            k = _family_size(cur.shape[0], arity)
            fam = cur.reshape(cur.shape[0] // k, 32 * k)
            buf = np.empty((fam.shape[0], 32 * k + 1), np.uint8)
            buf[:, 0] = NODE_TAG[0]
            buf[:, 1:] = fam
            self.levels.append(hash_rows(buf))

    @classmethod
    def from_rows(cls, rows: Bytes2D, arity: int = 2) -> MerkleTree:
        """The tree whose leaves are the given encoded rows."""
        return cls(leaf_digests(rows), arity)

    @classmethod
    def from_columns(cls, columns: npt.NDArray[np.uint64], arity: int = 2) -> MerkleTree:
        """The tree over the rows of a column-major ``(C, n)`` field-element array."""
        return cls(column_leaf_digests(columns), arity)

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
            k = _family_size(level.shape[0], self.arity)
            have = set(known)
            parents = sorted({i // k for i in known})
            for fam in parents:
                for j in range(fam * k, fam * k + k):
                    if j not in have:
                        nodes.append(level[j].tobytes())
            known = parents
        return BatchOpening(tuple(nodes))


def verify_batch(
    root: Digest,
    num_leaves: int,
    arity: int,
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
        _check_shape(num_leaves, arity)
    except ValueError as exc:
        raise VerificationError(f"{what}: {exc}") from exc
    if not leaves:
        raise VerificationError(f"{what}: no leaves to open")
    for i in leaves:
        if not 0 <= i < num_leaves:
            raise VerificationError(f"{what}: leaf index {i} out of range")
    known = dict(sorted(leaves.items()))
    supply = iter(opening.nodes)
    used = 0
    width = num_leaves
    while width > 1:
        k = _family_size(width, arity)
        nxt: dict[int, Digest] = {}
        for fam in sorted({i // k for i in known}):
            parts = [NODE_TAG]
            for j in range(fam * k, fam * k + k):
                node = known.get(j)
                if node is None:
                    node = next(supply, None)
                    if node is None:
                        raise VerificationError(f"{what}: opening has too few nodes")
                    used += 1
                parts.append(node)
            nxt[fam] = keccak256(*parts)
        known = nxt
        width //= k
    if used != len(opening.nodes):
        raise VerificationError(f"{what}: opening has {len(opening.nodes) - used} unused node(s)")
    if known[0] != root:
        raise VerificationError(f"{what}: opened rows do not match the committed root")


def opening_size(num_leaves: int, arity: int, indices: Sequence[int]) -> int:
    """How many nodes an opening of ``indices`` holds (the proof parser needs no count)."""
    _check_shape(num_leaves, arity)
    known = sorted(set(indices))
    count = 0
    width = num_leaves
    while width > 1:
        k = _family_size(width, arity)
        parents = sorted({i // k for i in known})
        count += len(parents) * k - len(known)
        known = parents
        width //= k
    return count
