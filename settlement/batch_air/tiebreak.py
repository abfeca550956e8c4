"""The price rule's tie-breaks (statement S7) on the book section's rows.

:mod:`.fair` proves that the executed volume ``V`` is maximal. Among the
prices that execute ``V``, :func:`sealbatch.auction.clearing.discover_price`
takes those of least imbalance ``|D − S|``, then the one closest to the
reference price. This module proves, per market:

* **S7 least imbalance**: ``I = |D(p) − S(p)|`` at the clearing price ``p``
  (``D(p)``, ``S(p)``: the lots the price makes eligible); every *cell* of the
  price line — each submitted limit price, each non-empty gap after one, the
  non-empty stretch below the lowest limit — either executes less than ``V``
  (``D < V`` or ``S < V``) or has an imbalance of at least ``I``. On a cell,
  ``D`` and ``S`` are constant, so every price is covered;
* **S7 reference**: with a reference ``ref`` (public, in the market table),
  if ``ref < p`` the price ``p − 1`` is not optimal (it executes less or is
  more imbalanced), and if ``ref > p`` neither is ``p + 1``. The optimal prices
  form one interval (``min(D, S)`` is quasi-concave and ``D − S``
  non-increasing), so ``p`` is the optimal price nearest ``ref``;
* **S7 no volume, no price**: a market with a price executes at least one lot.

The point and gap cells also carry an ``opt`` flag, forced both ways (optimal:
``{D, S} = {V, V + I}``; not: one of the four reasons with a strict imbalance),
which :mod:`.midpoint` reads to prove the rule without a reference (the
midpoint) and the rule of a book of market orders only.
``D`` and ``S`` one tick away from ``p`` come from the lots at exactly
``p − 1``, ``p`` and ``p + 1`` (is-zero gadgets on ``limit − p``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.air import Column, Expr, shift_rows
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air import midpoint
from sealbatch.settlement.batch_air.framework import AirBuilder, LevelRuns, TraceBuilder

__all__ = ["ABOVE_ALL", "declare", "generate"]

SECTION = "book"
_BITS = 30
#: The "next level" after a market's last limit: one above every price.
ABOVE_ALL = 1 << 30

I64 = npt.NDArray[np.int64]
_V = TypeVar("_V", Expr, I64)


def _cell(
    b: AirBuilder,
    name: str,
    sel: Expr,
    demand: Expr,
    supply: Expr,
    vol: Expr,
    imb: Expr,
    strict: int,
    opt: Column | None = None,
) -> None:
    """Where ``sel`` is 1: ``D < V`` or ``S < V`` or ``|D − S| ≥ imb + strict``.

    With ``opt`` (the column ``{name}_opt``), a fifth reason: the cell is optimal,
    ``{D, S} = {V, V + imb}`` (``D + S = 2V + imb`` and ``(D − V)(S − V) = 0``); the other
    four then say it is not (``strict`` is 1)."""
    a, s, up, down = (b.column(SECTION, f"{name}_{k}") for k in ("d", "s", "up", "down"))
    for e, k in ((a, "d"), (s, "s"), (up, "up"), (down, "down")):
        b.boolean(e, f"S7 {name}: {k}")
    reasons = a + s + up + down if opt is None else a + s + up + down + opt
    b.constrain(reasons - sel, f"S7 {name}: one reason where it applies")
    if opt is not None:
        b.boolean(opt, f"S7 {name}: opt")
        b.constrain(opt * (demand + supply - 2 * vol - imb), f"S7 {name}: optimal, D + S")
        b.constrain(opt * (demand - vol) * (supply - vol), f"S7 {name}: optimal, min(D, S) = V")
    value = (
        a * (vol - 1 - demand)
        + s * (vol - 1 - supply)
        + up * (demand - supply - imb - strict)
        + down * (supply - demand - imb - strict)
    )
    b.range_check(SECTION, name, value, _BITS)


def _increments(
    elig: _V, qty: _V, bq: _V, lb: _V, hq: _V, flags: Mapping[str, _V]
) -> tuple[tuple[str, _V], ...]:
    """Each running sum of a level's run and its row's increment: demand and supply of
    the eligible orders, the buys and sells at the levels p, p − 1 and p + 1 (``flags``:
    a row's level is one of those). One list for the AIR (expressions) and the prover
    (integers)."""
    ls = hq - lb
    return (
        ("cum_de", elig * bq),
        ("cum_se", elig * (qty - bq)),
        ("cum_b0", flags["z0"] * lb),
        ("cum_s0", flags["z0"] * ls),
        ("cum_bm", flags["zm"] * lb),
        ("cum_sp", flags["zp"] * ls),
    )


def declare(b: AirBuilder, book: Mapping[str, Column]) -> None:
    """Add the tie-break columns and constraints over the book's and :mod:`.fair`'s."""

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    has_limit, qty, limit = book["has_limit"], book["qty"], book["limit"]
    price, traded, ref, has_ref = book["price"], book["traded"], book["ref"], book["has_ref"]
    chg, lend, elig = book["chg"], book["lend"], book["elig"]
    tb, vol, cum_lb, lvl_b = book["tb"], book["vol"], book["cum_lb"], book["lvl_b"]
    cum_s, cum_ls, lb, hq, bq = book["cum_s"], book["cum_ls"], book["lb"], book["hq"], book["bq"]

    # Exact levels at p − 1, p, p + 1 (is-zero gadgets on limit − p).
    u = limit - price
    flags = {}
    for name, target in (("z0", u), ("zm", u + 1), ("zp", u - 1)):
        z, inv = c(name), c(f"{name}_inv")
        b.constrain(z - (1 - target * inv), f"S7 reference: {name} = [limit − p = …]")
        b.constrain(target * z, f"S7 reference: {name} only where it holds")
        flags[name] = z
    sums = {}
    for name, inc in _increments(elig, qty, bq, lb, hq, flags):
        cum = c(name)
        b.boundary(0, cum - inc, f"S7 tie-break: {name} start")
        b.constrain(cum.next - (1 - chg) * cum - shift_rows(inc), f"S7 tie-break: {name}")
        sums[name] = cum

    # The imbalance at the price, a per-market constant.
    imb, sign = c("imb"), c("imb_sign")
    b.boolean(sign, "S7 least imbalance: sign")
    d_star, s_star = sums["cum_de"], sums["cum_se"]
    ct = book["ct"]  # chg·traded: the imbalance of a market that did not trade is 0
    b.constrain(ct * (imb - (2 * sign - 1) * (d_star - s_star)), "S7 least imbalance: I")
    b.constrain((chg - ct) * imb, "S7 least imbalance: I = 0 without a trade")
    b.constrain((1 - chg) * (imb.next - imb), "S7 least imbalance: I constant in a market")
    b.range_check(SECTION, "imb", imb, _BITS)

    # Cells: the point at each level end, the gap after it, the stretch below the first.
    demand_pt, supply = tb - cum_lb + lvl_b, cum_s
    opt_pt = c("least_pt_opt")
    _cell(b, "least_pt", lend, demand_pt, supply, vol, imb, 1, opt_pt)
    nxc, gne, gap = c("nxc"), c("gap_ne"), c("gap_sel")
    b.constrain(nxc - (1 - chg) * limit.next - chg * ABOVE_ALL, "S7 least imbalance: next level")
    b.boolean(gne, "S7 least imbalance: gap non-empty")
    b.constrain(lend * (1 - gne) * (nxc - limit - 1), "S7 least imbalance: an empty gap")
    b.range_check(SECTION, "gap_ne", lend * gne * (nxc - limit - 2), _BITS)
    b.constrain(gap - lend * gne, "S7 least imbalance: gap selector")
    opt_gap = c("least_gap_opt")
    _cell(b, "least_gap", gap, tb - cum_lb, supply, vol, imb, 1, opt_gap)
    first, below, bsel = c("first_lim"), c("below_ne"), c("below_sel")
    b.boundary(0, first - has_limit, "S7 least imbalance: first limit row")
    b.constrain(
        first.next - has_limit.next * (1 - (1 - chg) * has_limit),
        "S7 least imbalance: first limit row of a market",
    )
    b.boolean(below, "S7 least imbalance: below non-empty")
    b.constrain(first * (1 - below) * (limit - 1), "S7 least imbalance: nothing below 1")
    b.range_check(SECTION, "below_ne", first * below * (limit - 2), _BITS)
    b.constrain(bsel - first * below, "S7 least imbalance: below selector")
    _cell(b, "least_below", bsel, tb, cum_s - cum_ls, vol, imb, 0)

    # The reference: the neighbour towards it is not optimal.
    lt, gt, nsel = c("ref_lt"), c("ref_gt"), c("ref_sel")
    b.boolean(lt, "S7 reference: below")
    b.boolean(gt, "S7 reference: above")
    b.constrain(has_ref * (1 - lt - gt) * (ref - price), "S7 reference: at the price")
    b.constrain((1 - has_ref) * (lt + gt), "S7 reference: none without a reference")
    b.range_check(SECTION, "ref_dir", lt * (price - ref - 1) + gt * (ref - price - 1), _BITS)
    b.constrain(nsel - chg * traded * (lt + gt), "S7 reference: neighbour selector")
    demand_n = d_star + lt * sums["cum_bm"] - gt * sums["cum_b0"]
    supply_n = s_star - lt * sums["cum_s0"] + gt * sums["cum_sp"]
    _cell(b, "ref_next", nsel, demand_n, supply_n, vol, imb, 1)

    # No volume, no price.
    b.range_check(SECTION, "some_volume", chg * traded * (vol - 1), _BITS)

    # Without a reference: the midpoint; a book of market orders only (midpoint.py).
    midpoint.declare(
        b,
        {
            **book,
            **{"z0": flags["z0"], "nxc": nxc, "first_lim": first},
            **{"opt_pt": opt_pt, "opt_gap": opt_gap},
        },
    )


def _inv(values: I64) -> I64:
    return np.array([pow(int(v) % P, P - 2, P) if v % P else 0 for v in values], np.int64)


def _cell_values(
    tb: TraceBuilder,
    name: str,
    sel: I64,
    demand: I64,
    supply: I64,
    vol: I64,
    imb: I64,
    strict: int,
    refuse: bool,
    statement: str,
    optimal: bool = False,
) -> I64:
    """Write a cell's reasons (prover side); returns its ``opt`` flags (0 without
    ``optimal``)."""
    opt = np.zeros(len(sel), np.int64)
    if optimal:
        exact = (demand + supply == 2 * vol + imb) & ((demand - vol) * (supply - vol) == 0)
        opt = sel * exact
        tb.set(SECTION, f"{name}_opt", opt)
    options = np.stack(
        [vol - 1 - demand, vol - 1 - supply, demand - supply - imb - strict,
         supply - demand - imb - strict]
    )  # fmt: skip
    pick = np.argmax(options, axis=0)
    best = options[pick, np.arange(options.shape[1])] if options.shape[1] else pick
    rest = sel * (1 - opt)
    if refuse and np.any(rest * (best < 0)):
        r = int(np.flatnonzero(rest * (best < 0))[0])
        raise ValueError(
            f"{statement}: a cell with demand {int(demand[r])} and supply {int(supply[r])} "
            f"executes {int(vol[r])} lots with an imbalance of "
            f"{abs(int(demand[r]) - int(supply[r]))} (the price's is {int(imb[r])})"
        )
    for k, key in enumerate(("d", "s", "up", "down")):
        tb.set(SECTION, f"{name}_{key}", rest * (pick == k))
    tb.set_range(SECTION, name, rest * best, statement)
    return opt


def generate(tb: TraceBuilder, rows: Mapping[str, I64], refuse: bool) -> None:
    """Write the tie-break columns (prover side).

    Raises:
        ValueError: the price breaks a tie-break (named), with ``refuse``.
    """
    has_limit, qty, limit = rows["has_limit"], rows["qty"], rows["limit"]
    price, traded, ref, has_ref = rows["price"], rows["traded"], rows["ref"], rows["has_ref"]
    chg, lend, elig = rows["chg"], rows["lend"], rows["elig"]
    tbv, vol, cum_lb, lvl_b = rows["tb"], rows["vol"], rows["cum_lb"], rows["lvl_b"]
    cum_s, cum_ls, lb, hq, bq = rows["cum_s"], rows["cum_ls"], rows["lb"], rows["hq"], rows["bq"]
    n = len(qty)
    u = np.zeros(tb.num_rows, np.int64)  # padding rows: limit 0 at price 0
    u[:n] = limit - price
    flags = {}
    for name, target in (("z0", u), ("zm", u + 1), ("zp", u - 1)):
        full = (target == 0).astype(np.int64)
        tb.set(SECTION, name, full)
        tb.set(SECTION, f"{name}_inv", _inv(target))
        flags[name] = full[:n]
    runs = LevelRuns.of(chg)
    seg, ends, running = runs.seg, runs.ends, runs.running

    sums = {}
    for name, inc in _increments(elig, qty, bq, lb, hq, flags):
        sums[name] = running(inc)
        tb.set(SECTION, name, sums[name])
    d_star = sums["cum_de"][ends][seg] if n else qty
    s_star = sums["cum_se"][ends][seg] if n else qty
    sign = (d_star >= s_star).astype(np.int64)
    seg_traded = traded[ends][seg] if n else qty
    imb = np.abs(d_star - s_star) * seg_traded
    tb.set(SECTION, "imb", imb)
    tb.set(SECTION, "imb_sign", sign)
    tb.set_range(SECTION, "imb", imb, "S7 least imbalance")
    statement = "S7 least imbalance"
    demand_pt = tbv - cum_lb + lvl_b
    opt_pt = _cell_values(
        tb, "least_pt", lend, demand_pt, cum_s, vol, imb, 1, refuse, statement, optimal=True
    )
    nxc = np.where(chg == 1, ABOVE_ALL, np.append(limit[1:], 0))
    gne = lend * (nxc - limit >= 2)
    tb.set(SECTION, "nxc", nxc)
    tb.set(SECTION, "gap_ne", gne)
    tb.set_range(SECTION, "gap_ne", lend * gne * (nxc - limit - 2), statement)
    tb.set(SECTION, "gap_sel", gne)
    opt_gap = _cell_values(
        tb, "least_gap", gne, tbv - cum_lb, cum_s, vol, imb, 1, refuse, statement, optimal=True
    )
    prev_limit_row = np.concatenate(([0], has_limit[:-1] * (1 - chg[:-1]))) if n else qty
    first = has_limit * (1 - prev_limit_row)
    below = first * (limit >= 2)
    tb.set(SECTION, "first_lim", first)
    tb.set(SECTION, "below_ne", below)
    tb.set_range(SECTION, "below_ne", below * (limit - 2), statement)
    tb.set(SECTION, "below_sel", below)
    _cell_values(tb, "least_below", below, tbv, cum_s - cum_ls, vol, imb, 0, refuse, statement)
    lt = has_ref * (ref < price)
    gt = has_ref * (ref > price)
    nsel = chg * traded * (lt + gt)
    tb.set(SECTION, "ref_lt", lt)
    tb.set(SECTION, "ref_gt", gt)
    tb.set_range(SECTION, "ref_dir", lt * (price - ref - 1) + gt * (ref - price - 1), "S7")
    tb.set(SECTION, "ref_sel", nsel)
    demand_n = d_star + lt * sums["cum_bm"] - gt * sums["cum_b0"]
    supply_n = s_star - lt * sums["cum_s0"] + gt * sums["cum_sp"]
    _cell_values(tb, "ref_next", nsel, demand_n, supply_n, vol, imb, 1, refuse, "S7 reference")
    some = chg * traded * (vol - 1)
    if refuse and np.any(some < 0):
        raise ValueError("S7 no volume, no price: a market has a price but executes nothing")
    tb.set_range(SECTION, "some_volume", some, "S7 no volume, no price")
    midpoint.generate(
        tb,
        {
            **rows,
            **{"z0": flags["z0"], "nxc": nxc, "first_lim": first},
            **{"opt_pt": opt_pt, "opt_gap": opt_gap},
        },
        refuse,
    )
