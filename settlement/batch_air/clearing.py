"""The clearing section of the batch AIR: one row per order that took part.

Statements enforced here (DESIGN.md "The batch statement"; constraint names
start with the statement's number so a failure says which one caught it):

* **S1 uniform price** — each row looks its market's clearing price up in
  the public market table (``TAG_MARKET``, built by the verifier from the
  public inputs, once per order of the market), and its fill leaves at that
  price (``TAG_FILL_RECORD``, below);
* **S1 limit** — a filled limit order's signed distance to the price,
  ``(2·is_buy − 1)·(limit − price)``, is range-checked non-negative (30 bits);
* **S1 quantity** — ``0 ≤ fill ≤ quantity`` (range checks), a filled row
  fills at least one lot, no fill where the market did not trade;
* **S2 bought = sold** — a running signed fill ``Σ (2·is_buy − 1)·fill``
  must be zero wherever the market index changes and on the last row, so
  every market's segment (rows need not be sorted) nets to zero;
* **binding to the publication** — a filled row sends, keyed by its fill's
  number ``fnum`` in the outputs digest, its id (``TAG_FILL_ORDER``) and its
  fill ``(account, market, side, lots, price)`` (``TAG_FILL_RECORD``) to that
  fill's two-block record in the outputs digest (:mod:`.digests`), which
  receives each once and passes the fill on to settlement: the published
  fills are exactly the book's fills, each on its own order. A row without a
  fill sends nothing: a revealed order is a leaf of the commitment root (S8,
  :mod:`.commitments`), whose fields its commitment binds
  (:mod:`.commitment_hash`); an order carried in sends its fields and account
  (``TAG_CARRIED``) to its record among the pre-state root's pending orders
  (:mod:`.headers`). The rows per market are as many as the public order
  count (``TAG_MARKET``'s multiplicity);
* **rests** — a GTC row that rests (``rests``) sends its remainder ``rq``
  (``quantity − fill``; between 1 and it for a reduce-only order, which the
  between-batch cap may shrink) with its fields, account and id
  (``TAG_REST``) to its post-state GTC rest record (:mod:`.headers`), so every
  post-state rest is a book row's remainder or a held pre-state rest.

Columns (section ``book``): ``active`` (1 on the order rows, then 0 on the
padding), ``mkt``, ``is_buy``, ``has_limit``, ``limit``, ``qty``, ``fill``,
``acct``, ``price``, ``traded``, ``filled``, ``dlim``, ``net``, ``gtc``,
``reduce_only``, ``mcode`` (the market code, from the market table), ``fnum``
(a filled row's fill number in the outputs digest, 0 without a fill) and the
limbs of four range checks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.commitment import market_code, order_flags
from sealbatch.crypto.air import Column
from sealbatch.crypto.bus import PublicTable
from sealbatch.settlement.batch_air import commitment_hash, commitments, fair, prorata, tiekeys
from sealbatch.settlement.batch_air.framework import (
    TAG_CARRIED,
    TAG_FILL_ORDER,
    TAG_FILL_RECORD,
    TAG_MARKET,
    TAG_REST,
    AirBuilder,
    TraceBuilder,
)
from sealbatch.settlement.batch_air.statement import BatchStatement, OrderRow
from sealbatch.settlement.ledger import AccountKey
from sealbatch.settlement.roots import pending_orders

__all__ = ["SECTION", "declare", "generate", "rests_of", "tied_count"]

SECTION = "book"
_LOTS_BITS = 22
_PRICE_BITS = 30


def declare(b: AirBuilder, statement: BatchStatement) -> None:
    """Allocate the book section's columns, constraints, bus tuples and public tables."""

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    active, mkt, is_buy, has_limit = c("active"), c("mkt"), c("is_buy"), c("has_limit")
    limit, qty, fill, acct = c("limit"), c("qty"), c("fill"), c("acct")
    price, traded, filled, dlim, net = c("price"), c("traded"), c("filled"), c("dlim"), c("net")
    ref, has_ref = c("ref"), c("has_ref")
    gtc, ro, mcode, fnum = c("gtc"), c("reduce_only"), c("mcode"), c("fnum")
    liq = c("liq")

    for e, name in (
        (active, "active"),
        (is_buy, "is_buy"),
        (has_limit, "has_limit"),
        (gtc, "gtc"),
        (ro, "reduce_only"),
        (liq, "liq"),
    ):
        b.boolean(e, f"book: {name}")
    b.boolean(filled, "S1: filled")
    b.constrain(active.next * (1 - active), "book: order rows first, then padding")
    b.constrain((1 - active) * fill, "book: no fill on padding")
    b.constrain((1 - active) * filled, "book: not filled on padding")
    b.constrain(limit * (1 - has_limit), "book: a market order has limit 0")

    # S1: uniform price, limit, quantity.
    b.constrain(fill * (1 - filled), "S1 quantity: a fill > 0 is marked filled")
    b.range_check(SECTION, "fill_min", fill - filled, _LOTS_BITS)  # filled ⇒ fill ≥ 1; fill ≥ 0
    b.range_check(SECTION, "qty_left", qty - fill, _LOTS_BITS)  # S1 quantity: fill ≤ qty
    b.range_check(SECTION, "qty_pos", qty - active, _LOTS_BITS)  # an order has ≥ 1 lot
    b.constrain(fill * (1 - traded), "S1 uniform price: no fill where the market did not trade")
    b.constrain(dlim - (2 * is_buy - 1) * (limit - price), "S1 limit: signed distance")
    b.range_check(SECTION, "limit_slack", filled * has_limit * dlim, _PRICE_BITS)

    # S2: bought = sold per market.
    signed = (2 * is_buy - 1) * fill
    b.boundary(0, net - signed, "S2 bought = sold: running sum starts")
    b.constrain(net.next - net - (2 * is_buy.next - 1) * fill.next, "S2 bought = sold: running")
    b.constrain((mkt.next - mkt) * net, "S2 bought = sold: zero where the market changes")
    b.boundary(-1, net, "S2 bought = sold: zero at the end")

    # The bus: the market's public price, the published order, the fill for settlement.
    b.bus.send(
        TAG_MARKET,
        [mkt, mcode, price, traded, ref, has_ref],
        active,
        "S1 uniform price: market table",
    )
    cm = commitments.declare_book(b, active)
    rev, seq = cm["rev"], cm["seq"]
    ids = [cm[f"id{k}"] for k in range(8)]
    # A revealed order's fields are its commitment's (S8, commitment_hash.py); an order
    # carried in is its pre-state pending record's (headers.py).
    flags = is_buy + 2 * has_limit + 4 * gtc + 8 * ro
    commitment_hash.declare_book(b, rev, seq, ids, [mcode, flags, limit, qty], acct)
    # A liquidation order is carried in, never revealed: its flag is its pre-state record's
    # kind (the carried tuple binds it), and it travels with the fill to settlement.
    b.constrain(liq * (1 - active + rev), "liquidation: only an order carried in")
    b.bus.send(
        TAG_CARRIED,
        [mcode, flags, limit, qty, acct, liq, *ids],
        active - rev,
        "carried: a book row carried in is a pre-state pending order",
    )
    # A GTC row that rests sends its remainder to its post-state record (headers.py): the
    # whole unfilled remainder, or less for a reduce-only order the cap shrinks.
    rests, rq = c("rests"), c("rq")
    b.boolean(rests, "rests: rests")
    b.constrain(rests * (1 - gtc), "rests: only a GTC order rests")
    b.range_check(SECTION, "rest_pos", rests * (rq - 1), _LOTS_BITS)
    b.range_check(SECTION, "rest_cap", rests * (qty - fill - rq), _LOTS_BITS)
    b.constrain(
        rests * (1 - ro) * (qty - fill - rq), "rests: a rest is its order's unfilled remainder"
    )
    b.bus.send(
        TAG_REST,
        [mcode, flags, limit, rq, acct, *ids],
        rests,
        "rests: a GTC remainder rests in the post-state",
    )
    # A filled row's id and fill, keyed by the fill's number, to its outputs-digest record.
    b.bus.send(TAG_FILL_ORDER, [fnum, *ids], filled, "published fill's order")
    b.bus.send(
        TAG_FILL_RECORD, [fnum, acct, mkt, is_buy, fill, price, liq], filled, "published fill"
    )
    fair.declare(
        b,
        {
            "mkt": mkt,
            "is_buy": is_buy,
            "has_limit": has_limit,
            "limit": limit,
            "qty": qty,
            "fill": fill,
            "traded": traded,
            "dlim": dlim,
            "price": price,
            "ref": ref,
            "has_ref": has_ref,
            "filled": filled,
            **{f"id{k}": ids[k] for k in range(8)},
        },
    )
    rows, mult = statement.market_rows()
    b.public_table(PublicTable(TAG_MARKET, rows, mult, receive=True))
    commitments.declare_tree(b, statement)


def _book_order(orders: Sequence[OrderRow]) -> list[OrderRow]:
    """The book's row order: by (market, limit), market orders (limit 0) first (S7)."""
    return sorted(orders, key=lambda o: (o.market, o.limit))


def _fill_numbers(statement: BatchStatement) -> dict[tuple[int, ...], int]:
    """Each published fill's number (1 … f) in the outputs digest, by its order id."""
    blocks = statement.output_blocks
    return {tuple(blocks[1 + 2 * i]): i + 1 for i in range(statement.output_fills)}


def generate(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the book section from the statement's orders (prover side).

    Args:
        tb: the trace being built.
        statement: the batch's statement (its orders with their fills).
        refuse: raise on a broken statement before writing (tests turn it off
            to show that the AIR itself rejects the trace).

    Raises:
        ValueError: the published batch breaks a statement the section checks
            (the message names it): the trace could not satisfy the AIR.
    """
    # Sorted by (market, limit): market orders (limit 0) first in their market (S7).
    orders = _book_order(statement.orders)
    n = len(orders)
    if n > tb.num_rows:
        raise ValueError(f"expected at most {tb.num_rows} orders, got {n}")

    def arr(values: list[int]) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    mkt = arr([o.market for o in orders])
    is_buy = arr([o.is_buy for o in orders])
    has_limit = arr([o.has_limit for o in orders])
    limit = arr([o.limit for o in orders])
    qty = arr([o.quantity for o in orders])
    fill = arr([o.fill for o in orders])
    price = arr([statement.prices[o.market] for o in orders])
    traded = (price > 0).astype(np.int64)
    refs = statement.references or (0,) * len(statement.markets)
    ref = arr([refs[o.market] for o in orders])
    filled = (fill > 0).astype(np.int64)
    dlim = (2 * is_buy - 1) * (limit - price)
    signed = (2 * is_buy - 1) * fill
    net = np.cumsum(signed) if n else arr([])
    changes = np.flatnonzero(mkt[1:] != mkt[:-1]) if n else arr([])
    if refuse and n and (np.any(net[changes] != 0) or net[-1] != 0):
        raise ValueError("S2 bought = sold: a market's buy and sell fills differ")
    if refuse and np.any(fill * (1 - traded)):
        raise ValueError("S1 uniform price: a fill in a market without a clearing price")
    if refuse and any(o.liquidation and o.revealed for o in orders):
        raise ValueError("liquidation: only an order carried in is a liquidation order")
    m = len(statement.markets)
    numbers = _fill_numbers(statement)
    for name, values in (
        ("active", np.ones(n, np.int64)),
        ("mkt", np.append(mkt, np.full(tb.num_rows - n, m, np.int64))),
        ("is_buy", is_buy),
        ("has_limit", has_limit),
        ("limit", limit),
        ("qty", qty),
        ("fill", fill),
        ("acct", arr([o.account for o in orders])),
        ("price", price),
        ("traded", traded),
        ("ref", ref),
        ("has_ref", (ref > 0).astype(np.int64)),
        ("filled", filled),
        ("dlim", dlim),
        ("net", net),
        ("gtc", arr([o.gtc for o in orders])),
        ("reduce_only", arr([o.reduce_only for o in orders])),
        ("liq", arr([o.liquidation for o in orders])),
        ("mcode", arr([market_code(statement.markets[o.market]) for o in orders])),
        # a filled row's record (0 when none names it: the digest section refuses that)
        ("fnum", arr([o.fill and numbers.get(o.id_elements(), 0) for o in orders])),
    ):
        tb.set(SECTION, name, values)
    rests, rq, _ = rests_of(statement)  # refused, when broken, after the carried orders
    tb.set(SECTION, "rests", rests)
    tb.set(SECTION, "rq", rq)
    tb.set_range(SECTION, "rest_pos", rests * (rq - 1), "rests (a rest has ≥ 1 lot)")
    tb.set_range(SECTION, "rest_cap", rests * (qty - fill - rq), "rests (within the remainder)")
    tb.set_range(SECTION, "fill_min", fill - filled, "S1 quantity (a fill is 0 or ≥ 1 lot)")
    tb.set_range(SECTION, "qty_left", qty - fill, "S1 quantity (fill ≤ quantity)")
    tb.set_range(SECTION, "qty_pos", qty - 1, "S1 quantity (an order has ≥ 1 lot)")
    tb.set_range(
        SECTION, "limit_slack", filled * has_limit * dlim, "S1 limit (a fill within its limit)"
    )
    book = {"mkt": mkt, "is_buy": is_buy, "has_limit": has_limit, "limit": limit, "qty": qty}
    book |= {"fill": fill, "traded": traded, "dlim": dlim, "price": price}
    book |= {"ref": ref, "has_ref": (ref > 0).astype(np.int64)}
    ration = fair.generate(tb, book, m, refuse)
    nodes = commitments.generate(tb, statement, orders, refuse)
    ids = np.array([o.id_elements() for o in orders], np.int64).reshape(-1, 8)
    seed = statement.public_inputs[19:27]
    sw = statement.settle_witness
    keys = np.hstack([sw.address_limbs.astype(np.int64), sw.subaccount.astype(np.int64)[:, None]])
    tiekeys.generate(tb, seed, nodes, mkt, ids, ration, keys, refuse=refuse)


def rests_of(statement: BatchStatement) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Which book rows (in book order) rest in the post-state, with how many lots, and the
    first post-state GTC rest that is no GTC book row's remainder nor a pre-state rest
    held in a halted market (None: every rest is one), named for the prover's refusal."""
    orders = _book_order(statement.orders)
    by_id = {o.order_id: i for i, o in enumerate(orders)}
    held = {
        r.order_id: (r, sub)
        for r, sub, liq in pending_orders(statement.pre)
        if not liq and r.order.market in statement.halted
    }
    post = statement.post
    rests = np.zeros(len(orders), np.int64)
    rq = np.zeros(len(orders), np.int64)
    problem = None
    seen: set[bytes] = set()
    for r, sub, liq in pending_orders(post):
        if liq:
            continue
        if problem is None and r.order_id in seen:
            problem = f"rests: the post-state's GTC rest 0x{r.order_id.hex()} rests twice"
        seen.add(r.order_id)
        i = by_id.get(r.order_id)
        if i is None:
            was = held.get(r.order_id)
            if problem is None and (was is None or not _held_rest_kept(was, r, sub)):
                problem = (
                    f"rests: the post-state's GTC rest 0x{r.order_id.hex()} is no book "
                    "row's remainder nor a held rest resting on (same fields and account, "
                    "a reduce-only one capped to at least 1 lot)"
                )
            continue
        rests[i], rq[i] = 1, r.order.quantity
        o = orders[i]
        left = o.quantity - o.fill
        key = AccountKey(r.trader, sub)
        same = (
            market_code(r.order.market) == market_code(statement.markets[o.market])
            and order_flags(r.order) == o.flags()
            and (r.order.limit_price or 0) == o.limit
            and post.has(key)
            and post.row(key) == o.account
        )
        exact = 1 <= r.order.quantity <= left and (o.reduce_only or r.order.quantity == left)
        if problem is None and not (o.gtc and same and exact):
            problem = (
                f"rests: the post-state's GTC rest 0x{r.order_id.hex()} ({r.order.quantity} "
                f"lots) is not its book row's unfilled remainder ({left} lots, same fields "
                "and account)"
            )
    return rests, rq, problem


def _held_rest_kept(was: tuple[RestingOrder, int], now: RestingOrder, sub: int) -> bool:
    """Whether ``now`` (a post-state rest, subaccount ``sub``) is the held pre-state rest
    ``was`` resting on: same fields and account, all its lots or (reduce-only) fewer."""
    r, was_sub = was
    a, b = r.order, now.order
    return (
        r.trader == now.trader
        and was_sub == sub
        and (a.market, order_flags(a), a.limit_price) == (b.market, order_flags(b), b.limit_price)
        and 1 <= b.quantity <= a.quantity
        and (a.reduce_only or b.quantity == a.quantity)
    )


def tied_count(statement: BatchStatement) -> int:
    """The book rows whose remainder ties at their market's threshold (one tie-break key
    row and one permutation each, :mod:`.tiekeys`), as the prover's trace has them."""
    orders = _book_order(statement.orders)

    def arr(values: list[int]) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    is_buy = arr([o.is_buy for o in orders])
    limit = arr([o.limit for o in orders])
    price = arr([statement.prices[o.market] for o in orders])
    rows = {
        "mkt": arr([o.market for o in orders]),
        "is_buy": is_buy,
        "has_limit": arr([o.has_limit for o in orders]),
        "limit": limit,
        "qty": arr([o.quantity for o in orders]),
        "fill": arr([o.fill for o in orders]),
        "traded": (price > 0).astype(np.int64),
        "dlim": (2 * is_buy - 1) * (limit - price),
    }
    side = fair.long_side(rows, len(statement.markets))
    ration = prorata.rationing(
        {"qty": rows["qty"], "fill": rows["fill"]}
        | {k: side[k] for k in ("chg", "vol", "lg", "better", "worse")}
    )
    return int(ration["tie"].sum())
