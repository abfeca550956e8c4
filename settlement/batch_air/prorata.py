"""Pro-rata rationing at the margin (statement S7) on the book section's rows.

:mod:`.fair` proves price priority against each market's marginal key; the
orders *at* the margin (``atm``: long side, neither better nor worse) share
the lots left for the level, ``R = V − Σ fills of the better long orders``,
as :func:`sealbatch.auction.allocation.pro_rata` does:

* **S7 pro rata**: each marginal order fills ``⌊q·R/Q⌋ + bonus`` lots, with
  ``Q`` the level's total quantity and ``bonus ∈ {0, 1}``. The floor is
  proved by the integer identity ``q·R = ⌊q·R/Q⌋·Q + rem`` with
  ``0 ≤ rem < Q``: ``q·R`` reaches 2^52, so the identity is checked on 12-bit
  digits, position by position with signed carries (``E_k = Σ_(i+j=k)
  (q_i·R_j − f_i·Q_j) − rem_k + c_(k−1) − 2^12·c_k = 0``); every digit and
  carry is range-checked, so ``|E_k| < 2^27 < p/2`` and ``E_k ≡ 0`` means
  ``E_k = 0``. The bonuses then number ``R − Σ⌊q·R/Q⌋`` because the market's
  fills balance (S2);
* **S7 largest remainder**: against a per-market threshold ``T``, an order
  with a bonus has ``rem ≥ T`` and one without ``rem ≤ T``, so the leftover
  lots go to the largest remainders.

* **S7 tie-break**: the orders whose remainder equals ``T`` exactly (an
  is-zero gadget on ``rem − T``, so the prover cannot hide one) send
  ``(TAG_TIE, market, bonus, id×8)`` to a key row of :mod:`.tiekeys`, which
  computes the Poseidon2 tie-break key ``compress(seed, order id)`` and proves
  that in each market every tied order with a bonus has a smaller key than
  every tied order without: the leftover lots go by key exactly as
  :func:`~sealbatch.auction.allocation.pro_rata` gives them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.air import Column, Expr, col, shift_rows
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air.framework import AirBuilder, LevelRuns, TraceBuilder
from sealbatch.settlement.batch_air.tiekeys import TAG_TIE

__all__ = ["declare", "generate", "rationing"]

SECTION = "book"
_BITS = 30
_LOTS = 22
_CARRY_BITS = 15
_CARRY_OFFSET = 1 << 14
_DIGIT = 1 << 12

I64 = npt.NDArray[np.int64]


def _digits(b: AirBuilder, name: str, value: Expr, bits: int) -> list[Column]:
    """Range-check ``value`` in ``bits`` and return its 12-bit limbs as digits."""
    b.range_check(SECTION, name, value, bits)
    return [col(i) for i in b.range_checks[-1].limbs]


def declare(b: AirBuilder, book: Mapping[str, Column]) -> None:
    """Add the pro-rata columns and constraints over the book's and :mod:`.fair`'s columns."""

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    qty, fill, chg, vol = book["qty"], book["fill"], book["chg"], book["vol"]
    lg, bet, wor = book["lg"], book["better"], book["worse"]
    atm, bonus, rem = c("atm"), c("bonus"), c("rem")
    cum_q, cum_bf, q_lvl, r_lvl, thr = c("cum_q"), c("cum_bf"), c("q_lvl"), c("r_lvl"), c("thr")
    carries = [c(f"carry{k}") for k in range(3)]

    b.constrain(atm - lg * (1 - bet - wor), "S7 pro rata: at the margin")
    b.boolean(bonus, "S7 pro rata: bonus")
    b.constrain((1 - atm) * bonus, "S7 pro rata: a bonus only at the margin")
    b.constrain((1 - atm) * rem, "S7 pro rata: a remainder only at the margin")
    # The level's quantity Q and the lots left for it R, per market.
    b.boundary(0, cum_q - atm * qty, "S7 pro rata: level lots start")
    b.constrain(
        cum_q.next - (1 - chg) * cum_q - atm.next * qty.next, "S7 pro rata: level lots running"
    )
    better_fill = lg * bet * fill
    b.boundary(0, cum_bf - better_fill, "S7 pro rata: better fills start")
    b.constrain(
        cum_bf.next - (1 - chg) * cum_bf - shift_rows(better_fill),
        "S7 pro rata: better fills running",
    )
    b.constrain(chg * (cum_q - q_lvl), "S7 pro rata: Q = the margin's lots")
    b.constrain(chg * (vol - cum_bf - r_lvl), "S7 pro rata: R = the lots left for the margin")
    for const_col, name in ((q_lvl, "Q"), (r_lvl, "R"), (thr, "T")):
        b.constrain((1 - chg) * (const_col.next - const_col), f"S7 pro rata: {name} constant")

    # q·R = fb·Q + rem on 12-bit digits, fb = fill − bonus = ⌊q·R/Q⌋.
    q = _digits(b, "pr_q", qty, _LOTS)
    f = _digits(b, "pr_fb", fill - bonus, _LOTS)
    r = _digits(b, "pr_r", r_lvl, _BITS)
    qq = _digits(b, "pr_qq", q_lvl, _BITS)
    rd = _digits(b, "pr_rem", rem, _BITS)
    for k, carry in enumerate(carries):
        b.range_check(SECTION, f"pr_c{k}", carry + _CARRY_OFFSET, _CARRY_BITS)
    previous: Expr | None = None
    for k in range(4):
        pairs = [(i, k - i) for i in range(2) if 0 <= k - i < 3]  # never empty for k ≤ 3
        terms: Expr = q[pairs[0][0]] * r[pairs[0][1]] - f[pairs[0][0]] * qq[pairs[0][1]]
        for i, j in pairs[1:]:
            terms = terms + q[i] * r[j] - f[i] * qq[j]
        e = terms - rd[k] if k < 3 else terms
        if previous is not None:
            e = e + previous
        if k < 3:
            e = e - _DIGIT * carries[k]
        b.constrain(atm * e, f"S7 pro rata: q·R = ⌊q·R/Q⌋·Q + rem, digit {k}")
        previous = carries[k] if k < 3 else None
    b.range_check(SECTION, "pr_rem_lt", atm * (q_lvl - 1 - rem), _BITS)
    b.range_check(
        SECTION,
        "pr_largest",
        atm * (bonus * (rem - thr) + (1 - bonus) * (thr - rem)),
        _BITS,
    )
    # The orders exactly at the threshold compete by tie-break key (:mod:`.tiekeys`): an
    # is-zero gadget finds them (``tied`` is not the prover's choice) and each sends its
    # market, bonus and id to its key row.
    tinv = c("tinv")
    gap = rem - thr
    b.constrain(atm * gap * (1 - gap * tinv), "S7 tie-break: tied = at the threshold")
    tied = atm * (1 - gap * tinv)
    ids = [book[f"id{k}"] for k in range(8)]
    b.bus.send(TAG_TIE, [book["mkt"], bonus, *ids], tied, "S7 tie-break: a tied order")


def rationing(rows: Mapping[str, I64], refuse: bool = False) -> dict[str, I64]:
    """The marginal rationing of each row: at the margin, floor, bonus, remainder, the
    level's ``Q`` and ``R``, the threshold and whether the row ties at it.

    The threshold ``T`` is the prover's choice within what the largest-remainder rule
    allows; it is chosen so that as few rows as possible sit exactly at it (each such
    row proves its tie-break key, one permutation): between the losers' largest and
    the winners' smallest remainder when they differ, ``Q`` when no order gets a
    leftover lot.

    Args:
        rows: the book's and :mod:`.fair`'s columns over the active rows (``qty``,
            ``fill``, ``chg``, ``vol``, ``lg``, ``better``, ``worse``).
        refuse: raise when the batch breaks the pro-rata rule.

    Raises:
        ValueError: the marginal level is not rationed pro rata (named), with ``refuse``.
    """
    qty, fill, chg, vol = rows["qty"], rows["fill"], rows["chg"], rows["vol"]
    lg, bet, wor = rows["lg"], rows["better"], rows["worse"]
    n = len(qty)
    atm = lg * (1 - bet - wor)
    runs = LevelRuns.of(chg)
    starts, seg, ends, running = runs.starts, runs.seg, runs.ends, runs.running

    cum_q = running(atm * qty)
    cum_bf = running(lg * bet * fill)
    q_lvl = cum_q[ends][seg] if n else cum_q
    r_lvl = (vol - cum_bf)[ends][seg] if n else cum_q
    safe_q = np.maximum(q_lvl, 1)
    floor = np.where(atm == 1, (qty * r_lvl) // safe_q, 0)  # q·R < 2^52 fits int64
    bonus = np.where(atm == 1, fill - floor, 0)
    if refuse and np.any((bonus < 0) | (bonus > 1)):
        r = int(np.flatnonzero((bonus < 0) | (bonus > 1))[0])
        raise ValueError(
            f"S7 pro rata: a marginal order of {int(qty[r])} lots fills {int(fill[r])}, "
            f"expected {int(floor[r])} or {int(floor[r]) + 1} (R = {int(r_lvl[r])}, "
            f"Q = {int(q_lvl[r])})"
        )
    bonus = np.clip(bonus, 0, 1)
    rem = np.where(atm == 1, qty * r_lvl - (fill - bonus) * q_lvl, 0)
    thr = np.zeros(n, np.int64)
    for s, e in zip(np.flatnonzero(starts), ends, strict=True):
        at = np.flatnonzero(atm[s : e + 1]) + s
        won, lost = at[bonus[at] == 1], at[bonus[at] == 0]
        if not won.size:
            thr[s : e + 1] = int(q_lvl[s])  # no leftover lot: every remainder is below Q
            continue
        low = int(rem[won].min())
        high = int(rem[lost].max()) if lost.size else low - 2
        if high < low - 1:
            t = high + 1  # nobody at the threshold
        elif high == low - 1:  # one of the two groups sits at it: the smaller one
            t = low if int((rem[won] == low).sum()) <= int((rem[lost] == high).sum()) else high
        else:
            t = low
        thr[s : e + 1] = t
    largest = atm * np.where(bonus == 1, rem - thr, thr - rem)
    if refuse and np.any(largest < 0):
        raise ValueError("S7 largest remainder: a leftover lot went past a larger remainder")
    tie = (atm * (rem == thr)).astype(np.int64)
    return {
        "atm": atm,
        "bonus": bonus,
        "rem": rem,
        "cum_q": cum_q,
        "cum_bf": cum_bf,
        "q_lvl": q_lvl,
        "r_lvl": r_lvl,
        "thr": thr,
        "largest": largest,
        "tie": tie,
    }


def generate(tb: TraceBuilder, rows: Mapping[str, I64], refuse: bool) -> dict[str, I64]:
    """Write the pro-rata columns (prover side).

    Args:
        tb: the trace.
        rows: the book's and :mod:`.fair`'s columns over the active rows (``qty``,
            ``fill``, ``chg``, ``vol``, ``lg``, ``better``, ``worse``).
        refuse: raise when the batch breaks the pro-rata rule.

    Returns:
        The rationing (:func:`rationing`), for the tie-break rows.

    Raises:
        ValueError: the marginal level is not rationed pro rata (named), with ``refuse``.
    """
    ration = rationing(rows, refuse)
    qty, fill = rows["qty"], rows["fill"]
    n = len(qty)
    atm, bonus, rem, thr = ration["atm"], ration["bonus"], ration["rem"], ration["thr"]
    cum_q, cum_bf = ration["cum_q"], ration["cum_bf"]
    q_lvl, r_lvl = ration["q_lvl"], ration["r_lvl"]
    largest = ration["largest"]
    gap = rem - thr
    tinv = np.array([pow(int(d) % P, P - 2, P) if d else 0 for d in atm * gap], np.int64)
    # The digit identity's carries, position by position (exact integers).
    q_d = [qty & 4095, qty >> 12]
    fb = fill - bonus
    f_d = [fb & 4095, fb >> 12]
    r_d = [r_lvl & 4095, (r_lvl >> 12) & 4095, r_lvl >> 24]
    qq_d = [q_lvl & 4095, (q_lvl >> 12) & 4095, q_lvl >> 24]
    rm = np.where(atm == 1, rem, 0)
    rem_d = [rm & 4095, (rm >> 12) & 4095, rm >> 24]
    carries = []
    carry = np.zeros(n, np.int64)
    for k in range(3):
        terms = np.zeros(n, np.int64)
        for i in range(2):
            j = k - i
            if 0 <= j < 3:
                terms += q_d[i] * r_d[j] - f_d[i] * qq_d[j]
        total = np.asarray(atm * (terms - rem_d[k] + carry), np.int64)
        carry = total >> 12  # exact: the low 12 bits of total are 0 when the identity holds
        carries.append(carry)
    for name, values in (
        ("atm", atm),
        ("bonus", bonus),
        ("rem", rm),
        ("cum_q", cum_q),
        ("cum_bf", cum_bf),
        ("q_lvl", q_lvl),
        ("r_lvl", r_lvl),
        ("thr", thr),
        ("tinv", tinv),
        *((f"carry{k}", carries[k]) for k in range(3)),
    ):
        tb.set(SECTION, name, values)
    tb.set_range(SECTION, "pr_q", qty, "S7 pro rata (quantity digits)")
    tb.set_range(SECTION, "pr_fb", fill - bonus, "S7 pro rata (floor digits)")
    tb.set_range(SECTION, "pr_r", r_lvl, "S7 pro rata (R digits)")
    tb.set_range(SECTION, "pr_qq", q_lvl, "S7 pro rata (Q digits)")
    tb.set_range(SECTION, "pr_rem", rm, "S7 pro rata (remainder digits)")
    for k in range(3):
        tb.set_range(
            SECTION, f"pr_c{k}", carries[k] + _CARRY_OFFSET, "S7 pro rata (carry)", _CARRY_OFFSET
        )
    tb.set_range(SECTION, "pr_rem_lt", atm * (q_lvl - 1 - rm), "S7 pro rata (remainder < Q)")
    tb.set_range(SECTION, "pr_largest", largest, "S7 largest remainder")
    return ration
