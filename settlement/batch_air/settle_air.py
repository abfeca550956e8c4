"""The settlement AIR on its own: accounts, trees and fills with their two services.

The batch AIR composes the settlement sections (:mod:`.accounts`,
:mod:`.tree`, :mod:`.fills`) with the clearing sections, which send the
``TAG_FILL`` tuples. This module composes them alone, for a batch whose
fills are given: the fill tuples are a **public table** the verifier sends
itself (from the published result), so the trace must receive exactly those
fills. Around the sections it places the two services they use:

* the 12-bit range table: fixed column ``row`` (the row index) and a fixed
  selector of the first 2^12 rows, received with the prover's counts;
* Poseidon2 rows: 16 input columns and the permutation gadget of
  :mod:`sealbatch.crypto.airs.poseidon2_air`, receiving
  ``(TAG_PERM, in, out)`` with the prover's counts.

Per-account deposits, withdrawals and forfeited bonds are a second public
table ``(TAG_FLOWS, account, deposit digits, withdrawal digits, forfeit
digits)`` the verifier takes from ``transfers.json`` and the forfeits the
transition charged; each account row receives its own at most once.

Public inputs: :meth:`SettleStatement.to_elements`, the fill count, the
fills (five elements each: ``account, market, side, lots, price``), then one
flow row per account with a flow (``account`` and three amounts of six
12-bit digits). They grow with the batch: in the batch AIR the fills come from
the clearing sections instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, fixed
from sealbatch.crypto.airs.poseidon2_air import (
    GADGET_COLUMNS,
    permutation_columns,
    permutation_constraints,
)
from sealbatch.crypto.bus import Bus, PublicTable
from sealbatch.crypto.field_scalar import Fp4
from sealbatch.settlement.batch_air.accounts import AccountColumns, account_section, account_trace
from sealbatch.settlement.batch_air.fills import FillColumns, fills_section, fills_trace
from sealbatch.settlement.batch_air.limbs import AMOUNT_DIGITS, DIGIT, digits_of
from sealbatch.settlement.batch_air.section import (
    TAG_FILL,
    TAG_FLOWS,
    TAG_PERM,
    TAG_RANGE,
    Section,
)
from sealbatch.settlement.batch_air.settle_witness import (
    SettleStatement,
    SettleWitness,
)
from sealbatch.settlement.batch_air.tree import TreeColumns, tree_section, tree_trace

__all__ = ["NAME", "SettleLayout", "build", "generate", "public_inputs"]

NAME = "sealbatch_settle"
_FILL_WIDTH = 5
_FLOW_WIDTH = 1 + 3 * AMOUNT_DIGITS


@dataclass(frozen=True)
class SettleLayout:
    """Where each section's columns are (trace generation needs them)."""

    accounts: AccountColumns
    tree: TreeColumns
    fills: FillColumns
    range_mult: int
    perm_first: int
    perm_mult: int
    width: int


def public_inputs(st: SettleStatement, sw: SettleWitness) -> tuple[int, ...]:
    """The statement, the fills and the per-account flows as field elements."""
    out = list(st.to_elements())
    out.append(len(sw.fills))
    for f in sw.fills:
        out += [f.account, f.market, int(f.buy), f.lots, f.price]
    for r, flows in enumerate(zip(sw.deposits, sw.withdrawals, sw.forfeits, strict=True)):
        if any(flows):
            out.append(r)
            for amount in flows:
                out += [int(d) for d in digits_of([amount], AMOUNT_DIGITS)[:, 0]]
    return tuple(out)


Rows = tuple[tuple[int, ...], ...]


def _parse(public: Sequence[int]) -> tuple[SettleStatement, Rows, Rows]:
    st, used = SettleStatement.from_elements(public)
    rest = tuple(int(x) for x in public[used:])
    if not rest or len(rest) < 1 + _FILL_WIDTH * rest[0]:
        raise ValueError("expected a fill count and the fills after the statement")
    k = rest[0]
    fills = tuple(rest[1 + _FILL_WIDTH * i : 1 + _FILL_WIDTH * (i + 1)] for i in range(k))
    rest = rest[1 + _FILL_WIDTH * k :]
    if len(rest) % _FLOW_WIDTH:
        raise ValueError(f"expected flows of {_FLOW_WIDTH} elements, got {len(rest)} elements")
    flows = tuple(rest[i : i + _FLOW_WIDTH] for i in range(0, len(rest), _FLOW_WIDTH))
    for row in flows:
        if any(d >= DIGIT for d in row[1:]):
            raise ValueError(f"expected 12-bit flow digits, got {row}")
    return st, fills, flows


def _fixed(num_rows: int) -> fld.Array:
    row = np.arange(num_rows, dtype=np.uint64)
    return np.stack([row, (row < DIGIT).astype(np.uint64)])


def _layout(
    num_rows: int, public: Sequence[int]
) -> tuple[Section, SettleLayout, Bus, SettleStatement]:
    st, fills, flows = _parse(public)
    if num_rows < DIGIT:
        raise ValueError(f"expected at least {DIGIT} rows (the range table), got {num_rows}")
    bus = Bus(beta=0, first_aux=0, public_sum=2)
    sec = Section(bus=bus, row=fixed(0))
    acc = account_section(sec, st)
    tree = tree_section(sec, st)
    fl = fills_section(sec, st)
    range_mult = sec.one("range.count")
    bus.receive(TAG_RANGE, [fixed(0)], fixed(1) * range_mult, "range table")
    perm_inputs = sec.alloc("perm.in", 16)
    perm_first = sec.first_column + sec.width
    sec.names += [f"perm.gadget[{i}]" for i in range(GADGET_COLUMNS)]
    gadget, outputs = permutation_constraints(perm_first, perm_inputs)
    sec.transitions += gadget
    perm_mult = sec.one("perm.count")
    bus.receive(TAG_PERM, [*perm_inputs, *outputs], perm_mult, "permutation")
    bus.add_public_table(PublicTable(TAG_FILL, fills, (1,) * len(fills), receive=False))
    bus.add_public_table(PublicTable(TAG_FLOWS, flows, (1,) * len(flows), receive=False))
    layout = SettleLayout(acc, tree, fl, range_mult.index, perm_first, perm_mult.index, sec.width)
    return sec, layout, bus, st


def build(num_rows: int, public: tuple[int, ...]) -> Air:
    """The settlement AIR for a statement and its fills (both sides).

    Raises:
        ValueError: malformed public inputs or too few rows.
    """
    sec, layout, bus, _ = _layout(num_rows, public)
    bus_layout = bus.build()
    fixed_values = partial(_fixed, num_rows)

    def derive(drawn: Sequence[Fp4]) -> list[Fp4]:
        return [bus.public_table_sum(drawn)]

    def aux_builder(main: fld.Array, challenges: Sequence[Fp4]) -> fld.Array:
        return bus.aux_columns(main, challenges, fixed=fixed_values())

    return Air(
        name=NAME,
        num_rows=num_rows,
        num_main_columns=layout.width,
        public_inputs=tuple(public),
        transitions=(*sec.transitions, *bus_layout.transitions),
        boundaries=(*sec.boundaries, *bus_layout.boundaries),
        num_aux_columns=bus_layout.num_aux_columns,
        num_challenges=bus.num_challenges,
        aux_builder=aux_builder,
        num_fixed_columns=2,
        fixed_builder=fixed_values,
        num_derived_challenges=1,
        derive_challenges=derive,
        column_names=tuple(sec.names),
    )


def generate(
    st: SettleStatement, sw: SettleWitness, num_rows: int
) -> tuple[fld.Array, tuple[int, ...]]:
    """The honest main trace and the public inputs (prover side).

    Raises:
        ValueError: the batch does not fit ``num_rows`` rows.
    """
    public = public_inputs(st, sw)
    _, layout, _, _ = _layout(num_rows, public)
    main = np.zeros((layout.width, num_rows), dtype=np.uint64)
    perms: list[np.ndarray] = []
    fee_sums = fills_trace(main, layout.fills, st, sw)
    account_trace(main, layout.accounts, st, sw, fee_sums, perms)
    leaves = []
    for t, count, depth in ((0, st.n_pre, st.depth_pre), (1, st.n_post, st.depth_post)):
        lv = np.zeros((1 << depth, 8), dtype=np.uint64)
        last = layout.accounts.leaf_blocks[t][-1]
        for k in range(8):
            lv[:count, k] = main[last[k].index, :count]
        leaves.append(lv)
    tree_trace(main, layout.tree, st, (leaves[0], leaves[1]), perms)
    inputs = np.concatenate([p for p in perms if p.size], axis=0)
    if inputs.shape[0] > num_rows:
        raise ValueError(f"expected at most {num_rows} permutations, got {inputs.shape[0]}")
    states = np.zeros((num_rows, 16), dtype=np.uint64)
    states[: inputs.shape[0]] = inputs
    first_in = layout.perm_first - 16
    main[first_in : first_in + 16] = states.T
    main[layout.perm_first : layout.perm_first + GADGET_COLUMNS] = permutation_columns(states)
    main[layout.perm_mult, : inputs.shape[0]] = 1
    # range counts: every range-checked value on every row
    main[layout.range_mult] = _range_counts(main, build(num_rows, public))
    return main, public


def _range_counts(main: np.ndarray, air: Air) -> np.ndarray:
    """How often each table value 0 … 2^12 − 1 is looked up (evaluating the range sends)."""
    from sealbatch.crypto.evaluators import ArrayEvaluator
    from sealbatch.crypto.expr import evaluate

    sec_bus = _bus_of(air)
    sends = [i for i in sec_bus.interactions if i.tag == TAG_RANGE and not i.receive]
    fixed_rows = air.fixed_values
    ev = ArrayEvaluator(
        lambda seg, idx, off: main[idx] if seg == "main" else fixed_rows[idx],
        lambda i: np.zeros(main.shape[1], np.uint64),
        air.public_inputs,
        (),
    )
    values = evaluate([s.values[0] for s in sends], ev)
    counts = np.zeros(main.shape[1], dtype=np.int64)
    for v in values:
        arr = np.broadcast_to(np.asarray(v, dtype=np.uint64), (main.shape[1],))
        if np.any(arr >= DIGIT):
            bad = int(np.flatnonzero(arr >= DIGIT)[0])
            raise ValueError(f"a range-checked value is out of range at row {bad}")
        counts += np.bincount(arr.astype(np.int64), minlength=main.shape[1])[: main.shape[1]]
    return counts.astype(np.uint64)


def _bus_of(air: Air) -> Bus:
    _, _, bus, _ = _layout(air.num_rows, air.public_inputs)
    return bus
