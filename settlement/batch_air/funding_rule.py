"""The funding rule, proved in the batch AIR: each market's funding index step ``ΔF``.

The header section (:mod:`.headers`) proves the post-state's funding index is the
pre-state's plus ``ΔF`` (public, the settlement statement's). This section proves
``ΔF`` and the post-state's premium terms are what the transition's
:func:`sealbatch.settlement.funding.update_funding` gives (``transition.py`` step 6),
from the pre-state header (its mark premium the sample), the batch's time and the
post-state's index. Market ``j``'s rule sits on row ``j`` of the section ``fund`` (shared columns,
its constraints boundaries at row ``j``, so each market's own terms are constants):

* **header fields** arrive by the bus: every state-header row sends, for each of its
  eight columns ``k``, the signed value starting there, ``(TAG_HEADER_FIELD, 8·row + k,
  e0, e1, e2, e3)`` (the next row's elements, copied into ``fund.next0…2``, where it
  straddles two), as often as the
  column ``fund.use<k>`` says; row ``j`` receives the pre-state's batch id, timestamp
  ``S``, mark premium ``Q`` (the one the previous batch's mark rule proved,
  :mod:`.marks`), premium sum ``P0``, premium time ``Q0`` and interval count ``B0``,
  and the post-state's index ``X``, index time, premium sum, premium time and interval
  count. Where a tuple has a constant 0 (a sign, a top limb) the field is proved not
  negative and below 2^48 (``B0``: 2^24; ``X``: 2^36 and ``|Q|``: 2^36, their limbs
  12-bit digits);
* **trusted** ``t``: the post-state's index time is the batch's time ``T``
  (``hdr.time0/1``, the oracle round's), which the transition writes exactly for a
  market with a trusted index this round (``t·d = 0`` for both limb differences ``d``,
  ``1 − t = Σ d·w``);
* **dt** ``= T − S`` (0 when the pre-state is the genesis, batch id −1: its sign bit):
  four range-checked digits and a borrow bit;
* **sampled** where trusted, traded or not: the **accumulation** ``U = P0 + t·Q·dt``
  (sign and six digits, a digit identity with carries, :mod:`.limbs`) and
  ``V = Q0 + t·dt`` (four digits). The sample is the mark premium in force over ``dt``,
  the pre-batch one, not the batch's own (nor the clearing price's premium): a thin
  print counts from the next batch on, for the time it held, by at most
  ``mark_step_bps`` of the index a batch, within ``± mark_band_bps``;
* **interval end** ``e``: ``(2e − 1)(B0 + 1 − N) − (1 − e) ∈ [0, 2^24)`` (``N`` =
  ``funding_interval_batches``, a constant of the AIR), ``te = t·e``; the post-state
  holds ``B0 + t − te·(B0 + 1)`` batches and premium terms ``(1 − te)·U``,
  ``(1 − te)·V``;
* at an interval end (each identity multiplied by ``te``): ``|U| = A·V + R`` with
  ``R < V`` (``A = |avg|``; ``A = 0`` where ``V = 0``), ``A·10^6 = Rt·X + R2`` with
  either ``cl = 1``, ``Rt = cap`` (``cap = funding_cap_bps·100``, a constant) or
  ``cl = 0``, ``Rt ≤ cap`` and ``R2 < X`` (so ``Rt = min(⌊A·10^6/X⌋, cap)`` and the
  rate is ``sign(U)·Rt``), ``X > 0``, and ``sign(U)·Rt·(X·multiplier) = ΔF·10^6 + R3``
  with ``0 ≤ R3 < 10^6`` (the floor; ``X·multiplier`` the statement's public digits of
  the index price times the multiplier, ``ΔF`` its public sign and digits);
* elsewhere ``ΔF = 0``.

Width: see docs/stark.md ("The funding rule").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sealbatch.crypto.air import Column, Expr, col, const, pub
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import RATE
from sealbatch.settlement.batch_air.framework import TAG_RANGE, AirBuilder, TraceBuilder
from sealbatch.settlement.batch_air.limbs import (
    CARRY_OFFSET,
    DIGIT,
    carries,
    carry_columns,
    carry_equations,
)
from sealbatch.settlement.batch_air.settle_witness import DERIVED_DIGITS, DerivedIndex
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
)
from sealbatch.settlement.roots import HEADER_FIELDS, header_blocks, header_elements, market_field

__all__ = ["SECTION", "TAG_HEADER_FIELD", "FundingWitness", "declare", "generate", "witness"]

SECTION = "fund"
#: ``(position, e0, e1, e2, e3)``: a signed header value, from the header rows.
TAG_HEADER_FIELD = 62
PPM = 1_000_000
_PPM = (PPM % DIGIT, PPM // DIGIT)  # 10^6 as two 12-bit digits
_L = 1 << 24
_INV_L = pow(_L, P - 2, P)
#: Fields of the state headers rather than of a market: received on row 0 only.
_ONCE = ("bid", "ts", "tsp")

#: Digit columns (range-checked to 12 bits) and their counts.
_DIGITS = {
    "x": 3, "pm": 3, "d": 3, "ex": 2, "u": 5, "v": 3, "a": 3, "r": 3, "y": 3,
    "rt": 2, "z": 2, "q": 5, "w2": 3, "r3": 2, "z3": 2,
}  # fmt: skip
#: Plain columns: received header elements and witness bits/inverses.
_PLAIN = (
    "on", "on0", "ts0", "ts1", "tsp0", "tsp1", "bid_s", "bid0", "bid1", "bid2", "p0_s",
    "p0_0", "p0_1", "p0_2", "q0_0", "q0_1", "b0", "i1_0", "i1_1", "p1_s", "p1_0", "p1_1",
    "p1_2", "q1_0", "q1_1",
    "b1", "t", "w0", "w1", "pm_s", "e", "su", "vinv", "cl", "xinv",
)  # fmt: skip
#: The digit identities and their position counts.
_IDENTITIES = {"acc": 5, "avg": 5, "rate": 5, "step": 6}


def _names() -> list[str]:
    out = list(_PLAIN)
    for name, n in _DIGITS.items():
        out += [f"{name}{k}" for k in range(n)]
    for name, n in _IDENTITIES.items():
        out += [f"{name}.c{k}.{part}" for k in range(n - 1) for part in ("lo", "hi")]
    return out


@dataclass(frozen=True)
class _Market:
    """Market ``j``'s public values and constants, as expressions or integers."""

    xm: Sequence[Any]  # digits of index_mark × multiplier
    f_sign: Any
    f: Sequence[Any]  # digits of |ΔF|
    interval: int
    cap: int


def _get(v: Mapping[str, Any], name: str, n: int) -> list[Any]:
    return [v[f"{name}{k}"] for k in range(n)]


def _identity_terms(v: Mapping[str, Any], mk: _Market) -> dict[str, list[list[Any]]]:
    """Each digit identity's terms per 12-bit position (expressions or integers alike)."""
    x, pm, d = _get(v, "x", 3), _get(v, "pm", 3), _get(v, "d", 3)
    u, vv, a, r = _get(v, "u", 5), _get(v, "v", 3), _get(v, "a", 3), _get(v, "r", 3)
    rt, q, r3 = _get(v, "rt", 2), _get(v, "q", 5), _get(v, "r3", 2)
    su, t = v["su"], v["t"]
    out: dict[str, list[list[Any]]] = {name: [[] for _ in range(n)] for name, n in
                                       _IDENTITIES.items()}  # fmt: skip
    # acc: U − P0 − t·Q·dt = 0 (Q the pre-state's mark premium)
    acc = out["acc"]
    sign_u, sign_p, sign_q = 1 - 2 * su, 1 - 2 * v["p0_s"], 1 - 2 * v["pm_s"]
    for k in range(5):
        acc[k].append(sign_u * u[k])
    for i in range(3):
        acc[2 * i].append(-sign_p * v[f"p0_{i}"])
    for i in range(3):
        for k in range(3):
            acc[i + k].append(-t * sign_q * pm[i] * d[k])
    # avg: |U| − A·V − R = 0
    avg = out["avg"]
    for k in range(5):
        avg[k].append(u[k])
    for i in range(3):
        for k in range(3):
            avg[i + k].append(-a[i] * vv[k])
    for k in range(3):
        avg[k].append(-r[k])
    # rate: A·10^6 − Rt·X − R2 = 0
    rate = out["rate"]
    for i in range(3):
        for k in range(2):
            rate[i + k].append(a[i] * _PPM[k])
    for i in range(2):
        for k in range(3):
            rate[i + k].append(-rt[i] * x[k])
    for k in range(5):
        rate[k].append(-q[k])
    # step: sign(U)·Rt·(X·multiplier) − ΔF·10^6 − R3 = 0
    step = out["step"]
    sign_f = 1 - 2 * mk.f_sign
    for i in range(2):
        for k in range(DERIVED_DIGITS):
            if i + k < 6:
                step[i + k].append(sign_u * rt[i] * mk.xm[k])
    for i in range(DERIVED_DIGITS):
        for k in range(2):
            if i + k < 6:
                step[i + k].append(-sign_f * mk.f[i] * _PPM[k])
    for k in range(2):
        step[k].append(-r3[k])
    return out


def _settle_start(statement: BatchStatement) -> int:
    return PUBLIC_HEADER + PUBLIC_PER_MARKET * len(statement.markets)


def _derived(statement: BatchStatement) -> DerivedIndex:
    return statement.settle.derived_index(_settle_start(statement))


def _terms(statement: BatchStatement) -> tuple[tuple[int, int], ...]:
    terms = statement.funding_terms
    if len(terms) != len(statement.markets):
        raise ValueError(
            f"funding terms: expected one per market ({len(statement.markets)}), got {len(terms)}"
        )
    for n, cap in terms:
        if not 1 <= n < 1 << 20 or not 0 <= cap <= 10_000:
            raise ValueError(f"funding terms: expected 1 <= N < 2^20, cap <= 10000, got {n}, {cap}")
    return terms


def _market(statement: BatchStatement, j: int, value: Callable[[int], Any]) -> _Market:
    ix = _derived(statement)
    n, cap_bps = _terms(statement)[j]
    return _Market(
        xm=[value(ix.margin_price(1, j) + k) for k in range(DERIVED_DIGITS)],
        f_sign=value(ix.funding_sign(j)),
        f=[value(ix.funding(j) + k) for k in range(DERIVED_DIGITS)],
        interval=n,
        cap=cap_bps * 100,
    )


def _fields(statement: BatchStatement, j: int) -> list[tuple[str, int]]:
    """``(prefix, header position)`` of the fields row ``j`` receives (post: ``+ 8H``)."""
    post = RATE * header_blocks(len(statement.markets))
    return [
        ("bid", HEADER_FIELDS["batch_id"]),
        ("ts", HEADER_FIELDS["timestamp"]),
        ("p0", market_field(j, "premium_sum")),
        ("q0", market_field(j, "premium_time")),
        ("b0", market_field(j, "interval_batches")),
        ("pm", market_field(j, "premium")),  # the sample: the premium in force over dt
        ("tsp", post + HEADER_FIELDS["timestamp"]),
        ("x", post + market_field(j, "index")),
        ("i1", post + market_field(j, "index_time_ms")),
        ("p1", post + market_field(j, "premium_sum")),
        ("q1", post + market_field(j, "premium_time")),
        ("b1", post + market_field(j, "interval_batches")),
    ]


def _starts(statement: BatchStatement) -> tuple[list[int], int]:
    """The header columns at which a received field starts, and how many of the next
    row's elements a field straddling two rows reaches."""
    starts = sorted(
        {pos % RATE for j in range(len(statement.markets)) for _, pos in _fields(statement, j)}
    )
    return starts, max(0, starts[-1] + 4 - RATE)


def _received(v: Mapping[str, Any], prefix: str) -> list[Any]:
    """The four elements ``[sign, l0, l1, l2]`` row ``j`` receives for a field (a constant
    0 where the field's sign or top limbs must be 0)."""
    if prefix == "bid":
        return [v["bid_s"], v["bid0"], v["bid1"], v["bid2"]]
    if prefix in ("p0", "p1"):
        return [v[f"{prefix}_s"], v[f"{prefix}_0"], v[f"{prefix}_1"], v[f"{prefix}_2"]]
    if prefix in ("ts", "tsp"):
        return [0, v[f"{prefix}0"], v[f"{prefix}1"], 0]
    if prefix in ("q0", "q1", "i1"):
        return [0, v[f"{prefix}_0"], v[f"{prefix}_1"], 0]
    if prefix in ("b0", "b1"):
        return [0, v[prefix], 0, 0]
    if prefix == "pm":  # the pre-state's mark premium, as digits
        return [v["pm_s"], v["pm0"] + DIGIT * v["pm1"], v["pm2"], 0]
    return [0, v["x0"] + DIGIT * v["x1"], v["x2"], 0]  # the index, as digits


def declare(b: AirBuilder, statement: BatchStatement, row: Column) -> None:
    """Allocate the section's columns, constraints and bus interactions (after the
    headers, whose block and time columns it reads; ``row`` is the row counter)."""
    v: dict[str, Any] = {name: b.column(SECTION, name) for name in _names()}
    for name, n in _DIGITS.items():
        for k in range(n):
            b.bus.send(TAG_RANGE, [v[f"{name}{k}"]], 1, f"funding: {name}{k} < 2^12")
    for name, n in _IDENTITIES.items():
        for k in range(n - 1):
            b.bus.send(TAG_RANGE, [v[f"{name}.c{k}.lo"]], 1, f"funding: {name} carry {k}")
            b.bus.send(TAG_RANGE, [64 * v[f"{name}.c{k}.hi"]], 1, f"funding: {name} carry {k}")
    # every state-header row sends the value starting at each of its columns
    block = [col(b.names.index(f"hdr.b{k}")) for k in range(RATE)]
    starts, ahead_count = _starts(statement)
    ahead = [b.column(SECTION, f"next{k}") for k in range(ahead_count)]  # the next row's
    for k, nxt in enumerate(ahead):
        b.constrain(nxt - block[k].next, f"funding: the next header row's element {k}")
    for k in starts:
        use = b.column(SECTION, f"use{k}")
        elems = [block[k + i] if k + i < RATE else ahead[k + i - RATE] for i in range(4)]
        b.bus.send(TAG_HEADER_FIELD, [RATE * row + k, *elems], use, "funding: a header field")
    m = len(statement.markets)
    time = [col(b.names.index(f"hdr.time{k}")) for k in range(2)]
    stride = market_field(1, "index") - market_field(0, "index")
    for prefix, pos in _fields(statement, 0):
        at = const(pos) if prefix in _ONCE else pos + stride * row
        received: list[Expr] = [const(e) if isinstance(e, int) else e for e in _received(v, prefix)]
        once = prefix in _ONCE  # the states', received on row 0
        b.bus.receive(
            TAG_HEADER_FIELD,
            [at, *received],
            v["on0"] if once else v["on"],
            f"funding: header {prefix}",
        )
    for name in ("bid_s", "bid0", "bid1", "bid2", "ts0", "ts1"):
        b.constrain(v[name].next - v[name], f"funding: the pre-state's {name} is constant")
    b.boundary(0, v["on0"] - 1, "funding: row 0 receives the pre-state's batch id and time")
    for k in range(2):
        b.boundary(0, v[f"tsp{k}"] - time[k], f"funding: the post-state's timestamp is T ({k})")
    for j in range(1, m):
        b.boundary(j, v["on0"], f"funding: market {j} receives them from row 0")
    for j in range(m):
        mk = _market(statement, j, pub)
        _declare_market(b, v, mk, time, j)


def _declare_market(
    b: AirBuilder, v: Mapping[str, Any], mk: _Market, time: list[Column], j: int
) -> None:
    def at(e: Expr | int, name: str) -> None:
        b.boundary(j, const(e) if isinstance(e, int) else e, f"funding: market {j}: {name}")

    def bit(name: str) -> None:
        at(v[name] * (v[name] - 1), f"{name} ∈ {{0, 1}}")

    for name in ("t", "bid_s", "e", "su", "cl", "pm_s"):
        bit(name)
    at(v["on"] - 1, "the row is the market's")
    t, e = v["t"], v["e"]
    te = t * e  # trusted and an interval end
    # trusted: the post-state's index time is the batch's
    d0, d1 = v["i1_0"] - time[0], v["i1_1"] - time[1]
    at(t * d0, "trusted: the index time is the batch's (low limb)")
    at(t * d1, "trusted: the index time is the batch's (high limb)")
    at(1 - t - v["w0"] * d0 - v["w1"] * d1, "untrusted: the index time is not the batch's")
    # dt
    first = v["bid_s"]
    dl = v["d0"] + DIGIT * v["d1"]
    dh = v["d2"]  # dt < 2^36
    # the limbs' carries are expressions constrained to bits (pools.py's way)
    kd = (dl - (1 - first) * (time[0] - v["ts0"])) * _INV_L
    at(kd * (kd - 1), "dt (low limb)")
    at(dh - (1 - first) * (time[1] - v["ts1"]) + kd, "dt (high limb)")
    # sampled where trusted (traded or not): the acc identity's t·Q·dt below
    # interval end
    b0 = v["b0"]
    gap = (2 * e - 1) * (b0 + 1 - mk.interval) - (1 - e)
    at(v["ex0"] + DIGIT * v["ex1"] - gap, "the interval ends exactly at N batches")
    # premium time: V = Q0 + t·dt
    vl = v["v0"] + DIGIT * v["v1"]
    vh = v["v2"]  # premium time < 2^36
    kv = (v["q0_0"] + t * dl - vl) * _INV_L
    at(kv * (kv - 1), "premium time accumulated (low limb)")
    at(vh - v["q0_1"] - t * dh - kv, "premium time accumulated (high limb)")
    # the post-state's premium terms and interval count
    u = [*_get(v, "u", 5), 0]
    keep = 1 - te
    at(v["p1_s"] - keep * v["su"], "post premium sum (sign)")
    for i in range(3):
        at(v[f"p1_{i}"] - keep * (u[2 * i] + DIGIT * u[2 * i + 1]), f"post premium sum (limb {i})")
    at(v["q1_0"] - keep * vl, "post premium time (low limb)")
    at(v["q1_1"] - keep * vh, "post premium time (high limb)")
    at(v["b1"] - (b0 + t - te * (b0 + 1)), "post interval batches")
    # the digit identities
    terms = _identity_terms(v, mk)
    gates = {"acc": const(1), "avg": te, "rate": te, "step": te}
    names = {
        "acc": "premium sum accumulated",
        "avg": "average premium",
        "rate": "rate = A·10^6 / index",
        "step": "ΔF = ⌊rate·index·multiplier / 10^6⌋",
    }
    for name, positions in terms.items():
        cs_: list[Expr] = [
            v[f"{name}.c{k}.lo"] + DIGIT * v[f"{name}.c{k}.hi"] - CARRY_OFFSET
            for k in range(len(positions) - 1)
        ]
        for k, eq in enumerate(carry_equations(positions, cs_)):
            at(gates[name] * eq, f"{names[name]} (position {k})")
    # the average: R < V, A = 0 without premium time
    vs = sum(_get(v, "v", 3), const(0))
    nzv = vs * v["vinv"]
    at(vs * (1 - nzv), "premium time (inverse)")
    for i, ai in enumerate(_get(v, "a", 3)):
        at((1 - nzv) * ai, f"no average without premium time ({i})")
    r, y = _get(v, "r", 3), _get(v, "y", 3)
    kr = (1 + r[0] + DIGIT * r[1] + y[0] + DIGIT * y[1] - vl) * _INV_L
    high = vh - r[2] - y[2] - kr
    at(te * nzv * kr * (kr - 1), "average premium's remainder < premium time (low limb)")
    at(te * nzv * high, "average premium's remainder < premium time (high limb)")
    # the rate, clamped
    x, rt, q, w2 = _get(v, "x", 3), _get(v, "rt", 2), _get(v, "q", 5), _get(v, "w2", 3)
    rate = rt[0] + DIGIT * rt[1]
    cl = v["cl"]
    xs = x[0] + x[1] + x[2]
    at(te * (1 - xs * v["xinv"]), "the index is positive at an interval end")
    at(te * cl * (rate - mk.cap), "a clamped rate is the cap")
    at(te * (1 - cl) * (mk.cap - rate - v["z0"] - DIGIT * v["z1"]), "the rate is within the cap")
    free = te * (1 - cl)
    at(free * q[3], "an unclamped rate's remainder < index (digit 3)")
    at(free * q[4], "an unclamped rate's remainder < index (digit 4)")
    k2 = (1 + q[0] + DIGIT * q[1] + w2[0] + DIGIT * w2[1] - x[0] - DIGIT * x[1]) * _INV_L
    at(free * k2 * (k2 - 1), "an unclamped rate's remainder < index (low limb)")
    at(free * (x[2] - q[2] - w2[2] - k2), "an unclamped rate's remainder < index (high limb)")
    # the step's remainder, and no step outside an interval end
    r3, z3 = _get(v, "r3", 2), _get(v, "z3", 2)
    at(te * (PPM - 1 - r3[0] - DIGIT * r3[1] - z3[0] - DIGIT * z3[1]), "ΔF's remainder < 10^6")
    at(keep * mk.f_sign, "ΔF = 0 outside an interval end (sign)")
    for k in range(DERIVED_DIGITS):
        at(keep * mk.f[k], f"ΔF = 0 outside an interval end (digit {k})")


# --------------------------------------------------------------------------
# The prover's side
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class FundingWitness:
    """One market's row: every column's integer value."""

    values: dict[str, int]


def _digits(value: int, n: int) -> list[int]:
    return [(value >> (12 * k)) & (DIGIT - 1) for k in range(n)]


def _tdiv(a: int, b: int) -> int:
    return a // b if a >= 0 else -((-a) // b)


def witness(statement: BatchStatement, j: int, *, refuse: bool = True) -> FundingWitness:
    """Market ``j``'s row from the statement (pre/post headers, public inputs).

    Raises:
        ValueError: (with ``refuse``) the post-state's premium terms, interval count or
            the public ``ΔF`` are not the rule's (named).
    """
    public = statement.public_inputs
    m = len(statement.markets)
    pre_ms, post_ms = statement.pre.market_states[j], statement.post.market_states[j]
    mk = _market(statement, j, lambda i: int(public[i]))
    name = statement.markets[j]
    v: dict[str, int] = {}
    pre_h, post_h = header_elements(statement.pre), header_elements(statement.post)
    post_at = RATE * header_blocks(m)
    for prefix, pos in _fields(statement, j):
        elems = post_h[pos - post_at :] if pos >= post_at else pre_h[pos:]
        s, l0, l1, l2 = (int(x) for x in elems[:4])
        if prefix == "bid":
            v.update(bid_s=s, bid0=l0, bid1=l1, bid2=l2)
        elif prefix in ("ts", "tsp"):
            v.update({f"{prefix}0": l0, f"{prefix}1": l1})
        elif prefix in ("p0", "p1"):
            v.update({f"{prefix}_s": s, f"{prefix}_0": l0, f"{prefix}_1": l1, f"{prefix}_2": l2})
        elif prefix in ("q0", "q1", "i1"):
            v.update({f"{prefix}_0": l0, f"{prefix}_1": l1})
        elif prefix in ("b0", "b1"):
            v[prefix] = l0
        elif prefix == "pm":
            v["pm_s"] = s
    t0, t1, _ = (int(x) for x in statement.input_blocks[1][:3])
    time = t0 + (t1 << 24)
    if refuse and statement.post.timestamp_ms != time:
        raise ValueError(
            f"funding: the post-state's timestamp: expected the batch's time {time}, "
            f"got {statement.post.timestamp_ms}"
        )
    first = v["bid_s"]
    ts = v["ts0"] + (v["ts1"] << 24)
    dt = 0 if first else time - ts
    index = post_ms.index_price
    trusted = int(post_ms.index_time_ms == time)
    mark_premium = pre_ms.premium  # in force over dt (the previous batch's mark rule's)
    p0, q0, b0 = pre_ms.premium_sum, pre_ms.premium_time, pre_ms.interval_batches
    usum = p0 + trusted * mark_premium * dt
    vt = q0 + trusted * dt
    end = int(b0 + 1 >= mk.interval)
    te = trusted * end
    a = abs(usum) // vt if vt else 0
    a_signed = _tdiv(usum, vt) if vt else 0
    raw = abs(a_signed) * PPM // index if te and index else 0
    clamped = int(raw >= mk.cap) if te else 0
    rate = min(raw, mk.cap) if te else 0
    su = int(usum < 0)
    signed_rate = -rate if su else rate
    xm = sum(int(d) << (12 * k) for k, d in enumerate(mk.xm))
    delta = (signed_rate * xm) // PPM if te else 0
    stated = (1 - 2 * mk.f_sign) * sum(int(d) << (12 * k) for k, d in enumerate(mk.f))
    if not refuse and te and stated != delta and ((-raw if su else raw) * xm) // PPM == stated:
        rate, clamped, signed_rate, delta = raw, 0, (-raw if su else raw), stated  # uncapped
    want = (
        ("premium_sum", 0 if te else usum, post_ms.premium_sum),
        ("premium_time", 0 if te else vt, post_ms.premium_time),
        ("interval_batches", b0 + trusted - te * (b0 + 1), post_ms.interval_batches),
        ("ΔF", delta, stated),
    )
    for field_name, expected, got in want:
        if refuse and expected != got:
            raise ValueError(
                f"funding: {name} {field_name}: expected {expected} (the funding rule: trusted "
                f"{trusted}, dt {dt}, interval end {end}), got {got}"
            )
    gap = (b0 + 1 - mk.interval) if end else (mk.interval - b0 - 2)
    v.update(t=trusted, e=end, su=su, cl=clamped)
    diffs = (v["i1_0"] - t0, v["i1_1"] - t1)
    w = [0, 0]
    if not trusted:
        k = 0 if diffs[0] % P else 1
        w[k] = pow(diffs[k] % P, P - 2, P)
    v.update(w0=w[0], w1=w[1])
    v["vinv"] = pow(sum(_digits(vt, 4)) % P, P - 2, P) if vt else 0
    xs = sum(_digits(index, 3))
    v["xinv"] = pow(xs % P, P - 2, P) if xs else 0
    rem = abs(usum) - a * vt if te else 0
    ydiff = vt - 1 - rem if te and vt else 0
    q = a * PPM - rate * index if te else 0
    w2 = index - 1 - q if te and not clamped else 0
    r3 = signed_rate * xm - delta * PPM if te else 0
    values = {
        "x": index, "pm": abs(mark_premium), "d": dt, "ex": gap, "u": abs(usum), "v": vt,
        "a": a if te else 0, "r": rem, "y": ydiff, "rt": rate,
        "z": mk.cap - rate if te and not clamped else 0, "q": q, "w2": w2, "r3": r3,
        "z3": PPM - 1 - r3 if te else 0,
    }  # fmt: skip
    for key, n in _DIGITS.items():
        val = values[key]
        if refuse and not 0 <= val < 1 << (12 * n):
            raise ValueError(f"funding: {name} {key}: expected below 2^{12 * n}, got {val}")
        val %= 1 << (12 * n)
        for k, dgt in enumerate(_digits(val, n)):
            v[f"{key}{k}"] = dgt
    v["on"], v["on0"] = 1, int(j == 0)
    terms = _identity_terms(v, mk)
    gated = {"acc": True, "avg": bool(te), "rate": bool(te), "step": bool(te)}
    for key, positions in terms.items():
        n = len(positions)
        sums = np.array([[int(sum(p))] for p in positions], dtype=np.int64)
        cs_ = np.zeros((n - 1, 1), np.int64)
        if gated[key]:
            try:
                cs_ = carries(sums)
            except ValueError as exc:
                if refuse:
                    raise ValueError(f"funding: {name} {key}: {exc}") from None
        lo, hi = carry_columns(np.clip(cs_, -CARRY_OFFSET, CARRY_OFFSET - 1))
        for k in range(n - 1):
            v[f"{key}.c{k}.lo"], v[f"{key}.c{k}.hi"] = int(lo[k, 0]), int(hi[k, 0])
    return FundingWitness(v)


def generate(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the section (after the headers): one row per market, the header rows'
    field multiplicities and the digits' range lookups.

    Raises:
        ValueError: (with ``refuse``) a market's funding breaks the rule (named).
    """
    m = len(statement.markets)
    rows = [witness(statement, j, refuse=refuse).values for j in range(m)]
    constant = ("bid_s", "bid0", "bid1", "bid2", "ts0", "ts1")
    for name in _names():
        pad = rows[0][name] if name in constant and rows else 0
        tb.set(SECTION, name, [r[name] for r in rows], pad=pad)
    uses = np.zeros((RATE, tb.num_rows), np.int64)
    for j in range(m):
        for prefix, pos in _fields(statement, j):
            if j == 0 or prefix not in _ONCE:
                uses[pos % RATE, pos // RATE] += 1
    starts, ahead_count = _starts(statement)
    for k in starts:
        tb.set(SECTION, f"use{k}", uses[k])
    for k in range(ahead_count):
        block = tb.get("hdr", f"b{k}")
        tb.get(SECTION, f"next{k}")[:] = np.roll(block, -1)
    for name, n in _DIGITS.items():
        for k in range(n):
            _count(tb, tb.get(SECTION, f"{name}{k}"))
    for name, n in _IDENTITIES.items():
        for k in range(n - 1):
            _count(tb, tb.get(SECTION, f"{name}.c{k}.lo"))
            _count(tb, 64 * tb.get(SECTION, f"{name}.c{k}.hi").astype(np.int64))


def _count(tb: TraceBuilder, values: np.ndarray) -> None:
    arr = np.asarray(values, dtype=np.int64)
    tb.count_range(arr[(arr >= 0) & (arr < DIGIT)])
