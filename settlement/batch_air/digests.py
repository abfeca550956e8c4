"""The outputs digest recomputed in the batch AIR: a Poseidon2 sponge over the published
fills, one rate-8 block per row.

The outputs digest (public inputs 35–42) is ``hash_elements`` over the blocks of
docs/formats.md "Batch digests": a header block ``[0x5EA10005, batch_id×3, m,
fills, forfeits, carried]``, then two blocks per fill, ``[order_id×8]`` and
``[account, market, is_buy, lots, price, 0, 0, 0]``, then the rest of
``result.json`` (forfeits, the markets' summaries, the carried orders), each
record padded to whole blocks. Section
``odig`` has one row per block, from row 0: the row absorbs its block ``b`` into
the sponge — one permutation ``(b ‖ c) → o`` from the Poseidon2 service, the next
row's capacity ``c`` is this row's ``o[8:16]`` — and the last row's ``o[0:8]`` is
the public outputs digest. Statements (constraint names start with
``outputs digest``):

* the header: row 0's block is the domain, the public batch id and market count,
  and the number of fills (``fills``, counted down the section); row 0's
  capacity is ``[length, 0, …, 0]`` (the length word is not constrained: a prover
  who changes it changes the digest, like any other absorbed element);
* the fills: rows ``1 … 2·fills`` (one run after the header), two per fill —
  an id row (``fid``) then a fill row (``fill``); ``count``, the fill's number
  ``k``, steps by one on each id row. The id row **receives** ``(TAG_FILL_ORDER,
  k, order_id×8)`` and the fill row ``(TAG_FILL_RECORD, k, account, market,
  side, lots, price)`` from their blocks — the two tuples a filled order row of
  the book sends (:mod:`.clearing`) — and the fill row **sends** ``(TAG_FILL,
  account, market, side, lots, price, price)`` to the settlement's fills section
  (a book fill's block price is its price: no price transfer). The
  numbers are distinct, so each record is one filled order's: the published
  fills are exactly the book's fills, each on the order that took it (none
  dropped, none added, none moved to another order), and exactly the fills
  settled;
* the forfeits: right after the fills, three rows per forfeit (``forfeits`` of
  them, the header's count): ``[commitment×8]``, ``[sequence, is_quote, bond×3]``,
  ``[trader×7, market code]``. An order commitment's forfeit (``is_quote = 0``) **sends
  the three parts of its leaf** to the commitment tree (:mod:`.commitments`):
  its first row ``(TAG_CNODE, −2, 4·sequence, commitment×8)``, its third row
  ``(TAG_CNODE, −2, 4·sequence + 1, market code, 0×7)`` and ``(TAG_CNODE, −1,
  2·sequence + 1, trader×7, bond)`` with ``sequence`` (``forfeit_seq``) and ``bond =
  b0 + 2^24·b1 + 2^48·b2`` (``forfeit_bond``) copied from the second row, so the
  commitments under the public commitment root that were not revealed are exactly
  the published forfeits — none hidden, none invented, none moved to another receipt
  slot — each with the market, trader and bond its leaf binds (the verifier refuses
  a published bond of 2^30 or more, so its limbs are the leaf's one bond element).
  The market code is the one the waiver reads (:mod:`.waivers`): a forfeit cannot be
  relabelled to a halted or frozen market;
* the markets' summaries: right after the forfeits, one row per market in id
  order (``summary``; ``summaries`` counts them, ``m`` of them), ``[market
  code, price, volume, fill count]``: the code is the market's, the price its
  public clearing price (its per-market public input; a polynomial in the
  market's index picks them), and the row **receives** ``(TAG_MARKET_SUMMARY,
  market, volume, fill count)`` from the market's last book row — its bought
  lots (S7's ``vol``) and its number of filled orders — or, for a market with
  no orders (its public order count 0), has volume and fill count 0;
* the rest of the blocks (the carried orders) are absorbed as they are: the
  digest binds them to the published ``result.json`` (the verifier hashes the
  same blocks), but nothing else in the AIR reads them yet;
* the forfeits' charges (statement 3, :func:`_declare_charges`): each forfeit's third
  row proves its charge ``(1 − waived)·max(bond, forfeit_bond)`` and sends it to its
  trader's account as withdrawal digits (``TAG_TRANSFERS``); the account is the trader's
  (subaccount 0) and ``waived`` (the oracle refused the reveal) is proved by
  :mod:`.waivers`, which looks every forfeit's trader up.

Since the sponge's output is a public input the verifier computes from the
published files, the order of the blocks is the published one: a prover who
absorbs the fills in another order produces another digest.
"""

from __future__ import annotations

import numpy as np

from sealbatch.auction.commitment import market_code
from sealbatch.crypto.air import Column, Expr, const, pub
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import RATE, WIDTH
from sealbatch.settlement.batch_air.commitments import HALF, HEAD, TAG_CNODE
from sealbatch.settlement.batch_air.framework import (
    TAG_FILL,
    TAG_FILL_ORDER,
    TAG_FILL_RECORD,
    TAG_MARKET_SUMMARY,
    TAG_TRANSFERS,
    AirBuilder,
    TraceBuilder,
    sponge_rows,
)
from sealbatch.settlement.batch_air.limbs import AMOUNT_DIGITS
from sealbatch.settlement.batch_air.statement import (
    OUTPUTS_DOMAIN,
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
)

__all__ = ["SECTION", "declare", "generate", "rows_needed"]

SECTION = "odig"
#: Public-input positions (docs/stark.md "The batch AIR").
_BATCH_ID = 0
_OUTPUTS = 35
_MARKETS = 43
# market j's clearing price is public input PUBLIC_HEADER + PUBLIC_PER_MARKET·j
_PER_MARKET, _PER_MARKET_SIZE = PUBLIC_HEADER, PUBLIC_PER_MARKET
# its order count is the per-market input at this offset (docs/stark.md, public inputs)
_ORDER_COUNT = 6
_FILL_WIDTH = 5


def _bond(block: np.ndarray) -> int:
    """A forfeit's bond as one field element, from its second block's limbs 2–4."""
    return (int(block[2]) + (int(block[3]) << 24) + (int(block[4]) << 48)) % P


def rows_needed(statement: BatchStatement) -> int:
    """Rows (and permutations) the section needs: one per block of the outputs digest."""
    return len(statement.output_blocks)


def declare(b: AirBuilder, statement: BatchStatement) -> None:
    """Allocate the section's columns, constraints and bus interactions (both sides)."""

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    on, head, is_fill, count, fills = c("on"), c("head"), c("fill"), c("count"), c("fills")
    fid, liq = c("fid"), c("liq")
    sponge = b.sponge_columns(SECTION)
    block, cap, out = sponge

    b.boolean(on, "outputs digest: on")
    b.boolean(is_fill, "outputs digest: fill")
    b.boolean(fid, "outputs digest: fid")
    b.constrain(on.next * (1 - on), "outputs digest: block rows first")
    b.boundary(0, on - 1, "outputs digest: the header block is absorbed")
    b.boundary(-1, on, "outputs digest: the last row is past the blocks")
    # the sponge: one permutation per row, the capacity chained to the next row
    b.sponge(sponge, on, on.next, "outputs digest: capacity {k}")
    end = on - on.next  # 1 on the last block row only (the rows are a prefix)
    for k in range(RATE):
        b.constrain(end * (out[k] - pub(_OUTPUTS + k)), f"outputs digest: output {k}")
    # the header block and the initial capacity
    b.boundary(0, head - 1, "outputs digest: header row")
    b.constrain(head.next, "outputs digest: one header row")
    b.boundary(0, block[0] - OUTPUTS_DOMAIN, "outputs digest: header domain")
    for k in range(3):
        b.boundary(0, block[1 + k] - pub(_BATCH_ID + k), f"outputs digest: header batch id {k}")
    b.boundary(0, block[4] - pub(_MARKETS), "outputs digest: header markets")
    b.boundary(0, block[5] - fills, "outputs digest: header fill count")
    for k in range(1, WIDTH - RATE):
        b.boundary(0, cap[k], f"outputs digest: initial capacity {k}")
    # the fills: one run right after the header, an id row then a fill row for each of
    # exactly `fills` fills, numbered 1 … fills by `count` (which steps on the id rows)
    b.boundary(0, fid, "outputs digest: the header is not a fill's id")
    b.constrain(fid * (1 - on), "outputs digest: fills are block rows")
    b.constrain(is_fill.next - fid, "outputs digest: a fill row follows each id row")
    b.constrain(fid.next * (1 - is_fill - head), "outputs digest: fills follow the header")
    b.constrain(fills.next - fills, "outputs digest: fill count is constant")
    b.boundary(0, count, "outputs digest: fills counted")
    b.constrain(count.next - count - fid.next, "outputs digest: fills counted")
    b.boundary(-1, count - fills, "outputs digest: as many fills as the header says")
    b.bus.receive(TAG_FILL_ORDER, [count, *block], fid, "outputs digest: the order of a book fill")
    # the fill row's liquidation flag (not a published field: the book row's, which its
    # pre-state record's kind fixes) passes from the book to settlement
    b.constrain(liq * (1 - is_fill), "outputs digest: a liquidation flag only on a fill row")
    b.bus.receive(
        TAG_FILL_RECORD,
        [count, *block[:_FILL_WIDTH], liq],
        is_fill,
        "outputs digest: a book fill",
    )
    # a book fill's block price is its price (only an RFQ block's fills move a price transfer)
    b.bus.send(
        TAG_FILL,
        [*block[:_FILL_WIDTH], block[_FILL_WIDTH - 1], liq],
        is_fill,
        "outputs digest: a fill to settlement",
    )
    third, forfeit_kinds = _declare_forfeits(b, statement, on, head, is_fill, block)
    summary = _declare_summaries(b, statement, on, head, is_fill, third, block)
    kinds = fid + is_fill + forfeit_kinds + summary
    b.boolean(kinds, "outputs digest: one kind per row")


def _lagrange(x: Expr, j: int, m: int) -> Expr:
    """The polynomial in ``x`` that is 1 at ``j`` and 0 at the other indices ``0 … m−1``."""
    out: Expr = const(1)
    for i in range(m):
        if i != j:
            out = out * (x - i) * const(pow((j - i) % P, P - 2, P))
    return out


def _declare_summaries(
    b: AirBuilder,
    statement: BatchStatement,
    on: Column,
    head: Column,
    is_fill: Column,
    third: Column,
    block: list[Column],
) -> Column:
    """The markets' summary rows after the forfeits; returns their flag."""
    summary, count = b.column(SECTION, "summary"), b.column(SECTION, "summaries")
    m = len(statement.markets)
    b.boolean(summary, "outputs digest: summary")
    b.boundary(0, summary, "outputs digest: the header is not a market summary")
    b.constrain(summary * (1 - on), "outputs digest: market summaries are block rows")
    b.constrain(
        summary.next * (1 - head - is_fill - third - summary),
        "outputs digest: the market summaries follow the header, fills and forfeits",
    )
    b.boundary(0, count, "outputs digest: market summaries counted")
    b.constrain(count.next - count - summary.next, "outputs digest: market summaries counted")
    b.boundary(-1, count - m, "outputs digest: one summary per market")
    index = count - 1  # the market's index on its summary row
    basis = [_lagrange(index, j, m) for j in range(m)]
    code: Expr = const(0)
    price: Expr = const(0)
    orders: Expr = const(0)
    for j, (name, lj) in enumerate(zip(statement.markets, basis, strict=True)):
        code = code + market_code(name) * lj
        price = price + pub(_PER_MARKET + _PER_MARKET_SIZE * j) * lj
        orders = orders + pub(_PER_MARKET + _PER_MARKET_SIZE * j + _ORDER_COUNT) * lj
    b.constrain(summary * (block[0] - code), "market summary: the market's code")
    b.constrain(summary * (block[1] - price), "market summary: the public clearing price")
    # whether the market has orders, from its public order count (not a constant of the
    # program, so batches whose markets trade differently share one program): on a summary
    # row has = orders · inv and orders · (1 − has) = 0, so has is 1 exactly when orders ≠ 0
    has_orders, inv = b.column(SECTION, "has_orders"), b.column(SECTION, "orders_inv")
    b.constrain(summary * (has_orders - orders * inv), "market summary: has orders")
    b.constrain(summary * orders * (1 - has_orders), "market summary: orders, so has orders")
    # a market without orders has no book row to send its summary: volume and fills are 0
    for k, name in ((2, "volume"), (3, "fill count")):
        b.constrain(summary * (1 - has_orders) * block[k], f"market summary: no orders, no {name}")
    b.bus.receive(
        TAG_MARKET_SUMMARY,
        [index, block[2], block[3]],
        summary * has_orders,
        "market summary: the book's volume and fills",
    )
    return summary


def _declare_forfeits(
    b: AirBuilder,
    statement: BatchStatement,
    on: Column,
    head: Column,
    is_fill: Column,
    block: list[Column],
) -> tuple[Column, Expr]:
    """The forfeit rows: three per forfeit after the fills, the first one sending its leaf.

    Returns:
        The third rows' flag and the sum of the three flags.
    """

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    first, second, third = c("forfeit_a"), c("forfeit_b"), c("forfeit_c")
    count, total, seq, leaf = c("forfeit_count"), c("forfeits"), c("forfeit_seq"), c("leaf")
    leaf_c, bond = c("leaf_c"), c("forfeit_bond")
    b.boolean(first, "outputs digest: forfeit_a")
    for flag, name in ((first, "a"), (second, "b"), (third, "c")):
        b.boundary(0, flag, f"outputs digest: the header is not forfeit row {name}")
        b.constrain(flag * (1 - on), f"outputs digest: forfeit row {name} is a block row")
    b.constrain(second.next - first, "outputs digest: a forfeit's second row follows its first")
    b.constrain(third.next - second, "outputs digest: a forfeit's third row follows its second")
    b.constrain(
        first.next * (1 - head - is_fill - third),
        "outputs digest: forfeits follow the header, the fills or another forfeit",
    )
    b.constrain(total.next - total, "outputs digest: forfeit count is constant")
    b.boundary(0, block[6] - total, "outputs digest: header forfeit count")
    b.boundary(0, count, "outputs digest: forfeits counted")
    b.constrain(count.next - count - first.next, "outputs digest: forfeits counted")
    b.boundary(-1, count - total, "outputs digest: as many forfeits as the header says")
    # the leaf: the commitment (this block) at the sequence (the next block's first element),
    # unless the next block's is_quote says it is an RFQ quote (not under the root)
    b.constrain(first * (seq - block[0].next), "S8 completeness: a forfeit's sequence")
    b.constrain(second * block[1] * (1 - block[1]), "outputs digest: is_quote ∈ {0, 1}")
    b.constrain(leaf - first * (1 - block[1].next), "S8 completeness: a forfeit's leaf")
    b.bus.send(
        TAG_CNODE,
        [const(HEAD), 4 * seq, *block],
        leaf,
        "S8 completeness: a published forfeit's commitment",
    )
    # the leaf's right half on the third row: its trader (this block), the sequence and
    # the bond of the second row (limbs b0, b1, b2 at block[2:5]); and the inner
    # compression's right half: its market code (this block's last element)
    b.boundary(0, leaf_c, "S8 completeness: the header sends no trader")
    b.constrain(leaf_c.next - second * (1 - block[1]), "S8 completeness: a forfeit's trader row")
    b.constrain(second * (seq.next - block[0]), "S8 completeness: a forfeit's trader sequence")
    value = block[2] + (1 << 24) * block[3] + (1 << 48) % P * block[4]
    b.constrain(second * (bond.next - value), "S8 completeness: a forfeit's bond")
    b.bus.send(
        TAG_CNODE,
        [const(HALF), 2 * seq + 1, *block[:7], bond],
        leaf_c,
        "S8 completeness: a published forfeit's trader and bond",
    )
    b.bus.send(
        TAG_CNODE,
        [const(HEAD), 4 * seq + 1, block[7], *[const(0)] * 7],
        leaf_c,
        "S8 completeness: a published forfeit's market code",
    )
    _declare_charges(b, statement, head, third, total, bond, block)
    return third, first + second + third


def _declare_charges(
    b: AirBuilder,
    statement: BatchStatement,
    head: Column,
    third: Column,
    total: Column,
    bond: Column,
    block: list[Column],
) -> None:
    """Statement 3, forfeits: each forfeit's charge reaches its trader's account.

    On a forfeit's third row (its trader and, copied, its bond): ``hi`` is 1 exactly when
    ``bond ≥ F`` (``F`` the exchange's ``forfeit_bond``, a constant of the AIR, below
    2^30; the signed distance range-checked to 30 bits), the charge is
    ``(1 − waived)·max(bond, F)`` in three 12-bit limbs (30 bits), and the row sends
    each limb as a withdrawal digit ``(TAG_TRANSFERS, account, 6 + k)`` with
    multiplicity the limb to ``account``, its trader's (subaccount 0: :mod:`.waivers`
    looks the trader up there and proves ``waived``): the charges of one account add up in its
    withdrawal digit sums, which enter its collateral identity (statement 3) and so the
    conservation total (statement 5, the insurance fund's change is public). The header
    row's forfeit count is range-checked below 2^14 in the same limbs (the charges' digit
    sums then add less than 2^26 to a position of the collateral identity).
    """
    f = statement.forfeit_bond
    if not 0 <= f < 1 << 30:
        raise ValueError(f"forfeit_bond: expected below 2^30, got {f}")

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    hi, waived, account = c("forfeit_hi"), c("waived"), c("forfeit_account")
    b.boolean(hi, "statement 3: a forfeit's bond ≥ forfeit_bond")
    b.boolean(waived, "statement 3: a forfeit waived")
    big = hi * (bond - f) + (1 - hi) * (f - 1 - bond)
    b.range_check(SECTION, "fdiff", third * big + head * total * (1 << 16), 30)
    amount = hi * bond + (1 - hi) * f
    limbs = b.range_check(SECTION, "charge", third * (1 - waived) * amount, 30)
    # the account is the trader's (subaccount 0), and waived is proved (:mod:`.waivers`)
    for k, limb in enumerate(limbs):
        b.bus.receive(  # a send of weight limb k (a send's selector is a bit)
            TAG_TRANSFERS,
            [account, const(AMOUNT_DIGITS + k)],
            -limb,
            f"statement 3: a forfeit's charge (digit {k})",
        )


def generate(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the section: absorb the statement's output blocks in order (prover side).

    Raises:
        ValueError: more blocks than rows, or (with ``refuse``) blocks that do not hash
            to the public outputs digest, or fill records that are not the fills the book
            took (each on its order) and settled.
    """
    blocks = np.array(statement.output_blocks, dtype=np.uint64).reshape(-1, RATE)
    n, f = blocks.shape[0], statement.output_fills
    if n + 1 > tb.num_rows:
        raise ValueError(f"expected at most {tb.num_rows - 1} output blocks, got {n}")
    settled = sorted(
        (r.account, r.market, int(r.buy), r.lots, r.price)
        for r in statement.settle_witness.fills
        if not r.block_price
    )
    records = [tuple(int(v) for v in blk) for blk in blocks[1 : 1 + 2 * f]]
    published = sorted(data[:_FILL_WIDTH] for data in records[1::2])
    if refuse and settled != published:
        raise ValueError("outputs digest: the published fills are not the fills settled")
    booked = sorted(
        (*o.id_elements(), o.account, o.market, o.is_buy, o.fill, statement.prices[o.market])
        for o in statement.orders
        if o.fill
    )
    listed = sorted(
        (*i, *d[:_FILL_WIDTH]) for i, d in zip(records[::2], records[1::2], strict=True)
    )
    if refuse and booked != listed:
        raise ValueError(
            "outputs digest: the published fills are not the book's fills on their orders"
        )
    forfeits = int(blocks[0, 6]) if n else 0
    starts = 1 + 2 * f + 3 * np.arange(forfeits)
    if forfeits and starts[-1] + 2 >= n:
        raise ValueError(f"outputs digest: expected 3 blocks for each of {forfeits} forfeits")
    leaves = sorted(
        (
            int(blocks[r + 1, 0]),
            *(int(v) for v in blocks[r]),
            int(blocks[r + 2, 7]),
            *(int(v) for v in blocks[r + 2, :7]),
            _bond(blocks[r + 1]),
        )
        for r in starts
        if blocks[r + 1, 1] == 0
    )
    if refuse and leaves != sorted(statement.forfeit_leaves):
        raise ValueError(
            "S8 completeness: the published forfeits are not the unrevealed commitments"
        )
    m = len(statement.markets)
    first_summary = 1 + 2 * f + 3 * forfeits
    for j, name in enumerate(statement.markets):
        mine = [o for o in statement.orders if o.market == j]
        expected = (
            market_code(name),
            statement.prices[j],
            sum(o.fill for o in mine if o.is_buy),
            sum(1 for o in mine if o.fill),
        )
        got = tuple(int(v) for v in blocks[first_summary + j, :4]) if first_summary + j < n else ()
        if refuse and got != expected:
            raise ValueError(
                f"market summary: expected {name}'s (code, price, volume, fills) {expected}, "
                f"got {got}"
            )
    ins, outs = sponge_rows(blocks)
    if (
        refuse
        and n
        and tuple(int(v) for v in outs[-1, :RATE])
        != tuple(statement.public_inputs[_OUTPUTS : _OUTPUTS + RATE])
    ):
        raise ValueError("outputs digest: the published outputs do not hash to the digest")
    tb.set_sponge(SECTION, ins, outs)
    tb.set(SECTION, "on", np.ones(n, np.int64))
    tb.set(SECTION, "head", [1])
    fid = np.zeros(n, np.int64)
    fid[1 : 1 + 2 * f : 2] = 1
    tb.set(SECTION, "fid", fid)
    tb.set(SECTION, "fill", np.roll(fid, 1))
    liquidations = {o.id_elements() for o in statement.orders if o.liquidation}
    liq = np.zeros(n, np.int64)
    for i in range(f):
        liq[2 + 2 * i] = tuple(int(v) for v in blocks[1 + 2 * i]) in liquidations
    tb.set(SECTION, "liq", liq)
    tb.set(SECTION, "count", np.cumsum(fid), pad=f)
    tb.set(SECTION, "fills", [], pad=f)
    first = np.zeros(n, np.int64)
    first[starts] = 1
    seq = np.zeros(n, np.int64)
    seq[starts] = blocks[starts + 1, 0]
    seq[starts + 2] = blocks[starts + 1, 0]
    bonds = np.zeros(n, np.int64)
    bonds[starts + 2] = [_bond(blocks[r + 1]) for r in starts]
    leaf_c = np.zeros(n, np.int64)
    leaf_c[starts + 2] = 1 - blocks[starts + 1, 1].astype(np.int64)
    tb.set(SECTION, "leaf_c", leaf_c)
    tb.set(SECTION, "forfeit_bond", bonds)
    tb.set(SECTION, "forfeit_a", first)
    tb.set(SECTION, "forfeit_b", np.roll(first, 1))
    tb.set(SECTION, "forfeit_c", np.roll(first, 2))
    tb.set(SECTION, "forfeit_count", np.cumsum(first), pad=forfeits)
    tb.set(SECTION, "forfeits", [], pad=forfeits)
    tb.set(SECTION, "forfeit_seq", seq)
    tb.set(SECTION, "leaf", first * (1 - np.roll(blocks[:, 1].astype(np.int64), -1)))
    _charges_trace(tb, statement, starts, bonds, forfeits, refuse=refuse)
    summary = np.zeros(n, np.int64)
    summary[first_summary : first_summary + m] = 1
    tb.set(SECTION, "summary", summary)
    tb.set(SECTION, "summaries", np.cumsum(summary), pad=m)
    has_orders = np.zeros(n, np.int64)
    orders_inv = np.zeros(n, np.int64)
    for j in range(m):
        # the flag follows the public order count the constraints read
        count = statement.public_inputs[_PER_MARKET + _PER_MARKET_SIZE * j + _ORDER_COUNT] % P
        if count:
            has_orders[first_summary + j] = 1
            orders_inv[first_summary + j] = pow(count, P - 2, P)
    tb.set(SECTION, "has_orders", has_orders)
    tb.set(SECTION, "orders_inv", orders_inv)


def _charges_trace(
    tb: TraceBuilder,
    statement: BatchStatement,
    starts: np.ndarray,
    bonds: np.ndarray,
    forfeits: int,
    *,
    refuse: bool,
) -> None:
    """Each forfeit's charge and its trader's account on its third row.

    Raises:
        ValueError: (with ``refuse``) more than 2^14 forfeits, a charge on a trader
            without an account, or charges that are not the forfeits settled.
    """
    if refuse and forfeits >= 1 << 14:
        raise ValueError(f"statement 3: expected fewer than 2^14 forfeits, got {forfeits}")
    charges = statement.forfeit_charges
    if refuse and len(charges) != forfeits:
        raise ValueError(f"statement 3: expected {forfeits} forfeit charges, got {len(charges)}")
    sw = statement.settle_witness
    n = len(sw.subaccount)
    f = statement.forfeit_bond
    rows = starts + 2
    hi = np.zeros(tb.num_rows, np.int64)
    waived = np.zeros(tb.num_rows, np.int64)
    account = np.zeros(tb.num_rows, np.int64)
    charge = np.zeros(tb.num_rows, np.int64)
    fdiff = np.zeros(tb.num_rows, np.int64)
    fdiff[0] = forfeits << 16
    settled = np.zeros(n, np.int64)
    for i, r in enumerate(rows):
        acct, amount = charges[i] if i < len(charges) else (0, 0)
        bond = int(bonds[r])
        hi[r] = int(bond >= f)
        fdiff[r] = bond - f if bond >= f else f - 1 - bond
        account[r] = acct
        if amount:
            if refuse and amount != max(bond, f):
                raise ValueError(
                    f"statement 3: a forfeit's charge: expected max(bond, forfeit_bond) = "
                    f"{max(bond, f)} or 0, got {amount}"
                )
            charge[r] = amount
            settled[acct] += amount
        else:
            waived[r] = 1
    if refuse and not np.array_equal(settled, np.asarray(sw.forfeits, dtype=np.int64)):
        raise ValueError("statement 3: the forfeits charged are not the forfeits settled")
    tb.set(SECTION, "forfeit_hi", hi)
    tb.set(SECTION, "waived", waived)
    tb.set(SECTION, "forfeit_account", account)
    tb.set_range(SECTION, "fdiff", fdiff, "statement 3 (a forfeit's charge)")
    tb.set_range(SECTION, "charge", charge, "statement 3 (a forfeit's charge)")
