"""The batch AIR's framework: columns by section, bus tags, and the shared services.

The batch AIR is one trace whose columns are split into *sections* (the
clearing book, the accounts, …). Sections never read each other's columns:
they are linked only through tuples on the LogUp bus
(:mod:`sealbatch.crypto.bus`), under the tags below. Two *services* any
section may use through the bus:

* **range checks** (:meth:`AirBuilder.range_check`): a value is written as
  12-bit limbs in its section's columns, each limb is sent as
  ``(TAG_RANGE, limb)`` and received by a table of ``0 … 4095`` (a main
  column its constraints pin: it starts at 0, ends at 4095 and steps by 0 or
  1), so the trace has at least 2^12 rows. A width that is not a multiple of
  12 also sends the top limb shifted left to 12 bits, which bounds it to the
  remaining bits. Widths stay at or
  below 30 bits, so the limb sum never wraps around p;
* **the Poseidon2 permutation** (:meth:`AirBuilder.permutation`): one
  permutation per row (the gadget of :mod:`sealbatch.crypto.airs.poseidon2_air`)
  receives ``(TAG_PERM, in_0 … in_15, out_0 … out_15)`` tuples, as many
  times as sections send them. Sponge chaining is the sender's business;
  a section that absorbs one rate-8 block per row declares its columns with
  :meth:`AirBuilder.sponge_columns`, the permutation and the capacity carried
  row to row with :meth:`AirBuilder.sponge`, and writes them with
  :func:`sponge_rows` and :meth:`TraceBuilder.set_sponge`.
  The section is added only when some section sends to it.

A third shared piece is the **per-market public table**: each market's
clearing price (``TAG_MARKET``), built by the verifier from the public inputs.

:class:`AirBuilder` collects columns, constraints and bus interactions while
the sections declare themselves, then :meth:`AirBuilder.finish` adds the
services and returns the :class:`~sealbatch.crypto.air.Air` and its
:class:`Layout` (column names → indices). The prover fills a
:class:`TraceBuilder` over the same layout. Both sides build the layout the
same way from ``(num_rows, statement)``, so nothing here is prover-only except
:class:`TraceBuilder`.

Tags (the contract between sections; a tag is the first element of every
tuple, so tuples of different tags never balance each other):

======================  =====================================================
tag                     tuple
======================  =====================================================
``TAG_RANGE``           ``(limb)`` — a value in ``[0, 4096)``
``TAG_PERM``            ``(in_0 … in_15, out_0 … out_15)`` — Poseidon2
``TAG_MARKET``          ``(market, code, price, traded, reference,
                        has_reference)`` — public per market
``TAG_FILL_ORDER``      ``(fill number, id×8)`` — a filled order's id, to the
                        outputs digest's record of its fill (:mod:`.digests`)
``TAG_FILL_RECORD``     ``(fill number, account, market, side, lots, price,
                        liquidation)`` — the filled order's fill, to the same
                        record
``TAG_CARRIED``         ``(market code, flags, limit, quantity, account,
                        liquidation, id×8)`` — each order carried in, to its
                        pre-state pending record (:mod:`.headers`; its kind)
``TAG_CFIELDS``         ``(sequence, market code, flags, limit, quantity)`` — a
                        revealed order's fields, to its commitment's hash
``TAG_CDIGEST``         ``(sequence, account, id×8)`` — the hash's digest and
                        trader's account, back to the order
``TAG_ACCOUNT_ADDR``    ``(account, address×7, subaccount)`` — an account row's
                        address, looked up by each revealed order's trader
``TAG_MARKET_SUMMARY``  ``(market, volume, fill count)`` — a market's bought
                        lots and filled orders, from its last book row to its
                        summary in the outputs digest (:mod:`.digests`)
``TAG_FILL``            ``(account, market, side, lots, price, block price,
                        liquidation)`` — side 1 buy: each published fill
                        record (block price = price) and each side of a
                        settled RFQ block (the inputs digest's rows,
                        liquidation 0), to settlement
``TAG_NODE``            ``(tree, level, index, digest×8)`` — a state-tree node
                        (:mod:`.tree`)
``TAG_ACCOUNT_FILLS``   ``(account, net lots per market, fee digit sums×6)`` —
                        an account's fills, summed (:mod:`.fills`)
``TAG_TRANSFERS``       ``(account, position)`` with multiplicity a digit — each
                        transfer's amount digits (position k deposits, 6 + k
                        withdrawals) from the inputs digest to its account,
                        each RFQ block's price transfer from its fill rows,
                        and each forfeit's charge (as a withdrawal) from the
                        outputs digest's forfeit rows (:mod:`.digests`)
``TAG_ADJUST``          ``(account, adjust sign, adjust digits×6, position
                        adjustment per market)`` — what the transition moved
                        beyond fills (RFQ blocks' included), fees, funding,
                        transfers and forfeits (liquidation penalties, deficit
                        cover, ADL, socialised loss)
``TAG_PUBLISHED_FILL``  ``(account, market, side, lots, price, block price)`` — each fill
                        the settlement settles, to the verifier's table of the
                        given fills (the settlement AIR alone, :mod:`.settle_air`)
``TAG_STAGED``          ``(account)`` — each post-state liquidation order, to
                        its staged account's row (:mod:`.health`)
``TAG_HEADER``          ``(tree, digest×8)`` — a state header's digest, to its
                        root row (:mod:`.headers`, :mod:`.tree`)
``TAG_PENDING``         ``(tree, digest×8)`` — a state's pending digest, to its
                        header's last block
``TAG_REST``            ``(market code, flags, limit, quantity, account, id×8)``
                        — a GTC remainder that rests (a book row's, or a held
                        pre-state rest's), to its post-state record
                        (:mod:`.headers`)
``TAG_ACCOUNT_KEY``     ``(address×7, subaccount)`` — each post-state account's
                        key, to its row among the sorted account key rows
                        (:mod:`.tiekeys`)
``TAG_TIE`` (53)        ``(market, bonus, id×8)`` — a marginal order tied at its
                        market's threshold, to its tie-break key row
                        (:mod:`.tiekeys`, which defines the tag)
``TAG_FORFEIT_ACCOUNT`` ``(account, address×7, subaccount, flagged)`` — each
(61)                    forfeit's trader, to its account row, which answers
                        whether it holds a pre-state position in a flagged
                        market (:mod:`.waivers`, which defines the tag)
======================  =====================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, Boundary, Column, Expr, Transition, col, const, periodic
from sealbatch.crypto.airs.poseidon2_air import (
    gadget_columns,
    permutation_columns,
    permutation_constraints,
)
from sealbatch.crypto.bus import Bus, PublicTable
from sealbatch.crypto.field_scalar import Fp4, P
from sealbatch.crypto.poseidon2 import RATE, WIDTH, permute

__all__ = [
    "MIN_ROWS",
    "PERM_SLOT_MIN_ROWS",
    "RANGE_BITS",
    "TAG_ACCOUNT_ADDR",
    "TAG_ACCOUNT_FILLS",
    "TAG_ACCOUNT_KEY",
    "TAG_ADJUST",
    "TAG_CARRIED",
    "TAG_CDIGEST",
    "TAG_CFIELDS",
    "TAG_FILL",
    "TAG_FILL_ORDER",
    "TAG_FILL_RECORD",
    "TAG_HEADER",
    "TAG_MARKET",
    "TAG_MARKET_SUMMARY",
    "TAG_NODE",
    "TAG_PENDING",
    "TAG_PERM",
    "TAG_PUBLISHED_FILL",
    "TAG_RANGE",
    "TAG_REST",
    "TAG_STAGED",
    "TAG_TRANSFERS",
    "AirBuilder",
    "Layout",
    "LevelRuns",
    "RangeCheck",
    "TraceBuilder",
    "sponge_rows",
]

U64 = npt.NDArray[np.uint64]

# ---- bus tags (the contract between sections)
TAG_RANGE = 1
TAG_PERM = 2
TAG_MARKET = 3
TAG_FILL_ORDER = 4
TAG_FILL = 5
TAG_NODE = 16
TAG_ACCOUNT_FILLS = 17
TAG_TRANSFERS = 18
TAG_PUBLISHED_FILL = 19
TAG_ADJUST = 20
TAG_STAGED = 23
TAG_FILL_RECORD = 40
TAG_MARKET_SUMMARY = 41
TAG_CFIELDS = 32
TAG_CDIGEST = 33
TAG_ACCOUNT_ADDR = 34
TAG_CARRIED = 35
TAG_HEADER = 44
TAG_PENDING = 45
TAG_CONFIG_DIGEST = 47
TAG_REST = 54
TAG_ACCOUNT_KEY = 55

#: Width of one range-checked limb; the range table has 2^12 entries.
RANGE_BITS = 12
#: The smallest batch trace: the range table must fit.
MIN_ROWS = 1 << RANGE_BITS
_RANGE_SIZE = 1 << RANGE_BITS
#: Widest value one range check takes (the limb sum stays below p ≈ 2^30.9).
MAX_RANGE_BITS = 30

_BETA, _PUBLIC_SUM = 0, 2

#: The AIR's constraint degree budget (docs/stark.md, "Layout and scale"). Proof bytes grow
#: with the width: every column is opened at every query. Degree 7 lets each Poseidon2 S-box
#: be one column (``y = a^7``, 141 gadget columns instead of 282), and the bus pack six
#: lookups per auxiliary column instead of two; the price is a composition polynomial of 6
#: columns and constraints evaluated on an 8N coset instead of 4N.
CONSTRAINT_DEGREE = 9
SBOX_DEGREE = 7
BUS_DEGREE = CONSTRAINT_DEGREE
#: The Poseidon2 service's slots' sections: one permutation per row each.
_PERM_SECTIONS = ("perm", "perm2")
#: A trace the one-slot service would make longer than this takes a second slot
#: (158 columns more, half the rows): the proof costs scale with rows × width, and the
#: shapes an L1 exchange deploys (at most 2^13 rows) keep one slot and their programs.
PERM_SLOT_MIN_ROWS = 1 << 13


@dataclass(frozen=True)
class RangeCheck:
    """One declared range check: ``value`` in ``[0, 2^bits)`` via ``limbs``."""

    section: str
    name: str
    bits: int
    limbs: tuple[int, ...]


@dataclass(frozen=True)
class Layout:
    """Column names and indices of a built batch AIR (both sides)."""

    names: tuple[str, ...]
    index: dict[str, int]
    range_checks: tuple[RangeCheck, ...]
    range_mult: int
    perm_first: int | None  # first column of the permutation section, None without it
    public_tables: tuple[PublicTable, ...] = ()  # the bus's, as the verifier adds them
    #: first gadget column of each permutation slot (``perm``, then ``perm2``): one
    #: slot, or two on a trace that would otherwise be twice as long
    perm_slots: tuple[int, ...] = ()

    @property
    def width(self) -> int:
        return len(self.names)

    def column(self, section: str, name: str) -> int:
        """The index of ``section.name``.

        Raises:
            KeyError: no such column.
        """
        return self.index[f"{section}.{name}"]


@dataclass
class AirBuilder:
    """Collects the sections' columns, constraints and bus interactions.

    Args:
        name: the AIR's name.
        num_rows: trace rows, a power of two ``>= MIN_ROWS``.
        public_inputs: the statement's public inputs.
    """

    name: str
    num_rows: int
    public_inputs: tuple[int, ...]
    names: list[str] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    boundaries: list[Boundary] = field(default_factory=list)
    bus: Bus = field(
        default_factory=lambda: Bus(beta=_BETA, public_sum=_PUBLIC_SUM, max_degree=BUS_DEGREE)
    )
    range_checks: list[RangeCheck] = field(default_factory=list)
    periodic_columns: list[tuple[int, ...]] = field(default_factory=list)
    #: permutations per row the Poseidon2 service offers (1 or 2, :data:`PERM_SLOTS`)
    perm_slots: int = 1
    _perm_sends: int = 0

    def __post_init__(self) -> None:
        n = self.num_rows
        if n < MIN_ROWS or n & (n - 1):
            raise ValueError(f"expected a power-of-two row count >= {MIN_ROWS}, got {n}")

    # ---- columns and constraints

    def column(self, section: str, name: str) -> Column:
        """Allocate ``section.name`` (once) and return it at the current row."""
        full = f"{section}.{name}"
        if full in self.names:
            raise ValueError(f"column {full} allocated twice")
        self.names.append(full)
        return col(len(self.names) - 1)

    def existing(self, name: str) -> Column:
        """The column ``name`` (``section.name``) an earlier section allocated, to read.

        Raises:
            ValueError: no such column yet.
        """
        return col(self.names.index(name))

    def constrain(self, expr: Expr, name: str) -> None:
        """A transition constraint (every row it applies to; see crypto/air.py)."""
        self.transitions.append(Transition(expr, name))

    def boundary(self, row: int, expr: Expr, name: str) -> None:
        self.boundaries.append(Boundary(row, expr, name))

    def periodic(self, values: Sequence[int]) -> Expr:
        """A periodic column: ``values`` (a power-of-two length) repeated down the trace.

        Chosen by the AIR, not the prover (the verifier evaluates it at ``z``); the same
        values asked twice share one column.
        """
        key = tuple(int(v) % P for v in values)
        if key not in self.periodic_columns:
            self.periodic_columns.append(key)
        return periodic(self.periodic_columns.index(key))

    def boolean(self, e: Expr, name: str) -> None:
        """``e ∈ {0, 1}`` on every row."""
        self.constrain(e * (e - 1), f"{name} ∈ {{0, 1}}")

    # ---- services

    def range_check(self, section: str, name: str, value: Expr, bits: int) -> list[Column]:
        """Prove ``value ∈ [0, 2^bits)`` on every row (``value`` of degree ≤ 3).

        Allocates ``ceil(bits/12)`` limb columns ``section.name.l<i>``.

        Returns:
            The limb columns, lowest first.

        Raises:
            ValueError: ``bits`` not in ``[1, 30]``.
        """
        if not 1 <= bits <= MAX_RANGE_BITS:
            raise ValueError(f"range check {name}: expected 1 to {MAX_RANGE_BITS} bits, got {bits}")
        count = -(-bits // RANGE_BITS)
        limbs = [self.column(section, f"{name}.l{i}") for i in range(count)]
        total: Expr = limbs[0]
        for i, limb in enumerate(limbs[1:], start=1):
            total = total + (1 << (RANGE_BITS * i)) * limb
        self.constrain(value - total, f"{section}: {name} = Σ limbs")
        for i, limb in enumerate(limbs):
            self.bus.send(TAG_RANGE, [limb], 1, f"{section}.{name}.l{i} < 2^12")
        top_bits = bits - RANGE_BITS * (count - 1)
        if top_bits < RANGE_BITS:
            shifted = (1 << (RANGE_BITS - top_bits)) * limbs[-1]
            self.bus.send(TAG_RANGE, [shifted], 1, f"{section}.{name} top limb < 2^{top_bits}")
        indices = tuple(len(self.names) - count + i for i in range(count))
        self.range_checks.append(RangeCheck(section, name, bits, indices))
        return limbs

    def permutation(self, inputs: Sequence[Expr], outputs: Sequence[Expr], selector: Expr) -> None:
        """Send ``(TAG_PERM, inputs, outputs)`` where ``selector`` is 1: ``outputs = P(inputs)``."""
        if len(inputs) != WIDTH or len(outputs) != WIDTH:
            raise ValueError(f"expected {WIDTH} inputs and outputs, got {len(inputs)}")
        self.bus.send(TAG_PERM, [*inputs, *outputs], selector, "Poseidon2 request")
        self._perm_sends += 1

    def sponge_columns(self, section: str) -> tuple[list[Column], list[Column], list[Column]]:
        """Allocate a sponge's columns in ``section``: the absorbed block ``b0 … b7``, the
        capacity ``c0 … c7`` it meets and the permutation's output ``o0 … o15``."""
        block = [self.column(section, f"b{k}") for k in range(RATE)]
        capacity = [self.column(section, f"c{k}") for k in range(WIDTH - RATE)]
        out = [self.column(section, f"o{k}") for k in range(WIDTH)]
        return block, capacity, out

    def sponge(
        self,
        columns: tuple[list[Column], list[Column], list[Column]],
        on: Expr,
        chained: Expr,
        name: str,
    ) -> None:
        """One permutation ``(block ‖ capacity) → out`` on each row where ``on`` is 1, and
        the capacity carried to the next row where ``chained`` is 1.

        Args:
            columns: the sponge's columns (:meth:`sponge_columns`).
            on: the rows that absorb a block.
            chained: the rows whose next row continues the same sponge.
            name: the capacity constraints' name, ``{k}`` the capacity element.
        """
        block, capacity, out = columns
        self.permutation([*block, *capacity], out, on)
        for k in range(WIDTH - RATE):
            self.constrain(chained * (capacity[k].next - out[RATE + k]), name.format(k=k))

    def public_table(self, table: PublicTable) -> None:
        self.bus.add_public_table(table)

    # ---- finishing

    def finish(self) -> tuple[Air, Layout]:
        """Add the services' sections and build the AIR."""
        table = self.column("range", "table")
        mult = self.column("range", "mult")
        # The table is a main column the constraints pin to 0, 1, …, 4095 (then 4095 repeated):
        # it starts at 0, ends at 4095 and steps by 0 or 1, so every entry is a 12-bit value.
        # (A fixed column would cost the proof a fourth Merkle tree's openings.)
        self.boundary(0, table, "range table starts at 0")
        step = table.next - table
        self.constrain(step * (step - 1), "range table steps by 0 or 1")
        self.boundary(-1, table - (_RANGE_SIZE - 1), "range table ends at 4095")
        self.bus.receive(TAG_RANGE, [table], mult, "range table")
        if self.perm_slots not in (1, 2):
            raise ValueError(f"expected 1 or 2 permutation slots, got {self.perm_slots}")
        slots: list[int] = []
        if self._perm_sends:
            # Each slot is a table of distinct permutations, one per row, received with
            # its multiplicity; a second slot halves the rows the service needs.
            for k in range(self.perm_slots):
                section = _PERM_SECTIONS[k]
                ins = [self.column(section, f"in{i}") for i in range(WIDTH)]
                pmult = self.column(section, "mult")
                first = len(self.names)
                self.names.extend(f"{section}.g{i}" for i in range(gadget_columns(SBOX_DEGREE)))
                gadget, outs = permutation_constraints(first, ins, sbox_degree=SBOX_DEGREE)
                self.transitions.extend(gadget)
                label = "Poseidon2 service" if k == 0 else f"Poseidon2 service, slot {k + 1}"
                self.bus.receive(TAG_PERM, [*ins, *outs], pmult, label)
                slots.append(first)
        perm_first = slots[0] if slots else None
        layout = self.bus.build()
        bus = self.bus

        def derive(drawn: Sequence[Fp4]) -> list[Fp4]:
            return [bus.public_table_sum(drawn)]

        periodic_columns = tuple(self.periodic_columns)
        num_rows = self.num_rows
        public_inputs = self.public_inputs

        def periodic_rows(i: int) -> fld.Array:
            values = np.array(periodic_columns[i], dtype=np.uint64)
            return np.tile(values, num_rows // values.size)

        def aux_builder(main: fld.Array, challenges: Sequence[Fp4]) -> fld.Array:
            return bus.aux_columns(
                main, challenges, periodic=periodic_rows, public_inputs=public_inputs
            )

        air = Air(
            name=self.name,
            num_rows=self.num_rows,
            num_main_columns=len(self.names),
            public_inputs=self.public_inputs,
            transitions=(*self.transitions, *layout.transitions),
            boundaries=(*self.boundaries, *layout.boundaries),
            num_aux_columns=layout.num_aux_columns,
            num_challenges=bus.num_challenges,
            aux_builder=aux_builder,
            periodic_columns=periodic_columns,
            num_derived_challenges=1 if bus.public_tables else 0,
            derive_challenges=derive if bus.public_tables else None,
            column_names=tuple(self.names),
        )
        index = {name: i for i, name in enumerate(self.names)}
        return air, Layout(
            tuple(self.names),
            index,
            tuple(self.range_checks),
            index["range.mult"],
            perm_first,
            tuple(bus.public_tables),
            tuple(slots),
        )


def _range_table(num_rows: int) -> U64:
    """The range table column: ``min(r, 4095)`` on row ``r``, every 12-bit value once first."""
    return np.minimum(np.arange(num_rows, dtype=np.uint64), np.uint64(_RANGE_SIZE - 1))


class TraceBuilder:
    """The prover's main trace over a :class:`Layout` (prover side only).

    Sections write their columns with :meth:`set`, range-checked values with
    :meth:`set_range` (limbs and table counts), and ask the Poseidon2 service
    for permutations with :meth:`permute`; :meth:`finish` writes the services'
    columns.
    """

    def __init__(self, layout: Layout, num_rows: int, *, refuse: bool = True) -> None:
        self.layout = layout
        self.refuse = refuse
        self.num_rows = num_rows
        self.main = np.zeros((layout.width, num_rows), np.uint64)
        self._range_counts = np.zeros(_RANGE_SIZE, np.int64)
        self._checks = {(c.section, c.name): c for c in layout.range_checks}
        self._perm_inputs: list[U64] = []

    def set(self, section: str, name: str, values: npt.ArrayLike, pad: int = 0) -> None:
        """Write column ``section.name`` from row 0, then ``pad`` (ints are reduced mod p)."""
        arr = np.asarray(values, dtype=np.int64)
        if arr.shape[0] > self.num_rows:
            raise ValueError(f"{section}.{name}: {arr.shape[0]} values for {self.num_rows} rows")
        column = self.main[self.layout.column(section, name)]
        column[:] = pad % P
        column[: arr.shape[0]] = np.mod(arr, P).astype(np.uint64)

    def get(self, section: str, name: str) -> U64:
        return self.main[self.layout.column(section, name)]

    def set_range(
        self, section: str, name: str, values: npt.ArrayLike, statement: str, pad: int = 0
    ) -> None:
        """Write the limbs of a range-checked value (rows past ``values`` hold ``pad``).

        With ``refuse=False`` (the forgery tests) a value out of range is written
        anyway: its residue mod p in limbs whose top one exceeds its width, so
        that only the range table can reject it.

        Raises:
            ValueError: a value outside ``[0, 2^bits)``: the statement ``statement`` fails.
        """
        check = self._checks[(section, name)]
        arr = np.full(self.num_rows, pad, np.int64)
        given = np.asarray(values, dtype=np.int64)
        arr[: given.shape[0]] = given
        bad = np.flatnonzero((arr < 0) | (arr >= 1 << check.bits))
        if bad.size and not self.refuse:
            arr = np.mod(arr, P)
        elif bad.size:
            r = int(bad[0])
            raise ValueError(
                f"{statement}: {section}.{name} at row {r}: expected a value in "
                f"[0, 2^{check.bits}), got {int(arr[r])}"
            )
        top_bits = check.bits - RANGE_BITS * (len(check.limbs) - 1)
        last = len(check.limbs) - 1
        for i, index in enumerate(check.limbs):
            limb = arr >> (RANGE_BITS * i)
            limb = limb if i == last else limb & (_RANGE_SIZE - 1)
            self.main[index] = limb.astype(np.uint64)
            self._count(limb)
            if i == last and top_bits < RANGE_BITS:
                self._count(limb << (RANGE_BITS - top_bits))

    def _count(self, lookups: npt.NDArray[np.int64]) -> None:
        """Count lookups into the range table (one outside it is left for the bus to refuse)."""
        inside = lookups[(lookups >= 0) & (lookups < _RANGE_SIZE)]
        self._range_counts += np.bincount(inside, minlength=_RANGE_SIZE)

    def count_range(self, values: npt.ArrayLike) -> None:
        """Count lookups of 12-bit values a section sends to the range table itself.

        Raises:
            ValueError: a value outside ``[0, 4096)`` (the lookup could not balance).
        """
        arr = np.asarray(values, dtype=np.int64).reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= _RANGE_SIZE):
            raise ValueError(f"expected range-checked values in [0, 4096), got {int(arr.max())}")
        self._range_counts += np.bincount(arr, minlength=_RANGE_SIZE)

    def permute(self, states: npt.ArrayLike) -> U64:
        """Poseidon2 of each ``(k, 16)`` input row, recorded for the permutation service."""
        arr = np.asarray(states, dtype=np.uint64).reshape(-1, WIDTH)
        self._perm_inputs.append(arr)
        return permute(arr)

    def set_sponge(self, section: str, ins: U64, outs: U64) -> None:
        """Write a sponge's rows (:func:`sponge_rows`) into ``section``'s sponge columns
        and ask the permutation service for each row's permutation."""
        self.permute(ins)
        for k in range(RATE):
            self.set(section, f"b{k}", ins[:, k].astype(np.int64))
        for k in range(WIDTH - RATE):
            self.set(section, f"c{k}", ins[:, RATE + k].astype(np.int64))
        for k in range(WIDTH):
            self.set(section, f"o{k}", (outs[:, k] % np.uint64(P)).astype(np.int64))

    def finish(self) -> U64:
        """Write the range table counts and the permutation service; return the trace.

        Raises:
            ValueError: more permutations than rows.
        """
        n = self.num_rows
        counts = np.zeros(n, np.int64)
        counts[:_RANGE_SIZE] = self._range_counts
        self.main[self.layout.range_mult] = np.mod(counts, P).astype(np.uint64)
        self.main[self.layout.column("range", "table")] = _range_table(n)
        slots = self.layout.perm_slots
        if slots:
            ins = (
                np.concatenate(self._perm_inputs)
                if self._perm_inputs
                else np.zeros((0, WIDTH), np.uint64)
            )
            if ins.shape[0] > n * len(slots):
                raise ValueError(
                    f"expected at most {n * len(slots)} permutations, got {ins.shape[0]}"
                )
            uniq, counts_p = (
                np.unique(ins, axis=0, return_counts=True)
                if ins.shape[0]
                else (ins, np.zeros(0, np.int64))
            )
            # the distinct permutations in order, the first n in slot 1, the rest in slot 2
            for k, first in enumerate(slots):
                part, counts_k = uniq[k * n : (k + 1) * n], counts_p[k * n : (k + 1) * n]
                states = np.zeros((n, WIDTH), np.uint64)
                states[: part.shape[0]] = part
                mult = np.zeros(n, np.uint64)
                mult[: part.shape[0]] = counts_k.astype(np.uint64)
                section = _PERM_SECTIONS[k]
                for i in range(WIDTH):
                    self.main[self.layout.column(section, f"in{i}")] = states[:, i]
                self.main[self.layout.column(section, "mult")] = mult
                self.main[first : first + gadget_columns(SBOX_DEGREE)] = permutation_columns(
                    states, sbox_degree=SBOX_DEGREE
                )
        return self.main


@dataclass(frozen=True)
class LevelRuns:
    """The book's rows as runs, a run ending on a row whose flag is 1 (a market's or a
    price level's last row; the prover's side of the fair, pro-rata and tie-break
    sections).

    Args:
        starts: ``(n,)`` whether each row starts a run.
        seg: ``(n,)`` each row's run, 0 … runs − 1.
        ends: ``(runs,)`` each run's last row.
    """

    starts: npt.NDArray[np.bool_]
    seg: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]

    @classmethod
    def of(cls, last: npt.NDArray[np.int64]) -> LevelRuns:
        """The runs of the ``n`` book rows whose run-ending flags are ``last``."""
        n = len(last)
        starts = np.concatenate(([True], last[:-1] == 1)) if n else np.zeros(0, bool)
        return cls(starts, np.cumsum(starts) - 1, np.flatnonzero(last))

    def running(self, inc: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The running sum of ``inc`` within each run (no rows: ``inc`` itself)."""
        if not len(self.seg):
            return inc
        total = np.cumsum(inc)
        first = np.flatnonzero(self.starts)[self.seg]
        return total - np.where(first > 0, total[first - 1], 0)


def sponge_rows(elements: npt.ArrayLike) -> tuple[U64, U64]:
    """The rows of ``hash_elements`` over whole rate-8 blocks: one permutation each.

    Row ``r``'s input is block ``r`` then the capacity, which starts as ``[length, 0,
    …, 0]`` (the sponge's length word, :mod:`sealbatch.crypto.poseidon2`) and is the
    previous row's output ``[8:16]`` after; the last row's output ``[0:8]`` is the digest.

    Args:
        elements: field elements, a multiple of 8 of them (flat or ``(n, 8)``).

    Returns:
        The ``(n, 16)`` permutation inputs and outputs.

    Raises:
        ValueError: a number of elements that is not a multiple of 8.
    """
    flat = np.asarray(elements, dtype=np.uint64).reshape(-1)
    if flat.size % RATE:
        raise ValueError(f"expected a multiple of {RATE} elements, got {flat.size}")
    blocks = flat.reshape(-1, RATE)
    n = blocks.shape[0]
    ins = np.zeros((n, WIDTH), np.uint64)
    outs = np.zeros((n, WIDTH), np.uint64)
    capacity = np.zeros(WIDTH - RATE, np.uint64)
    capacity[0] = flat.size
    for r in range(n):
        ins[r, :RATE] = blocks[r]
        ins[r, RATE:] = capacity
        outs[r] = permute(ins[r : r + 1])[0]
        capacity = outs[r, RATE:]
    return ins, outs


def constant(value: int) -> Expr:
    """A constant expression (re-exported for sections)."""
    return const(value % P)
