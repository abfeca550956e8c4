"""The state headers hashed in the batch AIR, with the pending orders they bind.

A state root is ``compress(accounts_root, header_digest)`` and the header is
the sponge of :func:`sealbatch.settlement.roots.header_elements`, whose last
block is the pending digest: the sponge of the pending orders' count block and
their 24-element records (docs/formats.md "The state root"). The tree section
(:mod:`.tree`) proves the compression; here the two header digests and the two
pending digests are recomputed from witness values, so neither is a public
input: the roots alone (public inputs 3–18) bind every header field and every
pending order.

Section ``hdr``: **one sponge block per row** (one Poseidon2 permutation per
row, the capacity chained to the next row, as :mod:`.digests`), four sponges
one after the other:

* rows ``0 … H−1``: the pre-state's header, rows ``H … 2H−1``: the
  post-state's (``H = header_blocks(m)``, fixed by the market count, so each
  field sits at a row and column the AIR knows); each starts with capacity
  ``[8H, 0, …, 0]``; its last row absorbs the pending digest (received as
  ``(TAG_PENDING, tree, digest×8)``) and sends the header digest
  ``(TAG_HEADER, tree, digest×8)`` to the tree section's root row;
* from row ``2H``: the pre-state's pending orders, then the post-state's:
  a count block, then three rows per record (``r0``: kind, market code,
  flags, limit, quantity, origin batch, id quotients; ``r1``: trader,
  subaccount; ``r2``: the id), the last row sending its digest
  ``(TAG_PENDING, tree, digest×8)`` to its header.

A sponge starts where ``first`` is 1 (its capacity ``[length, 0, …]``; the
pending sponges' length word is not constrained: a prover who changes it
changes the digest, which the public root fixes) and ends where the next row
starts another or the rows end; ``tree`` and ``pend`` are constant along one.
Statements (constraint names start with ``state headers``, ``carried``,
``staged``):

* **the headers are the roots'**: the four sponges are the only ones (the two
  headers pinned at their rows, one pending sponge per header: every
  ``TAG_HEADER``/``TAG_PENDING`` tuple is received once);
* **the configuration is carried** (:func:`_declare_config`): the post-state
  header's config digest block (``roots.config_digest_at``, the row before each
  header's last) equals the pre-state header's element by element — the pre
  row sends ``(TAG_CONFIG_DIGEST, block×8)``, the post row receives it; the
  digest needs no public input: the pre-state root fixes the pre header's;
* **header fields bound to the statement**: in the post-state header the batch
  id (public inputs 0–2), the account count and the tree depth, each market's
  mark (its public mark price and the margin terms' mark), funding index
  (public) and oracle flag (margin terms), and each market's index price, index
  time and oracle flag to the public reading of the oracle round (per-market
  public inputs 8–11, which Exchange.sol derives from the round it checks and
  the Python verifier from ``oracle.json``: :func:`.statement.index_inputs`);
  in both headers the account count,
  depth, fee pool and insurance fund (the settlement statement's);
* **header fields linked** (:func:`_declare_links`): per market the post-state's
  funding index is the pre-state's plus the settlement's ``ΔF``, the pre-state's
  mark is the public reference price (0, none, before a first mark), and the margin terms'
  index price is the post-state's index (its mark where the index is 0);
* **carried orders**: each pre-state record's ``r2`` row receives
  ``(TAG_CARRIED, market code, flags, limit, quantity, account, id×8)`` — the
  tuple each book row carried in (``active − rev``) sends — and its ``r1`` row
  sends ``(TAG_ACCOUNT_ADDR, account, trader×7, subaccount)`` to the accounts
  section: the orders carried in are exactly the pre-state's pending orders,
  fields and account — unless it is **held**: a pre-state record is held
  exactly when its market is halted at the batch's time, which the section
  proves (below), so a pending order is neither held back from a market that
  trades nor carried into a halted one;
* **halted markets**: the batch's time ``T`` (the oracle round's, three 24-bit
  limbs on the inputs digest's second row, which the public inputs digest
  binds) is copied into two columns constant down the trace; market ``j``'s
  flag ``halted_j`` (a column constant down the trace) is checked on the
  pre-state header's row that holds the market's last trusted index time
  ``I_j``: ``halted_j = 1`` exactly when ``I_j > 0`` and ``T − I_j > A``,
  ``A`` the oracle's ``max_price_age_ms`` (a constant of the AIR, so the
  program pins it), by writing ``T − A − 1 − I_j`` (halted) or ``I_j + A −
  T`` (not halted, with an index) as two 24-bit limbs of range-checked
  digits with a carry in ``{−1, 0, 1, 2}``; both times are below 2^48 (their
  top limbs are pinned to 0). A pre-state record's ``held`` is then
  ``Σ_j halted_j · L_j(market code)`` (``L_j`` the Lagrange polynomial over
  the markets' codes, and the code one of them);
* **staged accounts**: each post-state liquidation record (kind 1) sends
  ``(TAG_STAGED, account)`` and its trader's address lookup: the health
  section receives them on the account's row as often as its
  ``health.staged_orders`` says, non-zero exactly where ``health.staged``: the
  accounts the margin rule stages are exactly those with a pending liquidation
  order in the post-state root;
* **rests** (:func:`_declare_rests`): each post-state GTC rest record (kind 0)
  receives ``(TAG_REST, market code, flags, limit, quantity, account, id×8)``
  from a GTC book row that rests (:mod:`.clearing`) or from a held pre-state
  GTC rest that rests on (``keep``) with all its lots or, reduce-only, between
  1 and them; every record (pre and post) looks its trader up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.commitment import bytes32_elements, market_code, order_flags
from sealbatch.crypto.air import Column, Expr, const, pub
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import RATE, WIDTH
from sealbatch.settlement.batch_air.clearing import rests_of
from sealbatch.settlement.batch_air.framework import (
    TAG_ACCOUNT_ADDR,
    TAG_CARRIED,
    TAG_CONFIG_DIGEST,
    TAG_HEADER,
    TAG_PENDING,
    TAG_RANGE,
    TAG_REST,
    TAG_STAGED,
    AirBuilder,
    TraceBuilder,
    sponge_rows,
)
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
)
from sealbatch.settlement.ledger import AccountKey, LedgerState
from sealbatch.settlement.roots import (
    HEADER_DOMAIN,
    HEADER_FIELDS,
    header_blocks,
    header_elements,
    market_field,
    pending_elements,
    pending_orders,
)

__all__ = ["SECTION", "Pin", "declare", "generate", "pins", "rows_needed"]

SECTION = "hdr"
_RECORD_BLOCKS = 3
_CAP = WIDTH - RATE
#: Positions in the settlement statement's elements (SettleStatement.to_elements).
_N_PRE, _N_POST = 0, 1
_FEE_POOL_PRE, _FEE_POOL_POST, _INSURANCE_PRE, _INSURANCE_POST = 28, 32, 36, 40
_SETTLE_MARKETS = 44
_SETTLE_MARKET_SIZE = 8  # price, multiplier, fee, ΔF ×4, penalty
#: The inputs digest's row holding the oracle round's time ``[timestamp_ms×3, 0×5]``.
_TIME_ROW = 1
_LIMB_BITS = 24
_LIMB = 1 << _LIMB_BITS
_TIME_DIGITS = 4  # the halted check's difference: two 24-bit limbs of two 12-bit digits


def _records(state: LedgerState) -> int:
    return len(state.pending_liquidations) + len(state.resting_orders)


def rows_needed(statement: BatchStatement) -> int:
    """Rows (and permutations) of the section: two headers, two pending sponges."""
    h = header_blocks(len(statement.markets))
    records = _records(statement.pre) + _records(statement.post)
    return 2 * h + 2 + _RECORD_BLOCKS * records


def _held(statement: BatchStatement, order: RestingOrder) -> bool:
    return order.order.market in statement.halted


def lagrange(x: Expr, points: tuple[int, ...], j: int) -> Expr:
    """The polynomial in ``x`` that is 1 at ``points[j]`` and 0 at the other points."""
    out: Expr = const(1)
    for i, p in enumerate(points):
        if i != j:
            out = out * (x - p) * const(pow((points[j] - p) % P, P - 2, P))
    return out


def _index_time_at(market: int) -> tuple[int, int, int]:
    """``(sign row, sign column, limbs row)`` of market ``market``'s index time in the
    pre-state header (its limbs ``l0, l1, l2`` at columns ``limbs column … + 2``).

    Raises:
        ValueError: the three limbs straddle two rows (more markets than the AIR takes).
    """
    pos = market_field(market, "index_time_ms")
    row = (pos + 1) // RATE
    if (pos + 3) // RATE != row:
        raise ValueError(f"market {market}'s index time straddles two header rows")
    return pos // RATE, pos % RATE, row


def _age_limbs(statement: BatchStatement) -> tuple[int, int]:
    age = statement.max_price_age_ms
    if not 0 <= age < 1 << 2 * _LIMB_BITS:
        raise ValueError(f"max_price_age_ms: expected below 2^48, got {age}")
    return age % _LIMB, age >> _LIMB_BITS


def _settle_pub(statement: BatchStatement, offset: int) -> Expr:
    return pub(PUBLIC_HEADER + PUBLIC_PER_MARKET * len(statement.markets) + offset)


def _margin_at(statement: BatchStatement, market: int) -> int:
    """Offset of market ``market``'s margin terms in the settlement statement's elements."""
    at = _SETTLE_MARKETS + _SETTLE_MARKET_SIZE * len(statement.markets)
    for mg in statement.settle.margins[:market]:
        at += 5 + 2 * len(mg.tiers)  # mark, index, flag, count, the tiers, initial bps₀
    return at


def declare(b: AirBuilder, statement: BatchStatement) -> None:
    """Allocate the section's columns, constraints and bus interactions (both sides)."""

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    m = len(statement.markets)
    h = header_blocks(m)
    on, first, tree, pend = c("on"), c("first"), c("tree"), c("pend")
    r0, r1, r2, held = c("r0"), c("r1"), c("r2"), c("held")
    sponge = b.sponge_columns(SECTION)
    block, cap, out = sponge
    kind, mcode, flags, limit, qty, acct = (
        c("kind"), c("mcode"), c("flags"), c("limit"), c("qty"), c("acct"),
    )  # fmt: skip

    for e, name in (
        (on, "on"), (first, "first"), (tree, "tree"), (pend, "pend"),
        (r0, "r0"), (r1, "r1"), (r2, "r2"), (held, "held"),
    ):  # fmt: skip
        b.boolean(e, f"state headers: {name}")
    # the sponges: one permutation per row, a prefix of the rows
    b.constrain(on.next * (1 - on), "state headers: block rows first")
    b.boundary(-1, on, "state headers: the last row is past the blocks")
    b.constrain(first * (1 - on), "state headers: a sponge starts on a block row")
    go = on.next - first.next  # 1 where the next row continues this row's sponge
    b.sponge(sponge, on, go, "state headers: capacity {k} chained")
    for k in range(1, _CAP):
        b.constrain(first * cap[k], f"state headers: initial capacity {k}")
    b.constrain(go * (tree.next - tree), "state headers: one tree per sponge")
    b.constrain(go * (pend.next - pend), "state headers: one kind per sponge")
    b.constrain(pend * (1 - on), "state headers: pending sponges are block rows")
    last = c("last")  # 1 on the last row of each sponge
    b.constrain(last - on + on.next - first.next, "state headers: a sponge's last row")
    b.boundary(-1, last, "state headers: no sponge ends past the blocks")
    # the two headers at fixed rows, then the pre-state's pending sponge
    for t, base in ((0, 0), (1, h)):
        b.boundary(base, first - 1, f"state headers: header {t} starts at row {base}")
        b.boundary(base, tree - t, f"state headers: header {t} is tree {t}'s")
        b.boundary(base, pend, f"state headers: header {t} is a header")
        b.boundary(base, cap[0] - RATE * h, f"state headers: header {t} length")
        for r in range(base + 1, base + h):
            b.boundary(r, first, f"state headers: header {t} is one sponge")
    b.boundary(2 * h, first - 1, "state headers: the pending orders follow the headers")
    b.boundary(2 * h, pend - 1, "state headers: the pre-state's pending orders")
    b.boundary(2 * h, tree, "state headers: the pre-state's pending orders")
    is_header = last * (1 - pend)
    b.bus.send(TAG_HEADER, [tree, *out[:RATE]], is_header, "state headers: a header digest")
    b.bus.receive(
        TAG_PENDING, [tree, *block], is_header, "state headers: a header's pending digest"
    )
    b.bus.send(TAG_PENDING, [tree, *out[:RATE]], last * pend, "state headers: a pending digest")
    _declare_config(b, block, (c("cfg"), last, tree, pend))
    selectors = (first, tree, pend, r0, r1, r2, held)
    halted = _declare_halted(b, statement, block, pend, (mcode, flags, kind, limit, qty, acct))
    codes = tuple(market_code(name) for name in statement.markets)
    _declare_records(b, selectors, block, (kind, mcode, flags, limit, qty, acct), halted, codes)
    _declare_fields(b, statement, block)
    helpers = (c("fc0"), c("fc1"), c("iz"))
    _declare_links(b, statement, block, helpers)
    _declare_rests(b, selectors, block, (kind, mcode, flags, limit, qty, acct), helpers)


def _declare_config(b: AirBuilder, block: list[Column], flags: tuple[Column, ...]) -> None:
    """The post-state header's config digest block is the pre-state header's.

    ``cfg`` is 1 exactly on the row before a header sponge's last (its config digest
    block, ``roots.config_digest_at``): rows ``H − 2`` and ``2H − 2``. The pre-state's
    row sends ``(TAG_CONFIG_DIGEST, block×8)``, the post-state's receives it: one tuple
    each way, so the bus balances only if the two blocks are equal element by element.
    """
    cfg, last, tree, pend = flags
    b.constrain(
        cfg - last.next * (1 - pend.next), "state headers: cfg is a header's config digest row"
    )
    b.boundary(-1, cfg, "state headers: no config digest row past the blocks")
    b.bus.send(TAG_CONFIG_DIGEST, list(block), cfg * (1 - tree), "config digest: the pre-state's")
    b.bus.receive(
        TAG_CONFIG_DIGEST,
        list(block),
        cfg * tree,
        "config digest: the post-state's is the pre-state's",
    )


def _declare_halted(
    b: AirBuilder,
    statement: BatchStatement,
    block: list[Column],
    pend: Column,
    spare: tuple[Column, ...],
) -> tuple[Column, ...]:
    """The batch's time and each market's halted flag, constant down the trace, the flags
    proved on the pre-state header's index-time rows; returns the flags.

    The check's witness (an inverse, a carry, four 12-bit digits) sits in ``spare``, the
    pending records' field columns, which no constraint reads on a header row (``pend =
    0``); the digits go to the range table from those rows only.
    """

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    a0, a1 = _age_limbs(statement)
    time = (c("time0"), c("time1"))
    oracle = [b.existing(f"idig.b{k}") for k in range(3)]  # [timestamp_ms×3, …]
    for k, t in enumerate(time):
        b.constrain(t.next - t, f"halted: the batch's time [{k}] is constant")
        b.boundary(_TIME_ROW, t - oracle[k], f"halted: the batch's time [{k}] is the oracle's")
    b.boundary(_TIME_ROW, oracle[2], "halted: the batch's time is below 2^48")
    inv, carry, *digits = spare
    for k, d in enumerate(digits):
        b.bus.send(TAG_RANGE, [d], 1 - pend, f"halted: difference digit {k} < 2^12")
    x0 = digits[0] + (1 << 12) * digits[1]
    x1 = digits[2] + (1 << 12) * digits[3]
    flags = []
    for j in range(len(statement.markets)):
        h = c(f"halted{j}")
        b.boolean(h, f"halted: flag {j}")
        b.constrain(h.next - h, f"halted: flag {j} is constant")
        sign_row, sign_col, r = _index_time_at(j)
        b.boundary(sign_row, block[sign_col], f"halted: market {j}'s index time is not negative")
        k0 = (sign_col + 1) % RATE
        i0, i1, i2 = block[k0], block[k0 + 1], block[k0 + 2]
        b.boundary(r, i2, f"halted: market {j}'s index time is below 2^48")
        some = i0 + i1  # 0 exactly when the market never had a trusted index
        nz = some * inv
        b.boundary(r, some * (1 - nz), f"halted: market {j} had an index (inverse)")
        b.boundary(r, h * (1 - nz), f"halted: market {j} without an index is not halted")
        sign = 2 * h - 1  # T − A − 1 − I ≥ 0 when halted, I + A − T ≥ 0 when not
        low = sign * (time[0] - a0 - i0) - h
        high = sign * (time[1] - a1 - i1)
        b.boundary(r, nz * (low + _LIMB * carry - x0), f"halted: market {j}'s age, low limb")
        b.boundary(r, nz * (high - carry - x1), f"halted: market {j}'s age, high limb")
        b.boundary(
            r, (carry + 1) * carry * (carry - 1) * (carry - 2), f"halted: market {j}'s carry"
        )
        flags.append(h)
    return tuple(flags)


def _declare_records(
    b: AirBuilder,
    selectors: tuple[Column, ...],
    block: list[Column],
    fields: tuple[Column, ...],
    halted: tuple[Column, ...],
    codes: tuple[int, ...],
) -> None:
    """The pending records: three rows each, their fields carried to the id row."""
    first, tree, pend, r0, r1, r2, held = selectors
    kind, mcode, flags, limit, qty, acct = fields
    for r, name in ((r0, "r0"), (r1, "r1"), (r2, "r2")):
        b.constrain(r * (1 - pend), f"state headers: {name} is a pending row")
    b.constrain(
        pend * (first + r0 + r1 + r2 - 1), "state headers: a pending row is one block of one kind"
    )
    b.constrain(r1.next - r0, "state headers: a record's second block follows its first")
    b.constrain(r2.next - r1, "state headers: a record's third block follows its second")
    for k, f in enumerate((kind, mcode, flags, limit, qty)):
        b.constrain(r0 * (f - block[k]), f"state headers: record field {k}")
        b.constrain((r0 + r1) * (f.next - f), f"state headers: record field {k} carried")
    b.constrain(r1 * (acct.next - acct), "state headers: a record's account")
    b.constrain(held * (1 - r2 + tree), "carried: only a pre-state record is held")
    pre = r2 * (1 - tree)
    b.bus.receive(
        TAG_CARRIED,
        [mcode, flags, limit, qty, acct, kind, *block],
        pre * (1 - held),
        "carried: a pre-state pending order is a carried book row",
    )
    # held exactly in a halted market: the record's market code is one of the batch's
    # markets, and its held flag is that market's halted flag
    in_markets: Expr = const(1)
    for code in codes:
        in_markets = in_markets * (mcode - code)
    b.constrain(pre * in_markets, "held: a pending order's market is one of the batch's")
    flag: Expr = const(0)
    for j, h in enumerate(halted):
        flag = flag + h * lagrange(mcode, codes, j)
    b.constrain(pre * (held - flag), "held: a pending order is held exactly in a halted market")
    # the record's account, every record's (carried in, staged, resting)
    b.bus.send(
        TAG_ACCOUNT_ADDR, [acct, *block], r1, "carried: a pending order's account is its trader's"
    )
    b.bus.send(TAG_STAGED, [acct], r2 * tree * kind, "staged: a post-state liquidation order")


def _declare_rests(
    b: AirBuilder,
    selectors: tuple[Column, ...],
    block: list[Column],
    fields: tuple[Column, ...],
    helpers: tuple[Column, ...],
) -> None:
    """The post-state's GTC rests: each one a book row's remainder (:mod:`.clearing`) or
    a held pre-state GTC rest that rests on (``keep``, 1 on its ``r1`` and ``r2`` rows;
    the between-batch checks may cancel it, or cap a reduce-only one).

    A kept record rests with ``kq = 1 + fc0 + 2^12·fc1`` lots (its id row) and
    ``qty − kq = fc0 + 2^12·fc1`` on its ``r1`` row, the four digits range-checked, so
    ``1 ≤ kq ≤ qty``; ``iz`` on the id row is its reduce-only bit (``flags − 8·iz`` in
    ``[0, 8)``), and only a reduce-only rest is capped (``iz`` is 1 on the ``r1`` row,
    where that rule does not apply). The link helpers ``fc0``, ``fc1``, ``iz`` are read
    on header rows only, so the record rows are free.
    """
    _, tree, _, _, r1, r2, held = selectors
    kind, mcode, flags, limit, qty, acct = fields
    keep = b.column(SECTION, "keep")
    fc0, fc1, ro = helpers
    b.boolean(keep, "rests: keep")
    b.constrain(keep * (1 - r1 - r2), "rests: keep is on a record's r1 and r2 rows")
    b.constrain(r1 * (keep.next - keep), "rests: keep on both rows")
    b.constrain(r2 * keep * (1 - held + kind), "rests: only a held GTC rest rests on")
    kq = 1 + fc0 + (1 << 12) * fc1
    for k, d in enumerate((fc0, fc1)):
        b.bus.send(TAG_RANGE, [d], keep, f"rests: a held rest's digit {k} < 2^12")
    b.constrain(
        r1 * keep * (qty - (1 + fc0.next + (1 << 12) * fc1.next) - fc0 - (1 << 12) * fc1),
        "rests: a held rest keeps at most its quantity",
    )
    b.constrain(keep * ro * (1 - ro), "rests: a held rest's reduce-only bit")
    b.bus.send(TAG_RANGE, [512 * (flags - 8 * ro)], r2 * keep, "rests: a held rest's flags")
    b.constrain(keep * (1 - ro) * (qty - kq), "rests: only a reduce-only held rest is capped")
    b.bus.send(TAG_REST, [mcode, flags, limit, kq, acct, *block], r2 * keep, "rests: a held rest")
    b.bus.receive(
        TAG_REST,
        [mcode, flags, limit, qty, acct, *block],
        r2 * tree * (1 - kind),
        "rests: a post-state GTC rest",
    )


@dataclass(frozen=True)
class Pin:
    """A header field tied to the statement: ``Σ coeff·block[k]`` on ``row`` equals
    public input ``public`` (``None``: the constant ``value``)."""

    name: str
    row: int
    terms: tuple[tuple[int, int], ...]  # (k, coeff)
    public: int | None
    value: int = 0


def pins(statement: BatchStatement) -> tuple[Pin, ...]:
    """Every header field the AIR ties to the statement (module docstring)."""
    st = statement.settle
    m = len(statement.markets)
    h = header_blocks(m)
    settle = PUBLIC_HEADER + PUBLIC_PER_MARKET * m
    out: list[Pin] = []

    def pin(tree: int, pos: int, public: int | None, value: int, name: str) -> None:
        out.append(Pin(f"state headers: {name}", tree * h + pos // RATE, ((pos % RATE, 1),),
                       public, value))  # fmt: skip

    def pin_small(tree: int, pos: int, public: int, name: str) -> None:
        """A signed header value ``[sign, l0, l1, l2]`` equal to a value below 2^48."""
        pin(tree, pos, None, 0, f"{name} sign")
        pin(tree, pos + 3, None, 0, f"{name} limb 2")
        row, row_hi = tree * h + (pos + 1) // RATE, tree * h + (pos + 2) // RATE
        if row == row_hi:
            terms = (((pos + 1) % RATE, 1), ((pos + 2) % RATE, 1 << 24))
            out.append(Pin(f"state headers: {name}", row, terms, public))
        else:  # the limbs straddle two rows: the high limb is zero below 2^24
            pin(tree, pos + 2, None, 0, f"{name} limb 1")
            pin(tree, pos + 1, public, 0, name)

    for t, name in ((0, "pre"), (1, "post")):
        pin(t, 0, None, HEADER_DOMAIN, f"{name} header domain")
        pin_small(t, HEADER_FIELDS["n"], settle + (_N_PRE if t == 0 else _N_POST),
                  f"{name} account count")  # fmt: skip
        depth = st.depth_pre if t == 0 else st.depth_post
        pin(t, HEADER_FIELDS["depth"], None, depth, f"{name} depth")
        pool = _FEE_POOL_PRE if t == 0 else _FEE_POOL_POST
        insurance = _INSURANCE_PRE if t == 0 else _INSURANCE_POST
        for k in range(4):
            pin(t, HEADER_FIELDS["fee_pool"] + k, settle + pool + k, 0, f"{name} fee pool [{k}]")
            pin(t, HEADER_FIELDS["insurance"] + k, settle + insurance + k, 0,
                f"{name} insurance fund [{k}]")  # fmt: skip
    pin(1, HEADER_FIELDS["batch_id"], None, 0, "post batch id sign")
    for k in range(3):
        pin(1, HEADER_FIELDS["batch_id"] + 1 + k, k, 0, f"post batch id [{k}]")
    for j in range(m):
        base = PUBLIC_HEADER + PUBLIC_PER_MARKET * j
        pin_small(1, market_field(j, "mark"), base + 5, f"post mark {j} is public")
        margin = settle + _margin_at(statement, j)
        pin_small(1, market_field(j, "mark"), margin, f"post mark {j} is the margin terms'")
        for k in range(4):
            pin(1, market_field(j, "funding_index") + k, base + 1 + k, 0,
                f"post funding index {j} [{k}] is public")  # fmt: skip
        pin(1, market_field(j, "flagged"), margin + 2, 0,
            f"post oracle flag {j} is the margin terms'")  # fmt: skip
        # the oracle round's reading (statement.index_inputs; Exchange.sol derives it)
        pin_small(1, market_field(j, "index"), base + 8, f"post index {j} is the oracle's")
        at = market_field(j, "index_time_ms")
        pin(1, at, None, 0, f"post index time {j} sign")
        pin(1, at + 1, base + 9, 0, f"post index time {j} is the oracle's, limb 0")
        pin(1, at + 2, base + 10, 0, f"post index time {j} is the oracle's, limb 1")
        pin(1, at + 3, None, 0, f"post index time {j} limb 2")
        pin(1, market_field(j, "flagged"), base + 11, 0, f"post oracle flag {j} is the oracle's")
    return tuple(out)


def _declare_fields(b: AirBuilder, statement: BatchStatement, block: list[Column]) -> None:
    """Boundary constraints tying header fields to the public inputs."""
    for p in pins(statement):
        total: Expr = const(0)
        for k, coeff in p.terms:
            total = total + coeff * block[k]
        want: Expr = pub(p.public) if p.public is not None else const(p.value)
        b.boundary(p.row, total - want, p.name)


def _field(block: list[Column], base: int, pos: int) -> tuple[int, list[Expr]]:
    """The four elements ``[sign, l0, l1, l2]`` of a signed header value at ``pos``, as
    expressions at the row of its first element (the next row's where they straddle)."""
    row = base + pos // RATE
    out: list[Expr] = []
    for i in range(4):
        r, k = base + (pos + i) // RATE, (pos + i) % RATE
        out.append(block[k] if r == row else block[k].next)
    return row, out


def _declare_links(
    b: AirBuilder, statement: BatchStatement, block: list[Column], helpers: tuple[Column, ...]
) -> None:
    """Header fields tied to each other and to the statement across the two headers.

    Per market ``j``: the post-state's funding index (public) is the pre-state's plus
    the settlement's ``ΔF`` (24-bit limbs, carries in ``[−2, 2]``: ``fc0``, ``fc1`` on
    the pre-state field's row); the pre-state's mark is the market's public reference
    price (both 0 before a first mark: no reference); the margin terms' index price is
    the post-state's index, or its mark where the index is 0 (``index_mark − mark =
    index·iz``).
    """
    fc0, fc1, iz = helpers
    m = len(statement.markets)
    h = header_blocks(m)
    settle = PUBLIC_HEADER + PUBLIC_PER_MARKET * m
    for j in range(m):
        base = PUBLIC_HEADER + PUBLIC_PER_MARKET * j
        delta = settle + _SETTLE_MARKETS + _SETTLE_MARKET_SIZE * j + 3
        row, pre = _field(block, 0, market_field(j, "funding_index"))
        s_pre, s_d, s_post = 1 - 2 * pre[0], 1 - 2 * pub(delta), 1 - 2 * pub(base + 1)
        carries: list[Expr] = [const(0), fc0, fc1, const(0)]
        for k in range(3):
            e = (
                s_pre * pre[1 + k]
                + s_d * pub(delta + 1 + k)
                - s_post * pub(base + 2 + k)
                + carries[k]
                - (1 << 24) * carries[k + 1]
            )
            b.boundary(row, e, f"state headers: post funding index {j} = pre + ΔF, limb {k}")
        for k, carry in ((0, fc0), (1, fc1)):
            poly: Expr = carry
            for v in (1, -1, 2, -2):
                poly = poly * (carry - v)
            b.boundary(row, poly, f"state headers: funding carry {k} of market {j} in [−2, 2]")
        row, mark = _field(block, 0, market_field(j, "mark"))
        value = mark[1] + (1 << 24) * mark[2] + (1 << 48) * mark[3]
        # Unconditionally: a market without a mark (0) clears without a reference (0),
        # else the operator could state one and steer the price within the optimum.
        b.boundary(row, pub(base + 7) - value, f"state headers: pre mark {j} is the reference")
        row, index = _field(block, h, market_field(j, "index"))
        value = index[1] + (1 << 24) * index[2] + (1 << 48) * index[3]
        margin = settle + _margin_at(statement, j)
        index_mark, mark_now = pub(margin + 1), pub(margin)
        b.boundary(row, index[0], f"state headers: post index {j} is not negative")
        b.boundary(
            row,
            value * (index_mark - value),
            f"state headers: the index price {j} is the post-state's index",
        )
        b.boundary(
            row,
            index_mark - mark_now - value * iz,
            f"state headers: the index price {j} is the mark where there is no index",
        )


def _signed_value(elements: tuple[int, ...] | list[int]) -> tuple[int, list[int]]:
    """``[sign, l0, l1, l2]`` → (±1, limbs)."""
    return 1 - 2 * int(elements[0]), [int(v) for v in elements[1:4]]


def _link_values(statement: BatchStatement, refuse: bool) -> dict[int, tuple[int, int, int]]:
    """The helper values ``(fc0, fc1, iz)`` per header row of :func:`_declare_links`, from
    the witness headers and the public inputs the constraints read.

    Raises:
        ValueError: (with ``refuse``) a linked field breaks its rule (named).
    """
    m = len(statement.markets)
    h = header_blocks(m)
    public = statement.public_inputs
    settle = PUBLIC_HEADER + PUBLIC_PER_MARKET * m
    out: dict[int, tuple[int, int, int]] = {}
    for j in range(m):
        pre_ms, post_ms = statement.pre.market_states[j], statement.post.market_states[j]
        base = PUBLIC_HEADER + PUBLIC_PER_MARKET * j
        delta = settle + _SETTLE_MARKETS + _SETTLE_MARKET_SIZE * j + 3
        signs_limbs = [
            _signed_value(_encode_signed(pre_ms.funding_index)),
            _signed_value(public[delta : delta + 4]),
            _signed_value(public[base + 1 : base + 5]),
        ]
        values = [s * sum(v << (24 * k) for k, v in enumerate(limbs)) for s, limbs in signs_limbs]
        if refuse and values[0] + values[1] != values[2]:
            raise ValueError(
                f"state headers: post funding index {j} = pre + ΔF: expected "
                f"{values[0]} + {values[1]}, got {values[2]}"
            )
        reference = int(public[base + 7])
        if refuse and reference != pre_ms.mark_price:
            raise ValueError(
                f"state headers: pre mark {j} is the reference: expected {pre_ms.mark_price} "
                f"(0: none), got {reference}"
            )
        carries, carry = [], 0
        for k in range(2):
            (s0, l0), (s1, l1), (s2, l2) = signs_limbs
            total = s0 * l0[k] + s1 * l1[k] - s2 * l2[k] + carry
            carry = total // (1 << 24) if total >= 0 else -(-total // (1 << 24))
            carries.append(carry)
        row = market_field(j, "funding_index") // RATE
        out[row] = (carries[0], carries[1], out.get(row, (0, 0, 0))[2])
        margin = settle + _margin_at(statement, j)
        index_mark, mark = int(public[margin + 1]), int(public[margin])
        index = post_ms.index_price or 0
        if refuse and index_mark != (index or mark):
            raise ValueError(
                f"state headers: the index price {j} is the post-state's index (or its mark): "
                f"expected {index or mark}, got {index_mark}"
            )
        iz = (index_mark - mark) * pow(index, P - 2, P) % P if index else 0
        irow = h + market_field(j, "index") // RATE
        prev = out.get(irow, (0, 0, 0))
        out[irow] = (prev[0], prev[1], iz)
    return out


def _encode_signed(v: int) -> list[int]:
    mag = abs(v)
    return [int(v < 0), *((mag >> (24 * k)) & ((1 << 24) - 1) for k in range(3))]


def _check_fields(statement: BatchStatement, ins: np.ndarray) -> None:
    """Raise ValueError naming the first pinned header field that is not the statement's."""
    public = statement.public_inputs
    for p in pins(statement):
        got = sum(coeff * int(ins[p.row, k]) for k, coeff in p.terms) % P
        want = public[p.public] if p.public is not None else p.value
        if got != want % P:
            raise ValueError(f"{p.name}: the header holds {got}, the statement {want}")


def _account(post: LedgerState, key: AccountKey) -> int:
    """The post-state row of ``key`` (0 for an account the post-state lacks: the
    address lookup then fails, as it should)."""
    return post.row(key) if post.has(key) else 0


def generate(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the section: both headers and both pending sponges (prover side).

    Raises:
        ValueError: more rows than the trace has, or (with ``refuse``) a pending order
            carried in that is not a book row (named statement).
    """
    pre, post = statement.pre, statement.post
    rows: list[tuple[np.ndarray, np.ndarray]] = []
    for state in (pre, post):
        rows.append(sponge_rows(header_elements(state)))
    records: list[list[tuple[int, int]]] = []  # per tree: (kind, account) per record
    for state in (pre, post):
        rows.append(sponge_rows(pending_elements(state)))
        records.append(
            [
                (int(liq), _account(post, AccountKey(r.trader, sub)))
                for r, sub, liq in pending_orders(state)
            ]
        )
    ins = np.concatenate([r[0] for r in rows])
    outs = np.concatenate([r[1] for r in rows])
    n = ins.shape[0]
    if n + 1 > tb.num_rows:
        raise ValueError(f"expected at most {tb.num_rows - 1} header rows, got {n}")
    halted = _generate_halted(tb, statement, ins, refuse=refuse)
    book = Counter(
        (market_code(statement.markets[o.market]), o.flags(), o.limit, o.quantity, o.account,
         o.liquidation, *o.id_elements())
        for o in statement.orders if not o.revealed
    )  # fmt: skip
    pending = Counter(
        (market_code(r.order.market), order_flags(r.order), r.order.limit_price or 0,
         r.order.quantity, acct, kind, *bytes32_elements(r.order_id))
        for (r, _, _), (kind, acct) in zip(pending_orders(pre), records[0], strict=True)
        if not _held(statement, r)
    )  # fmt: skip
    if refuse and book != pending:
        raise ValueError("carried: the orders carried in are not the pre-state's pending orders")
    problem = rests_of(statement)[2]
    if refuse and problem is not None:
        raise ValueError(problem)
    if refuse:
        _check_fields(statement, ins)
    if refuse and pre.config_digest != post.config_digest:
        raise ValueError(
            f"config digest: expected the post-state's to be the pre-state's "
            f"{list(pre.config_digest)}, got {list(post.config_digest)}"
        )
    h = rows[0][0].shape[0]
    first = np.zeros(n, np.int64)
    tree = np.zeros(n, np.int64)
    pend = np.zeros(n, np.int64)
    first[[0, h, 2 * h]] = 1
    tree[h : 2 * h] = 1
    pend[2 * h :] = 1
    post_start = 2 * h + rows[2][0].shape[0]
    first[post_start] = 1
    tree[post_start:] = 1
    sel = np.zeros((3, n), np.int64)
    acct = np.zeros(n, np.int64)
    held = np.zeros(n, np.int64)
    held_pre = [_held(statement, r) for r, _, _ in pending_orders(pre)]
    pre_orders = [r for r, _, _ in pending_orders(pre)]
    post_rests = {r.order_id: r for r in post.resting_orders}
    keep = np.zeros(n, np.int64)
    kept: dict[int, tuple[int, int, int, int]] = {}  # id row → (fc0, fc1, ro, qty − kq)
    for t, start in ((0, 2 * h), (1, post_start)):
        for i, (_, a) in enumerate(records[t]):
            r = start + 1 + _RECORD_BLOCKS * i
            sel[:, r : r + 3] = np.eye(3, dtype=np.int64)
            acct[r : r + 3] = a
            if t == 0:
                held[r + 2] = int(held_pre[i])
                rest = post_rests.get(pre_orders[i].order_id)
                if held_pre[i] and not records[0][i][0] and rest is not None:
                    keep[r + 1 : r + 3] = 1
                    kq, q = rest.order.quantity, pre_orders[i].order.quantity
                    kq_ = max(kq - 1, 0) % (1 << 24)  # a forged one: out of range
                    kept[r + 2] = (kq_ % 4096, kq_ >> 12, int(pre_orders[i].order.reduce_only),
                                   (q - kq) % (1 << 24))  # fmt: skip
    fields = np.zeros((5, n), np.int64)
    r0_rows = np.flatnonzero(sel[0])
    for k in range(5):
        for r in r0_rows:
            fields[k, r : r + 3] = int(ins[r, k])
    tb.set(SECTION, "on", np.ones(n, np.int64))
    tb.set(SECTION, "last", np.append(first[1:], 1))
    cfg = np.zeros(n, np.int64)
    cfg[[h - 2, 2 * h - 2]] = 1  # each header's config digest row
    tb.set(SECTION, "cfg", cfg)
    columns = {"first": first, "tree": tree, "pend": pend, "held": held, "acct": acct}
    columns |= {"keep": keep}
    columns |= {"r0": sel[0], "r1": sel[1], "r2": sel[2]}
    for name, values in columns.items():
        tb.set(SECTION, name, values)
    for k, name in enumerate(("kind", "mcode", "flags", "limit", "qty")):
        tb.set(SECTION, name, fields[k])
    _write_halted(tb, halted, pend)
    tb.set_sponge(SECTION, ins, outs)
    helpers = np.zeros((3, n), np.int64)
    for r, link in _link_values(statement, refuse).items():
        helpers[:, r] = link
    digits: list[int] = []
    for r, (d0, d1, ro, left) in kept.items():
        helpers[:, r] = (d0, d1, ro)
        helpers[:, r - 1] = (left % 4096, left >> 12, 1)
        digits += [d0, d1, left % 4096, left >> 12]
        digits.append(512 * (int(fields[2, r]) - 8 * ro) % P)
    for k, name in enumerate(("fc0", "fc1", "iz")):
        tb.set(SECTION, name, helpers[k])
    tb.count_range([d for d in digits if d < 4096])  # a forged one's lookup cannot balance
    # the accounts section receives each record's address lookup on its row
    lookups = [a for t in (0, 1) for _, a in records[t]]
    column = tb.get("acct", "orders")
    counts = np.bincount(np.array(lookups, dtype=np.int64), minlength=tb.num_rows)
    column[:] = (column + counts[: tb.num_rows].astype(np.uint64)) % np.uint64(P)


#: The record columns that hold the halted check's witness on the header rows.
_SPARE = ("mcode", "flags", "kind", "limit", "qty", "acct")


def _generate_halted(
    tb: TraceBuilder, statement: BatchStatement, ins: np.ndarray, *, refuse: bool
) -> dict[str, dict[int, int]]:
    """The batch's time and the halted flags (``statement.halted``), written now; returns
    the age checks' witness (record column → row → value) to write over the records'.

    Raises:
        ValueError: (with ``refuse``) a flag that is not what the oracle's time, the
            market's last trusted index time and ``max_price_age_ms`` give.
    """
    a0, a1 = _age_limbs(statement)
    t0, t1, t2 = (int(v) for v in statement.input_blocks[1][:3])
    time = t0 + (t1 << _LIMB_BITS) + (t2 << 2 * _LIMB_BITS)
    tb.set(SECTION, "time0", [], pad=t0)
    tb.set(SECTION, "time1", [], pad=t1)
    witness: dict[str, dict[int, int]] = {name: {} for name in _SPARE}
    for j, name in enumerate(statement.markets):
        h = int(name in statement.halted)
        _, sign_col, r = _index_time_at(j)
        i0, i1, i2 = (int(ins[r, (sign_col + 1 + k) % RATE]) for k in range(3))
        index_time = i0 + (i1 << _LIMB_BITS) + (i2 << 2 * _LIMB_BITS)
        stale = index_time > 0 and time - index_time > statement.max_price_age_ms
        if refuse and h != int(stale):
            raise ValueError(
                f"held: {name} {'is' if h else 'is not'} halted in the statement, but its "
                f"index time {index_time} at the batch's time {time} says otherwise"
            )
        tb.set(SECTION, f"halted{j}", [], pad=h)
        some = i0 + i1
        if not some:
            continue
        sign = 2 * h - 1
        low = sign * (t0 - a0 - i0) - h
        high = sign * (t1 - a1 - i1)
        carry = -(low // _LIMB) if low < 0 else (-1 if low >= _LIMB else 0)
        x0, x1 = low + _LIMB * carry, high - carry
        values = [pow(some % P, P - 2, P), carry]
        for v in (x0, x1):
            v %= 1 << 2 * _LIMB_BITS  # a forged flag's negative difference: out of range
            values += [v % (1 << 12), (v >> 12) % (1 << 12)]
        for column, v in zip(_SPARE, values, strict=True):
            witness[column][r] = v
    return witness


def _write_halted(tb: TraceBuilder, witness: dict[str, dict[int, int]], pend: np.ndarray) -> None:
    """Write the age checks' witness on the header rows and count the digits' lookups."""
    for name, rows in witness.items():
        column = tb.get(SECTION, name)
        for r, v in rows.items():
            column[r] = v % P
    off = np.ones(tb.num_rows, dtype=bool)
    off[: pend.shape[0]] = pend == 0
    for name in _SPARE[2:]:
        tb.count_range(tb.get(SECTION, name)[off].astype(np.int64))
