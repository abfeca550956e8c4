"""Liquidation penalties (statement 3): per liquidation fill, per account, capped by equity.

:func:`~sealbatch.settlement.transition.apply_batch` step 9 charges each account

    penalty = min(Σ_f ⌈lots_f × price_f × multiplier_f × penalty_bps_f / 10 000⌉, max(E, 0))

over the account's liquidation fills ``f`` (fills of a pre-state pending
liquidation order, ``fill.liq``), where ``E`` is its equity at the new marks
before penalties and deficits: its collateral after the fills, fees, funding,
transfers and forfeits plus ``Σ_m (P0_m + net_m) × mark_m × multiplier_m``.
The penalty moves to the insurance fund. Two pieces prove it:

* **per fill** (:func:`fill_penalty_section`, on the fills section's rows):
  ``pen·10^4 − liq·lots·K = r`` with ``0 ≤ r ≤ 9 999`` and
  ``K = price × multiplier × penalty_bps`` (public, the statement's derived
  digits of each market), in 12-bit digits with range-checked carries —
  rounded up, and zero on a fill that is not a liquidation's; the run of an
  account's fills sums the penalty digits, sent with its net lots and fees
  (``TAG_ACCOUNT_FILLS``), so the account row receives ``due`` as six digit
  sums;
* **per account** (:func:`account_penalty_section`, on the account rows): the
  equity ``E = (1 − 2s)·|E|`` in six digits, from the post-state collateral
  ``C1``, the charged penalty, the adjustments table's ``adjust`` (deficit
  cover, ADL, socialised loss come after the penalty) and the positions before
  the adjustments (``P0 + net``) at the post-state's marks (the statement's
  margin terms, pinned to the post-state header); a branch bit ``c`` and the
  charged penalty ``pen = (1 − s)·(c·E + (1 − c)·due)`` — nothing when
  ``E < 0``, ``E`` when capped, ``due`` otherwise — with
  ``X = (1 − 2c)·(E − due) ≥ 0`` in six range-checked digits: uncapped means
  ``E ≥ due``, capped ``E ≤ due``. ``pen`` enters the account's collateral
  identity (:mod:`.accounts`) digit by digit; conservation (statement 5) then
  puts it in the insurance fund, whose post-state value the header pins.

Bounds: a position of the per-fill identity sums ``10^4·pen_k`` (< 2^26), two
products of a lots digit and a digit of ``K`` (< 2^24 each) and a carry; of
the equity identity at most ``4·m`` products of two digits, ``due_k`` (a run
of at most 2^12 fills: below 2^24) and a few digits; of ``X`` two digit terms
and ``due_k``. With carries in ``[−2^17, 2^17)`` every position stays below
``2^29.7 < p/2``: the identities hold over the integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sealbatch.crypto.expr import Column, Expr, const, pub
from sealbatch.settlement.batch_air.limbs import (
    AMOUNT_DIGITS,
    carries,
    carry_columns,
    carry_equations,
    digits_of,
    signed_expr,
    to_field,
)
from sealbatch.settlement.batch_air.pools import CoverColumns
from sealbatch.settlement.batch_air.section import Section
from sealbatch.settlement.batch_air.settle_witness import (
    DerivedIndex,
    FillRow,
    SettleStatement,
)
from sealbatch.settlement.params import BPS

__all__ = [
    "AccountPenaltyColumns",
    "FillPenaltyColumns",
    "account_penalty_section",
    "account_penalty_trace",
    "fill_penalty_section",
    "fill_penalty_trace",
]

#: Digits of K = price × multiplier × penalty_bps (< 2^30 · 2^12 · 2^14 < 2^60).
_CONST_DIGITS = 5
_POSITIONS = AMOUNT_DIGITS + 1  # lots (2 digits) × K (5 digits) and pen·10^4 reach 2^76


@dataclass(frozen=True)
class FillPenaltyColumns:
    """A fill row's penalty: its digits, ``r`` and ``9 999 − r`` (two digits each), the
    identity's carries, and the run's digit sums."""

    pen: tuple[Column, ...]
    rest: tuple[Column, ...]
    carries: tuple[Column, ...]
    sums: tuple[Column, ...]


def fill_penalty_section(
    sec: Section,
    ix: DerivedIndex,
    markets: int,
    liq: Column,
    lots: tuple[Column, Column],
    market: Sequence[Column],
    first: Column,
) -> FillPenaltyColumns:
    """The per-fill penalty identity and the run's penalty digit sums (see the module
    docstring); ``first`` starts a run of one account's fills."""
    pen = tuple(sec.digits("fill.pen", AMOUNT_DIGITS))
    r0, r1, q0, q1 = sec.alloc("fill.pen_rest", 4)
    sec.range12(r0, "fill.pen_rest r0")
    sec.range12(r1, "fill.pen_rest r1", 2)
    sec.range12(q0, "fill.pen_rest q0")
    sec.range12(q1, "fill.pen_rest q1", 2)
    sec.transition(
        r0 + 4096 * r1 + q0 + 4096 * q1 - (BPS - 1),
        "statement 3: liquidation penalty remainder below 10^4",
    )
    terms: list[list[Expr]] = [[] for _ in range(_POSITIONS)]
    for k in range(AMOUNT_DIGITS):
        terms[k].append(BPS * pen[k])
    terms[0].append(-r0)
    terms[1].append(-r1)
    for a, digit in enumerate(lots):
        for b in range(_CONST_DIGITS):
            kb: Expr = const(0)
            for j in range(markets):
                kb = kb + pub(ix.penalty(j) + b) * market[j]
            terms[a + b].append(-(liq * digit * kb))
    carry_exprs, carry_cols = sec.carries("fill.pen_carry", _POSITIONS - 1)
    for k, e in enumerate(carry_equations(terms, carry_exprs)):
        sec.transition(
            e, f"statement 3: liquidation penalty rounded up from the notional (digit {k})"
        )
    sums = tuple(sec.alloc("fill.pen_sums", AMOUNT_DIGITS))
    restart = 1 - first.next
    for k in range(AMOUNT_DIGITS):
        sec.boundary(0, sums[k] - pen[k], f"fill.pen_sums[{k}] starts a run")
        sec.transition(
            sums[k].next - restart * sums[k] - pen[k].next,
            f"statement 3: fill.pen_sums[{k}] sums the run's liquidation penalties",
        )
    return FillPenaltyColumns(pen, (r0, r1, q0, q1), tuple(carry_cols), sums)


def _penalty_const(st: SettleStatement, j: int) -> list[int]:
    mt = st.markets[j]
    k = mt.price * mt.multiplier * mt.penalty_bps
    return [int(d) for d in digits_of([k], _CONST_DIGITS)[:, 0]]


def fill_penalty_trace(
    main: np.ndarray,
    cols: FillPenaltyColumns,
    st: SettleStatement,
    fills: Sequence[FillRow],
    first: np.ndarray,
    last: np.ndarray,
    acct: np.ndarray,
) -> np.ndarray:
    """Write the fill rows' penalty columns (``fills`` in row order); returns the
    per-account penalty digit sums ``(6, n_post)``.

    Raises:
        ValueError: a fill's penalty is not its notional's, rounded up (or one on a fill
            that is not a liquidation's).
    """
    out = np.zeros((AMOUNT_DIGITS, st.n_post), dtype=np.int64)
    main[cols.rest[2].index] = (BPS - 1) & 4095
    main[cols.rest[3].index] = (BPS - 1) >> 12
    zlo, zhi = carry_columns(np.zeros(1, np.int64))
    for c in range(0, len(cols.carries), 2):
        main[cols.carries[c].index] = zlo[0]
        main[cols.carries[c + 1].index] = zhi[0]
    k = len(fills)
    if not k:
        return out
    pen = digits_of([f.penalty for f in fills], AMOUNT_DIGITS).astype(np.int64)
    sums = np.zeros((_POSITIONS, k), dtype=np.int64)
    sums[:AMOUNT_DIGITS] += BPS * pen
    rest = []
    for i, f in enumerate(fills):
        mt = st.markets[f.market]
        owed = f.lots * mt.price * mt.multiplier * mt.penalty_bps if f.liquidation else 0
        r = f.penalty * BPS - owed
        if not 0 <= r < BPS:
            raise ValueError(
                "statement 3: expected each liquidation fill's penalty to be its notional's "
                f"penalty rounded up (and none on other fills), got {f.penalty} on fill {i}"
            )
        rest.append(r)
        kd = _penalty_const(st, f.market) if f.liquidation else [0] * _CONST_DIGITS
        lots = (f.lots & 4095, f.lots >> 12)
        for a in range(2):
            for b in range(_CONST_DIGITS):
                sums[a + b, i] -= lots[a] * kd[b]
    r_arr = np.array(rest, dtype=np.int64)
    sums[0] -= r_arr & 4095
    sums[1] -= r_arr >> 12
    q = BPS - 1 - r_arr
    for column, v in zip(cols.rest, (r_arr & 4095, r_arr >> 12, q & 4095, q >> 12), strict=True):
        main[column.index, :k] = v
    for d in range(AMOUNT_DIGITS):
        main[cols.pen[d].index, :k] = pen[d]
    lo, hi = carry_columns(carries(sums))
    for c in range(lo.shape[0]):
        main[cols.carries[2 * c].index, :k] = lo[c]
        main[cols.carries[2 * c + 1].index, :k] = hi[c]
    run_id = np.cumsum(first) - 1
    run_start = np.flatnonzero(first)
    for d in range(AMOUNT_DIGITS):
        cum = np.cumsum(pen[d])
        run = cum - np.concatenate([[0], cum])[run_start][run_id]
        main[cols.sums[d].index, :k] = run
        main[cols.sums[d].index, k:] = run[-1]
        np.add.at(out[d], acct[last], run[last])
    return out


@dataclass(frozen=True)
class AccountPenaltyColumns:
    """An account row's penalty: the received ``due`` digit sums, the equity before
    penalties (sign, digits, carries), the branch bit, ``X`` and its carries."""

    due: tuple[Column, ...]
    sign: Column
    equity: tuple[Column, ...]
    equity_carries: tuple[Column, ...]
    capped: Column
    slack: tuple[Column, ...]
    slack_carries: tuple[Column, ...]

    def charged(self, k: int) -> Expr:
        """Digit position ``k`` of the penalty charged (degree 3; not a normalised digit)."""
        c = self.capped
        return (1 - self.sign) * (c * self.equity[k] + (1 - c) * self.due[k])


def account_penalty_section(
    sec: Section,
    st: SettleStatement,
    ix: DerivedIndex,
    due: tuple[Column, ...],
    collateral_post: Sequence[Expr],
    adjust: Sequence[Expr],
    positions_pre: Sequence[Sequence[Expr]],
    net: Sequence[Sequence[Expr]],
    cover: CoverColumns,
) -> AccountPenaltyColumns:
    """The account rows' penalty cap and the deficit cover's comparison (see the module
    docstring).

    Args:
        due: the received penalty digit sums of the account's liquidation fills.
        collateral_post: the post-state collateral's signed digit terms (per position).
        adjust: the adjustments table's signed digit terms (per position).
        positions_pre, net: per market, the signed digit terms of the position before
            the batch and of the net lots of its fills (two digits each).
        cover: the deficit cover's columns (:mod:`.pools`): the fund before the row's
            cover, compared with the deficit on a row whose equity is negative.
    """
    sign = sec.one("pen.e.sign")
    sec.boolean(sign, "pen.e.sign")
    equity = tuple(sec.digits("pen.e", AMOUNT_DIGITS))
    capped = sec.one("pen.capped")
    sec.boolean(capped, "pen.capped")
    slack = tuple(sec.digits("pen.x", AMOUNT_DIGITS))
    cols_partial = AccountPenaltyColumns(due, sign, equity, (), capped, slack, ())
    # E = C1 + pen − cover − adjust + Σ_m (P0_m + net_m) × mark_m × multiplier_m
    terms: list[list[Expr]] = [[] for _ in range(AMOUNT_DIGITS)]
    for k in range(AMOUNT_DIGITS):
        terms[k] += [
            signed_expr(sign, equity[k]),
            -collateral_post[k],
            -cols_partial.charged(k),
            cover.paid(k, capped, equity),
            adjust[k],
        ]
    for j in range(len(st.markets)):
        for a in range(2):
            for b in range(_CONST_DIGITS):
                if a + b < AMOUNT_DIGITS:
                    pm_b = pub(ix.margin_price(0, j) + b)
                    terms[a + b].append(-(pm_b * (positions_pre[j][a] + net[j][a])))
    e_exprs, e_cols = sec.carries("pen.e_carry", AMOUNT_DIGITS - 1)
    for k, e in enumerate(carry_equations(terms, e_exprs)):
        sec.transition(e, f"statement 3: liquidation penalty: equity before it (digit {k})")
    # X = (1 − 2c)·(E − due) ≥ 0 where E ≥ 0: uncapped, the equity covers the penalty due;
    # capped, it does not (the penalty is the equity). Where E < 0 (no penalty) the same
    # columns compare the insurance fund F with the deficit |E| for the cover (pools.py):
    # X = (1 − 2c)·(F − |E|) ≥ 0, so the cover c·F + (1 − c)·|E| is min(|E|, F).
    x_terms: list[list[Expr]] = [
        [
            (1 - 2 * capped)
            * ((1 - sign) * (equity[k] - due[k]) + sign * (cover.fund[k] - equity[k])),
            -slack[k],
        ]
        for k in range(AMOUNT_DIGITS)
    ]
    x_exprs, x_cols = sec.carries("pen.x_carry", AMOUNT_DIGITS - 1)
    for k, e in enumerate(carry_equations(x_terms, x_exprs)):
        sec.transition(e, f"statement 3: liquidation penalty capped by equity (digit {k})")
    return AccountPenaltyColumns(due, sign, equity, tuple(e_cols), capped, slack, tuple(x_cols))


def _put_carries(main: np.ndarray, columns: Sequence[Column], sums: np.ndarray, n: int) -> None:
    try:
        lo, hi = carry_columns(carries(sums))
    except ValueError as exc:
        raise ValueError(f"statement 3: liquidation penalty: {exc}") from None
    for k in range(lo.shape[0]):
        main[columns[2 * k].index, :n] = lo[k]
        main[columns[2 * k + 1].index, :n] = hi[k]
    zlo, zhi = carry_columns(np.zeros(1, np.int64))
    for k in range(lo.shape[0]):
        main[columns[2 * k].index, n:] = zlo[0]
        main[columns[2 * k + 1].index, n:] = zhi[0]


def account_penalty_trace(
    main: np.ndarray,
    cols: AccountPenaltyColumns,
    st: SettleStatement,
    due_sums: np.ndarray,
    charged: Sequence[int],
    equity: Sequence[int],
    position_terms: np.ndarray,
    c_post: np.ndarray,
    adjust: np.ndarray,
    *,
    fund: Sequence[int] = (),
    fund_capped: Sequence[int] = (),
    cover_terms: np.ndarray | None = None,
    refuse: bool = True,
) -> np.ndarray:
    """Write the account rows' penalty columns; returns the charged penalty's digit-position
    terms ``(6, n)`` (what :meth:`AccountPenaltyColumns.charged` evaluates to).

    Args:
        due_sums: ``(6, n)`` the penalty digit sums of each account's fills.
        charged: per account, the penalty the transition charged.
        equity: per account, its equity at the marks before the penalty.
        position_terms: ``(6, n)`` digit-position sums of ``Σ_m (P0 + net) × mark × mult``.
        c_post, adjust: ``(6, n)`` signed digit terms of the post-state collateral and of
            the adjustment.
        fund, fund_capped: per account, the insurance fund before its deficit cover and
            whether it falls short of the deficit (:func:`.pools.cover_trace`): a row with a
            negative equity compares them in ``X`` (none: a fund of 0).
        cover_terms: ``(6, n)`` the digits of the deficit cover paid (none: zeros).
        refuse: ``False`` writes an operator's penalty that breaks the rule (uncapped
            where ``charged`` is what is due, else capped): every polynomial identity
            holds and the slack ``X``, written digit position by position unnormalised
            and possibly negative, fails only its range checks (the forgery tests).

    Raises:
        ValueError: a penalty that is not ``min(due, max(equity, 0))`` (statement 3).
    """
    n = len(charged)
    due = [sum(int(due_sums[k, r]) << (12 * k) for k in range(AMOUNT_DIGITS)) for r in range(n)]
    for r in range(n):
        if refuse and charged[r] != min(due[r], max(equity[r], 0)):
            raise ValueError(
                f"statement 3: liquidation penalty: expected account {r} to pay "
                f"min({due[r]}, max({equity[r]}, 0)), got {charged[r]}"
            )
    fund = list(fund) or [0] * n
    fund_capped = list(fund_capped) or [0] * n
    sign = np.array([int(e < 0) for e in equity], dtype=np.int64)
    if refuse:
        capped = np.array([int(e < d) for e, d in zip(equity, due, strict=True)])
    else:
        capped = np.array([int(c != d) for c, d in zip(charged, due, strict=True)])
    capped = np.where(sign == 1, np.array(fund_capped, dtype=np.int64), capped)
    e_dig = digits_of([abs(e) for e in equity], AMOUNT_DIGITS).astype(np.int64)
    f_dig = digits_of(fund, AMOUNT_DIGITS).astype(np.int64)
    main[cols.sign.index, :n] = sign
    main[cols.capped.index, :n] = capped
    signed_e = (1 - 2 * sign)[None, :] * e_dig
    compared = np.where(sign[None, :] == 1, f_dig - e_dig, e_dig - due_sums[:, :n])
    raw = (1 - 2 * capped)[None, :] * compared
    slack = [
        (1 - 2 * int(c)) * (f - abs(e) if e < 0 else e - d)
        for c, e, d, f in zip(capped, equity, due, fund, strict=True)
    ]
    if all(x >= 0 for x in slack):
        x_dig = digits_of(slack, AMOUNT_DIGITS).astype(np.int64)
    else:  # refuse=False only: X left unnormalised, its carries zero
        x_dig = raw
    for k in range(AMOUNT_DIGITS):
        main[cols.equity[k].index, :n] = e_dig[k]
        main[cols.slack[k].index, :n] = to_field(x_dig[k])
    pen_terms = (1 - sign)[None, :] * (
        capped[None, :] * e_dig + (1 - capped)[None, :] * due_sums[:, :n]
    )
    paid = np.zeros_like(e_dig) if cover_terms is None else cover_terms
    _put_carries(
        main,
        cols.equity_carries,
        signed_e - c_post - pen_terms + paid + adjust - position_terms,
        n,
    )
    x_sums = raw - x_dig
    _put_carries(main, cols.slack_carries, x_sums, n)
    return pen_terms


def position_terms(
    st: SettleStatement, p_pre: np.ndarray, net: np.ndarray
) -> tuple[np.ndarray, list[int]]:
    """``Σ_m (P0_m + net_m) × mark_m × multiplier_m`` per account: its digit-position sums
    ``(6, n)`` (from the two-digit signed terms) and its values.

    Args:
        p_pre, net: ``(n, m)`` positions before the batch and net lots of the fills.
    """
    n, m = p_pre.shape
    out = np.zeros((AMOUNT_DIGITS, n), dtype=np.int64)
    values = [0] * n
    for j in range(m):
        pmv = st.margins[j].mark * st.markets[j].multiplier
        pm = [int(d) for d in digits_of([pmv], _CONST_DIGITS)[:, 0]]
        for src in (p_pre[:, j], net[:, j]):
            mag = np.abs(src.astype(np.int64))
            sgn = np.where(src < 0, -1, 1)
            dig = (mag & 4095, mag >> 12)
            for a in range(2):
                for b in range(_CONST_DIGITS):
                    out[a + b] += pm[b] * sgn * dig[a]
        for r in range(n):
            values[r] += (int(p_pre[r, j]) + int(net[r, j])) * pmv
    return out, values
