"""The fee pool moves by exactly the batch's fees (statement 5), on the fill rows.

Conservation (:mod:`.accounts`) proves that Σ collateral + fee pool + insurance
fund changes by exactly deposits − withdrawals: it pins the two pools' *sum*.
Without more, an operator could book a liquidation penalty or a forfeited bond
in the fee pool (its own revenue) instead of the insurance fund, or a fee in
the insurance fund, and the proof would hold. This module pins the fee pool on
its own, so conservation pins the insurance fund:

    fee_pool_post − fee_pool_pre = Σ over fill rows of the fill's fee

(``transition.py`` step 7: the pool moves by each fill's fee, the auction's and
the RFQ blocks', and by nothing else). The right side is a running total ``G``
down the fill section's rows, in six 12-bit digits: ``G = fee`` on row 0 and,
digit by digit,

    G_k' = G_k + fee_k' + c_(k−1) − 2^12·c_k,   c_k a bit,   no carry out of digit 5,

where ``fee_k`` are the fill's fee digits (each range-checked to 12 bits by
:mod:`.fills`; a padding row's fee is 0) and each carry is not a column but the
expression ``c_k = (G_k + fee_k' + c_(k−1) − G_k') / 2^12``, constrained to be a
bit. On the last row ``G`` equals the public digits of ``fee_pool_post −
fee_pool_pre`` (:meth:`SettleStatement.derived_elements`; the header section
pins both pools to the hashed state headers).

Why the digits of ``G`` need no range check (up to :data:`UNCHECKED_ROWS` rows):
each step moves a digit by ``fee_k' + c_(k−1) − 2^12·c_k ∈ [−2^12, 2^12]``, so
from row 0's range-checked digits a digit stays within ``2^12·N`` of 0 after
``N`` rows as an integer, and each step's identity holds over the integers.
With ``2^12·N + 2^12 < p`` (``N <= 2^18``) the last row's digits, equal mod p
to the public digits, equal them as integers; the steps' identities telescope to
``Σ_k G_k·2^(12k) = Σ fees`` exactly, whatever carries the prover chose. A larger
trace range-checks the digits (six lookups a row). Cost: six main columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sealbatch.crypto.expr import Column, Expr, const, pub
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air.limbs import DIGIT, digits_of
from sealbatch.settlement.batch_air.section import Section
from sealbatch.settlement.batch_air.settle_witness import FEE_POOL_DIGITS, DerivedIndex

__all__ = ["UNCHECKED_ROWS", "FeePoolColumns", "fee_pool_section", "fee_pool_trace"]

#: Trace rows up to which the running total's digits need no range check (see above).
UNCHECKED_ROWS = 1 << 18
_INV_DIGIT = pow(DIGIT, P - 2, P)


@dataclass(frozen=True)
class FeePoolColumns:
    """The running total of the fill rows' fees, in 12-bit digits."""

    total: tuple[Column, ...]


def fee_pool_section(sec: Section, ix: DerivedIndex, fee: Sequence[Column]) -> FeePoolColumns:
    """Allocate the running fee total's columns and prove that it ends at the fee pool's
    public change (statement 5).

    Args:
        fee: the fill row's fee digits (range-checked, zero on a row that is no fill).
    """
    if sec.builder.num_rows > UNCHECKED_ROWS:
        total = tuple(sec.digits("fill.fee_total", FEE_POOL_DIGITS))
    else:
        total = tuple(sec.alloc("fill.fee_total", FEE_POOL_DIGITS))
    carry: Expr = const(0)
    for k in range(FEE_POOL_DIGITS):
        sec.boundary(0, total[k] - fee[k], f"statement 5: the fee total starts at a fee [{k}]")
        step = total[k] + fee[k].next + carry - total[k].next
        if k + 1 < FEE_POOL_DIGITS:
            carry = step * _INV_DIGIT
            sec.transition(carry * (carry - 1), f"statement 5: the fee total's carry [{k}] a bit")
        else:
            sec.transition(step, "statement 5: the fee total's top digit (no carry out)")
        sec.boundary(
            -1,
            total[k] - pub(ix.fee_pool() + k),
            f"statement 5: the fee pool moves by the fees (digit {k})",
        )
    return FeePoolColumns(total)


def fee_pool_trace(main: np.ndarray, cols: FeePoolColumns, fees: Sequence[int]) -> None:
    """Write the running total of ``fees`` (the fill rows' fees, in row order) down the
    trace; rows past the fills hold the batch's total.

    Raises:
        ValueError: the total reaches 2^72 (a fee pool beyond the statement's digits).
    """
    num_rows = main.shape[1]
    running = np.zeros(num_rows, dtype=object)
    total = 0
    for r, fee in enumerate(fees):
        total += int(fee)
        running[r] = total
    running[len(fees) :] = total
    if total >> (12 * FEE_POOL_DIGITS):
        raise ValueError(f"expected the batch's fees below 2^72, got {total}")
    digits = digits_of([int(v) for v in running], FEE_POOL_DIGITS)
    for k, c in enumerate(cols.total):
        main[c.index] = digits[k].astype(np.uint64)
