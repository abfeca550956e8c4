"""Statement 4, the liquidation slice's first figure: each account's initial requirement.

:func:`sealbatch.settlement.liquidation.plan_liquidations` sizes a slice from the
shortfall toward *initial* margin. The health section (:mod:`.health`) proves each
account's maintenance requirement per market at the marks,
``10 000·q = N·mbps + r`` with ``0 ≤ r ≤ 9 999`` (``N = |P| × mark × multiplier``,
``mbps`` the position's tier's ``maintenance_bps``); this section proves, on the same
account row and with no new public input, the initial requirement per market
``I = ⌈N·ibps / 10 000⌉`` (``ibps`` the same tier's ``initial_bps``, a constant of the
AIR: :attr:`BatchStatement.liquidation_initial_bps`) — ``cross_requirements``:

* ``mbps·I = ibps·q + δ`` digit by digit (``I`` six range-checked 12-bit digits, five
  range-checked carries), ``δ + 10 000`` in ``[0, 2^15)`` (two digits);
* ``r' = 10 000·δ + r·ibps`` and ``10 000·mbps − 1 − r'`` both in ``[0, 2^27)`` (three
  digits each).

Then ``10 000·mbps·I = ibps·(10 000·q) + 10 000·δ = ibps·N·mbps + r'`` with
``0 ≤ r' < 10 000·mbps``: ``I = ⌈N·ibps / 10 000⌉`` exactly, whatever the tiers' bps.
Bounds: ``|10 000·δ|``, ``r·ibps`` and ``r'`` are below ``2^28.4``; a digit position of the
identity sums two products below ``2^26`` and a carry; nothing wraps (``p ≈ 2^30.9``).

Not proved yet (docs/stark.md "Not enforced yet"): the rest of the slice (the shortfall
``Σ I − equity``, ``per_lot``, the notional order, the ceiling division and the markets
the shortfall skips), so nothing reads these columns yet.

Width: ``23·m`` main columns (``m`` markets), ``23·m`` range lookups.
"""

from __future__ import annotations

import numpy as np

from sealbatch.crypto.air import Column, Expr, col, const
from sealbatch.settlement.batch_air.framework import TAG_RANGE, AirBuilder, TraceBuilder
from sealbatch.settlement.batch_air.limbs import (
    AMOUNT_DIGITS,
    CARRY_BITS,
    CARRY_OFFSET,
    DIGIT,
    carries,
    carry_columns,
    carry_equations,
)
from sealbatch.settlement.batch_air.statement import BatchStatement
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
    mbps = tuple(bps for _, bps in statement.settle.margins[j].tiers)
    if len(ibps) != len(mbps) or not all(
        1 <= m <= i <= BPS for i, m in zip(ibps, mbps, strict=True)
    ):
        raise ValueError(
            f"liquidation slice: market {j}: expected one initial_bps per tier with "
            f"maintenance_bps <= initial_bps <= {BPS}, got {ibps} and {mbps}"
        )
    return tuple(zip(ibps, mbps, strict=True))


def declare(b: AirBuilder, statement: BatchStatement) -> None:
    """Allocate the section's columns and constraints (after the health section)."""
    m = len(statement.markets)
    if len(statement.liquidation_initial_bps) != m:
        raise ValueError(
            f"liquidation slice: expected initial bps for {m} markets, got "
            f"{len(statement.liquidation_initial_bps)}"
        )

    def digits(name: str, count: int, top_bits: int = 12) -> tuple[list[Column], Expr]:
        cols = [b.column(SECTION, f"{name}[{k}]") for k in range(count)]
        value: Expr = const(0)
        for k, d in enumerate(cols):
            scale = 1 << (12 - top_bits) if k == count - 1 else 1
            b.bus.send(TAG_RANGE, [d * scale], 1, f"liquidation slice: {name}[{k}] in range")
            value = value + (DIGIT**k) * d
        return cols, value

    for j in range(m):
        tiers = _tiers(statement, j)
        ibps: Expr = const(0)
        mbps: Expr = const(0)
        for t, (i_t, m_t) in enumerate(tiers):
            s_t = _existing(b, f"health.tier[{j}][{t}]") if len(tiers) > 1 else const(1)
            ibps = ibps + i_t * s_t
            mbps = mbps + m_t * s_t
        q = [_existing(b, f"health.mark.q[{j}][{k}]") for k in range(AMOUNT_DIGITS)]
        r_d = [_existing(b, f"health.mark.r[{j}][{k}]") for k in range(2)]
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
        cexprs: list[Expr] = []
        for k in range(AMOUNT_DIGITS - 1):
            lo, hi = b.column(SECTION, f"c{j}[{k}].lo"), b.column(SECTION, f"c{j}[{k}].hi")
            b.bus.send(TAG_RANGE, [lo], 1, f"liquidation slice: carry {j}/{k} low digit")
            b.bus.send(TAG_RANGE, [hi * (1 << (2 * 12 - CARRY_BITS))], 1,
                       f"liquidation slice: carry {j}/{k} high digit")  # fmt: skip
            cexprs.append(lo + DIGIT * hi - CARRY_OFFSET)
        for k, e in enumerate(carry_equations(terms, cexprs)):
            b.constrain(e, f"liquidation slice: initial requirement [{j}] (digit {k})")


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
        k_mult = margins[j].mark * statement.settle.markets[j].multiplier
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
