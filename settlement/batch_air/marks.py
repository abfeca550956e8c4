"""The mark-price rule (``transition.py`` step 8, :func:`~sealbatch.settlement.oracle.update_mark`),
proved in the batch AIR.

Per market ``j`` the post-state header's mark ``M1``, premium ``Q1`` and last price ``L1``
follow from the pre-state header's mark ``M0``, premium ``Q0`` and last price ``L0``, the
post-state header's index ``I`` and oracle flag ``F`` (``F = 0``: the index is trusted in
this batch; the margin terms pin the flag), the market's public clearing price ``P`` (0:
no trade) and the terms ``s = mark_step_bps``, ``b = mark_band_bps`` (constants of the AIR,
from the published config, so the program pins them like ``max_price_age_ms``):

* ``L1 = P`` when the market traded, else ``L0``;
* trusted (``F = 0``): ``step = ⌊I·s/10 000⌋``, ``band = ⌊I·b/10 000⌋``,
  ``sample = P − I`` (0 without a trade), ``moved = Q0 + clamp(sample − Q0, ±step)``,
  ``Q1 = clamp(moved, ±band)``, ``M1 = max(1, I + Q1)``;
* not trusted: ``Q1 = Q0``; ``M1 = M0``, unless the market never had a trusted index
  (``I = 0``): then ``M1 = L1`` (``M0`` while ``L1 = 0``).

Layout (section ``mark``): the eight header values of each market are carried in columns
constant down the trace (``mark.<name><j>``, pinned on the header rows that hold them: a
signed value is ``(1 − 2·sign)·(l0 + 2^24·l1 + 2^48·l2)``); the rule is proved for market
``j`` on row ``j`` (boundary constraints at that row) in columns shared by the markets,
whose every other row holds 0. Range checks are 12-bit lookups (one per digit column,
every row; a top digit of fewer bits is scaled; a remainder ``x < d ≤ 4096`` sends ``x``
and ``x + 4096 − d``):

* ``I = a + 2^15·c`` with ``a < 2^15``, ``c < 2^13``: the index is below 2^28;
* a floor division ``q = ⌊I·S/10 000⌋`` (``S ≤ 1 000``) in two exact steps:
  ``c·S = 10 000·u + v`` and ``a·S + 2^15·v = 10 000·w + r`` with ``u < 2^12``,
  ``w < 2^16`` and ``v, r = 16·x2 + x1`` (``x1 < 16``, ``x2 < 625``: below 10 000);
  every term is below 2^30, so each identity holds over the integers, and
  ``q = 2^15·u + w``;
* ``P < 2^28`` (three digits of the public price) and ``Q0 + 2^28 < 2^29``
  (``−2^28 ≤ Q0 < 2^28``);
* each clamp: two bits ``hi``, ``lo`` (not both), and two slacks of 30 bits: ``d − step
  − 1`` (hi), ``−d − step − 1`` (lo) or ``step − d`` and ``d + step`` (neither). With the
  operands below 2^28 every slack's true value lies in ``(−2^29.6, 2^30)``, so a residue
  below 2^30 is the value itself, never a wrapped negative one (``p − 2^30 > 2^29.8``);
* ``max(1, I + Q)``: a bit and a 30-bit slack ``I + Q − 1`` or ``−I − Q``;
* is-zero bits for ``P``, ``I`` and ``L1`` with inverses.

A batch whose index, clearing price or premium reaches 2^28 ticks cannot be proved (the
prover refuses it): a liveness limit, not a soundness one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sealbatch.crypto.air import Column, Expr, pub
from sealbatch.crypto.field_scalar import P as FIELD
from sealbatch.crypto.poseidon2 import RATE
from sealbatch.settlement.batch_air.framework import AirBuilder, TraceBuilder
from sealbatch.settlement.batch_air.headers import _field
from sealbatch.settlement.batch_air.limbs import (
    BPS,
    SPLIT_DIGITS,
    DigitCells,
    floor_bps_cells,
)
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
)
from sealbatch.settlement.roots import header_blocks, market_field

__all__ = ["SECTION", "carry_header_values", "declare", "generate", "mark_rule"]

SECTION = "mark"
_BOUND_BITS = 28
_SLACK_BITS = 30
#: The values carried from the headers: (name, pre-state header?, field).
_CARRIED = (
    ("i", False, "index"),
    ("f", False, "flagged"),
    ("q0", True, "premium"),
    ("q1", False, "premium"),
    ("m0", True, "mark"),
    ("m1", False, "mark"),
    ("l0", True, "last"),
    ("l1", False, "last"),
)
#: The carried fields that are signed amounts of three limbs (the flag is one element).
_SIGNED = ("index", "premium", "mark", "last")
#: The rule's cells: digits by bit width (a top digit of fewer than 12 bits is scaled
#: into the table), remainders below 10 000, bits, inverses.
_CELLS = DigitCells(
    SECTION,
    "marks",
    digits={
        **SPLIT_DIGITS,
        "su": (12,),
        "sw": (12, 4),
        "bu": (12,),
        "bw": (12, 4),
        "p": (12, 12, 4),
        "z": (12, 12, 5),
        "sa1": (12, 12, 6),
        "sb1": (12, 12, 6),
        "sa2": (12, 12, 6),
        "sb2": (12, 12, 6),
        "sm": (12, 12, 6),
    },
    remainders=("sv", "sr", "bv", "br"),
    bits=("h1", "o1", "h2", "o2", "g", "iz", "ln"),
    free=("pinv", "iinv", "linv", "mv"),
)


def _value(parts: list[Expr]) -> Expr:
    sign, l0, l1, l2 = parts
    return (1 - 2 * sign) * (l0 + (1 << 24) * l1 + (1 << 48) * l2)


def carry_header_values(
    b: AirBuilder,
    section: str,
    label: str,
    markets: int,
    carried: Sequence[tuple[str, bool, str]],
    signed: Collection[str] = (),
) -> list[dict[str, Column]]:
    """Per market ``j``, columns ``<section>.<name><j>`` constant down the trace, each
    pinned to a field of a state header on the header row that holds it.

    Args:
        carried: ``(name, pre-state header?, field)`` per value.
        signed: the fields that are signed amounts, ``(1 − 2·sign)·(l0 + 2^24·l1 +
            2^48·l2)`` over their header elements; any other field is one element.

    Returns:
        Per market, the columns by name.
    """
    h = header_blocks(markets)
    block = [b.existing(f"hdr.b{k}") for k in range(RATE)]
    out: list[dict[str, Column]] = []
    for j in range(markets):
        cols: dict[str, Column] = {}
        for name, pre, field in carried:
            cc = b.column(section, f"{name}{j}")
            b.constrain(cc.next - cc, f"{label}: market {j}'s {name} is constant")
            base = 0 if pre else h
            pos = market_field(j, field)
            hv: Expr
            if field in signed:
                row, parts = _field(block, base, pos)
                hv = _value(parts)
            else:
                row, hv = base + pos // RATE, block[pos % RATE]
            b.boundary(row, cc - hv, f"{label}: market {j}'s {name} is the header's")
            cols[name] = cc
        out.append(cols)
    return out


def declare(b: AirBuilder, statement: BatchStatement) -> None:
    """Allocate the section's columns and constraints (after the headers)."""
    m = len(statement.markets)
    terms = _terms(statement)
    carried = carry_header_values(b, SECTION, "marks", m, _CARRIED, _SIGNED)
    w = _CELLS.declare(b)
    num = w.num
    b.constrain(w["h1"] * w["o1"], "marks: the step clamp takes one side")
    b.constrain(w["h2"] * w["o2"], "marks: the band clamp takes one side")

    for j in range(m):
        step_bps, band_bps = terms[j]
        mk = carried[j]
        i, f = mk["i"], mk["f"]
        q0, q1, m0, m1, l0, l1 = mk["q0"], mk["q1"], mk["m0"], mk["m1"], mk["l0"], mk["l1"]
        price = pub(PUBLIC_HEADER + PUBLIC_PER_MARKET * j)

        def at(e: Expr, name: str, j: int = j) -> None:
            b.boundary(j, e, f"marks: market {j}'s {name}")

        at(f * (1 - f), "oracle flag is a bit")
        a, c = num("a"), num("c")
        at(i - a - (1 << 15) * c, "index below 2^28")
        bounds = []
        for key, bps in (("s", step_bps), ("b", band_bps)):
            names = (f"{key}u", f"{key}w", f"{key}v", f"{key}r")
            label = "step" if key == "s" else "band"
            bounds.append(w.floor_bps(at, a, c, bps, names, f"{label} = ⌊index·bps/10 000⌋"))
        step, band = bounds
        at(price - num("p"), "clearing price below 2^28")
        at(q0 + (1 << _BOUND_BITS) - num("z"), "pre-state premium within ±2^28")
        traded = price * w["pinv"]
        at(price * (1 - traded), "traded (inverse)")
        sample = price - traded * i
        d = sample - q0
        h1, o1, h2, o2 = w["h1"], w["o1"], w["h2"], w["o2"]
        mid1, mid2 = 1 - h1 - o1, 1 - h2 - o2
        at(
            h1 * (d - step - 1) + o1 * (-d - step - 1) + mid1 * (step - d) - num("sa1"),
            "premium moved by at most the step (side)",
        )
        at(mid1 * (d + step) - num("sb1"), "premium moved by at most the step (within)")
        mv = w["mv"]
        at(mv - q0 - h1 * step + o1 * step - mid1 * d, "premium moved toward the sample")
        at(
            h2 * (mv - band - 1) + o2 * (-mv - band - 1) + mid2 * (band - mv) - num("sa2"),
            "premium within the band (side)",
        )
        at(mid2 * (mv + band) - num("sb2"), "premium within the band (within)")
        clamped = (h2 - o2) * band + mid2 * mv
        g = w["g"]
        at(g * (i + clamped - 1) + (1 - g) * (-i - clamped) - num("sm"), "mark at least 1 (side)")
        mark = g * (i + clamped) + (1 - g)
        at((1 - f) * (q1 - clamped), "premium is the clamped sample (trusted index)")
        at((1 - f) * (m1 - mark), "mark is max(1, index + premium) (trusted index)")
        at(f * (q1 - q0), "premium unchanged (no trusted index)")
        iz, ln = w["iz"], w["ln"]
        at(i * iz, "index zero (bit)")
        at(1 - iz - i * w["iinv"], "index zero (inverse)")
        at(l1 * (1 - ln), "last price zero (bit)")
        at(ln - l1 * w["linv"], "last price zero (inverse)")
        at(
            f * (m1 - iz * (l1 + (1 - ln) * m0) - (1 - iz) * m0),
            "mark unchanged, or the last price before a first index (no trusted index)",
        )
        at(l1 - price - (1 - traded) * l0, "last price is the clearing price or unchanged")


def _terms(statement: BatchStatement) -> tuple[tuple[int, int], ...]:
    terms = statement.mark_terms
    if len(terms) != len(statement.markets):
        raise ValueError(
            f"mark terms: expected (step, band) bps per market ({len(statement.markets)}), "
            f"got {len(terms)}"
        )
    for step, band in terms:
        if not 0 <= step <= band <= 1_000:
            raise ValueError(
                f"mark terms: expected 0 <= step <= band <= 1 000 bps, got {step}, {band}"
            )
    return terms


def mark_rule(
    index: int,
    trusted: bool,
    premium: int,
    mark: int,
    last: int,
    price: int,
    step_bps: int,
    band_bps: int,
) -> tuple[int, int, int]:
    """``(mark, premium, last)`` after the batch, as the section proves it (the transition's
    step 8 on the post-state's index; ``price`` 0 without a trade)."""
    new_last = price or last
    if trusted:
        step = index * step_bps // BPS
        band = index * band_bps // BPS
        sample = price - index if price else 0
        moved = premium + max(-step, min(step, sample - premium))
        q = max(-band, min(band, moved))
        return max(1, index + q), q, new_last
    if not index:
        return new_last or mark, premium, new_last
    return mark, premium, new_last


def _clamp_side(x: int, bound: int, side: int) -> tuple[int, int, int, int]:
    """``(hi, lo, slack a, slack b)`` of ``clamp(x, ±bound)`` on ``side`` (1: hi, −1: lo,
    0: within); a slack is negative where the side is not the one the rule takes."""
    if side > 0:
        return 1, 0, x - bound - 1, 0
    if side < 0:
        return 0, 1, -x - bound - 1, 0
    return 0, 0, bound - x, x + bound


def _sides(
    d: int, step: int, band: int, premium: int, target: int | None
) -> tuple[tuple[int, int, int, int], int, tuple[int, int, int, int], int]:
    """The two clamps' witness: the rule's sides, or (``target``, a forged post-state
    premium) the sides that give ``target`` if any do (a forger's best witness: the slacks
    of the wrong side are negative, so the range checks refuse them)."""

    def side(x: int, bound: int) -> int:
        return 1 if x > bound else -1 if x < -bound else 0

    s1 = side(d, step)
    choices = [(s1, side(premium + max(-step, min(step, d)), band))]
    if target is not None:
        choices = [(a, b) for a in (0, 1, -1) for b in (0, 1, -1)] + choices
    for a, b in choices:
        moved = premium + (step if a > 0 else -step if a < 0 else d)
        clamped = band if b > 0 else -band if b < 0 else moved
        if target is None or clamped == target or (a, b) == choices[-1]:
            return _clamp_side(d, step, a), moved, _clamp_side(moved, band, b), clamped
    raise AssertionError("unreachable")


def generate(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the section (after the headers).

    Raises:
        ValueError: (with ``refuse``) a post-state mark, premium or last price that the
            rule does not give, or a value beyond what the section proves (named).
    """
    terms = _terms(statement)
    cells = _CELLS.rows()
    put, number = cells.put, cells.put_number

    for j, name in enumerate(statement.markets):
        pre, post = statement.pre.market_states[j], statement.post.market_states[j]
        index, flagged = post.index_price, int(post.flagged)
        values = {
            "i": index, "f": flagged, "q0": pre.premium, "q1": post.premium,
            "m0": pre.mark_price, "m1": post.mark_price, "l0": pre.last_price,
            "l1": post.last_price,
        }  # fmt: skip
        for key, v in values.items():
            tb.set(SECTION, f"{key}{j}", [], pad=v)
        price = statement.prices[j]
        step_bps, band_bps = terms[j]
        if refuse:
            for what, v in (("index", index), ("clearing price", price)):
                if not 0 <= v < 1 << _BOUND_BITS:
                    raise ValueError(f"marks: market {name}'s {what}: expected below 2^28, got {v}")
            if not -(1 << _BOUND_BITS) <= pre.premium < 1 << _BOUND_BITS:
                raise ValueError(
                    f"marks: market {name}'s pre-state premium: expected in [−2^28, 2^28), "
                    f"got {pre.premium}"
                )
            want = mark_rule(
                index,
                not flagged,
                pre.premium,
                pre.mark_price,
                pre.last_price,
                price,
                step_bps,
                band_bps,
            )
            got = (post.mark_price, post.premium, post.last_price)
            if want != got:
                raise ValueError(
                    f"marks: market {name}'s post-state (mark, premium, last price): the rule "
                    f"gives {want}, got {got}"
                )
        a, c = index % (1 << 15), index >> 15
        number("a", j, a)
        number("c", j, c)
        bounds = []
        for key, bps in (("s", step_bps), ("b", band_bps)):
            u, w_, v, r = floor_bps_cells(a, c, bps)
            number(f"{key}u", j, u)
            number(f"{key}w", j, w_)
            cells.put_remainder(f"{key}v", j, v)
            cells.put_remainder(f"{key}r", j, r)
            bounds.append((1 << 15) * u + w_)
        step, band = bounds
        number("p", j, price)
        number("z", j, (pre.premium + (1 << _BOUND_BITS)) % FIELD)
        put("pinv", j, pow(price, FIELD - 2, FIELD) if price else 0)
        sample = price - index if price else 0
        d = sample - pre.premium
        sides = _sides(d, step, band, pre.premium, None if refuse or flagged else post.premium)
        (h1, o1, sa1, sb1), moved, (h2, o2, sa2, sb2), clamped = sides
        g = int(index + clamped >= 1)
        if not refuse and not flagged and post.mark_price == 1:
            g = 0  # a forged mark of 1: the side "index + premium < 1"
        sm = index + clamped - 1 if g else -index - clamped
        for nm, x in (("h1", h1), ("o1", o1), ("h2", h2), ("o2", o2), ("g", g), ("mv", moved)):
            put(nm, j, x)
        for nm, x in (("sa1", sa1), ("sb1", sb1), ("sa2", sa2), ("sb2", sb2), ("sm", sm)):
            if refuse and not 0 <= x < 1 << _SLACK_BITS:
                raise ValueError(f"marks: market {name}'s slack {nm}: expected below 2^30, got {x}")
            number(nm, j, x % FIELD)
        put("iz", j, int(index == 0))
        put("iinv", j, pow(index, FIELD - 2, FIELD) if index else 0)
        last = post.last_price
        put("ln", j, int(last != 0))
        put("linv", j, pow(last % FIELD, FIELD - 2, FIELD) if last % FIELD else 0)
    cells.write(tb, len(statement.markets))
