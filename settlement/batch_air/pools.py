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
from sealbatch.settlement.batch_air.limbs import AMOUNT_DIGITS, DIGIT, digits_of
from sealbatch.settlement.batch_air.section import Section
from sealbatch.settlement.batch_air.settle_witness import FEE_POOL_DIGITS, DerivedIndex

__all__ = [
    "UNCHECKED_ROWS",
    "CoverColumns",
    "FeePoolColumns",
    "cover_columns",
    "cover_section",
    "cover_trace",
    "fee_pool_section",
    "fee_pool_trace",
]

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


# --------------------------------------------------------------------------
# Deficit cover: the insurance fund pays bankrupt accounts in row order
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverColumns:
    """An account row's deficit cover: the insurance fund before the row's cover (six
    range-checked digits) and the bit ``covered`` (negative equity, no position in a
    flagged market)."""

    fund: tuple[Column, ...]
    covered: Column

    def paid(self, k: int, capped: Expr, deficit: Sequence[Expr]) -> Expr:
        """Digit ``k`` of the cover paid: ``covered·(capped·fund + (1 − capped)·deficit)``
        (degree 3; a 12-bit digit: both operands are)."""
        return self.covered * (capped * self.fund[k] + (1 - capped) * deficit[k])


def cover_columns(sec: Section) -> CoverColumns:
    """Allocate the deficit cover's columns (before the identities that use :meth:`paid`)."""
    fund = tuple(sec.digits("cover.fund", AMOUNT_DIGITS))
    covered = sec.one("cover.covered")
    sec.boolean(covered, "statement 3: cover.covered")
    return CoverColumns(fund, covered)


def cover_section(
    sec: Section,
    ix: DerivedIndex,
    cols: CoverColumns,
    *,
    bankrupt: Expr,
    doubt: Expr,
    live_post: Expr,
    paid: Sequence[Expr],
) -> None:
    """The running insurance fund down the account rows (statement 3 and 5).

    Args:
        bankrupt: the sign of the row's equity before penalties (negative equity; the
            penalty is then 0, so it is the equity after penalties too).
        doubt: 1 where the account holds a position in a market flagged after the batch.
        live_post: 1 on the post-state's account rows.
        paid: the cover's digits (:meth:`CoverColumns.paid`).
    """
    sec.transition(
        cols.covered - bankrupt * (1 - doubt),
        "statement 3: deficit cover for every negative equity outside flagged markets",
    )
    borrow: Expr = const(0)
    for k in range(AMOUNT_DIGITS):
        step = cols.fund[k].next - cols.fund[k] + paid[k] + borrow
        if k + 1 < AMOUNT_DIGITS:
            borrow = step * _INV_DIGIT
            sec.transition(
                borrow * (borrow - 1), f"statement 3: the insurance fund's borrow [{k}] a bit"
            )
        else:
            sec.transition(step, "statement 3: the insurance fund pays each cover (top digit)")
    # the last row is no account (its cover would not be counted), and the fund after every
    # cover is the post-state's insurance fund (non-negative: a negative one is no pair)
    sec.boundary(-1, live_post, "statement 3: the last row is no account")
    sign = pub(ix.insurance_post())
    for i in range(AMOUNT_DIGITS // 2):
        pair = cols.fund[2 * i] + DIGIT * cols.fund[2 * i + 1]
        sec.boundary(
            -1,
            pair - (1 - 2 * sign) * pub(ix.insurance_post() + 1 + i),
            f"statement 5: the insurance fund after cover is the post-state's (limb {i})",
        )


def cover_trace(
    main: np.ndarray,
    cols: CoverColumns,
    *,
    equity: Sequence[int],
    doubtful: Sequence[bool],
    cover: Sequence[int],
    insurance_post: int,
    fund_start: int | None = None,
    refuse: bool = True,
) -> tuple[list[int], list[int]]:
    """Write the running fund and the covered bits; returns the fund before each account
    row's cover and the ``capped`` bit the penalty section's branch takes on a bankrupt
    row with a negative equity (the fund short of the deficit).

    Args:
        equity: per account, its equity before penalties (at the new marks).
        doubtful: per account, a position in a market flagged after the batch.
        cover: per account, what the insurance fund paid it.
        fund_start: the fund before any cover (the pre-state's plus the batch's forfeits
            and penalties), checked where a cover is paid (none: not checked). The AIR
            does not pin it: conservation does.
        refuse: ``False`` writes the cover given even where the rule disagrees.

    Raises:
        ValueError: a cover that is not ``min(deficit, fund)`` in row order for each
            negative equity outside flagged markets (statement 3).
    """
    num_rows = main.shape[1]
    n = len(equity)
    fund = insurance_post + sum(cover)
    before: list[int] = []
    capped: list[int] = []
    for r in range(n):
        covered = equity[r] < 0 and not doubtful[r]
        rule = min(-equity[r], fund) if covered else 0
        if refuse and cover[r] != rule:
            raise ValueError(
                f"statement 3: deficit cover: expected account {r} to receive {rule} from "
                f"the insurance fund (deficit {max(-equity[r], 0)}, fund {fund}), "
                f"got {cover[r]}"
            )
        main[cols.covered.index, r] = int(covered)
        before.append(fund)
        capped.append(int(equity[r] < 0 and fund < -equity[r]))
        fund -= cover[r]
    if refuse and fund_start is not None and any(cover) and before[0] != fund_start:
        raise ValueError(
            f"statement 3: deficit cover: expected a fund of {fund_start} before cover (the "
            f"pre-state's, the forfeits and the penalties), got {before[0]}"
        )
    values = before + [fund] * (num_rows - n)
    if any(v < 0 for v in values):
        raise ValueError("statement 3: deficit cover: the insurance fund goes negative")
    digits = digits_of(values, AMOUNT_DIGITS)
    for k, c in enumerate(cols.fund):
        main[c.index] = digits[k]
    return before, capped
