"""Completeness (statement S8): the commitment root recomputed in the AIR over the
revealed orders and the forfeits.

The commitment root (public inputs 19–26, ``result.json``'s ``seed``) is the
depth-20 Poseidon2 Merkle tree of docs/formats.md "Commitments" over the
batch's commitments in receipt order, leaf ``s`` being
``compress(compress(commitment, [market code, 0×7]), [trader×7, bond])``. Here
each leaf is computed from three parts: the inner compression's two halves sent at
level −2 (the field element ``p − 2``), the commitment at index ``4s`` and
``[market code, 0×7]`` at ``4s + 1``, and the outer compression's right half
``[trader×7, bond]`` sent at level −1 (``p − 1``), index ``2s + 1`` (its left
half, the inner compression, is the tree row at level −1, index ``2s``):

* each book row revealed in this batch (``rev``) sends its order id as the
  commitment ``(TAG_CNODE, −2, 4·seq, id×8)`` — its id is the hash of its own
  fields (:mod:`.commitment_hash`), and which rows are revealed at which
  numbers is fixed by the root itself; the first row of its commitment hash
  (same ``seq``, the order's own hash rows) sends ``(TAG_CNODE, −2, 4·seq + 1,
  code, 0×7)`` with the market code it hashed, and the last row ``(TAG_CNODE,
  −1, 2·seq + 1, trader×7, bond)`` with the trader limbs it hashed and a free
  ``bond`` element (the root fixes it: the bond its trader's signed ``Commit``
  staked);
* each forfeited order commitment of ``result.json`` sends the same three parts
  at its published sequence number from the outputs digest's forfeit rows
  (:mod:`.digests`), so the forfeits — with their markets, traders and bonds — are
  the ones the public outputs digest lists.

Section ``ctree``: one row per node ``(level h ≥ −1, index i)``: it receives its
children ``(h − 1, 2i, L)`` and ``(h − 1, 2i + 1, R)``, sends ``(h, i,
compress(L, R))`` with ``compress(L, R) = P(L ‖ R)[0:8] + L`` (the permutation
from the Poseidon2 service), with ``−1 ≤ h ≤ 20`` and ``i < 2^24``
range-checked. The level −1 rows are the leaves' inner compressions (index
``2s``) and the level-0 rows the leaves (two compressions per commitment); at
levels −2 and −1 an even index and an odd one never meet, as the indices are
below 2^26 and p is odd. The verifier sends the empty subtrees the tree
needs (``EMPTY_SUBTREES[h]`` at index ``count_h`` for each level whose node
count is odd) and receives the root ``(20, 0, root)`` from the public inputs.
Every node tuple is sent once and received once, so the nodes form exactly
the tree over those leaves: **every commitment under the root is either an
order of the book revealed in this batch or a published forfeit**, no
revealed order of the book is missing from it, and **each published forfeit's
market, trader and bond are its commitment's** (those its trader signed): the
market code the waiver reads (:mod:`.waivers`) is the signed one.

Not proved here: the forfeits' charges (the settlement sections take the
charged amounts from the published flows). That a revealed order's fields hash
to its id is :mod:`.commitment_hash`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sealbatch.auction.commitment import (
    COMMITMENT_TREE_DEPTH,
    EMPTY_SUBTREES,
    leaf_tail,
    market_code,
)
from sealbatch.crypto.air import Column, const
from sealbatch.crypto.bus import PublicTable
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air import tiekeys
from sealbatch.settlement.batch_air.framework import AirBuilder, TraceBuilder
from sealbatch.settlement.batch_air.statement import BatchStatement, OrderRow

__all__ = [
    "HALF",
    "HEAD",
    "TAG_CNODE",
    "declare_book",
    "declare_tree",
    "generate",
    "node_count",
]

#: Bus tag of a commitment-tree node ``(level, index, digest×8)``.
TAG_CNODE = 7
#: The level of a leaf's two halves (its inner compression at ``2s``, ``[trader×7, bond]``
#: at ``2s + 1``): −1 in the field.
HALF = P - 1
#: The level of the inner compression's halves (commitment at ``4s``, ``[market code,
#: 0×7]`` at ``4s + 1``): −2 in the field.
HEAD = P - 2
SECTION = "ctree"
_DEPTH = COMMITMENT_TREE_DEPTH


def _counts(leaves: int) -> list[int]:
    """Nodes per level, 0 (the leaves) to 20 (the root)."""
    out = [leaves]
    for _ in range(_DEPTH):
        out.append(-(-out[-1] // 2))
    return out


def node_count(statement: BatchStatement) -> int:
    """Nodes of the statement's commitment tree, leaves and their inner compressions
    included (one row and one permutation each)."""
    leaves = sum(o.revealed for o in statement.orders) + len(statement.forfeit_leaves)
    return leaves + sum(_counts(leaves))


def declare_book(b: AirBuilder, active: Column) -> dict[str, Column]:
    """The book row's ``rev``, ``seq`` and id columns, and its commitment's send (the
    left half of its leaf's inner compression)."""
    rev, seq = b.column("book", "rev"), b.column("book", "seq")
    ids = [b.column("book", f"id{k}") for k in range(8)]
    b.boolean(rev, "S8 completeness: rev")
    b.constrain(rev * (1 - active), "S8 completeness: padding reveals nothing")
    b.bus.send(
        TAG_CNODE,
        [const(HEAD), 4 * seq, *ids],
        rev,
        "S8 completeness: a revealed order's commitment",
    )
    return {"rev": rev, "seq": seq, **{f"id{k}": c for k, c in enumerate(ids)}}


def declare_tree(b: AirBuilder, statement: BatchStatement) -> None:
    """The tree section and the verifier's tables (empty subtrees, root)."""
    on, level, index = b.column(SECTION, "on"), b.column(SECTION, "level"), b.column(SECTION, "idx")
    left = [b.column(SECTION, f"l{k}") for k in range(8)]
    right = [b.column(SECTION, f"r{k}") for k in range(8)]
    out = [b.column(SECTION, f"o{k}") for k in range(16)]
    b.boolean(on, "S8 commitment tree: on")
    b.constrain(on.next * (1 - on), "S8 commitment tree: node rows first")
    b.range_check(SECTION, "level_lo", on * (level + 1), 12)
    b.range_check(SECTION, "level_hi", on * (_DEPTH - level), 12)
    b.range_check(SECTION, "idx", index, 24)
    below = level - 1
    b.bus.receive(TAG_CNODE, [below, 2 * index, *left], on, "S8 commitment tree: left child")
    b.bus.receive(TAG_CNODE, [below, 2 * index + 1, *right], on, "S8 commitment tree: right child")
    parent = [out[k] + left[k] for k in range(8)]
    b.bus.send(TAG_CNODE, [level, index, *parent], on, "S8 commitment tree: node")
    tk = tiekeys.declare(b, on, left, right, out)  # the tie-break key rows follow the nodes
    b.permutation([*left, *right], out, on + tk)
    root = tuple(statement.public_inputs[19:27])
    b.public_table(PublicTable(TAG_CNODE, ((_DEPTH, 0, *root),), (1,), receive=True))
    # the forfeits' leaves come from the outputs digest's rows (digests.py)
    sent: list[tuple[int, ...]] = []
    leaves = sum(o.revealed for o in statement.orders) + len(statement.forfeit_leaves)
    counts = _counts(leaves)
    for h in range(_DEPTH):
        if counts[h] % 2:
            sent.append((h, counts[h], *EMPTY_SUBTREES[h]))
    if counts[_DEPTH] == 0:
        sent.append((_DEPTH, 0, *EMPTY_SUBTREES[_DEPTH]))
    rows = tuple(tuple(int(v) for v in r) for r in sent)
    b.public_table(PublicTable(TAG_CNODE, rows, (1,) * len(rows), receive=False))


def generate(
    tb: TraceBuilder, statement: BatchStatement, rows: Sequence[OrderRow], refuse: bool
) -> int:
    """Write the book's leaf columns (in the book's row order ``rows``) and the tree section.

    Returns:
        The tree's node rows (the tie-break key rows follow them, :mod:`.tiekeys`).

    Raises:
        ValueError: the commitments do not hash to the commitment root (S8), with ``refuse``.
    """
    tb.set("book", "rev", [o.revealed for o in rows])
    tb.set("book", "seq", [o.sequence for o in rows])
    ids = np.array([o.id_elements() for o in rows], np.int64).reshape(-1, 8)
    for k in range(8):
        tb.set("book", f"id{k}", ids[:, k])
    parts_by_seq = {
        o.sequence: (
            *o.id_elements(),
            market_code(statement.markets[o.market]),
            *leaf_tail(o.trader, o.bond),
        )
        for o in rows
        if o.revealed
    }
    for leaf in statement.forfeit_leaves:
        parts_by_seq[leaf[0]] = tuple(leaf[1:])
    n = len(parts_by_seq)
    if refuse and sorted(parts_by_seq) != list(range(n)):
        raise ValueError(
            "S8 completeness: the receipt sequence numbers of the revealed orders and the "
            "forfeits are not 0, 1, … (a commitment is neither revealed nor forfeited)"
        )
    order = sorted(parts_by_seq)
    parts = np.array([parts_by_seq[s] for s in order], np.uint64).reshape(-1, 17)
    node_level, node_index, lefts, rights, outs = [], [], [], [], []
    level = np.zeros((0, 8), np.uint64)
    if n:  # the inner compressions compress(commitment, [code, 0×7]), then the leaves
        commitment = parts[:, :8]
        code = np.zeros((n, 8), np.uint64)
        code[:, 0] = parts[:, 8]
        out = tb.permute(np.hstack([commitment, code]))
        inner = (out[:, :8] + commitment) % np.uint64(P)
        node_level += [HALF] * n
        node_index += [2 * s for s in range(n)]
        lefts.append(commitment)
        rights.append(code)
        outs.append(out)
        tail = parts[:, 9:]
        out = tb.permute(np.hstack([inner, tail]))
        level = (out[:, :8] + inner) % np.uint64(P)
        node_level += [0] * n
        node_index += list(range(n))
        lefts.append(inner)
        rights.append(tail)
        outs.append(out)
    for h in range(1, _DEPTH + 1):
        count = -(-level.shape[0] // 2)
        if count == 0:
            break
        padded = level
        if level.shape[0] % 2:
            padded = np.vstack([level, np.array(EMPTY_SUBTREES[h - 1], np.uint64)])
        left, right = padded[0::2], padded[1::2]
        out = tb.permute(np.hstack([left, right]))
        parent = (out[:, :8] + left) % np.uint64(P)
        node_level += [h] * count
        node_index += list(range(count))
        lefts.append(left)
        rights.append(right)
        outs.append(out)
        level = parent
    root = level[0] if level.shape[0] else np.array(EMPTY_SUBTREES[_DEPTH], np.uint64)
    if refuse and tuple(int(v) for v in root) != tuple(statement.public_inputs[19:27]):
        raise ValueError(
            "S8 completeness: the revealed orders and the forfeits do not hash to the "
            "commitment root"
        )
    m = len(node_level)
    if m > tb.num_rows:
        raise ValueError(f"expected at most {tb.num_rows} commitment-tree nodes, got {m}")
    tb.set(SECTION, "on", np.ones(m, np.int64))
    tb.set(SECTION, "level", node_level)
    tb.set(SECTION, "idx", node_index)
    if m:
        for name, blocks in (("l", lefts), ("r", rights), ("o", outs)):
            data = np.vstack(blocks).astype(np.int64)
            for k in range(data.shape[1]):
                tb.set(SECTION, f"{name}{k}", data[:, k])
    on = np.zeros(tb.num_rows, np.int64)
    on[:m] = 1
    lvl = np.zeros(tb.num_rows, np.int64)
    lvl[:m] = [(h + 1) % P - 1 for h in node_level]  # −1 for the inner compressions
    tb.set_range(SECTION, "level_lo", on * (lvl + 1), "S8 commitment tree (level ≥ −1)")
    tb.set_range(SECTION, "level_hi", on * (_DEPTH - lvl), "S8 commitment tree (level ≤ 20)")
    tb.set_range(SECTION, "idx", node_index, "S8 commitment tree (index < 2^24)")
    return m
