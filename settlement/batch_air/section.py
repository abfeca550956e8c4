"""What every settlement section writes into: named columns, constraints, and the bus.

A section allocates its columns by name (:meth:`Section.alloc`), adds
constraints, and talks to the others only through bus tuples under the tags
below. The two services every section uses are

* the **range check** — :meth:`Section.range12` sends ``(TAG_RANGE, v)``,
  received by a table of ``0 … 2^12 − 1``, so ``v < 2^12``;
* the **Poseidon2 permutation** — :meth:`Section.perm` sends
  ``(TAG_PERM, in_0 … in_15, out_0 … out_15)``, received by rows that prove
  ``out = Poseidon2(in)`` with the gadget of
  :mod:`sealbatch.crypto.airs.poseidon2_air`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sealbatch.crypto.bus import Bus
from sealbatch.crypto.evaluators import ArrayEvaluator
from sealbatch.crypto.expr import Column, Expr, const, evaluate
from sealbatch.settlement.batch_air.framework import (
    TAG_ACCOUNT_FILLS,
    TAG_ADJUST,
    TAG_FILL,
    TAG_NODE,
    TAG_PERM,
    TAG_PUBLISHED_FILL,
    TAG_RANGE,
    TAG_TRANSFERS,
    AirBuilder,
    TraceBuilder,
)
from sealbatch.settlement.batch_air.limbs import CARRY_BITS, DIGIT_BITS, carry_value

__all__ = [
    "TAG_ACCOUNT_FILLS",
    "TAG_ADJUST",
    "TAG_FILL",
    "TAG_NODE",
    "TAG_PERM",
    "TAG_PUBLISHED_FILL",
    "TAG_RANGE",
    "TAG_TRANSFERS",
    "Section",
]


@dataclass
class Section:
    """The settlement sections' view of an :class:`AirBuilder`.

    Columns are named ``<section>.<name>``; range checks are single 12-bit digit
    lookups (recorded here so the prover can count them); a ``settle.row``
    column holds the row index (``row[0] = 0``, ``row' = row + 1``): an
    account's row is its leaf index and the index fill sums are addressed by.
    """

    builder: AirBuilder
    range_sends: list[Expr] = field(default_factory=list)
    row: Column = field(init=False)

    def __post_init__(self) -> None:
        self.row = self.one("settle.row")
        self.boundary(0, self.row, "settle.row starts at 0")
        self.transition(self.row.next - self.row - 1, "settle.row counts the rows")

    @property
    def bus(self) -> Bus:
        return self.builder.bus

    def alloc(self, name: str, count: int = 1) -> list[Column]:
        """``count`` new main columns named ``name`` (``name[i]`` when several)."""
        section, _, rest = name.partition(".")
        names = [rest] if count == 1 else [f"{rest}[{i}]" for i in range(count)]
        return [self.builder.column(section, n) for n in names]

    def one(self, name: str) -> Column:
        return self.alloc(name)[0]

    def transition(self, expr: Expr, name: str) -> None:
        self.builder.constrain(expr, name)

    def boundary(self, row: int, expr: Expr, name: str) -> None:
        self.builder.boundary(row, expr, name)

    def boolean(self, c: Expr, name: str) -> None:
        self.transition(c * (c - 1), f"{name} in {{0, 1}}")

    def range12(self, value: Expr, name: str, bits: int = DIGIT_BITS) -> None:
        """Prove ``0 <= value < 2^bits`` on every row (``bits <= 12``: ``value·2^(12−bits)``)."""
        if not 1 <= bits <= DIGIT_BITS:
            raise ValueError(f"expected 1 to {DIGIT_BITS} bits, got {bits}")
        scaled = value if bits == DIGIT_BITS else value * (1 << (DIGIT_BITS - bits))
        self.bus.send(TAG_RANGE, [scaled], 1, f"{name} < 2^{bits}")
        self.range_sends.append(scaled)

    def digits(self, name: str, count: int) -> list[Column]:
        """``count`` digit columns, each range-checked to 12 bits."""
        cols = self.alloc(name, count)
        for i, c in enumerate(cols):
            self.range12(c, f"{name}[{i}]")
        return cols

    def carries(self, name: str, count: int) -> tuple[list[Expr], list[Column]]:
        """``count`` signed carries in ``[−2^17, 2^17)``, two range-checked columns each.

        Returns:
            The carry expressions and their columns (low, high, low, high, …).
        """
        exprs: list[Expr] = []
        cols: list[Column] = []
        for i in range(count):
            lo, hi = self.alloc(f"{name}[{i}]", 2)
            self.range12(lo, f"{name}[{i}].lo")
            self.range12(hi, f"{name}[{i}].hi", CARRY_BITS - DIGIT_BITS)
            exprs.append(carry_value(lo, hi))
            cols += [lo, hi]
        return exprs, cols

    def perm(
        self, inputs: Sequence[Expr], outputs: Sequence[Expr], selector: Expr, name: str
    ) -> None:
        """Send one permutation ``outputs = Poseidon2(inputs)`` where ``selector`` is 1."""
        self.builder.permutation(inputs, outputs, selector)

    def prefix(self, name: str, count: Expr | int) -> Column:
        """A selector that is 1 on the first ``count`` rows and 0 after (two columns).

        Boolean, never rising again once 0, and summed by a counter whose last value
        (plus the last flag) is ``count``.
        """
        flag, counter = self.one(name), self.one(f"{name}.count")
        total = count if isinstance(count, Expr) else const(count)
        self.boolean(flag, name)
        self.transition(flag.next * (1 - flag), f"{name} never rises")
        self.boundary(0, counter, f"{name}.count starts at 0")
        self.transition(counter.next - counter - flag, f"{name}.count sums {name}")
        self.boundary(-1, counter + flag - total, f"{name} has the stated number of rows")
        return flag


def prefix_columns(count: int, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The honest ``(flag, counter)`` of :meth:`Section.prefix`."""
    if not 0 <= count <= num_rows:
        raise ValueError(f"expected 0 <= count <= {num_rows}, got {count}")
    flag = np.zeros(num_rows, dtype=np.uint64)
    flag[:count] = 1
    counter = np.zeros(num_rows, dtype=np.uint64)
    counter[1:] = np.cumsum(flag[:-1])
    return flag, counter


def finish_trace(sec: Section, tb: TraceBuilder, perm_inputs: Sequence[np.ndarray]) -> None:
    """Write ``settle.row``, count the sections' range lookups and ask the permutation
    service for their permutations (prover side; call after every section's trace).

    Raises:
        ValueError: a range-checked value out of range (the trace would not balance;
            with ``tb.refuse`` off such a value is written and left for the bus).
    """
    n = tb.num_rows
    tb.main[sec.row.index] = np.arange(n, dtype=np.uint64)
    main = tb.main
    ev = ArrayEvaluator(
        lambda segment, index, offset: main[index],
        lambda i: np.zeros(n, np.uint64),
        (),
        (),
    )
    for value in evaluate(sec.range_sends, ev):
        arr = np.broadcast_to(np.asarray(value, dtype=np.uint64), (n,))
        bad = np.flatnonzero(arr >= 1 << DIGIT_BITS)
        if bad.size and tb.refuse:
            raise ValueError(f"a 12-bit digit is out of range at row {int(bad[0])}")
        # refuse=False (forgery tests): an out-of-range value is left for the bus to refuse
        tb.count_range(arr[arr < 1 << DIGIT_BITS].astype(np.int64))
    states = [p for p in perm_inputs if p.size]
    if states:
        tb.permute(np.concatenate(states, axis=0))
