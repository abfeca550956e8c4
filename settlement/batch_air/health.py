"""The health section: margin after the batch and liquidation staging (statement 4).

It shares the accounts section's rows: row ``r`` reads account ``r``'s
post-state collateral ``C1`` and positions ``P1_m`` (the values hashed into
its post leaf) and proves, against the public per-market terms of
:class:`~sealbatch.settlement.batch_air.settle_witness.MarginTerms` (the
post-state's mark, its index — or the mark where there is no index —, the
oracle flag, the cross-margin tiers), exactly what
:mod:`sealbatch.settlement.margin` and :func:`~sealbatch.settlement.liquidation.plan_liquidations`
compute:

* **the tier** of each position: one selector per tier with
  ``max_lots_(t−1) < |P| ≤ max_lots_t`` (the last tier open above), both
  distances range-checked — ``tier_fractions`` (``searchsorted`` left);
* **the maintenance requirement per market** at the indexes (the mark where a
  market has no index), where the liquidation test judges the account:
  ``q = ⌈|P| × price × multiplier × maintenance_bps / 10 000⌉`` as
  ``10 000·q = |P|·price·multiplier·bps + r`` with ``0 ≤ r ≤ 9 999`` (``r`` and
  ``9 999 − r`` range-checked), in 12-bit digits with range-checked carries —
  rounded up, as ``cross_requirements``;
* **equity against maintenance** at the indexes:
  ``C1 + Σ_m P1_m × price_m × multiplier_m − Σ_m q_m = (1 − 2b)·|D|`` in digits,
  ``b`` a bit and ``|D| ≠ 0`` where ``b = 1`` (no negative zero): ``b = 1``
  exactly when the account is below maintenance (``equity < maintenance``);
* **staging**: the account has pending liquidation orders in the post-state
  (``staged``; ``staged_orders`` of them, non-zero exactly where ``staged``,
  each received as ``TAG_STAGED`` from its record in the post-state root's
  pending orders, :mod:`.headers`) if and only if it is below maintenance at the
  **indexes** (the marks' figures do not enter: no auction print, through the mark,
  can stage or keep off an account), holds a position in a market with a mark, and
  holds none in a market whose oracle is flagged — for every account on cross
  margin. A portfolio-margin account's row proves its cross figures but its staging
  is not tied to them (the stress-scenario rule is not in the AIR).

The liquidation slice (:mod:`.liq_slice`) reads these figures too: its shortfall toward
initial margin is measured where the account is judged. Nothing is proved at the marks:
no rule of the batch reads an account's margin there (the public margin terms carry the
marks' ``price × multiplier × bps`` digits all the same).

Bounds: a digit position of the maintenance identity sums ``10 000·q_k`` and
at most two products of a position digit and a digit of the public
``price × multiplier × bps`` (``< 2^54``, five digits) — below ``2^26``; one of
the equity identity at most ``2·m`` such products (``m ≤ 4``) and ``2 + m``
single digits. With carries in ``[−2^17, 2^17)`` every position stays below
``2^29.4 < p/2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sealbatch.crypto.expr import Column, Expr, const, pub
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air.accounts import AccountColumns
from sealbatch.settlement.batch_air.framework import TAG_STAGED
from sealbatch.settlement.batch_air.limbs import (
    AMOUNT_DIGITS,
    DIGIT,
    carries,
    carry_columns,
    carry_equations,
    digits_of,
    two_digits,
)
from sealbatch.settlement.batch_air.section import Section
from sealbatch.settlement.batch_air.settle_witness import (
    DerivedIndex,
    SettleStatement,
    SettleWitness,
)
from sealbatch.settlement.params import BPS

__all__ = ["PRICE_SETS", "HealthColumns", "health_section", "health_trace"]

#: The price sets an account is margined at after the batch, as (the public margin terms'
#: price set, label): the oracle indexes (the mark where a market has no index yet), where
#: the liquidation test judges it. The terms carry the marks' figures too (set 0), which
#: the test does not read.
PRICE_SETS = ((1, "index"),)
_CONST_DIGITS = 5  # price × multiplier × bps < 2^54
_GAP_DIGITS = 2  # tier distances below 2^24
_TOP = (1 << 24) - 1  # the last tier's upper end: every |position| is below 2^22
_REM_DIGITS = 2  # 0 <= r <= 9 999


@dataclass(frozen=True)
class PriceColumns:
    """One price set's columns: per market ``q`` (digits), ``r``, ``9 999 − r`` and
    carries; then ``|D|`` (digits), the below bit, its inverse helper and carries."""

    q: tuple[tuple[Column, ...], ...]
    r: tuple[tuple[Column, ...], ...]
    room: tuple[tuple[Column, ...], ...]
    q_carries: tuple[tuple[Column, ...], ...]
    d: tuple[Column, ...]
    below: Column
    d_inv: Column
    d_carries: tuple[Column, ...]


@dataclass(frozen=True)
class HealthColumns:
    """The section's columns (for trace generation)."""

    nz: tuple[Column, ...]
    nz_inv: tuple[Column, ...]
    tiers: tuple[tuple[Column, ...], ...]
    gap_lo: tuple[tuple[Column, ...], ...]
    gap_hi: tuple[tuple[Column, ...], ...]
    prices: tuple[PriceColumns, ...]
    open: Column
    open_inv: Column
    doubt: Column
    doubt_inv: Column
    eligible: Column
    staged: Column
    staged_orders: Column
    staged_inv: Column


def _digits_of_const(value: int, count: int) -> list[int]:
    if not 0 <= value < 1 << (12 * count):
        raise ValueError(f"expected a market constant below 2^{12 * count}, got {value}")
    return [int(d) for d in digits_of([value], count)[:, 0]]


def _bounds(tiers: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """Each tier's ``(lowest, highest)`` absolute position (``tier_fractions``)."""
    out = []
    for t, (max_lots, _) in enumerate(tiers):
        lo = 0 if t == 0 else tiers[t - 1][0] + 1
        out.append((lo, _TOP if t == len(tiers) - 1 else max_lots))
    return out


def _price(st: SettleStatement, s: int, j: int) -> int:
    mg = st.margins[j]
    return mg.mark if s == 0 else mg.index_mark


def _is_nonzero(sec: Section, value: Expr, flag: Column, inv: Column, name: str) -> None:
    """``flag = 1`` if ``value ≠ 0`` else 0 (``flag = value·inv``, ``(1 − flag)·value = 0``)."""
    sec.transition(flag - value * inv, f"statement 4: {name} is value × inverse")
    sec.transition((1 - flag) * value, f"statement 4: {name} is 1 for a non-zero value")


def health_section(
    sec: Section, st: SettleStatement, acc: AccountColumns, ix: DerivedIndex
) -> HealthColumns:
    """Allocate the health section's columns and add its constraints (both sides); the
    prices' constants and the markets' flags are read from the public inputs at ``ix``."""
    m = len(st.markets)
    if len(st.margins) != m:
        raise ValueError(f"expected margin terms for {m} markets, got {len(st.margins)}")
    coll, pos = acc.collateral[1], acc.positions[1]
    portfolio = acc.identity[8]
    sec.boolean(portfolio, "statement 4: acct.portfolio")

    nz, nz_inv, tier_cols, gap_lo, gap_hi = [], [], [], [], []
    for j in range(m):
        mag = pos[j].magnitude()
        flag, inv = sec.one(f"health.nz[{j}]"), sec.one(f"health.nz_inv[{j}]")
        _is_nonzero(sec, mag, flag, inv, f"position [{j}] held")
        nz.append(flag)
        nz_inv.append(inv)
        tiers = st.margins[j].tiers
        sel = sec.alloc(f"health.tier[{j}]", len(tiers)) if len(tiers) > 1 else []
        if len(tiers) > 1:
            total: Expr = const(0)
            for c in sel:
                sec.boolean(c, f"statement 4: tier selector [{j}]")
                total = total + c
            sec.transition(total - 1, f"statement 4: one tier [{j}]")
        tier_cols.append(tuple(sel))
        lo_e: Expr = const(0)
        hi_e: Expr = const(0)
        for t, (lo, hi) in enumerate(_bounds(tiers)):
            s_t = sel[t] if sel else const(1)
            lo_e = lo_e + lo * s_t
            hi_e = hi_e + hi * s_t
        glo = sec.digits(f"health.gap_lo[{j}]", _GAP_DIGITS)
        ghi = sec.digits(f"health.gap_hi[{j}]", _GAP_DIGITS)
        sec.transition(
            mag - lo_e - (glo[0] + DIGIT * glo[1]),
            f"statement 4: position [{j}] at or above its tier",
        )
        sec.transition(
            hi_e - mag - (ghi[0] + DIGIT * ghi[1]),
            f"statement 4: position [{j}] at or below its tier",
        )
        gap_lo.append(tuple(glo))
        gap_hi.append(tuple(ghi))

    price_cols = []
    for s, label in PRICE_SETS:
        qs, rs, rooms, qcs = [], [], [], []
        for j in range(m):
            tiers = st.margins[j].tiers
            q = sec.digits(f"health.{label}.q[{j}]", AMOUNT_DIGITS)
            r = sec.digits(f"health.{label}.r[{j}]", _REM_DIGITS)
            room = sec.digits(f"health.{label}.room[{j}]", _REM_DIGITS)
            sec.transition(
                r[0] + DIGIT * r[1] + room[0] + DIGIT * room[1] - (BPS - 1),
                f"statement 4: maintenance remainder [{j}] at {label} below 10 000",
            )
            # the selected tier's price × multiplier × bps, digit by digit
            chosen = tier_cols[j]
            km: list[Expr] = [const(0)] * _CONST_DIGITS
            for t in range(len(tiers)):
                s_t = chosen[t] if chosen else const(1)
                for b in range(_CONST_DIGITS):
                    km[b] = km[b] + pub(ix.margin_tier(s, j, t) + b) * s_t
            terms: list[list[Expr]] = [[] for _ in range(AMOUNT_DIGITS)]
            for k in range(AMOUNT_DIGITS):
                terms[k].append(BPS * q[k])
                if k < _REM_DIGITS:
                    terms[k].append(-r[k])
            for a, p_a in enumerate(pos[j].digits):
                for b in range(_CONST_DIGITS):
                    if a + b < AMOUNT_DIGITS:
                        terms[a + b].append(-(p_a * km[b]))
            cexprs, ccols = sec.carries(f"health.{label}.q_carry[{j}]", AMOUNT_DIGITS - 1)
            for k, e in enumerate(carry_equations(terms, cexprs)):
                sec.transition(
                    e, f"statement 4: maintenance [{j}] at {label} rounded up (digit {k})"
                )
            qs.append(tuple(q))
            rs.append(tuple(r))
            rooms.append(tuple(room))
            qcs.append(tuple(ccols))
        d = sec.digits(f"health.{label}.d", AMOUNT_DIGITS)
        below = sec.one(f"health.{label}.below")
        sec.boolean(below, f"statement 4: health.{label}.below")
        d_inv = sec.one(f"health.{label}.d_inv")
        digit_sum: Expr = const(0)
        for c in d:
            digit_sum = digit_sum + c
        sec.transition(
            below * (1 - digit_sum * d_inv),
            f"statement 4: below maintenance at {label} means a shortfall",
        )
        eq_terms: list[list[Expr]] = [[] for _ in range(AMOUNT_DIGITS)]
        for k in range(AMOUNT_DIGITS):
            eq_terms[k].append(coll.value_digit(k))
            for j in range(m):
                eq_terms[k].append(-qs[j][k])
            eq_terms[k].append(-((1 - 2 * below) * d[k]))
        for j in range(m):
            for a in range(len(pos[j].digits)):
                for b in range(_CONST_DIGITS):
                    if a + b < AMOUNT_DIGITS:
                        kd_b = pub(ix.margin_price(s, j) + b)
                        eq_terms[a + b].append(kd_b * pos[j].value_digit(a))
        dexprs, dcols = sec.carries(f"health.{label}.d_carry", AMOUNT_DIGITS - 1)
        for k, e in enumerate(carry_equations(eq_terms, dexprs)):
            sec.transition(e, f"statement 4: equity against maintenance at {label} (digit {k})")
        price_cols.append(
            PriceColumns(
                tuple(qs), tuple(rs), tuple(rooms), tuple(qcs), tuple(d), below, d_inv, tuple(dcols)
            )
        )

    # staging: below at the indexes, a position where there is a mark, none flagged
    open_, open_inv = sec.one("health.open"), sec.one("health.open_inv")
    doubt, doubt_inv = sec.one("health.doubt"), sec.one("health.doubt_inv")
    held: Expr = const(0)
    flagged: Expr = const(0)
    for j in range(m):
        held = held + pub(ix.has_mark(j)) * nz[j]
        flagged = flagged + pub(ix.flagged(j)) * nz[j]
    _is_nonzero(sec, held, open_, open_inv, "a position at a mark")
    _is_nonzero(sec, flagged, doubt, doubt_inv, "a position in a flagged market")
    eligible, staged = sec.one("health.eligible"), sec.one("health.staged")
    sec.transition(eligible - open_ * (1 - doubt), "statement 4: liquidable positions")
    sec.boolean(staged, "statement 4: health.staged")
    sec.transition(
        (1 - portfolio) * (staged - price_cols[0].below * eligible),
        "statement 4: staged for liquidation iff below maintenance at the indexes",
    )
    # the account's pending liquidation orders in the post-state (their records send its row
    # once each, headers.py): some exactly where it is staged
    orders, orders_inv = sec.one("health.staged_orders"), sec.one("health.staged_inv")
    sec.transition(orders * (1 - staged), "staged: liquidation orders only for a staged account")
    sec.transition(
        staged * (orders * orders_inv - 1), "staged: a staged account has a liquidation order"
    )
    sec.bus.receive(TAG_STAGED, [sec.row], orders, "staged: the account's liquidation orders")
    return HealthColumns(
        nz=tuple(nz),
        nz_inv=tuple(nz_inv),
        tiers=tuple(tier_cols),
        gap_lo=tuple(gap_lo),
        gap_hi=tuple(gap_hi),
        prices=tuple(price_cols),
        open=open_,
        open_inv=open_inv,
        doubt=doubt,
        doubt_inv=doubt_inv,
        eligible=eligible,
        staged=staged,
        staged_orders=orders,
        staged_inv=orders_inv,
    )


# --------------------------------------------------------------------------
# Trace generation (prover side)
# --------------------------------------------------------------------------


def _inverse(v: int) -> int:
    return pow(v % P, P - 2, P) if v % P else 0


def _signed_digits(value: int) -> list[int]:
    return [int(d) for d in digits_of([value], AMOUNT_DIGITS)[:, 0]]


def _row(
    st: SettleStatement, cols: HealthColumns, collateral: int, positions: list[int]
) -> tuple[dict[int, int], list[bool]]:
    """One account's honest column values (``column index → value``) and its below bits."""
    out: dict[int, int] = {}
    m = len(st.markets)
    mags = [abs(p) for p in positions]
    tier_of = []
    for j in range(m):
        out[cols.nz[j].index] = int(mags[j] != 0)
        out[cols.nz_inv[j].index] = _inverse(mags[j])
        bounds = _bounds(st.margins[j].tiers)
        t = next(t for t, (lo, hi) in enumerate(bounds) if lo <= mags[j] <= hi)
        tier_of.append(t)
        for i, c in enumerate(cols.tiers[j]):
            out[c.index] = int(i == t)
        lo, hi = bounds[t]
        for c, v in zip(cols.gap_lo[j], two_digits(mags[j] - lo), strict=True):
            out[c.index] = v
        for c, v in zip(cols.gap_hi[j], two_digits(hi - mags[j]), strict=True):
            out[c.index] = v
    below = []
    for (s, _), pc in zip(PRICE_SETS, cols.prices, strict=True):
        maint = 0
        equity = collateral
        for j in range(m):
            k_mult = _price(st, s, j) * st.markets[j].multiplier
            bps = st.margins[j].tiers[tier_of[j]][1]
            x = mags[j] * k_mult * bps
            q = -(-x // BPS)
            r = BPS * q - x
            maint += q
            equity += positions[j] * k_mult
            qd = _signed_digits(q)
            for c, v in zip(pc.q[j], qd, strict=True):
                out[c.index] = v
            for c, v in zip(pc.r[j], two_digits(r), strict=True):
                out[c.index] = v
            for c, v in zip(pc.room[j], two_digits(BPS - 1 - r), strict=True):
                out[c.index] = v
            sums = [BPS * qd[k] - (two_digits(r)[k] if k < _REM_DIGITS else 0) for k in range(6)]
            km = _digits_of_const(k_mult * bps, _CONST_DIGITS)
            for a, p_a in enumerate(two_digits(mags[j])):
                for b in range(_CONST_DIGITS):
                    if a + b < AMOUNT_DIGITS:
                        sums[a + b] -= p_a * km[b]
            _put_carries(out, pc.q_carries[j], sums)
        diff = equity - maint
        is_below = diff < 0
        below.append(is_below)
        dd = _signed_digits(abs(diff))
        for c, v in zip(pc.d, dd, strict=True):
            out[c.index] = v
        out[pc.below.index] = int(is_below)
        out[pc.d_inv.index] = _inverse(sum(dd))
        cd = _signed_digits(abs(collateral))
        csign = -1 if collateral < 0 else 1
        sums = [csign * cd[k] - (-1 if is_below else 1) * dd[k] for k in range(6)]
        for j in range(m):
            qd = [out[c.index] for c in pc.q[j]]
            for k in range(AMOUNT_DIGITS):
                sums[k] -= qd[k]
            kd = _digits_of_const(_price(st, s, j) * st.markets[j].multiplier, _CONST_DIGITS)
            psign = -1 if positions[j] < 0 else 1
            for a, p_a in enumerate(two_digits(mags[j])):
                for b in range(_CONST_DIGITS):
                    if a + b < AMOUNT_DIGITS:
                        sums[a + b] += kd[b] * psign * p_a
        _put_carries(out, pc.d_carries, sums)
    held = sum(int(mags[j] != 0) for j in range(m) if st.margins[j].mark > 0)
    flagged = sum(int(mags[j] != 0) for j in range(m) if st.margins[j].flagged)
    out[cols.open.index] = int(held != 0)
    out[cols.open_inv.index] = _inverse(held)
    out[cols.doubt.index] = int(flagged != 0)
    out[cols.doubt_inv.index] = _inverse(flagged)
    out[cols.eligible.index] = int(held != 0 and flagged == 0)
    return out, below


def _put_carries(out: dict[int, int], columns: tuple[Column, ...], sums: list[int]) -> None:
    carry = carries(np.array([[v] for v in sums], dtype=np.int64))
    lo, hi = carry_columns(carry)
    for k in range(carry.shape[0]):
        out[columns[2 * k].index] = int(lo[k, 0])
        out[columns[2 * k + 1].index] = int(hi[k, 0])


def health_trace(
    main: np.ndarray,
    cols: HealthColumns,
    st: SettleStatement,
    sw: SettleWitness,
    *,
    refuse: bool = True,
) -> None:
    """Write the section's honest values into ``main`` (``(C, N)`` uint64).

    The ``staged`` column is the witness's (the accounts with pending liquidation
    orders in the published post-state); every other value is computed from the
    post-state figures of the witness.

    Raises:
        ValueError: with ``refuse``, a cross-margin account staged for liquidation
            that the rule does not stage, or one it stages that is not (statement 4).
    """
    n, m = st.n_post, len(st.markets)
    orders = dict(sw.staged)
    staged = set(orders)
    rows: list[dict[int, int]] = []
    for r in range(n):
        positions = [int(sw.positions_post[r, j]) for j in range(m)]
        values, below = _row(st, cols, int(sw.collateral_post[r]), positions)
        rule = bool(below[0] and values[cols.eligible.index])
        if refuse and not int(sw.portfolio[r]) and rule != (r in staged):
            want = "staged" if rule else "not staged"
            raise ValueError(
                f"statement 4: account row {r} expected {want} for liquidation (below "
                f"maintenance at the indexes: {below[0]}), got the opposite"
            )
        values[cols.staged.index] = int(r in staged)
        values[cols.staged_orders.index] = orders.get(r, 0)
        values[cols.staged_inv.index] = pow(orders.get(r, 1), P - 2, P)
        rows.append(values)
    pad, _ = _row(st, cols, 0, [0] * m)
    pad[cols.staged.index] = 0
    pad[cols.staged_orders.index] = 0
    pad[cols.staged_inv.index] = 0
    for index, value in pad.items():
        main[index, n:] = value % P
    for r, values in enumerate(rows):
        for index, value in values.items():
            main[index, r] = value % P
