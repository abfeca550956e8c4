"""Fair clearing (statement S7) on the book section's rows: the volume is maximal, the
short side fills completely and the long side fills by price priority.

The book's rows are sorted by (market, limit) — market orders (limit 0)
first in their market — and this module proves, per market:

* **S7 sorted**: ``limit`` never decreases inside a market; ``chg`` marks the
  last row of each market (an is-zero gadget on ``mkt' − mkt``, so it cannot
  be set inside a market);
* **S7 running demand and supply**: running sums of all buys, limit buys,
  all sells and limit sells restart at each market; ``lend`` marks the last
  row of each distinct limit price (forced at every true level end, refused
  inside a level), ``lvl_b`` the limit buys at the current level. At a level
  end with price ``c``: ``D(c) = tb − cum_lb + lvl_b`` (every buy but the
  limit buys below ``c``) and ``S(c) = cum_s`` (every sell at or below ``c``);
* **S7 volume maximal**: ``V`` (the market's executed volume, the sum of its
  buy fills) satisfies ``min(D(c), S(c)) ≤ V`` at every submitted limit price
  ``c``, and, where the market trades, ``min(market buys, market sells) ≤ V``.
  A price between two limits ``c_i < p < c_(i+1)`` has demand ``D(c_(i+1)) ≤
  D(c_i)`` and supply ``S(c_i)``, so it never executes more than ``c_i``;
  below the lowest limit ``D`` is all buys and ``S`` the market sells, at most
  what ``c_0`` executes; without any limit every price executes ``min(market
  buys, market sells)``. So no price executes more than ``V``, and the fills
  (at the uniform price, within limits) execute ``V``: the volume is maximal;
* **S7 short side**: with the market's long side ``L`` (1: buys), every order
  of the short side that the price makes eligible fills completely;
* **S7 price priority**: with the market's marginal key ``ml`` (a limit, or
  ``2^30`` / ``0`` for market buys / sells), a long-side order strictly
  better than ``ml`` fills completely and one strictly worse fills nothing;
* **the market's summary**: ``nfill`` counts the market's filled rows, and
  its last row sends ``(TAG_MARKET_SUMMARY, market, vol, nfill)`` to the
  market's summary block in the outputs digest (:mod:`.digests`), which
  publishes its volume and fill count.

Proved elsewhere: which of the volume-maximising prices is chosen (least
imbalance, then the reference price, :mod:`.tiebreak`, or the midpoint,
:mod:`.midpoint`), and how the marginal level is split (pro rata, largest
remainder, the Poseidon2 tie-break key: :mod:`.prorata`, :mod:`.tiekeys`).

Every running sum is range-checked below 2^30, so no comparison wraps
around p: a market's orders in one batch total fewer than 2^30 lots.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.air import Column, shift_rows
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air import prorata, tiebreak
from sealbatch.settlement.batch_air.framework import (
    TAG_MARKET_SUMMARY,
    AirBuilder,
    LevelRuns,
    TraceBuilder,
)

__all__ = ["MARKET_BUY_KEY", "declare", "generate", "long_side"]

SECTION = "book"
_BITS = 30
#: The priority key of a market buy: above every limit (limits are below 2^30).
MARKET_BUY_KEY = 1 << 30

I64 = npt.NDArray[np.int64]


def declare(b: AirBuilder, book: Mapping[str, Column]) -> None:
    """Add S7's columns and constraints over the book section's columns ``book``."""

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    mkt, is_buy, has_limit = book["mkt"], book["is_buy"], book["has_limit"]
    limit, qty, fill, traded, dlim = (
        book["limit"],
        book["qty"],
        book["fill"],
        book["traded"],
        book["dlim"],
    )
    chg, dinv, step, linv, lend = c("chg"), c("dinv"), c("step"), c("linv"), c("lend")
    hq, bq, lb = c("hq"), c("bq"), c("lb")
    cum_b, cum_lb, cum_s, cum_ls, lvl_b = (
        c("cum_b"),
        c("cum_lb"),
        c("cum_s"),
        c("cum_ls"),
        c("lvl_b"),
    )
    cum_f, tb, vol = c("cum_f"), c("tb"), c("vol")
    which, ct, which_m = c("which"), c("ct"), c("which_m")
    elig, long_buy, sh, tse, lg = c("elig"), c("long_buy"), c("short"), c("tse"), c("lg")
    ml, dm, bet, wor = c("ml"), c("dm"), c("better"), c("worse")
    nfill = c("nfill")

    # Market boundaries and levels (is-zero gadgets, so neither flag is the prover's choice).
    dmk = mkt.next - mkt
    b.constrain(chg - dmk * dinv, "S7 sorted: chg = (mkt' − mkt)·inv")
    b.constrain(dmk * (1 - chg), "S7 sorted: chg = 1 where the market changes")
    b.range_check(SECTION, "sorted", (1 - chg) * (limit.next - limit), _BITS)
    # Markets in order, so each market is one segment and its running sums are whole.
    b.range_check(SECTION, "mkt_sorted", mkt.next - mkt, 12)
    dl = limit.next - limit
    b.constrain(step - dl * linv, "S7 levels: step = (limit' − limit)·inv")
    b.constrain(dl * (1 - step), "S7 levels: step = 1 where the limit changes")
    b.boolean(lend, "S7 levels: lend")
    b.constrain(lend * (1 - has_limit), "S7 levels: market orders form no level")
    b.constrain((1 - lend) * has_limit * step, "S7 levels: a level ends where the limit rises")
    b.constrain((1 - lend) * has_limit * chg, "S7 levels: a level ends with its market")
    b.constrain(lend * (1 - chg) * (1 - step), "S7 levels: no level ends inside a level")

    # Running demand and supply per market.
    b.constrain(hq - has_limit * qty, "S7 demand/supply: limit lots")
    b.constrain(bq - is_buy * qty, "S7 demand/supply: bought lots")
    b.constrain(lb - is_buy * hq, "S7 demand/supply: limit-buy lots")
    sells, limit_sells = qty - bq, hq - lb
    for cum, inc, name in (
        (cum_b, bq, "all buys"),
        (cum_lb, lb, "limit buys"),
        (cum_s, sells, "all sells"),
        (cum_ls, limit_sells, "limit sells"),
        (cum_f, is_buy * fill, "buy fills"),
    ):
        b.boundary(0, cum - inc, f"S7 demand/supply: {name} start")
        b.constrain(
            cum.next - (1 - chg) * cum - shift_rows(inc), f"S7 demand/supply: {name} running"
        )
    b.boundary(0, lvl_b - lb, "S7 demand/supply: level buys start")
    b.constrain(lvl_b.next - (1 - lend) * lvl_b - lb.next, "S7 demand/supply: level buys")
    b.range_check(SECTION, "cum_b", cum_b, _BITS)
    b.range_check(SECTION, "cum_s", cum_s, _BITS)
    for const_col, name in ((tb, "tb"), (vol, "vol"), (long_buy, "long side"), (ml, "ml")):
        b.constrain((1 - chg) * (const_col.next - const_col), f"S7: {name} constant in a market")
    b.constrain(chg * (cum_b - tb), "S7 demand/supply: tb = all buys of the market")
    b.constrain(chg * (cum_f - vol), "S7 volume: vol = the market's bought lots")
    # The market's summary: its volume and its number of filled rows, from its last row.
    filled = book["filled"]
    b.boundary(0, nfill - filled, "market summary: filled rows counted")
    b.constrain(nfill.next - (1 - chg) * nfill - filled.next, "market summary: filled rows counted")
    b.bus.send(TAG_MARKET_SUMMARY, [mkt, vol, nfill], chg, "market summary: volume and fills")

    # Volume maximal at every limit price, and at least what the market orders cross.
    demand, supply = tb - cum_lb + lvl_b, cum_s
    b.boolean(which, "S7 volume maximal: which")
    b.range_check(SECTION, "vol_max", lend * (vol - supply + which * (supply - demand)), _BITS)
    b.constrain(ct - chg * traded, "S7 volume maximal: ct = chg·traded")
    b.boolean(which_m, "S7 volume maximal: which_m")
    mb, ms = cum_b - cum_lb, cum_s - cum_ls
    b.range_check(SECTION, "vol_market", ct * (vol - ms + which_m * (ms - mb)), _BITS)

    # Short side fills completely; long side by price priority.
    b.boolean(elig, "S7 priority: elig")
    b.constrain((1 - has_limit) * (1 - elig), "S7 priority: a market order is eligible")
    b.range_check(SECTION, "elig", has_limit * ((2 * elig - 1) * dlim - (1 - elig)), _BITS)
    b.boolean(long_buy, "S7 priority: long side")
    b.constrain(sh - (is_buy + long_buy - 2 * is_buy * long_buy), "S7 priority: short")
    b.constrain(tse - sh * elig * traded, "S7 short side: tse")
    b.constrain(tse * (qty - fill), "S7 short side: an eligible short order fills completely")
    b.constrain(lg - (1 - sh) * traded, "S7 priority: lg")
    key = limit + MARKET_BUY_KEY * is_buy * (1 - has_limit)
    b.constrain(dm - (2 * is_buy - 1) * (key - ml), "S7 priority: distance to the margin")
    b.boolean(bet, "S7 priority: better")
    b.boolean(wor, "S7 priority: worse")
    b.constrain(bet * wor, "S7 priority: better and worse exclude each other")
    b.constrain((1 - bet - wor) * dm, "S7 priority: at the margin otherwise")
    b.range_check(SECTION, "priority", bet * (dm - 1) + wor * (-dm - 1), _BITS)
    b.constrain(lg * bet * (qty - fill), "S7 price priority: better than the margin fills")
    b.constrain(lg * wor * fill, "S7 price priority: worse than the margin fills nothing")
    prorata.declare(
        b,
        {"qty": qty, "fill": fill, "chg": chg, "vol": vol, "lg": lg, "better": bet, "worse": wor}
        | {"mkt": mkt, **{f"id{k}": book[f"id{k}"] for k in range(8)}},
    )
    tiebreak.declare(
        b,
        {
            **book,
            **{"chg": chg, "lend": lend, "elig": elig, "tb": tb, "vol": vol, "ct": ct},
            **{"cum_lb": cum_lb, "lvl_b": lvl_b, "cum_s": cum_s, "cum_ls": cum_ls},
            **{"lb": lb, "hq": hq, "bq": bq},
        },
    )


def generate(
    tb: TraceBuilder, rows: Mapping[str, I64], n_markets: int, refuse: bool
) -> dict[str, I64]:
    """Write S7's columns from the book's sorted rows (prover side).

    Args:
        tb: the trace.
        rows: the book's columns over its ``n`` active rows (``mkt``, ``is_buy``,
            ``has_limit``, ``limit``, ``qty``, ``fill``, ``traded``, ``dlim``).
        n_markets: markets in the statement (padding rows take this market index).
        refuse: raise when the batch breaks S7.

    Returns:
        The marginal rationing per row (:func:`.prorata.rationing`).

    Raises:
        ValueError: the batch breaks S7 (named), with ``refuse``.
    """
    n = len(rows["mkt"])
    mkt, is_buy, has_limit = rows["mkt"], rows["is_buy"], rows["has_limit"]
    limit, qty, fill, traded, dlim = (
        rows["limit"],
        rows["qty"],
        rows["fill"],
        rows["traded"],
        rows["dlim"],
    )
    nxt_mkt = np.append(mkt[1:], n_markets)
    chg = (nxt_mkt != mkt).astype(np.int64)
    dinv = np.array([pow(int(d) % P, P - 2, P) if d else 0 for d in nxt_mkt - mkt], np.int64)
    nxt_lim = np.append(limit[1:], 0)
    step = (nxt_lim != limit).astype(np.int64)
    linv = np.array([pow(int(d) % P, P - 2, P) if d else 0 for d in nxt_lim - limit], np.int64)
    lend = has_limit * np.maximum(chg, step)
    if refuse and np.any((1 - chg[:-1]) * (limit[1:] - limit[:-1]) < 0):
        raise ValueError("S7 sorted: the book is not sorted by (market, limit)")
    hq, bq = has_limit * qty, is_buy * qty
    lb = is_buy * hq
    markets = LevelRuns.of(chg)
    running = markets.running
    cum_b, cum_lb = running(bq), running(lb)
    cum_s, cum_ls = running(qty - bq), running(hq - lb)
    cum_f = running(is_buy * fill)
    nfill = running((fill > 0).astype(np.int64))
    lvl_b = LevelRuns.of(lend).running(lb)
    ends, seg_id = markets.ends, markets.seg
    tbv = cum_b[ends][seg_id] if n else cum_b
    vol = cum_f[ends][seg_id] if n else cum_f
    if refuse and n and (cum_b.max() >= 1 << _BITS or cum_s.max() >= 1 << _BITS):
        raise ValueError("S7 bound: a market's orders in one batch total 2^30 lots or more")
    demand, supply = tbv - cum_lb + lvl_b, cum_s
    which = (demand <= vol).astype(np.int64)
    vol_max = lend * np.where(which == 1, vol - demand, vol - supply)
    if refuse and np.any(vol_max < 0):
        r = int(np.flatnonzero(vol_max < 0)[0])
        raise ValueError(
            f"S7 volume maximal: limit price {int(limit[r])} executes "
            f"{int(min(demand[r], supply[r]))} lots, more than the {int(vol[r])} filled"
        )
    ct = chg * traded
    mb, ms = cum_b - cum_lb, cum_s - cum_ls
    which_m = (mb <= vol).astype(np.int64)
    vol_market = ct * np.where(which_m == 1, vol - mb, vol - ms)
    if refuse and np.any(vol_market < 0):
        raise ValueError("S7 volume maximal: the market orders alone cross more than was filled")
    side = long_side(rows, n_markets)
    elig, long_buy, ml = side["elig"], side["long_buy"], side["ml"]
    elig_slack = has_limit * np.where(elig == 1, dlim, -dlim - 1)
    sh, lg, dm, bet, wor = side["short"], side["lg"], side["dm"], side["better"], side["worse"]
    tse = sh * elig * traded
    if refuse and np.any(tse * (qty - fill)):
        raise ValueError("S7 short side: an eligible order of the short side is not filled")
    if refuse and (np.any(lg * bet * (qty - fill)) or np.any(lg * wor * fill)):
        raise ValueError("S7 price priority: a better order is not filled before a worse one")
    for spec in (
        ("chg", chg),
        ("dinv", dinv),
        ("step", step),
        ("linv", linv),
        ("lend", lend),
        ("hq", hq),
        ("bq", bq),
        ("lb", lb),
        ("cum_b", cum_b),
        ("cum_lb", cum_lb),
        ("cum_s", cum_s),
        ("cum_ls", cum_ls),
        ("lvl_b", lvl_b),
        ("cum_f", cum_f),
        ("tb", tbv),
        ("vol", vol),
        ("which", which),
        ("ct", ct),
        ("which_m", which_m),
        ("elig", elig, 1),  # padding rows are "market orders": eligible
        ("long_buy", long_buy),
        ("short", sh),
        ("tse", tse),
        ("lg", lg),
        ("ml", ml),
        ("dm", dm),
        ("better", bet),
        ("worse", wor),
        ("nfill", nfill),
    ):
        tb.set(SECTION, *spec)
    sorted_gap = (1 - chg[:-1]) * (limit[1:] - limit[:-1]) if n else limit
    tb.set_range(SECTION, "sorted", np.append(sorted_gap, 0), "S7 sorted")
    # the market index down the whole trace (padding rows hold n_markets); the last row's
    # transition is exempt and its limbs hold 0
    full_mkt = np.full(tb.num_rows, n_markets, np.int64)
    full_mkt[:n] = mkt
    steps = np.append(full_mkt[1:] - full_mkt[:-1], 0)
    if refuse and np.any(steps < 0):
        raise ValueError("S7 sorted: a market's orders are not one run of rows")
    tb.set_range(SECTION, "mkt_sorted", steps, "S7 sorted (markets in order)")
    tb.set_range(SECTION, "cum_b", cum_b, "S7 bound (a market's buys below 2^30 lots)")
    tb.set_range(SECTION, "cum_s", cum_s, "S7 bound (a market's sells below 2^30 lots)")
    tb.set_range(SECTION, "vol_max", vol_max, "S7 volume maximal")
    tb.set_range(SECTION, "vol_market", vol_market, "S7 volume maximal (market orders)")
    tb.set_range(SECTION, "elig", elig_slack, "S7 priority (eligibility)")
    tb.set_range(SECTION, "priority", bet * (dm - 1) + wor * (-dm - 1), "S7 price priority")
    ration = prorata.generate(
        tb,
        {"qty": qty, "fill": fill, "chg": chg, "vol": vol, "lg": lg, "better": bet, "worse": wor},
        refuse,
    )
    tiebreak.generate(
        tb,
        {
            **rows,
            **{"chg": chg, "lend": lend, "elig": elig, "tb": tbv, "vol": vol},
            **{"cum_lb": cum_lb, "lvl_b": lvl_b, "cum_s": cum_s, "cum_ls": cum_ls},
            **{"lb": lb, "hq": hq, "bq": bq},
        },
        refuse,
    )
    return ration


def long_side(rows: Mapping[str, I64], n_markets: int) -> dict[str, I64]:
    """Each row's market end, market volume, eligibility, long side and distance to the
    marginal key, from the book's sorted rows and their fills (both sides: the prover's
    trace and the row count's tied orders, :func:`.prorata.tied_count`).

    Args:
        rows: the book's columns over its active rows (``mkt``, ``is_buy``,
            ``has_limit``, ``limit``, ``qty``, ``fill``, ``traded``, ``dlim``).
        n_markets: markets in the statement.

    Returns:
        ``chg``, ``vol``, ``elig``, ``long_buy``, ``ml``, ``short``, ``lg``, ``dm``,
        ``better`` and ``worse`` per row.
    """
    mkt, is_buy, has_limit = rows["mkt"], rows["is_buy"], rows["has_limit"]
    limit, qty, fill, traded, dlim = (
        rows["limit"],
        rows["qty"],
        rows["fill"],
        rows["traded"],
        rows["dlim"],
    )
    n = len(mkt)
    chg = (np.append(mkt[1:], n_markets) != mkt).astype(np.int64)
    markets = LevelRuns.of(chg)
    vol = np.zeros(n, np.int64)
    elig = np.where(has_limit == 1, (dlim >= 0).astype(np.int64), 1)
    key = limit + MARKET_BUY_KEY * is_buy * (1 - has_limit)
    long_buy = np.zeros(n, np.int64)
    ml = np.zeros(n, np.int64)
    for s, e in zip(np.flatnonzero(markets.starts), markets.ends, strict=True):
        seg = slice(s, e + 1)
        vol[seg] = int((is_buy[seg] * fill[seg]).sum())
        d_star = int((qty[seg] * is_buy[seg] * elig[seg]).sum())
        s_star = int((qty[seg] * (1 - is_buy[seg]) * elig[seg]).sum())
        lbuy = int(d_star >= s_star)
        long_rows = np.flatnonzero(is_buy[seg] == lbuy) + s
        filled_long = long_rows[fill[long_rows] > 0]
        partial = long_rows[(fill[long_rows] > 0) & (fill[long_rows] < qty[long_rows])]
        if partial.size:
            margin = int(key[partial[0]])
        elif filled_long.size:
            k = key[filled_long]
            margin = int(k.min() if lbuy else k.max())
        else:
            margin = MARKET_BUY_KEY if lbuy else 0
        long_buy[seg], ml[seg] = lbuy, margin if int(traded[s]) else 0
    sh = is_buy + long_buy - 2 * is_buy * long_buy
    dm = (2 * is_buy - 1) * (key - ml)
    return {
        "chg": chg,
        "vol": vol,
        "elig": elig,
        "long_buy": long_buy,
        "ml": ml,
        "short": sh,
        "lg": (1 - sh) * traded,
        "dm": dm,
        "better": (dm > 0).astype(np.int64),
        "worse": (dm < 0).astype(np.int64),
    }
