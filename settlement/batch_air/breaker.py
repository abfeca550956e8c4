"""The circuit breaker (``transition.py`` step 8,
:func:`~sealbatch.settlement.liquidation.update_breaker`), proved in the batch AIR.

Per market ``j`` the post-state header's protective flag ``π1`` and calm counter ``k1``
follow from the pre-state header's ``π0``, ``k0`` and trusted index ``I0``, the post-state
header's index ``I1`` (this round's trusted index; ``I0`` where the reading is flagged) and
oracle flag ``F`` (the oracle round's, a public input: :mod:`.headers`) and the terms
``bb = breaker_bps``, ``C = calm_batches`` (constants of the AIR, from the published
config, so the program pins them like the mark terms):

* ``moved = I0 ≠ 0 ∧ |I1 − I0|·10 000 > bb·I0`` and ``trip = moved ∨ F`` (a market
  without a previous trusted index, ``I0 = 0``, trips only on a flagged reading);
* a trip: ``π1 = 1``, ``k1 = 0``;
* else, protective (``π0 = 1``): ``k = k0 + 1``; ``π1 = 0``, ``k1 = 0`` when ``k ≥ C``
  (the release), else ``π1 = 1``, ``k1 = k``;
* else: ``π1 = 0``, ``k1 = k0``.

The breaker compares the trusted indexes, neither the prints nor the marks: the clearing
price and the mark are no inputs of this section, so a print has no say in whether a
market trips, even where the index moves within one mark step of ``bb``.

The post-state's ``flagged`` is ``F`` in every branch, already pinned to the oracle. The
flag ``π1`` is carried down the trace (``brk.p1<j>``), where the liquidation sections read
it: each staged slice is clamped at ``protective_liquidation_lots`` where ``π1 = 1``,
else at ``max_liquidation_lots`` (:mod:`.liq_orders`, :mod:`.liq_slice`) —
``plan_liquidations`` reads the post-state's flag.

Layout (section ``brk``): the five header values of each market (``p0``, ``k0``, ``p1``,
``k1`` and the pre-state index ``x0``, a signed header value) in columns constant down the
trace, pinned on the header rows that hold them; the rule for market ``j`` on row ``j``
(boundary constraints) in columns shared by the markets, every other row 0. It reads the
mark section's columns on the same row: ``I1`` (``mark.i<j>``, proved below 2^28 there)
and ``F`` (``mark.f<j>``, proved a bit there). Range checks are 12-bit lookups:

* ``I0 = a + 2^15·c`` with ``a < 2^15``, ``c < 2^13``: the pre-state index is below 2^28
  (and not negative);
* ``T = ⌊I0·bb/10 000⌋`` (``bb ≤ 10 000``) in two exact steps, as the mark section's
  step: ``c·bb = 10 000·u + v`` and ``a·bb + 2^15·v = 10 000·w + r`` with ``u < 2^13``,
  ``w < 2^16``, ``v, r < 10 000`` (every term below 2^30), ``T = 2^15·u + w``; then
  ``|I1 − I0|·10 000 > bb·I0 ⇔ |I1 − I0| > T`` (an integer exceeds a real exactly when
  it exceeds its floor);
* ``I1 − I0 = (1 − 2·sg)·D`` with ``D < 2^28``, and a bit ``mv`` with the 30-bit slack
  ``mv·(D − T − 1) + (1 − mv)·(T − D)`` (true values within ``±2^28``: a negative one
  would be a residue above 2^30);
* ``[I0 ≠ 0]`` a bit with an inverse;
* ``k0 < 2^20`` (two digits) and a bit ``rl = [k0 + 1 ≥ C]`` with the 24-bit slack
  ``rl·(k0 + 1 − C) + (1 − rl)·(C − k0 − 2)``.

A batch whose pre-state index reaches 2^28 ticks (the post-state's is below 2^28 by the
mark section, so the move is too) or whose pre-state calm counter reaches 2^20, cannot be
proved (the prover refuses it): a liveness limit, not a soundness one.

Width: ``5·m + 27`` main columns (37 for two markets) and 24 range lookups.
"""

from __future__ import annotations

from sealbatch.crypto.air import Column, Expr
from sealbatch.crypto.field_scalar import P as FIELD
from sealbatch.settlement.batch_air.framework import AirBuilder, TraceBuilder
from sealbatch.settlement.batch_air.limbs import (
    BPS,
    SPLIT_DIGITS,
    DigitCells,
    floor_bps_cells,
)
from sealbatch.settlement.batch_air.marks import carry_header_values
from sealbatch.settlement.batch_air.statement import BatchStatement

__all__ = ["SECTION", "breaker_rule", "declare", "generate", "protective"]

SECTION = "brk"
_INDEX_BITS = 28
_CALM_BITS = 20
#: The values carried from the headers: (name, pre-state header?, field).
_CARRIED = (
    ("p0", True, "protective"),
    ("k0", True, "calm"),
    ("p1", False, "protective"),
    ("k1", False, "calm"),
    ("x0", True, "index"),
)
#: The rule's cells: digits by bit width (a top digit of fewer than 12 bits is scaled
#: into the table), remainders below 10 000, bits, inverses.
_CELLS = DigitCells(
    SECTION,
    "breaker",
    digits={
        **SPLIT_DIGITS,
        "u": (12, 1),
        "w": (12, 4),
        "d": (12, 12, 4),
        "sm": (12, 12, 6),
        "kd": (12, 8),
        "sr": (12, 12),
    },
    remainders=("v", "r"),
    bits=("sg", "mv", "mn", "rl"),
    free=("minv",),
)


def protective(b: AirBuilder, j: int) -> Column:
    """Market ``j``'s proved post-state protective flag, a column constant down the trace
    (after :func:`declare`)."""
    return b.existing(f"{SECTION}.p1{j}")


def declare(b: AirBuilder, statement: BatchStatement) -> None:
    """Allocate the section's columns and constraints (after the headers and marks)."""
    m = len(statement.markets)
    terms = _terms(statement)
    carried = carry_header_values(b, SECTION, "breaker", m, _CARRIED, ("index",))
    w = _CELLS.declare(b)
    num = w.num
    for j in range(m):
        bb, calm = terms[j]
        p0, k0, p1, k1 = (carried[j][n] for n in ("p0", "k0", "p1", "k1"))
        index0, index1 = carried[j]["x0"], b.existing(f"mark.i{j}")
        flagged = b.existing(f"mark.f{j}")

        def at(e: Expr, name: str, j: int = j) -> None:
            b.boundary(j, e, f"breaker: market {j}'s {name}")

        at(p0 * (1 - p0), "pre-state protective flag is a bit")
        a, c = num("a"), num("c")
        at(index0 - a - (1 << 15) * c, "pre-state index below 2^28")
        threshold = w.floor_bps(
            at, a, c, bb, ("u", "w", "v", "r"), "threshold = ⌊index·bps/10 000⌋"
        )
        sg, mv, mn = w["sg"], w["mv"], w["mn"]
        dist = num("d")
        at(index1 - index0 - (1 - 2 * sg) * dist, "move = |index after − index before|")
        at(
            mv * (dist - threshold - 1) + (1 - mv) * (threshold - dist) - num("sm"),
            "move beyond the threshold (side)",
        )
        at(index0 * (1 - mn), "pre-state index zero (bit)")
        at(mn - index0 * w["minv"], "pre-state index zero (inverse)")
        moved = mv * mn
        trip = moved + flagged - moved * flagged
        rl = w["rl"]
        at(k0 - num("kd"), "pre-state calm counter below 2^20")
        at(
            rl * (k0 + 1 - calm) + (1 - rl) * (calm - k0 - 2) - num("sr"),
            "release after calm_batches (side)",
        )
        held = p0 * (1 - rl)
        at(p1 - trip - (1 - trip) * held, "protective flag is the rule's")
        at(k1 - (1 - trip) * (held * (k0 + 1) + (1 - p0) * k0), "calm counter is the rule's")


def _terms(statement: BatchStatement) -> tuple[tuple[int, int], ...]:
    terms = statement.breaker_terms
    if len(terms) != len(statement.markets):
        raise ValueError(
            f"breaker terms: expected (breaker_bps, calm_batches) per market "
            f"({len(statement.markets)}), got {len(terms)}"
        )
    for bb, calm in terms:
        if not (1 <= bb <= BPS and 1 <= calm <= 1 << _CALM_BITS):
            raise ValueError(
                f"breaker terms: expected 1 <= breaker_bps <= {BPS} and 1 <= calm_batches "
                f"<= 2^{_CALM_BITS}, got {bb}, {calm}"
            )
    return terms


def breaker_rule(
    protective: bool,
    calm: int,
    index: int,
    new_index: int,
    flagged: bool,
    breaker_bps: int,
    calm_batches: int,
) -> tuple[bool, int]:
    """``(protective, calm)`` after the batch, as the section proves it (``update_breaker``
    on the pre-state's flag, counter and trusted index ``index``, and the post-state's
    index ``new_index``)."""
    moved = bool(index and abs(new_index - index) * BPS > breaker_bps * index)
    if moved or flagged:
        return True, 0
    if protective:
        if calm + 1 >= calm_batches:
            return False, 0
        return True, calm + 1
    return False, calm


def generate(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the section (after the headers and marks).

    Raises:
        ValueError: (with ``refuse``) a post-state protective flag or calm counter that the
            rule does not give, or a value beyond what the section proves (named).
    """
    terms = _terms(statement)
    cells = _CELLS.rows()
    put, number = cells.put, cells.put_number

    for j, name in enumerate(statement.markets):
        pre, post = statement.pre.market_states[j], statement.post.market_states[j]
        values = {"p0": int(pre.protective), "k0": pre.calm, "p1": int(post.protective),
                  "k1": post.calm, "x0": pre.index_price}  # fmt: skip
        for key, v in values.items():
            tb.set(SECTION, f"{key}{j}", [], pad=v)
        index, new_index = pre.index_price, post.index_price
        bb, calm_batches = terms[j]
        dist = abs(new_index - index)
        if refuse:
            if not 0 <= index < 1 << _INDEX_BITS:
                raise ValueError(
                    f"breaker: market {name}'s pre-state index: expected below 2^28, got {index}"
                )
            if not 0 <= pre.calm < 1 << _CALM_BITS:
                raise ValueError(
                    f"breaker: market {name}'s pre-state calm counter: expected below 2^20, "
                    f"got {pre.calm}"
                )
            want = breaker_rule(
                pre.protective, pre.calm, index, new_index, post.flagged, bb, calm_batches
            )
            got = (post.protective, post.calm)
            if want != got:
                raise ValueError(
                    f"breaker: market {name}'s post-state (protective, calm): the rule gives "
                    f"{want}, got {got}"
                )
        a, c = index % (1 << 15), index >> 15
        u, ww, v, r = floor_bps_cells(a, c, bb)
        for nm, x in (("a", a), ("c", c), ("u", u), ("w", ww)):
            number(nm, j, x)
        cells.put_remainder("v", j, v)
        cells.put_remainder("r", j, r)
        threshold = (1 << 15) * u + ww
        mv = int(dist > threshold)
        slack = dist - threshold - 1 if mv else threshold - dist
        put("sg", j, int(new_index < index))
        put("mv", j, mv)
        number("d", j, dist)
        number("sm", j, slack)
        put("mn", j, int(index != 0))
        put("minv", j, pow(index, FIELD - 2, FIELD) if index % FIELD else 0)
        rl = int(pre.calm + 1 >= calm_batches)
        release = pre.calm + 1 - calm_batches if rl else calm_batches - pre.calm - 2
        put("rl", j, rl)
        number("kd", j, pre.calm % FIELD)
        number("sr", j, release % FIELD)
    cells.write(tb, len(statement.markets))
