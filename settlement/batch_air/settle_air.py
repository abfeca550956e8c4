"""The settlement AIR on its own: accounts, trees and fills with their two services.

The batch AIR composes the settlement sections (:mod:`.accounts`,
:mod:`.tree`, :mod:`.fills`) with the clearing sections, which send the
``TAG_FILL`` tuples. This module composes them alone, for a batch whose
fills are given: the fill tuples are a **public table** the verifier sends
itself (from the published result), so the trace must receive exactly those
fills. Around the sections it places the two services they use:

* the 12-bit range table and the Poseidon2 rows of
  :mod:`sealbatch.settlement.batch_air.framework` (the batch AIR's own).

Per-account deposits, withdrawals and forfeited bonds (``TAG_TRANSFERS``: each
account's digit sums as multiplicities, a forfeit's charge among the withdrawal
positions; in the batch AIR the inputs digest's rows send the transfers and the
outputs digest's forfeit rows the charges) and adjustments (``TAG_ADJUST``) are
two more public tables (:meth:`SettleWitness.transfer_rows`, ``adjust_rows``) the
verifier takes from its replay of the published batch; each account row receives
its adjustment row at most once.

Public inputs: :meth:`SettleStatement.to_elements`, the two header digests
(``TAG_HEADER``, which the batch AIR hashes in its header section instead),
the staged accounts' count and ``(row, liquidation orders)`` pairs
(``TAG_STAGED``, which the batch AIR takes from the post-state's pending
liquidation orders instead), the fill count, the fills (six elements each:
``account, market, side, lots, price, block price`` — an RFQ block's fills
carry their block's price, the others their price), the transfer count and rows
``(account, position, digit sum)``, then the adjustment rows. They grow with the
batch: in the batch AIR the fills come from the clearing sections (the blocks'
from the inputs digest's RFQ rows), the transfers from the inputs digest's rows
and the forfeits' charges from the outputs digest's forfeit rows instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air
from sealbatch.crypto.bus import PublicTable
from sealbatch.settlement.batch_air.accounts import AccountColumns, account_section, account_trace
from sealbatch.settlement.batch_air.fills import FillColumns, fills_section, fills_trace
from sealbatch.settlement.batch_air.framework import (
    TAG_ADJUST,
    TAG_FILL,
    TAG_HEADER,
    TAG_PUBLISHED_FILL,
    TAG_STAGED,
    TAG_TRANSFERS,
    AirBuilder,
    TraceBuilder,
)
from sealbatch.settlement.batch_air.health import HealthColumns, health_section, health_trace
from sealbatch.settlement.batch_air.limbs import AMOUNT_DIGITS, DIGIT
from sealbatch.settlement.batch_air.pools import cover_section
from sealbatch.settlement.batch_air.section import Section, finish_trace
from sealbatch.settlement.batch_air.settle_witness import (
    SettleStatement,
    SettleWitness,
)
from sealbatch.settlement.batch_air.tree import TreeColumns, tree_section, tree_trace

__all__ = [
    "NAME",
    "SettleColumns",
    "build",
    "declare",
    "generate",
    "public_inputs",
    "rows_needed",
    "write_trace",
]

NAME = "sealbatch_settle"
_FILL_WIDTH = 7  # account, market, side, lots, price, block price, liquidation
_TRANSFER_WIDTH = 3  # account, digit position (0–5 deposits, 6–11 withdrawals), digit sum
_MAX_DIGIT_SUM = 1 << 30
_ADJUST_WIDTH = 2 + AMOUNT_DIGITS  # then one position adjustment per market


@dataclass(frozen=True)
class SettleColumns:
    """Where each settlement section's columns are (trace generation needs them)."""

    accounts: AccountColumns
    tree: TreeColumns
    fills: FillColumns
    health: HealthColumns


def declare(
    b: AirBuilder,
    st: SettleStatement,
    start: int = 0,
    roots: int | None = None,
    *,
    publish: bool = True,
) -> tuple[Section, SettleColumns]:
    """Declare the settlement sections on ``b`` (both sides); the statement's elements
    (:meth:`SettleStatement.to_elements`) are ``b``'s public inputs from ``start`` on, the
    state roots the tree recomputes at ``roots`` (default: the statement's); ``publish`` as
    :func:`~sealbatch.settlement.batch_air.fills.fills_section`'s."""
    sec = Section(b)
    ix = st.derived_index(start, roots)
    acc = account_section(sec, st, ix)
    tree = tree_section(sec, st, ix)
    fills = fills_section(sec, st, ix, publish=publish)
    health = health_section(sec, st, acc, ix)
    cover_section(
        sec,
        ix,
        acc.cover,
        bankrupt=acc.penalty.sign,
        doubt=health.doubt,
        live_post=acc.live[1],
        paid=[acc.paid(k) for k in range(AMOUNT_DIGITS)],
    )
    return sec, SettleColumns(acc, tree, fills, health)


def write_trace(
    tb: TraceBuilder,
    sec: Section,
    cols: SettleColumns,
    st: SettleStatement,
    sw: SettleWitness,
    *,
    refuse: bool = True,
) -> None:
    """Write the settlement sections' honest columns into ``tb`` (prover side).

    ``refuse=False`` writes the staging of the statement even where the margin rule
    disagrees, and a liquidation penalty that breaks its rule (the forgery tests show
    that the AIR rejects them).

    Raises:
        ValueError: the batch breaks a settlement statement (named) or does not fit.
    """
    main = tb.main
    perms: list[np.ndarray] = []
    fee_sums, due_sums = fills_trace(main, cols.fills, st, sw)
    account_trace(main, cols.accounts, st, sw, fee_sums, perms, due_sums, refuse=refuse)
    health_trace(main, cols.health, st, sw, refuse=refuse)
    leaves = []
    for t, count, depth in ((0, st.n_pre, st.depth_pre), (1, st.n_post, st.depth_post)):
        lv = np.zeros((1 << depth, 8), dtype=np.uint64)
        last = cols.accounts.leaf_blocks[t][-1]
        for k in range(8):
            lv[:count, k] = main[last[k].index, :count]
        leaves.append(lv)
    tree_trace(main, cols.tree, st, (leaves[0], leaves[1]), perms, sw.headers)
    finish_trace(sec, tb, perms)


def rows_needed(st: SettleStatement, fills: int) -> int:
    """Rows the settlement sections and their permutations need."""
    m = len(st.markets)
    blocks = -(-(14 + 4 * m) // 8)
    nodes = (1 << st.depth_pre) + (1 << st.depth_post)
    perms = blocks * (st.n_pre + st.n_post) + nodes
    return max(st.n_post, nodes, fills, perms)


def public_inputs(st: SettleStatement, sw: SettleWitness) -> tuple[int, ...]:
    """The statement, the header digests, the staged accounts, the fills, transfers,
    forfeits and adjustments as field elements."""
    fills = sw.fill_rows()
    transfers, sums = sw.transfer_rows()
    out = [*st.to_elements(), *sw.headers[0], *sw.headers[1], len(sw.staged)]
    for staged_row, count in sw.staged:
        out += [staged_row, count]
    out.append(len(fills))
    for row in fills:
        out += row
    out.append(len(transfers))
    for row, total in zip(transfers, sums, strict=True):
        out += [*row, total]
    for row in sw.adjust_rows():
        out += row
    return tuple(out)


Rows = tuple[tuple[int, ...], ...]


def _take(rest: tuple[int, ...], width: int, what: str) -> tuple[Rows, tuple[int, ...]]:
    """A count and that many rows of ``width`` from the front of ``rest``."""
    if not rest or len(rest) < 1 + width * rest[0]:
        raise ValueError(f"expected a {what} count and the {what} rows")
    k = rest[0]
    rows = tuple(rest[1 + width * i : 1 + width * (i + 1)] for i in range(k))
    return rows, rest[1 + width * k :]


def _parse(public: Sequence[int]) -> tuple[SettleStatement, Rows, Rows, Rows, Rows, Rows]:
    st, used = SettleStatement.from_elements(public)
    rest = tuple(int(x) for x in public[used:])
    if len(rest) < 17 or len(rest) < 17 + 2 * rest[16]:
        raise ValueError("expected two header digests and the staged accounts")
    headers = ((0, *rest[:8]), (1, *rest[8:16]))
    staged = tuple((rest[17 + 2 * i], rest[18 + 2 * i]) for i in range(rest[16]))
    rest = rest[17 + 2 * rest[16] :]
    fills, rest = _take(rest, _FILL_WIDTH, "fill")
    transfers, rest = _take(rest, _TRANSFER_WIDTH, "transfer")
    width = _ADJUST_WIDTH + len(st.markets)
    if len(rest) % width:
        raise ValueError(f"expected adjustments of {width} elements, got {len(rest)} elements")
    adjusts = tuple(rest[i : i + width] for i in range(0, len(rest), width))
    # the account rows take these digits without range checks
    for row in transfers:
        if row[1] >= 2 * AMOUNT_DIGITS or row[2] >= _MAX_DIGIT_SUM:
            raise ValueError(f"expected a digit position below 12 and a sum below 2^30, got {row}")
    for row in adjusts:
        if row[1] > 1 or any(d >= DIGIT for d in row[2:_ADJUST_WIDTH]):
            raise ValueError(f"expected a sign bit and 12-bit adjustment digits, got {row}")
    return st, headers, staged, fills, transfers, adjusts


def _builder(num_rows: int, public: Sequence[int]) -> tuple[AirBuilder, Section, SettleColumns]:
    st, headers, staged, fills, transfers, adjusts = _parse(public)
    b = AirBuilder(NAME, num_rows, tuple(public))
    sec, cols = declare(b, st)
    b.public_table(PublicTable(TAG_HEADER, headers, (1, 1), receive=False))
    staged_rows = tuple((r,) for r, _ in staged)
    b.public_table(PublicTable(TAG_STAGED, staged_rows, tuple(c for _, c in staged), False))
    b.public_table(PublicTable(TAG_FILL, fills, (1,) * len(fills), receive=False))
    b.public_table(PublicTable(TAG_PUBLISHED_FILL, fills, (1,) * len(fills), receive=True))
    moved = tuple(r[:2] for r in transfers)
    b.public_table(PublicTable(TAG_TRANSFERS, moved, tuple(r[2] for r in transfers), False))
    b.public_table(PublicTable(TAG_ADJUST, adjusts, (1,) * len(adjusts), receive=False))
    return b, sec, cols


def build(num_rows: int, public: tuple[int, ...]) -> Air:
    """The settlement AIR for a statement, its fills, transfers (forfeits among them) and
    adjustments.

    Raises:
        ValueError: malformed public inputs or a row count that is not a power of two
            of at least 2^12.
    """
    b, _, _ = _builder(num_rows, public)
    return b.finish()[0]


def generate(
    st: SettleStatement, sw: SettleWitness, num_rows: int, *, refuse: bool = True
) -> tuple[fld.Array, tuple[int, ...]]:
    """The honest main trace and the public inputs (prover side).

    ``refuse=False``: see :func:`write_trace`.

    Raises:
        ValueError: the batch breaks a settlement statement or does not fit ``num_rows``.
    """
    public = public_inputs(st, sw)
    b, sec, cols = _builder(num_rows, public)
    _, layout = b.finish()
    tb = TraceBuilder(layout, num_rows, refuse=refuse)
    write_trace(tb, sec, cols, st, sw, refuse=refuse)
    return tb.finish(), public
