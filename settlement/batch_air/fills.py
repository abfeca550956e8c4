"""The fills section: one row per fill (the auction's and the RFQ blocks'), its fee,
its block's price transfer, and one sum per account.

Statement 3 (DESIGN.md, "The batch statement"). The fill rows form one run
at the top of the section, in runs of equal account (``first`` marks the
start of a run). Each row

* receives ``(TAG_FILL, account, market, side, lots, price, block price)`` — in
  the batch AIR the tuple each fill record of the outputs digest sends
  (:mod:`.digests`, which the filled order rows of the book reach) or each side
  of a settled RFQ block (:mod:`.inputs_digest`), in ``sealbatch_settle`` the
  verifier's table of the given fills — with ``price`` the market's public
  clearing price (a one-hot market selector picks it), and ``lots < 2^22``;
  in ``sealbatch_settle`` it also sends the same tuple under
  ``TAG_PUBLISHED_FILL`` back to that table, so the fills settled are exactly
  the given ones, prices included;
* proves its fee ``fee = ⌈lots × price × multiplier × fee_bps / 10 000⌉``
  exactly as :func:`sealbatch.settlement.ledger.fill_fee` rounds it (up):
  ``fee·10^4 − lots·K = r`` with ``0 <= r <= 9 999`` and
  ``K = price × multiplier × fee_bps`` public per market, in 12-bit digits
  with range-checked carries;
* adds its signed lots (per market) and its fee digits to the run's sums;
* settles an RFQ block's price transfer: the tuple's sixth element is the block
  price ``price + (1 − 2s)·|Δ|`` (``s`` a bit, ``|Δ| < 2^30`` in three digits;
  a book fill sends its price there, so ``|Δ| = 0``), and the row proves
  ``T = |Δ| × lots × multiplier`` exactly — ``L = lots × multiplier`` in three
  digits (one carry), then ``T = |Δ| × L`` in six digits, every digit position
  an integer identity with its carry (below 2^13: a 12-bit digit and a bit) —
  and sends each digit ``t_k`` of ``T`` to its account as a transfer,
  ``(TAG_TRANSFERS, account, k)`` (received) or ``(account, 6 + k)`` (paid) with
  multiplicity ``t_k``: the buyer pays and the seller receives when the block
  price is above the clearing price (``side ⊕ s`` picks the slot).

Each row also proves its liquidation penalty (:mod:`.penalties`: owed only on a
liquidation fill, rounded up). The last row of a run sends ``(TAG_ACCOUNT_FILLS,
account, net lots per market, fee digit sums, penalty digit sums)``, which the
account's row receives at most once: a run split in two, or two runs for one
account, leaves a tuple unreceived and
the bus does not balance. A running net is range-checked to ``|net| < 2^23``
on every row (so the sum of a run never wraps) and a run holds at most 2^12
fills (so each fee digit sum stays below 2^24).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sealbatch.crypto.expr import Column, Expr, const, pub, shift_rows
from sealbatch.settlement.batch_air.limbs import (
    AMOUNT_DIGITS,
    DIGIT,
    DIGIT_BITS,
    carries,
    carry_columns,
    carry_equations,
    digits_of,
    to_field,
)
from sealbatch.settlement.batch_air.penalties import (
    FillPenaltyColumns,
    fill_penalty_section,
    fill_penalty_trace,
)
from sealbatch.settlement.batch_air.pools import (
    FeePoolColumns,
    fee_pool_section,
    fee_pool_trace,
)
from sealbatch.settlement.batch_air.section import (
    TAG_ACCOUNT_FILLS,
    TAG_FILL,
    TAG_PUBLISHED_FILL,
    TAG_TRANSFERS,
    Section,
)
from sealbatch.settlement.batch_air.settle_witness import (
    DerivedIndex,
    FillRow,
    SettleStatement,
    SettleWitness,
)
from sealbatch.settlement.params import BPS

__all__ = ["FEE_CONST_DIGITS", "FillColumns", "fills_section", "fills_trace"]

#: Digits of |Δ| (block price − clearing price, below 2^30), of lots × multiplier
#: (below 2^22 · 2^12) and of the transfer T = |Δ| × lots × multiplier (below 2^64).
_DIFF_DIGITS, _LOTS_MULT_DIGITS, _TRANSFER_DIGITS = 3, 3, AMOUNT_DIGITS
#: Digits of K = price × multiplier × fee_bps (< 2^30 · 2^10 · 2^10 = 2^50).
FEE_CONST_DIGITS = 5
_NET_OFFSET = 1 << 23
_FEE_POSITIONS = AMOUNT_DIGITS + 1  # lots (2 digits) × K (5 digits) and fee·10^4 reach 2^76


@dataclass(frozen=True)
class FillColumns:
    on: Column
    first: Column
    last: Column
    account: Column
    side: Column
    liq: Column
    lots: tuple[Column, Column]
    market: tuple[Column, ...]
    fee: tuple[Column, ...]
    rest: tuple[Column, ...]  # r0, r1, q0, q1
    carries: tuple[Column, ...]
    count: Column
    net: tuple[Column, ...]
    net_range: tuple[Column, ...]  # per market: low, high digits of net + 2^23
    fee_sums: tuple[Column, ...]
    block: tuple[Column, ...]  # s, |Δ|×3, L×3, L's carry, T×6, T's carries (lo×4, hi×4)
    penalty: FillPenaltyColumns
    pool: FeePoolColumns


def _fee_const(st: SettleStatement, j: int) -> list[int]:
    mt = st.markets[j]
    k = mt.price * mt.multiplier * mt.fee_bps
    if k >> (12 * FEE_CONST_DIGITS):
        raise ValueError(f"expected price × multiplier × fee_bps below 2^60, got {k}")
    return [int(d) for d in digits_of([k], FEE_CONST_DIGITS)[:, 0]]


def fills_section(
    sec: Section, st: SettleStatement, ix: DerivedIndex, *, publish: bool = True
) -> FillColumns:
    """Allocate the fills section's columns and add its constraints (each market's price
    and fee constant read from the public inputs at ``ix``).

    ``publish``: send each fill back under ``TAG_PUBLISHED_FILL`` (the settlement AIR
    alone); the batch AIR's fills come from the outputs digest's fill records, which
    are the published fills already.
    """
    m = len(st.markets)
    on, first, last = sec.one("fill.on"), sec.one("fill.first"), sec.one("fill.last")
    account, side = sec.one("fill.account"), sec.one("fill.side")
    liq = sec.one("fill.liq")
    a0, a1 = sec.alloc("fill.lots", 2)
    sec.range12(a0, "fill.lots[0]")
    sec.range12(a1, "fill.lots[1]", 10)
    market = tuple(sec.alloc("fill.market", m))
    fee = tuple(sec.digits("fill.fee", AMOUNT_DIGITS))
    r0, r1, q0, q1 = sec.alloc("fill.rest", 4)
    sec.range12(r0, "fill.rest r0")
    sec.range12(r1, "fill.rest r1", 2)
    sec.range12(q0, "fill.rest q0")
    sec.range12(q1, "fill.rest q1", 2)
    count = sec.one("fill.count")
    sec.range12(count, "fill.count (at most 2^12 fills an account)")
    net = tuple(sec.alloc("fill.net", m))
    net_range = tuple(sec.alloc("fill.net_range", 2 * m))
    for i, c in enumerate(net_range):
        sec.range12(c, f"fill.net_range[{i}]")
    fee_sums = tuple(sec.alloc("fill.fee_sums", AMOUNT_DIGITS))

    for c, name in (
        (on, "fill.on"),
        (first, "fill.first"),
        (last, "fill.last"),
        (side, "side"),
        (liq, "fill.liq"),
    ):
        sec.boolean(c, name)
    sec.transition(on.next * (1 - on), "fill rows form one run")
    sec.transition(first * (1 - on), "fill.first only on fill rows")
    sec.boundary(0, first - on, "the first fill row starts a run")
    sec.transition(
        on.next * (1 - first.next) * (account.next - account),
        "statement 3: a run is one account",
    )
    sec.transition(last - on * (1 - on.next * (1 - first.next)), "fill.last ends a run")
    sec.boundary(-1, last - on, "fill.last on the last row")
    selected: Expr = const(0)
    index: Expr = const(0)
    price: Expr = const(0)
    for j, c in enumerate(market):
        sec.boolean(c, f"fill.market[{j}]")
        selected = selected + c
        index = index + j * c
        price = price + pub(ix.market_price(j)) * c
    sec.transition(selected - on, "a fill row is in exactly one market")
    lots = a0 + 4096 * a1
    block = _block_transfer(sec, st, ix, market, side, account, (a0, a1))
    sign, diff = block[0], block[1 : 1 + _DIFF_DIGITS]
    magnitude = diff[0] + DIGIT * diff[1] + DIGIT * DIGIT * diff[2]
    block_price = price + (1 - 2 * sign) * magnitude
    sec.transition(liq * (1 - on), "fill.liq only on fill rows")
    tup = [account, index, side, lots, price, block_price, liq]
    sec.bus.receive(TAG_FILL, tup, on, "fill")
    if publish:
        sec.bus.send(
            TAG_PUBLISHED_FILL,
            tup,
            on,
            "published fill",
        )

    # fee·10^4 − lots·K − r = 0, digit by digit
    terms: list[list[Expr]] = [[] for _ in range(_FEE_POSITIONS)]
    for k in range(AMOUNT_DIGITS):
        terms[k].append(BPS * fee[k])
    terms[0].append(-r0)
    terms[1].append(-r1)
    for a, digit in enumerate((a0, a1)):
        for b in range(FEE_CONST_DIGITS):
            kb: Expr = const(0)
            for j in range(m):
                kb = kb + pub(ix.fee(j) + b) * market[j]
            terms[a + b].append(-(digit * kb))
    sec.transition(
        r0 + 4096 * r1 + q0 + 4096 * q1 - (BPS - 1), "statement 3: fee remainder below 10^4"
    )
    carry_exprs, carry_cols = sec.carries("fill.carry", _FEE_POSITIONS - 1)
    for k, e in enumerate(carry_equations(terms, carry_exprs)):
        sec.transition(e, f"statement 3: fee rounded up from the notional (digit {k})")

    # runs: count, net lots per market, fee digit sums
    restart = 1 - first.next
    sec.boundary(0, count - on, "fill.count starts at the first row")
    sec.transition(count.next - restart * count - on.next, "fill.count counts a run")
    signed_lots = (2 * side - 1) * lots
    for j in range(m):
        sec.boundary(0, net[j] - market[j] * signed_lots, f"fill.net[{j}] starts a run")
        sec.transition(
            net[j].next - restart * net[j] - market[j].next * shift_rows(signed_lots),
            f"statement 3: fill.net[{j}] sums the run's lots",
        )
        sec.transition(
            net[j] + _NET_OFFSET - net_range[2 * j] - 4096 * net_range[2 * j + 1],
            f"fill.net[{j}] below 2^23",
        )
    for k in range(AMOUNT_DIGITS):
        sec.boundary(0, fee_sums[k] - fee[k], f"fill.fee_sums[{k}] starts a run")
        sec.transition(
            fee_sums[k].next - restart * fee_sums[k] - fee[k].next,
            f"statement 3: fill.fee_sums[{k}] sums the run's fees",
        )
    penalty = fill_penalty_section(sec, ix, m, liq, (a0, a1), market, first)
    pool = fee_pool_section(sec, ix, fee)
    sec.bus.send(
        TAG_ACCOUNT_FILLS, [account, *net, *fee_sums, *penalty.sums], last, "account's fills"
    )
    return FillColumns(
        on, first, last, account, side, liq, (a0, a1), market, fee, (r0, r1, q0, q1),
        tuple(carry_cols), count, net, net_range, fee_sums, block, penalty, pool,
    )  # fmt: skip


def _block_transfer(
    sec: Section,
    st: SettleStatement,
    ix: DerivedIndex,
    market: tuple[Column, ...],
    side: Column,
    account: Column,
    lots: tuple[Column, Column],
) -> tuple[Column, ...]:
    """An RFQ block's price transfer on a fill row (see the module docstring): the
    columns ``s, |Δ|×3, L×3, L's carry, T×6, T's carries (lo×4, hi×4)``."""
    sign = sec.one("fill.block.sign")
    sec.boolean(sign, "fill.block.sign")
    diff = sec.digits("fill.block.diff", _DIFF_DIGITS)
    sec.range12(diff[-1], "fill.block.diff top (|Δ| below 2^30)", 30 - 2 * DIGIT_BITS)
    lm = sec.digits("fill.block.lots_mult", _LOTS_MULT_DIGITS)
    lm_carry = sec.one("fill.block.lots_mult_carry")
    sec.range12(lm_carry, "fill.block.lots_mult_carry")
    t = sec.digits("fill.block.transfer", _TRANSFER_DIGITS)
    positions = _DIFF_DIGITS + _LOTS_MULT_DIGITS - 1
    lo = sec.digits("fill.block.carry_lo", positions - 1)
    hi = sec.alloc("fill.block.carry_hi", positions - 1)
    for k, c in enumerate(hi):
        sec.boolean(c, f"fill.block.carry_hi[{k}]")
    mult: Expr = const(0)
    for j, c in enumerate(market):
        mult = mult + pub(ix.multiplier(j)) * c
    # L = lots × multiplier: a0·mult = l0 + 2^12·carry, a1·mult + carry = l1 + 2^12·l2
    # (every term below 2^24: an integer identity)
    sec.transition(
        lots[0] * mult - lm[0] - DIGIT * lm_carry, "statement 3: a block's lots × multiplier (0)"
    )
    sec.transition(
        lots[1] * mult + lm_carry - lm[1] - DIGIT * lm[2],
        "statement 3: a block's lots × multiplier (1)",
    )
    # T = |Δ| × L, digit by digit: position k sums at most three products below 2^24 and
    # a carry below 2^13, so each identity is an integer one; T's top digit is the last carry
    carry = [lo[k] + DIGIT * hi[k] for k in range(positions - 1)]
    for k in range(positions):
        terms: Expr = const(0)
        for i in range(_DIFF_DIGITS):
            if 0 <= k - i < _LOTS_MULT_DIGITS:
                terms = terms + diff[i] * lm[k - i]
        if k:
            terms = terms + carry[k - 1]
        out = carry[k] if k < positions - 1 else t[positions]
        sec.transition(terms - t[k] - DIGIT * out, f"statement 3: a block's transfer (digit {k})")
    # the transfer to the account: received (0 + k) or paid (6 + k); side ⊕ s pays
    pays = side + sign - 2 * side * sign
    for k in range(_TRANSFER_DIGITS):
        sec.bus.receive(  # a send of weight t_k
            TAG_TRANSFERS,
            [account, const(k) + AMOUNT_DIGITS * pays],
            -t[k],
            f"statement 3: a block's transfer digit {k} to its account",
        )
    return (sign, *diff, *lm, lm_carry, *t, *lo, *hi)


def _block_trace(
    main: np.ndarray, cols: FillColumns, st: SettleStatement, fills: list[FillRow]
) -> None:
    """Write each fill row's block-transfer columns (zeros for a book fill)."""
    for r, f in enumerate(fills):
        bp = f.block_price or f.price
        mult = st.markets[f.market].multiplier
        diff = abs(bp - f.price)
        lots_mult = f.lots * mult
        t = diff * lots_mult
        d = [(diff >> (DIGIT_BITS * i)) % DIGIT for i in range(_DIFF_DIGITS)]
        lm = [(lots_mult >> (DIGIT_BITS * i)) % DIGIT for i in range(_LOTS_MULT_DIGITS)]
        td = [(t >> (DIGIT_BITS * i)) % DIGIT for i in range(_TRANSFER_DIGITS)]
        if (
            diff >> (DIGIT_BITS * _DIFF_DIGITS)
            or lots_mult >> (DIGIT_BITS * _LOTS_MULT_DIGITS)
            or t >> (DIGIT_BITS * _TRANSFER_DIGITS)
        ):
            raise ValueError(
                f"statement 3: expected a block transfer below 2^72, got {diff} × {lots_mult}"
            )
        lm_carry = ((f.lots % DIGIT) * mult) >> DIGIT_BITS
        carries_t = []
        carry = 0
        for k in range(_DIFF_DIGITS + _LOTS_MULT_DIGITS - 1):
            total = carry + sum(
                d[i] * lm[k - i] for i in range(_DIFF_DIGITS) if 0 <= k - i < _LOTS_MULT_DIGITS
            )
            carry = (total - td[k]) >> DIGIT_BITS
            carries_t.append(carry)
        sign = int(bp < f.price)
        values = [sign, *d, *lm, lm_carry, *td]
        values += [c % DIGIT for c in carries_t[:-1]] + [c >> DIGIT_BITS for c in carries_t[:-1]]
        for column, value in zip(cols.block, values, strict=True):
            main[column.index, r] = value


def fills_trace(
    main: np.ndarray, cols: FillColumns, st: SettleStatement, sw: SettleWitness
) -> tuple[np.ndarray, np.ndarray]:
    """Write the honest fill rows into ``main``; returns the per-account fee and
    liquidation penalty digit sums (``(6, n_post)`` each) the accounts section receives.

    Raises:
        ValueError: more fills than rows, more than 2^12 fills for one account, or a fee
            pool that does not move by the fills' fees.
    """
    num_rows = main.shape[1]
    m = len(st.markets)
    order = sorted(range(len(sw.fills)), key=lambda i: (sw.fills[i].account, i))
    fills = [sw.fills[i] for i in order]
    k = len(fills)
    if k > num_rows:
        raise ValueError(f"expected at most {num_rows} fills, got {k}")
    fee_sums_acct = np.zeros((AMOUNT_DIGITS, st.n_post), dtype=np.int64)
    zlo, zhi = carry_columns(np.zeros(1, np.int64))
    for c in range(0, len(cols.carries), 2):
        main[cols.carries[c].index] = zlo[0]
        main[cols.carries[c + 1].index] = zhi[0]
    for j in range(m):
        main[cols.net_range[2 * j].index] = 0
        main[cols.net_range[2 * j + 1].index] = _NET_OFFSET >> 12
    main[cols.rest[2].index] = (BPS - 1) & 4095
    main[cols.rest[3].index] = (BPS - 1) >> 12
    acct = np.array([f.account for f in fills], dtype=np.int64)
    first = np.ones(k, dtype=bool)
    first[1:] = acct[1:] != acct[:-1]
    last = np.ones(k, dtype=bool)
    last[:-1] = first[1:]
    due_sums = fill_penalty_trace(main, cols.penalty, st, fills, first, last, acct)
    if not k:
        if st.fee_pool_post != st.fee_pool_pre:
            raise ValueError(
                "statement 5: expected the fee pool to move by the fills' fees 0, "
                f"got {st.fee_pool_post - st.fee_pool_pre}"
            )
        return fee_sums_acct, due_sums
    lots = np.array([f.lots for f in fills], dtype=np.int64)
    side = np.array([int(f.buy) for f in fills], dtype=np.int64)
    mk = np.array([f.market for f in fills], dtype=np.int64)
    fee = digits_of([f.fee for f in fills], AMOUNT_DIGITS).astype(np.int64)
    main[cols.on.index, :k] = 1
    main[cols.first.index, :k] = first
    main[cols.last.index, :k] = last
    main[cols.account.index, :k] = acct
    main[cols.side.index, :k] = side
    main[cols.liq.index, :k] = [int(f.liquidation) for f in fills]
    main[cols.lots[0].index, :k] = lots & 4095
    main[cols.lots[1].index, :k] = lots >> 12
    for j in range(m):
        main[cols.market[j].index, :k] = mk == j
    for d in range(AMOUNT_DIGITS):
        main[cols.fee[d].index, :k] = fee[d]
    # remainder r = fee·10^4 − lots·K (Python ints: up to 2^76)
    rest = []
    for f, mj in zip(fills, mk.tolist(), strict=True):
        mt = st.markets[mj]
        rest.append(f.fee * BPS - f.lots * mt.price * mt.multiplier * mt.fee_bps)
    r = np.array(rest, dtype=np.int64)
    if np.any((r < 0) | (r >= BPS)):
        raise ValueError(
            "statement 3: expected every fill's fee to be its notional's fee rounded up"
        )
    q = BPS - 1 - r
    main[cols.rest[0].index, :k] = r & 4095
    main[cols.rest[1].index, :k] = r >> 12
    main[cols.rest[2].index, :k] = q & 4095
    main[cols.rest[3].index, :k] = q >> 12
    sums = np.zeros((_FEE_POSITIONS, k), dtype=np.int64)
    sums[:AMOUNT_DIGITS] += BPS * fee
    sums[0] -= r & 4095
    sums[1] -= r >> 12
    a = np.stack([lots & 4095, lots >> 12])
    for j in range(m):
        kd = _fee_const(st, j)
        sel = mk == j
        for ai in range(2):
            for b in range(FEE_CONST_DIGITS):
                sums[ai + b] -= np.where(sel, a[ai] * kd[b], 0)
    carry = carries(sums)
    lo, hi = carry_columns(carry)
    for c in range(carry.shape[0]):
        main[cols.carries[2 * c].index, :k] = lo[c]
        main[cols.carries[2 * c + 1].index, :k] = hi[c]
    _block_trace(main, cols, st, fills)
    fees = sum(f.fee for f in fills)
    if fees != st.fee_pool_post - st.fee_pool_pre:
        raise ValueError(
            f"statement 5: expected the fee pool to move by the fills' fees {fees}, "
            f"got {st.fee_pool_post - st.fee_pool_pre}"
        )
    fee_pool_trace(main, cols.pool, [f.fee for f in fills])
    # runs
    run_id = np.cumsum(first) - 1
    run_start = np.flatnonzero(first)
    count = np.arange(k) - run_start[run_id] + 1
    if count.max() > 4095:
        raise ValueError(f"expected at most 4095 fills an account, got {int(count.max())}")
    main[cols.count.index, :k] = count
    main[cols.count.index, k:] = count[-1]
    signed = (2 * side - 1) * lots
    for j in range(m):
        contrib = np.where(mk == j, signed, 0)
        cum = np.cumsum(contrib)
        net = cum - np.concatenate([[0], cum])[run_start][run_id]
        if np.any(np.abs(net) >= _NET_OFFSET):
            raise ValueError("expected every account's running net lots below 2^23")
        main[cols.net[j].index, :k] = to_field(net)
        main[cols.net[j].index, k:] = to_field(net[-1:])[0]
        shifted = net + _NET_OFFSET
        main[cols.net_range[2 * j].index, :k] = shifted & 4095
        main[cols.net_range[2 * j + 1].index, :k] = shifted >> 12
        main[cols.net_range[2 * j].index, k:] = (int(net[-1]) + _NET_OFFSET) & 4095
        main[cols.net_range[2 * j + 1].index, k:] = (int(net[-1]) + _NET_OFFSET) >> 12
    for d in range(AMOUNT_DIGITS):
        cum = np.cumsum(fee[d])
        run = cum - np.concatenate([[0], cum])[run_start][run_id]
        main[cols.fee_sums[d].index, :k] = run
        main[cols.fee_sums[d].index, k:] = run[-1]
        np.add.at(fee_sums_acct[d], acct[last], run[last])
    return fee_sums_acct, due_sums
