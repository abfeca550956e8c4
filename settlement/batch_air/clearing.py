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
  count (``TAG_MARKET``'s multiplicity).

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

from sealbatch.auction.commitment import market_code
from sealbatch.crypto.air import Column
from sealbatch.crypto.bus import PublicTable
from sealbatch.settlement.batch_air import commitment_hash, commitments, fair, prorata, tiekeys
from sealbatch.settlement.batch_air.framework import (
    TAG_CARRIED,
    TAG_FILL_ORDER,
    TAG_FILL_RECORD,
    TAG_MARKET,
    AirBuilder,
    TraceBuilder,
)
from sealbatch.settlement.batch_air.statement import BatchStatement, OrderRow

__all__ = ["SECTION", "declare", "generate", "tied_count"]

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
    tiekeys.generate(tb, seed, nodes, mkt, ids, ration, refuse=refuse)


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
