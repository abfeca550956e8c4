"""Statement 4, the liquidation slice: ``plan_liquidations``'s lots per staged order.

:mod:`.health` proves which accounts are staged and :mod:`.liq_orders` each order's
market, side, flags, limit and ``1 ≤ lots ≤ min(|P|, cap)``; this section proves, on each
account row, that a cross-margin account's slices are exactly
:func:`sealbatch.settlement.liquidation.plan_liquidations`'s: markets by decreasing
notional ``N' = |P| × index × multiplier`` (ties: the lower market first), in each
``lots = min(⌈S / per_lot⌉, |P|, cap)`` while the shortfall ``S`` toward initial margin,
running down by ``lots × per_lot`` from one market to the next, is positive, and no order
once it is not. The shortfall, the order and ``per_lot`` are all counted at the oracle
indexes, where the health section judges the account (the mark where a market has no
index): every staged account has a shortfall (``equity < maintenance ≤ initial`` there),
and a print, which moves the mark only, changes neither a slice's size nor its order.

* **the initial requirement per market at the index** ``I = ⌈N'·ibps / 10 000⌉``
  (``N' = |P| × index × multiplier``; ``ibps`` the
  position's tier's ``initial_bps``: tier 0's the public margin terms' — the exchange
  contract pins it to its own —, the other tiers' constants of the AIR,
  :attr:`BatchStatement.liquidation_initial_bps`), from the health section's proved
  maintenance figures at the indexes ``10 000·q = N'·mbps + r``, ``0 ≤ r ≤ 9 999``, and
  no new public input: ``mbps·I = ibps·q + δ`` digit by digit (``I`` six digits, five
  carries), ``δ + 10 000`` in ``[0, 2^15)``, ``r' = 10 000·δ + r·ibps`` and
  ``10 000·mbps − 1 − r'`` in ``[0, 2^27)``: then ``10 000·mbps·I = ibps·N'·mbps + r'``
  with ``0 ≤ r' < 10 000·mbps``, so ``I`` is exactly the rule's, whatever the bps;
* **the shortfall** ``S₀ = Σ I − equity`` in unnormalised digits: the health section's
  ``equity − Σ q = (1 − 2·below)·|D|`` at the indexes gives ``S₀ = Σ (I − q) − (1 − 2·below)·|D|``;
* **per_lot** ``= max(1, ⌊K·ibps₀ / 10 000⌋)`` per market (``K = index × multiplier``,
  ``ibps₀`` tier 0's) is a derived public input (:meth:`DerivedIndex.per_lot`): the
  verifier and the exchange contract compute it from the margin terms' index price
  (``index_mark``: the index, or the mark where the market has none; the headers section
  pins it to the post-state's) and tier 0's initial bps, and refuse a statement that
  carries another; no column;
* **the notional order**: per pair ``j < k`` a bit ``w`` with
  ``N'_j − N'_k = (2w − 1)·G − (1 − w)``, ``G ≥ 0`` in six digits (``N'`` from the
  position's digits and the derived public digits of ``index × multiplier``, the ones
  the health section's figures at the indexes read): ``w = 1`` exactly when ``j`` comes
  first;
* **the slices**, with ``L_j = lots_j × per_lot_j`` and
  ``S_j = S₀ − Σ_{i before j} o_i·L_i``: the **last** staged slice ``ℓ`` (in the notional
  order; ``last_j = o_j·Π_{k≠j} (1 − o_k·[j before k])``) is at most the ceiling,
  ``S_ℓ − (lots_ℓ − 1)·per_lot_ℓ − 1 = S_end + per_lot_ℓ − 1 ≥ 0`` (six digits, on a
  staged cross-margin row; ``S_end = S₀ − Σ o_i·L_i``), and so is every earlier one:
  ``S_ℓ ≥ 1`` and ``S_ℓ ≤ S_j − L_j`` give ``S_j − (lots_j − 1)·per_lot_j − 1 ≥
  per_lot_j``; a bit ``clamp_j`` only where
  the slice is the position or the slice cap ``K_j^calm + π_j·(K_j^prot − K_j^calm)``
  (:attr:`BatchStatement.liquidation_slice_caps`; ``π_j`` the post-state's protective
  flag, which :mod:`.breaker` proves); an unclamped slice is the last one
  staged; no held market with a mark is left without an order before a staged one; and
  where a slice is unclamped or a held market with a mark has no order, the shortfall
  has run out: ``−S_end ≥ 0`` (six digits).

Together: the staged markets are the first ones in the notional order; each is at most
the ceiling; every one but the last is clamped (else the next one's ``S`` would be at
most 0, below its ``(lots − 1)·per_lot + 1``), and the last one is clamped or brings the
shortfall to at most 0 — the rule's ``min``. Portfolio-margin accounts are exempt (their
requirement, a stress scenario, is not in the AIR).

The cap is ``liquidation_slice_lots``'s on the post-state (the state ``plan_liquidations``
reads): the protective cap exactly where the breaker rule leaves the market protective;
:mod:`.liq_orders` bounds every slice by the same cap.

Bounds: a digit position of the slice identities sums at most ``m ≤ 4`` products
``L_i`` (each below ``2^25`` a position), the ``I``, ``q`` and ``|D|`` digits and a carry:
below ``2^28.3``; the others stay below ``2^28.4``; nothing wraps (``p ≈ 2^30.9``).

Width: ``24·m`` main columns for the initial requirement, ``17`` per pair of markets,
``m + 33`` for the slices (the clamp bits, one ceiling check, ``v`` and the shortfall's
check): 100 for two markets; as many 12-bit range lookups but the bits.
"""

from __future__ import annotations

import numpy as np

from sealbatch.crypto.air import Column, Expr, col, const, pub
from sealbatch.settlement.batch_air import breaker
from sealbatch.settlement.batch_air.accounts import AccountColumns
from sealbatch.settlement.batch_air.framework import TAG_RANGE, AirBuilder, TraceBuilder
from sealbatch.settlement.batch_air.headers import _margin_at
from sealbatch.settlement.batch_air.limbs import (
    AMOUNT_DIGITS,
    CARRY_BITS,
    CARRY_OFFSET,
    DIGIT,
    carries,
    carry_columns,
    carry_equations,
    range_digits,
)
from sealbatch.settlement.batch_air.liq_orders import slice_cap
from sealbatch.settlement.batch_air.settle_witness import per_lot as _per_lot
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
)
from sealbatch.settlement.params import BPS

__all__ = ["SECTION", "declare", "generate", "initial_witness"]

SECTION = "slice"
_DELTA_OFFSET = BPS  # δ ∈ (−initial_bps, maintenance_bps]: δ + 10 000 ∈ [1, 20 000]
_DELTA_BITS = 15
_REM_BITS = 27  # r' < 10 000 · maintenance_bps ≤ 10^8 < 2^27


def _existing(b: AirBuilder, name: str) -> Column:
    return col(b.names.index(name))


def _tiers(statement: BatchStatement, j: int) -> tuple[tuple[int, int], ...]:
    """Market ``j``'s tiers as ``(initial_bps, maintenance_bps)``."""
    ibps = statement.liquidation_initial_bps[j]
    margin = statement.settle.margins[j]
    mbps = tuple(bps for _, bps in margin.tiers)
    if len(ibps) != len(mbps) or not all(
        1 <= m <= i <= BPS for i, m in zip(ibps, mbps, strict=True)
    ):
        raise ValueError(
            f"liquidation slice: market {j}: expected one initial_bps per tier with "
            f"maintenance_bps <= initial_bps <= {BPS}, got {ibps} and {mbps}"
        )
    if ibps[0] != margin.initial_bps:
        raise ValueError(
            f"liquidation slice: market {j}: expected the margin terms' tier 0 initial bps "
            f"{margin.initial_bps} to be the config's, got {ibps[0]}"
        )
    return tuple(zip(ibps, mbps, strict=True))


def declare(b: AirBuilder, statement: BatchStatement) -> None:
    """Allocate the initial requirement's columns and constraints (after the health
    section)."""
    m = len(statement.markets)
    if len(statement.liquidation_initial_bps) != m:
        raise ValueError(
            f"liquidation slice: expected initial bps for {m} markets, got "
            f"{len(statement.liquidation_initial_bps)}"
        )

    def digits(name: str, count: int, top_bits: int = 12) -> tuple[list[Column], Expr]:
        return range_digits(b, SECTION, "liquidation slice", name, count, top_bits)

    for j in range(m):
        tiers = _tiers(statement, j)
        ibps: Expr = const(0)
        mbps: Expr = const(0)
        # tier 0's initial bps: the public margin terms' (the exchange contract pins them
        # to its own and derives per_lot from them); the other tiers': the AIR's constants
        ibps0 = PUBLIC_HEADER + PUBLIC_PER_MARKET * m + _margin_at(statement, j)
        ibps0 += 4 + 2 * len(tiers)
        for t, (i_t, m_t) in enumerate(tiers):
            s_t = _existing(b, f"health.tier[{j}][{t}]") if len(tiers) > 1 else const(1)
            ibps = ibps + (pub(ibps0) if t == 0 else const(i_t)) * s_t
            mbps = mbps + m_t * s_t
        q = [_existing(b, f"health.index.q[{j}][{k}]") for k in range(AMOUNT_DIGITS)]
        r_d = [_existing(b, f"health.index.r[{j}][{k}]") for k in range(2)]
        r = r_d[0] + DIGIT * r_d[1]
        i_cols, _ = digits(f"i{j}", AMOUNT_DIGITS)
        _, delta_off = digits(f"delta{j}", 2, _DELTA_BITS - 12)
        delta = delta_off - _DELTA_OFFSET
        _, rem = digits(f"rem{j}", 3, _REM_BITS - 24)
        _, room = digits(f"room{j}", 3, _REM_BITS - 24)
        b.constrain(BPS * delta + r * ibps - rem, f"liquidation slice: initial remainder [{j}]")
        b.constrain(
            BPS * mbps - 1 - rem - room,
            f"liquidation slice: initial remainder [{j}] below 10 000 × maintenance bps",
        )
        terms: list[list[Expr]] = [[mbps * i_cols[k], -(ibps * q[k])] for k in range(AMOUNT_DIGITS)]
        terms[0].append(-delta)
        _identity(b, f"c{j}", terms, f"liquidation slice: initial requirement [{j}]",
                  carry=f"carry {j}/{{k}}")  # fmt: skip


def initial_witness(n: int, ibps: int, mbps: int, q: int, r: int) -> dict[str, int]:
    """One market's honest columns (without the market suffix) for an account whose
    notional is ``n`` (``10 000·q = n·mbps + r``), and ``I`` itself under ``"I"``."""
    if BPS * q != n * mbps + r:
        raise ValueError(f"expected 10 000·q = N·mbps + r, got q={q}, N={n}, r={r}")
    big_i = -(-n * ibps // BPS)
    delta = mbps * big_i - ibps * q
    rem = BPS * delta + r * ibps
    out = {"I": big_i}
    for name, value, count in (
        ("i", big_i, AMOUNT_DIGITS),
        ("delta", delta + _DELTA_OFFSET, 2),
        ("rem", rem, 3),
        ("room", BPS * mbps - 1 - rem, 3),
    ):
        for k in range(count):
            out[f"{name}[{k}]"] = (value >> (12 * k)) % DIGIT
    i_d = [(big_i >> (12 * k)) % DIGIT for k in range(AMOUNT_DIGITS)]
    q_d = [(q >> (12 * k)) % DIGIT for k in range(AMOUNT_DIGITS)]
    sums = [mbps * i_d[k] - ibps * q_d[k] - (delta if k == 0 else 0) for k in range(AMOUNT_DIGITS)]
    lo, hi = carry_columns(carries(np.array([[v] for v in sums], dtype=np.int64)))
    for k in range(AMOUNT_DIGITS - 1):
        out[f"c[{k}].lo"], out[f"c[{k}].hi"] = int(lo[k, 0]), int(hi[k, 0])
    return out


def _tier(tiers: tuple[tuple[int, int], ...], size: int) -> int:
    """The tier of an absolute position (``tier_fractions``: ``searchsorted`` left)."""
    for t, (max_lots, _) in enumerate(tiers):
        if size <= max_lots:
            return t
    return len(tiers) - 1


def generate(tb: TraceBuilder, statement: BatchStatement) -> None:
    """Write the section (every row: the accounts', then the padding's zero positions)."""
    sw, margins = statement.settle_witness, statement.settle.margins
    n_rows, n = tb.num_rows, statement.settle.n_post
    m = len(statement.markets)
    sends: list[np.ndarray] = []
    for j in range(m):
        tiers = _tiers(statement, j)
        k_mult = margins[j].index_mark * statement.settle.markets[j].multiplier
        rows: list[dict[str, int]] = []
        for a in range(n):
            size = abs(int(sw.positions_post[a, j]))
            ibps, mbps = tiers[_tier(margins[j].tiers, size)]
            x = size * k_mult * mbps
            q = -(-x // BPS)
            rows.append(initial_witness(size * k_mult, ibps, mbps, q, BPS * q - x))
        pad = initial_witness(0, *tiers[0], 0, 0)
        for name in pad:
            if name == "I":
                continue
            values = np.array([row[name] for row in rows] + [pad[name]] * (n_rows - n))
            at = name.index("[")
            tb.set(SECTION, f"{name[:at]}{j}{name[at:]}", values)
            top = name in ("delta[1]", "rem[2]", "room[2]")
            scale = 1 << (12 - {"delta[1]": 3, "rem[2]": 3, "room[2]": 3}[name]) if top else 1
            sends.append(values * (64 if name.endswith(".hi") else scale))
    tb.count_range(np.concatenate(sends))


# --------------------------------------------------------------------------
# The slice: per_lot, the notional order, the ceiling division, the markets skipped
# --------------------------------------------------------------------------

_K_DIGITS = 5  # price × multiplier < 2^60 (the derived public digits)


def _identity(
    b: AirBuilder, name: str, terms: list[list[Expr]], label: str, carry: str = ""
) -> None:
    """``Σ_k 2^(12k)·Σ terms[k] = 0`` with range-checked carries ``name[k]``.

    ``carry`` names carry ``k``'s range sends (``{k}`` the digit); by default ``name[k]``.
    """
    cexprs: list[Expr] = []
    for k in range(len(terms) - 1):
        lo, hi = b.column(SECTION, f"{name}[{k}].lo"), b.column(SECTION, f"{name}[{k}].hi")
        what = carry.format(k=k) if carry else f"{name}[{k}]"
        b.bus.send(TAG_RANGE, [lo], 1, f"liquidation slice: {what} low digit")
        b.bus.send(TAG_RANGE, [hi * (1 << (2 * 12 - CARRY_BITS))], 1,
                   f"liquidation slice: {what} high digit")  # fmt: skip
        cexprs.append(lo + DIGIT * hi - CARRY_OFFSET)
    for k, e in enumerate(carry_equations(terms, cexprs)):
        b.constrain(e, f"{label} (digit {k})")


def _digit_columns(b: AirBuilder, name: str, count: int) -> list[Column]:
    cols = [b.column(SECTION, f"{name}[{k}]") for k in range(count)]
    for k, d in enumerate(cols):
        b.bus.send(TAG_RANGE, [d], 1, f"liquidation slice: {name}[{k}] in range")
    return cols


def _shift(digits: list[Expr], by: int, count: int) -> list[Expr]:
    out: list[Expr] = [const(0)] * count
    for k, d in enumerate(digits):
        if k + by < count:
            out[k + by] = d
    return out


def declare_slice(b: AirBuilder, statement: BatchStatement, acct: AccountColumns) -> None:
    """The slice rule's constraints on each account row (module docstring)."""
    m = len(statement.markets)
    if not 1 <= m <= 4 or len(statement.liquidation_slice_caps) != m:
        raise ValueError(
            f"liquidation slice: expected 1 to 4 markets with their slice caps, got {m} "
            f"and {len(statement.liquidation_slice_caps)}"
        )
    ix = statement.settle.derived_index(PUBLIC_HEADER + PUBLIC_PER_MARKET * m, 3)
    nd = AMOUNT_DIGITS
    cross = 1 - acct.identity[8]  # portfolio accounts: their staging is not the cross rule
    # per_lot_j = max(1, ⌊K_j·ibps₀ / 10 000⌋), K_j = index × multiplier: derived public
    # digits (the verifier's and the exchange contract's, from the margin terms' index
    # price, which the headers section pins to the post-state's, and tier 0's initial
    # bps, which declare() reads)
    pl: list[list[Expr]] = [[pub(ix.per_lot(j) + k) for k in range(_K_DIGITS)] for j in range(m)]
    # the notional order at the indexes: w_jk = 1 when market j comes before market k
    before: dict[tuple[int, int], Expr] = {}
    for j in range(m):
        for k in range(j + 1, m):
            w = b.column(SECTION, f"w{j}{k}")
            b.boolean(w, f"liquidation slice: w{j}{k}")
            g = _digit_columns(b, f"ng{j}{k}", nd)
            terms: list[list[Expr]] = [[] for _ in range(nd)]
            for x, sign in ((j, 1), (k, -1)):
                kd = [pub(ix.margin_price(1, x) + i) for i in range(_K_DIGITS)]
                for a, p_a in enumerate(acct.positions[1][x].digits):
                    for i in range(_K_DIGITS):
                        if a + i < nd:
                            terms[a + i].append(sign * (p_a * kd[i]))
            for i in range(nd):
                terms[i].append(-((2 * w - 1) * g[i]))
            terms[0].append(1 - w)
            _identity(b, f"nc{j}{k}", terms, f"liquidation slice: notional order {j}/{k}")
            before[(j, k)] = w
            before[(k, j)] = 1 - w
    # the shortfall toward initial margin at the indexes, S0 = Σ I − equity, in
    # unnormalised digits
    below = _existing(b, "health.index.below")
    s0: list[Expr] = []
    for i in range(nd):
        e: Expr = -((1 - 2 * below) * _existing(b, f"health.index.d[{i}]"))
        for j in range(m):
            e = e + _existing(b, f"{SECTION}.i{j}[{i}]") - _existing(b, f"health.index.q[{j}][{i}]")
        s0.append(e)
    o = [_existing(b, f"liq.o{j}") for j in range(m)]
    adig = [[_existing(b, f"liq.a{j}[{i}]") for i in range(2)] for j in range(m)]
    # L_j = lots_j × per_lot_j, lots_j = 1 + a_j (unnormalised digits)
    lots_pl: list[list[Expr]] = []
    for j in range(m):
        lj: list[Expr] = [const(0)] * nd
        for i in range(nd):
            lj[i] = lj[i] + (_shift(pl[j], 0, nd)[i] * (1 + adig[j][0]))
            lj[i] = lj[i] + _shift(pl[j], 1, nd)[i] * adig[j][1]
        lots_pl.append(lj)
    caps = statement.liquidation_slice_caps
    staged = _existing(b, "health.staged")  # ⇔ Σ o_j ≠ 0 (the health section)
    s_end = list(s0)  # S_end = S0 − Σ o_i·L_i
    for i in range(m):
        for t in range(nd):
            s_end[t] = s_end[t] - o[i] * lots_pl[i][t]
    # the last staged market in the notional order, ℓ: its slice is at most the ceiling of
    # the shortfall left before it, S_ℓ − (lots_ℓ − 1)·per_lot_ℓ − 1 = S_end + per_lot_ℓ − 1
    # ≥ 0; an earlier staged slice's ceiling follows (S_ℓ ≥ 1 and S_ℓ ≤ S_j − L_j)
    pl_last: list[Expr] = [const(0)] * nd
    for j in range(m):
        last: Expr = o[j]
        for k in range(m):
            if k != j:
                last = last * (1 - o[k] * before[(j, k)])
        pl_d = _shift(pl[j], 0, nd)
        pl_last = [x + last * y for x, y in zip(pl_last, pl_d, strict=True)]
    gate = cross * staged
    ga = _digit_columns(b, "ga", nd)
    terms = [[gate * s_end[t] + cross * pl_last[t], -ga[t]] for t in range(nd)]
    terms[0].append(-gate)
    _identity(b, "gac", terms, "liquidation slice: the last slice at most the ceiling")
    count: Expr = const(0)
    for j in range(m):
        # clamped: the slice is the position or the cap the proved protective flag picks
        c = b.column(SECTION, f"clamp{j}")
        b.boolean(c, f"liquidation slice: clamp{j}")
        qty = 1 + adig[j][0] + DIGIT * adig[j][1]
        room_p = _existing(b, f"liq.c{j}[0]") + DIGIT * _existing(b, f"liq.c{j}[1]")
        cap = caps[j][0] + breaker.protective(b, j) * (caps[j][1] - caps[j][0])
        b.constrain(
            c * room_p * (cap - qty),
            f"liquidation slice: a clamped slice [{j}] is the position or the slice cap",
        )
        b.constrain((1 - o[j]) * c, f"liquidation slice: clamp{j} only for an order")
        # an unclamped slice is the last staged
        for k in range(m):
            if k != j:
                b.constrain(
                    cross * o[j] * (1 - c) * o[k] * before[(j, k)],
                    f"liquidation slice: an unclamped slice [{j}] is the last one",
                )
                # no held market with a mark left out before a staged one
                elig_k = _existing(b, f"health.nz[{k}]") * pub(ix.has_mark(k))
                b.constrain(
                    cross * o[j] * elig_k * (1 - o[k]) * before[(k, j)],
                    f"liquidation slice: market [{k}] skipped before a staged market [{j}]",
                )
        elig_j = _existing(b, f"health.nz[{j}]") * pub(ix.has_mark(j))
        count = count + o[j] * (1 - c) + elig_j - o[j]
    # an unclamped slice, or a held market left without an order: the shortfall ran out
    v = b.column(SECTION, "v")
    b.boolean(v, "liquidation slice: v")
    b.constrain(
        (1 - v) * cross * staged * count, "liquidation slice: the shortfall checked at the end"
    )
    ge = _digit_columns(b, "ge", nd)
    terms = [[-(v * s_end[t]), -ge[t]] for t in range(nd)]
    _identity(b, "gec", terms, "liquidation slice: the shortfall runs out")


def _lenient_carries(sums: list[int]) -> list[int]:
    """Carries of an identity's position sums; one that does not hold (a forged witness)
    gets carries in range and fails its own digit equation."""
    out, carry = [], 0
    for total in sums[:-1]:
        carry = (total + carry) >> 12
        carry = max(-CARRY_OFFSET, min(CARRY_OFFSET - 1, carry))
        out.append(carry)
    return out


def _digits(value: int, count: int) -> list[int]:
    value %= 1 << (12 * count)  # a negative (forged) value: in range, off its identity
    return [(value >> (12 * k)) % DIGIT for k in range(count)]


def _conv(x: list[int], y: list[int], count: int) -> list[int]:
    out = [0] * count
    for i, xi in enumerate(x):
        for k, yk in enumerate(y):
            if i + k < count:
                out[i + k] += xi * yk
    return out


def _rule_lots(
    s0: int, notional: list[int], per_lot: list[int], sizes: list[int], caps: list[int],
    eligible: list[bool],
) -> list[int]:  # fmt: skip
    """``plan_liquidations``'s slice per market (0: no order) for a shortfall ``s0``."""
    out = [0] * len(sizes)
    for j in sorted(range(len(sizes)), key=lambda j: (-notional[j], j)):
        if not eligible[j] or s0 <= 0:
            continue
        out[j] = min(-(-s0 // per_lot[j]), sizes[j], caps[j])
        s0 -= out[j] * per_lot[j]
    return out


def generate_slice(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the slice columns (after the health, ``liq`` and initial-requirement columns).

    Raises:
        ValueError: (with ``refuse``) a cross-margin account's staged slice that is not
            ``plan_liquidations``'s (named: the account row, the market, both sizes).
    """
    st, sw = statement.settle, statement.settle_witness
    m, n_rows, nd = len(statement.markets), tb.num_rows, AMOUNT_DIGITS
    margins = st.margins
    # the slice is counted at the index (the mark where the market has none yet)
    kmult = [margins[j].index_mark * st.markets[j].multiplier for j in range(m)]
    kd = [[(kmult[j] >> (12 * i)) % DIGIT for i in range(_K_DIGITS)] for j in range(m)]
    cols: dict[str, np.ndarray] = {}

    def put(name: str, row: int, value: int) -> None:
        if name not in cols:
            cols[name] = np.zeros(n_rows, np.int64)
        cols[name][row] = value

    def put_carries(name: str, row: int, sums: list[int]) -> None:
        for k, c in enumerate(_lenient_carries(sums)):
            put(f"{name}[{k}].lo", row, (c + CARRY_OFFSET) % DIGIT)
            put(f"{name}[{k}].hi", row, (c + CARRY_OFFSET) >> 12)

    def trace_int(section: str, name: str) -> np.ndarray:
        return tb.get(section, name).astype(np.int64)

    per_lot = [
        _per_lot(margins[j].index_mark, st.markets[j].multiplier, margins[j].initial_bps)
        for j in range(m)
    ]
    pl_d = [_digits(v, _K_DIGITS) for v in per_lot]
    # the rows' figures (as the trace holds them)
    o = [trace_int("liq", f"o{j}") for j in range(m)]
    a = [[trace_int("liq", f"a{j}[{i}]") for i in range(2)] for j in range(m)]
    i_d = [[trace_int(SECTION, f"i{j}[{i}]") for i in range(nd)] for j in range(m)]
    q_d = [[trace_int("health", f"index.q[{j}][{i}]") for i in range(nd)] for j in range(m)]
    d_d = [trace_int("health", f"index.d[{i}]") for i in range(nd)]
    below = trace_int("health", "index.below")
    staged = trace_int("health", "staged")
    nz = [trace_int("health", f"nz[{j}]") for j in range(m)]
    # the cap the post-state's protective flag picks (the breaker section proves the flag)
    slice_caps = [slice_cap(statement, j) for j in range(m)]
    n = st.n_post
    for row in range(n_rows):
        sizes = [abs(int(sw.positions_post[row, j])) if row < n else 0 for j in range(m)]
        cross = 1 - (int(sw.portfolio[row]) if row < n else 0)
        notional = [sizes[j] * kmult[j] for j in range(m)]
        size_d = [_digits(v, 2) for v in sizes]
        before: dict[tuple[int, int], int] = {}
        for j in range(m):
            for k in range(j + 1, m):
                w = int(notional[j] >= notional[k])
                g = notional[j] - notional[k] if w else notional[k] - notional[j] - 1
                gd = _digits(g, nd)
                put(f"w{j}{k}", row, w)
                for i, v in enumerate(gd):
                    put(f"ng{j}{k}[{i}]", row, v)
                sums = [
                    x - y - (2 * w - 1) * gd[i]
                    for i, (x, y) in enumerate(
                        zip(_conv(size_d[j], kd[j], nd), _conv(size_d[k], kd[k], nd), strict=True)
                    )
                ]
                sums[0] += 1 - w
                put_carries(f"nc{j}{k}", row, sums)
                before[(j, k)], before[(k, j)] = w, 1 - w
        sign = 1 - 2 * int(below[row])
        s0 = [
            sum(int(i_d[j][i][row]) - int(q_d[j][i][row]) for j in range(m))
            - sign * int(d_d[i][row])
            for i in range(nd)
        ]
        oo = [int(o[j][row]) for j in range(m)]
        qty = [1 + int(a[j][0][row]) + DIGIT * int(a[j][1][row]) for j in range(m)]
        lots_pl = [
            [x + y for x, y in zip(_conv([1 + int(a[j][0][row])], pl_d[j], nd),
                                   _conv([0, int(a[j][1][row])], pl_d[j], nd), strict=True)]
            for j in range(m)
        ]  # fmt: skip
        s_end = list(s0)
        for i in range(m):
            s_end = [x - oo[i] * y for x, y in zip(s_end, lots_pl[i], strict=True)]
        # the last staged market's slice at most the ceiling: S_end + per_lot_ℓ − 1 ≥ 0
        pl_last = [0] * nd
        for j in range(m):
            last = oo[j]
            for k in range(m):
                if k != j:
                    last *= 1 - oo[k] * before[(j, k)]
            pl_last = [x + last * y for x, y in zip(pl_last, pl_d[j] + [0], strict=True)]
        gate = cross * int(staged[row])
        pos = [gate * x + cross * y for x, y in zip(s_end, pl_last, strict=True)]
        pos[0] -= gate
        gd = _digits(sum(x << (12 * i) for i, x in enumerate(pos)), nd)
        for i, x in enumerate(gd):
            put(f"ga[{i}]", row, x)
        put_carries("gac", row, [x - y for x, y in zip(pos, gd, strict=True)])
        count = 0
        for j in range(m):
            clamped = oo[j] and qty[j] in (sizes[j], slice_caps[j])
            put(f"clamp{j}", row, int(clamped))
            elig = int(nz[j][row]) * int(margins[j].mark > 0)
            count += oo[j] * (1 - int(clamped)) + elig - oo[j]
        v = int(cross * int(staged[row]) * count != 0)
        put("v", row, v)
        pos = [-v * x for x in s_end]
        value = sum(x << (12 * i) for i, x in enumerate(pos))
        gd = _digits(value, nd)
        for i, x in enumerate(gd):
            put(f"ge[{i}]", row, x)
        put_carries("gec", row, [x - y for x, y in zip(pos, gd, strict=True)])
        if refuse and row < n and cross and staged[row]:
            s0_value = sum(x << (12 * i) for i, x in enumerate(s0))
            eligible = [bool(nz[j][row]) and margins[j].mark > 0 for j in range(m)]
            rule = _rule_lots(s0_value, notional, per_lot, sizes, slice_caps, eligible)
            got = [qty[j] * oo[j] for j in range(m)]
            for j in range(m):
                if rule[j] != got[j]:
                    raise ValueError(
                        f"liquidation slice: account row {row} in {statement.markets[j]}: "
                        f"expected a slice of {rule[j]} lots (shortfall {s0_value}, per_lot "
                        f"{per_lot[j]}; 0: no order), got {got[j]}"
                    )
    ranged: list[np.ndarray] = []
    for name, values in cols.items():
        tb.set(SECTION, name, values)
        if name.endswith(".hi"):
            ranged.append(values * (1 << (2 * 12 - CARRY_BITS)))
        elif "[" in name and not name.startswith("w"):
            ranged.append(values)
    tb.count_range(np.concatenate(ranged))
