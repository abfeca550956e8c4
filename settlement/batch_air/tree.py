"""The state-tree section: the pre- and post-state Merkle trees, hashed up to the roots.

Statement 6 (DESIGN.md, "The batch statement"). Every internal node of the
two account trees of :mod:`sealbatch.settlement.roots` is one row:

* it receives its children ``(TAG_NODE, tree, level, 2·i, left)`` and
  ``(TAG_NODE, tree, level, 2·i + 1, right)`` and sends itself
  ``(TAG_NODE, tree, level + 1, i, compress(left, right))``, where
  ``compress(l, r) = Poseidon2(l ‖ r)[0:8] + l`` (the permutation is sent to
  the service);
* ``0 <= level < depth`` of its tree and ``0 <= i < 2^24`` are range-checked,
  so no index arithmetic wraps and no node above the root can be made.

The leaves (level 0) are sent only by the accounts section, one per row
``r < 2^depth``. Two **root rows** (rows 0 and 1 of the section's root
columns) receive each tree's top node ``(tree, depth, 0, A)`` and its header
digest ``(TAG_HEADER, tree, header×8)`` and prove ``compress(A, header) =
state root``, the root public. The header digest is a witness: the batch AIR
hashes it from the header's fields and pending orders (:mod:`.headers`); the
settlement AIR alone takes it from the verifier's table. Because every node
tuple is sent once and received once, the nodes form exactly the binary tree
over the leaves, and the roots are those of roots.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sealbatch.crypto import poseidon2
from sealbatch.crypto.expr import Column, const, pub
from sealbatch.settlement.batch_air.framework import TAG_HEADER
from sealbatch.settlement.batch_air.section import TAG_NODE, Section, prefix_columns
from sealbatch.settlement.batch_air.settle_witness import DerivedIndex, SettleStatement

__all__ = ["TreeColumns", "tree_section", "tree_trace"]


@dataclass(frozen=True)
class TreeColumns:
    on: Column
    tree: Column
    level: Column
    index: tuple[Column, Column]
    left: tuple[Column, ...]
    right: tuple[Column, ...]
    out: tuple[Column, ...]
    root_on: Column
    root_tree: Column
    root_depth: Column
    root_top: tuple[Column, ...]
    root_header: tuple[Column, ...]
    root_out: tuple[Column, ...]


def tree_section(sec: Section, st: SettleStatement, ix: DerivedIndex) -> TreeColumns:
    """Allocate the tree section's columns and add its constraints (the roots read from the
    public inputs at ``ix``)."""
    on = sec.one("tree.on")
    tree = sec.one("tree.tree")
    level = sec.one("tree.level")
    i0, i1 = sec.digits("tree.index", 2)
    left = tuple(sec.alloc("tree.left", 8))
    right = tuple(sec.alloc("tree.right", 8))
    out = tuple(sec.alloc("tree.out", 16))
    sec.boolean(on, "tree.on")
    sec.boolean(tree, "tree.tree")
    depth = st.depth_pre + tree * (st.depth_post - st.depth_pre)
    sec.range12(level, "statement 6: tree level >= 0")
    sec.range12(depth - 1 - level, "statement 6: tree level below the depth")
    idx = i0 + 4096 * i1
    sec.bus.receive(TAG_NODE, [tree, level, 2 * idx, *left], on, "tree: left child")
    sec.bus.receive(TAG_NODE, [tree, level, 2 * idx + 1, *right], on, "tree: right child")
    parent = [out[k] + left[k] for k in range(8)]
    sec.bus.send(TAG_NODE, [tree, level + 1, idx, *parent], on, "tree: node")
    sec.perm([*left, *right], out, on, "statement 6: tree compression")

    # root rows: row t holds tree t's top node A and proves compress(A, header_t) = root_t
    root_on = sec.prefix("tree.root_on", 2)
    root_tree = sec.one("tree.root_tree")
    root_depth = sec.one("tree.root_depth")
    top = tuple(sec.alloc("tree.root_top", 8))
    header = tuple(sec.alloc("tree.root_header", 8))
    rout = tuple(sec.alloc("tree.root_out", 16))
    depths = (st.depth_pre, st.depth_post)
    for t, d in enumerate(depths):
        sec.boundary(t, root_tree - t, f"statement 6: root row {t} is tree {t}")
        sec.boundary(t, root_depth - d, f"statement 6: tree {t} has depth {d}")
        for k in range(8):
            sec.boundary(
                t,
                rout[k] + top[k] - pub(ix.root(t) + k),
                f"statement 6: state root {t} [{k}] recomputed",
            )
    sec.bus.receive(TAG_NODE, [root_tree, root_depth, const(0), *top], root_on, "tree: top node")
    sec.bus.receive(TAG_HEADER, [root_tree, *header], root_on, "statement 6: the header digest")
    sec.perm([*top, *header], rout, root_on, "statement 6: root compression")
    return TreeColumns(
        on, tree, level, (i0, i1), left, right, out,
        root_on, root_tree, root_depth, top, header, rout,
    )  # fmt: skip


def tree_trace(
    main: np.ndarray,
    cols: TreeColumns,
    st: SettleStatement,
    leaves: tuple[np.ndarray, np.ndarray],
    perm_inputs: list[np.ndarray],
    headers: tuple[tuple[int, ...], tuple[int, ...]],
) -> None:
    """Write the honest node rows and root rows into ``main``.

    Args:
        leaves: each tree's ``(2^depth, 8)`` leaf digests (padding included).
        headers: the pre- and post-state header digests.
        perm_inputs: receives the permutation inputs this section sends.
    """
    num_rows = main.shape[1]
    rows: list[tuple[int, int, int, np.ndarray, np.ndarray, np.ndarray]] = []
    tops = []
    for t in (0, 1):
        levels = poseidon2.merkle_levels(leaves[t])
        for lvl in range(len(levels) - 1):
            kids = levels[lvl]
            half = kids.shape[0] // 2
            l, r = kids[0::2], kids[1::2]
            o = poseidon2.permute(np.concatenate([l, r], axis=1))
            for i in range(half):
                rows.append((t, lvl, i, l[i], r[i], o[i]))
        tops.append(levels[-1][0])
    if len(rows) > num_rows:
        raise ValueError(f"expected at most {num_rows} tree nodes, got {len(rows)}")
    k = len(rows)
    if k:
        main[cols.on.index, :k] = 1
        main[cols.tree.index, :k] = [r[0] for r in rows]
        main[cols.level.index, :k] = [r[1] for r in rows]
        idx = np.array([r[2] for r in rows], dtype=np.uint64)
        main[cols.index[0].index, :k] = idx & np.uint64(4095)
        main[cols.index[1].index, :k] = idx >> np.uint64(12)
        lefts = np.array([r[3] for r in rows], dtype=np.uint64)
        rights = np.array([r[4] for r in rows], dtype=np.uint64)
        outs = np.array([r[5] for r in rows], dtype=np.uint64)
        for j in range(8):
            main[cols.left[j].index, :k] = lefts[:, j]
            main[cols.right[j].index, :k] = rights[:, j]
        for j in range(16):
            main[cols.out[j].index, :k] = outs[:, j]
        perm_inputs.append(np.concatenate([lefts, rights], axis=1))
    flag, counter = prefix_columns(2, num_rows)
    main[cols.root_on.index], main[cols.root_on.index + 1] = flag, counter
    depths = (st.depth_pre, st.depth_post)
    for t in (0, 1):
        main[cols.root_tree.index, t] = t
        main[cols.root_depth.index, t] = depths[t]
        state = np.concatenate([tops[t], np.array(headers[t], dtype=np.uint64)])
        out = poseidon2.permute(state)
        perm_inputs.append(state[None, :])
        for j in range(8):
            main[cols.root_top[j].index, t] = tops[t][j]
            main[cols.root_header[j].index, t] = headers[t][j]
        for j in range(16):
            main[cols.root_out[j].index, t] = out[j]
