"""Statement 4, the staged liquidation orders' content, proved in the batch AIR.

:mod:`.health` proves WHICH accounts have liquidation orders in the post-state (those
below maintenance at the oracle indexes); this section ties each post-state
liquidation record (kind 1, :mod:`.headers`) to its account's row and proves of its
content what :func:`sealbatch.settlement.liquidation.plan_liquidations` fixes
independently of the slice arithmetic:

* **one order per market held**: each account row has a bit ``o_j`` per market (section
  ``liq``, ``liq.o<j>``), 1 only where the account holds a non-zero post-state position
  (``health.nz[j]``), the market has a mark (public ``mark > 0``) and its oracle is not
  flagged; ``health.staged_orders = Σ_j o_j``, so the records the account's row receives
  (``TAG_STAGED``) are exactly its ``o_j``;
* **market, flags and side**: the row receives ``(TAG_LIQ_ORDER, account, market code
  j, 10 + s_j, quantity)`` with multiplicity ``o_j``, ``s_j`` the position's sign bit
  (1: short), and every post-state liquidation record sends ``(account, market code,
  flags, quantity)`` from its id row: the flags ``isBuy | hasLimit·2 | isGtc·4 |
  reduceOnly·8`` are exactly ``10 + s_j`` — a limit order, IOC, reduce-only, on the
  side that closes the position (a buy for a short); the market code is the market's;
  at most one record per account and market;
* **quantity**: ``q = 1 + a`` with ``a`` two range-checked 12-bit digits
  (``liq.a<j>``), ``|P_j| − q`` two digits (``liq.c<j>``), ``K_j − q`` two digits
  (``liq.k<j>``): ``1 ≤ q ≤ min(|P_j|, K_j)``, where ``K_j = K_j^calm + π_j·(K_j^prot −
  K_j^calm)``: ``π_j`` the post-state's protective flag, which :mod:`.breaker` proves
  (``brk.p1<j>``), and ``K_j^calm = min(max_liquidation_lots, max_order_lots)``,
  ``K_j^prot = min(protective_liquidation_lots, max_order_lots)`` constants of the AIR
  (:attr:`BatchStatement.liquidation_slice_caps`, from the published configuration: the
  program pins them, as ``max_price_age_ms``) — ``liquidation_slice_lots`` on the state
  ``plan_liquidations`` reads.

* **limit** (on the record's id row, where ``g = r2·tree·kind`` is 1; columns
  ``liq.mark``, ``liq.index``, ``liq.slip`` … reused by every record): the record's
  market's public mark ``M`` and index price ``I`` (the margin terms', the mark where
  there is no index) and its ``max_slippage_bps`` ``s`` (a constant of the AIR,
  :attr:`BatchStatement.liquidation_slippage`) are selected by the Lagrange polynomials
  over the market codes; the side ``buy = flags − 10`` is a bit; ``w`` picks the tighter
  reference ``x`` — the lower of ``M`` and ``I`` for a buy, the higher for a sell —
  with ``(2w − 1)(1 − 2·buy)(M − I) − (1 − w) ≥ 0`` (three digits, the top one of 6
  bits: below 2^30, so nothing wraps); ``x`` in three such digits; ``t = ⌊x·s /
  10 000⌋`` as ``x·s = 10 000·t + r`` digit by digit with two range-checked carries,
  ``0 ≤ r ≤ 9 999``; a buy's limit is ``min(x + t, MAX_TICKS)`` (a clamp bit and
  ``(1 − 2·cl)(MAX_TICKS − x − t) − cl ≥ 0`` in three digits), a sell's ``x − t``
  (``x ≥ 1`` and ``s ≤ 5 000`` make it at least one tick). That is ``liquidation._limit``:
  the tighter of ``mark·(1 ± s)`` and ``index·(1 ± s)``, a buy's rounded down and a
  sell's up (``⌈x·(10 000 − s)/10 000⌉ = x − ⌊x·s/10 000⌋``).

* **id** (:func:`sealbatch.settlement.liquidation.liquidation_order_id`): the
  Poseidon2 sponge of ``[LIQUIDATION_DOMAIN, B×3, market code, 0, 0, 0]`` and
  ``[trader×7, subaccount]``, ``B`` this batch's id (public inputs 0–2, the post-state
  header's batch id: the batch that stages the order). Two **id rows** per post-state
  liquidation record, after the state headers' block rows (where ``hdr.on`` is 0, so the
  headers' sponge columns are free): ``liq.id0`` marks the first, ``liq.id1`` the second
  (``id1' = id0``). They reuse the headers' sponge columns ``hdr.b*``, ``hdr.c*``,
  ``hdr.o*``, ask the permutation service for both permutations (``id0 + id1``), and
  chain the capacity; the first row's block is pinned to ``[LIQUIDATION_DOMAIN, pub 0,
  pub 1, pub 2, hdr.mcode, 0, 0, 0]`` and its capacity to ``[16, 0, …, 0]`` (the
  sponge's length word), ``hdr.mcode`` is carried to the second row, whose block is
  looked up as ``(TAG_ACCOUNT_ADDR, hdr.fc0, block×8)`` — the trader and subaccount of
  account row ``hdr.fc0`` — and which sends ``(TAG_LIQ_ID, hdr.fc0, hdr.mcode, out×8)``:
  the digest. Each post-state liquidation record's id row receives ``(TAG_LIQ_ID,
  account, market code, id×8)`` once, so its id elements are the digest of its own
  account's key, its own market and this batch; and its ``id_high`` (the quotients of the
  id's words, ``r0``'s block element 7) is 0, so the 32 bytes are the digest's
  ``digest_to_bytes``, not a word ``≥ p`` that reduces to it. The headers' columns are
  free on these rows: every headers constraint on them is gated by ``on``, ``pend``,
  ``first``, the record selectors or ``keep`` (all 0 there), or sits on a header row;
  ``hdr.fc0`` is read on header rows and kept rests' ``r1``/``r2`` rows only, and
  ``hdr.mcode`` on record and header rows.

The slice size itself — ``lots = min(⌈shortfall / per_lot⌉, |P|, cap,
max_order_lots)`` in markets by decreasing notional, both at the indexes, and which
markets the running shortfall skips — is :mod:`.liq_slice`'s.

Width: ``7·m`` main columns (``m`` markets) and ``7·m + 1`` bus interactions for the
content; 25 main columns and 20 range lookups for the limit, whatever ``m``; 2 main
columns and 4 bus interactions for the id (and two rows, two permutations per order).
"""

from __future__ import annotations

import numpy as np

from sealbatch.auction.commitment import market_code
from sealbatch.auction.markets import MAX_TICKS
from sealbatch.auction.orders import Side, TimeInForce
from sealbatch.crypto.air import Column, Expr, const, pub
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import RATE, WIDTH
from sealbatch.settlement.batch_air import breaker
from sealbatch.settlement.batch_air.accounts import AccountColumns
from sealbatch.settlement.batch_air.framework import (
    TAG_ACCOUNT_ADDR,
    TAG_RANGE,
    AirBuilder,
    TraceBuilder,
    sponge_rows,
)
from sealbatch.settlement.batch_air.headers import _margin_at, lagrange
from sealbatch.settlement.batch_air.limbs import (
    CARRY_BITS,
    carries,
    carry_columns,
    carry_value,
    range_digits,
    two_digits,
)
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
)
from sealbatch.settlement.ledger import AccountKey
from sealbatch.settlement.liquidation import (
    LIQUIDATION_DOMAIN,
    liquidation_id_elements,
    liquidation_order_id,
)
from sealbatch.settlement.params import BPS
from sealbatch.settlement.roots import pending_orders

__all__ = [
    "LIQUIDATION_FLAGS",
    "SECTION",
    "TAG_LIQ_ID",
    "TAG_LIQ_ORDER",
    "declare",
    "generate",
    "generate_ids",
    "id_rows",
    "slice_cap",
]

SECTION = "liq"
#: ``(account, market code, flags, quantity)``: a post-state liquidation order, to its
#: account's row.
TAG_LIQ_ORDER = 67
#: ``(account, market code, id×8)``: a liquidation order id's digest, from its id rows to
#: the post-state record that holds it.
TAG_LIQ_ID = 79
#: The id's preimage: two rate blocks (the sponge's length word).
_ID_ELEMENTS = 2 * RATE
#: A liquidation order's flags for a sell (a buy adds 1): a limit (2), IOC, reduce-only (8).
LIQUIDATION_FLAGS = 2 | 8
_DIGIT = 1 << 12
#: The largest ``max_slippage_bps`` (params.py): ``t ≤ x/2``, so a sell's limit is a tick.
_MAX_SLIPPAGE = 5_000
#: Prices, and the differences the limits compare, are below 2^30: a top digit of 6 bits.
_TOP_BITS = 6


def slice_cap(statement: BatchStatement, j: int) -> int:
    """Market ``j``'s slice cap on the post-state's protective flag (``liquidation_slice_lots``
    at most ``max_order_lots``), as the section reads it."""
    calm_cap, protective_cap = statement.liquidation_slice_caps[j]
    return protective_cap if statement.post.market_states[j].protective else calm_cap


def id_rows(statement: BatchStatement) -> int:
    """Rows the ids take after the state headers' block rows: two per post-state
    liquidation order."""
    return 2 * len(statement.post.pending_liquidations)


def declare(b: AirBuilder, statement: BatchStatement, acct: AccountColumns, row: Column) -> None:
    """Allocate the section's columns and constraints (after the health and header
    sections, whose columns it reads)."""
    m = len(statement.markets)
    caps = statement.liquidation_slice_caps
    if len(caps) != m:
        raise ValueError(f"liquidation caps: expected a pair per market ({m}), got {len(caps)}")
    ix = statement.settle.derived_index(PUBLIC_HEADER + PUBLIC_PER_MARKET * m, 3)
    codes = tuple(market_code(name) for name in statement.markets)
    count: Expr = const(0)
    for j in range(m):
        o = b.column(SECTION, f"o{j}")
        a = [b.column(SECTION, f"a{j}[{k}]") for k in range(2)]
        c = [b.column(SECTION, f"c{j}[{k}]") for k in range(2)]
        k_ = [b.column(SECTION, f"k{j}[{k}]") for k in range(2)]
        for name, digits in (("a", a), ("c", c), ("k", k_)):
            for i, d in enumerate(digits):
                b.bus.send(TAG_RANGE, [d], 1, f"liquidation orders: {name}{j}[{i}] < 2^12")
        b.boolean(o, f"liquidation orders: o{j}")
        nz = b.existing(f"health.nz[{j}]")
        b.constrain(o * (1 - nz), f"liquidation orders: an order in market {j} only for a position")
        b.constrain(o * (1 - pub(ix.has_mark(j))), f"liquidation orders: market {j} without a mark")
        b.constrain(o * pub(ix.flagged(j)), f"liquidation orders: market {j} flagged")
        pos = acct.positions[1][j]
        qty = 1 + a[0] + _DIGIT * a[1]
        b.constrain(
            o * (pos.magnitude() - qty - c[0] - _DIGIT * c[1]),
            f"liquidation orders: quantity in market {j} at most the position",
        )
        calm_cap, protective_cap = caps[j]
        cap = calm_cap + breaker.protective(b, j) * (protective_cap - calm_cap)
        b.constrain(
            o * (cap - qty - k_[0] - _DIGIT * k_[1]),
            f"liquidation orders: quantity in market {j} at most the cap",
        )
        b.bus.receive(
            TAG_LIQ_ORDER,
            [row, const(codes[j]), LIQUIDATION_FLAGS + pos.sign, qty],
            o,
            f"liquidation orders: the account's order in market {j}",
        )
        count = count + o
    orders = b.existing("health.staged_orders")
    b.constrain(orders - count, "liquidation orders: one per market with an order")
    hdr = {n: b.existing(f"hdr.{n}") for n in ("r2", "tree", "kind", "acct", "mcode")}
    flags, quantity = b.existing("hdr.flags"), b.existing("hdr.qty")
    b.bus.send(
        TAG_LIQ_ORDER,
        [hdr["acct"], hdr["mcode"], flags, quantity],
        hdr["r2"] * hdr["tree"] * hdr["kind"],
        "liquidation orders: a post-state liquidation order's content",
    )
    _declare_limits(b, statement, hdr["r2"] * hdr["tree"] * hdr["kind"], codes)
    _declare_ids(b)


def _declare_ids(b: AirBuilder) -> None:
    """Each post-state liquidation record's id is the rule's (module docstring)."""
    block = [b.existing(f"hdr.b{k}") for k in range(RATE)]
    cap = [b.existing(f"hdr.c{k}") for k in range(WIDTH - RATE)]
    out = [b.existing(f"hdr.o{k}") for k in range(WIDTH)]
    mcode, account = b.existing("hdr.mcode"), b.existing("hdr.fc0")
    id0, id1 = b.column(SECTION, "id0"), b.column(SECTION, "id1")
    b.boolean(id0, "liquidation ids: id0")
    b.boolean(id1, "liquidation ids: id1")
    b.constrain(id1.next - id0, "liquidation ids: the second row follows the first")
    b.boundary(0, id1, "liquidation ids: no second row first")
    b.boundary(-1, id0, "liquidation ids: no first row last")
    preimage: list[Expr] = [const(LIQUIDATION_DOMAIN), pub(0), pub(1), pub(2), mcode]
    preimage += [const(0)] * (RATE - len(preimage))
    for k, want in enumerate(preimage):
        b.constrain(id0 * (block[k] - want), f"liquidation ids: preimage element {k}")
    for k, c in enumerate(cap):
        want_c = _ID_ELEMENTS if k == 0 else 0
        b.constrain(id0 * (c - want_c), f"liquidation ids: initial capacity {k}")
        b.constrain(id0 * (c.next - out[RATE + k]), f"liquidation ids: capacity {k} chained")
    b.constrain(id0 * (mcode.next - mcode), "liquidation ids: the market code carried")
    b.permutation([*block, *cap], out, id0 + id1)
    b.bus.send(
        TAG_ACCOUNT_ADDR, [account, *block], id1, "liquidation ids: the trader and subaccount"
    )
    b.bus.send(TAG_LIQ_ID, [account, mcode, *out[:RATE]], id1, "liquidation ids: a digest")
    hdr = {n: b.existing(f"hdr.{n}") for n in ("r0", "r2", "tree", "kind", "acct")}
    b.bus.receive(
        TAG_LIQ_ID,
        [hdr["acct"], mcode, *block],
        hdr["r2"] * hdr["tree"] * hdr["kind"],
        "liquidation ids: a post-state liquidation order's id is its digest",
    )
    b.constrain(
        hdr["r0"] * hdr["tree"] * hdr["kind"] * block[RATE - 1],
        "liquidation ids: id_high is 0",
    )


def _declare_limits(
    b: AirBuilder, statement: BatchStatement, g: Expr, codes: tuple[int, ...]
) -> None:
    """Each post-state liquidation record's limit (its id row, where ``g`` is 1): the
    tighter of mark ∓ and index ∓ ``max_slippage_bps`` (module docstring)."""
    m = len(statement.markets)
    slips = statement.liquidation_slippage
    if len(slips) != m or not all(0 <= v <= _MAX_SLIPPAGE for v in slips):
        raise ValueError(
            f"liquidation slippage: expected one per market in [0, {_MAX_SLIPPAGE}] bps, "
            f"got {slips}"
        )
    settle = PUBLIC_HEADER + PUBLIC_PER_MARKET * m

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    def digits(name: str, count: int, top_bits: int = 12) -> tuple[list[Column], Expr]:
        return range_digits(b, SECTION, "liquidation limits", name, count, top_bits)

    mark, index, slip = c("mark"), c("index"), c("slip")
    sel_mark: Expr = const(0)
    sel_index: Expr = const(0)
    sel_slip: Expr = const(0)
    for j in range(m):
        lj = lagrange(b.existing("hdr.mcode"), codes, j)
        at = settle + _margin_at(statement, j)
        sel_mark = sel_mark + lj * pub(at)
        sel_index = sel_index + lj * pub(at + 1)
        sel_slip = sel_slip + lj * slips[j]
    b.constrain(g * (mark - sel_mark), "liquidation limits: the record's market's mark")
    b.constrain(g * (index - sel_index), "liquidation limits: the record's market's index")
    b.constrain(g * (slip - sel_slip), "liquidation limits: the record's market's slippage")
    buy = b.existing("hdr.flags") - LIQUIDATION_FLAGS
    b.constrain(g * buy * (1 - buy), "liquidation limits: a buy or a sell")
    # the reference: the lower of mark and index for a buy, the higher for a sell
    w = c("w")
    b.boolean(w, "liquidation limits: w")
    _, gap = digits("gap", 3, _TOP_BITS)
    sigma = 1 - 2 * buy
    b.constrain(
        g * ((2 * w - 1) * sigma * (mark - index) - (1 - w) - gap),
        "liquidation limits: the tighter reference",
    )
    _, x = digits("x", 3, _TOP_BITS)
    b.constrain(g * (x - w * mark - (1 - w) * index), "liquidation limits: the reference")
    # t = ⌊x·slip / 10 000⌋: x·slip = 10 000·t + r, 0 ≤ r ≤ 9 999, by 12-bit digits
    xd = [b.existing(f"{SECTION}.x[{k}]") for k in range(3)]
    td, t = digits("t", 3)
    _, r = digits("r", 2)
    _, room = digits("room", 2)
    b.constrain(g * (r + room - (BPS - 1)), "liquidation limits: the remainder below 10 000")
    carry: list[Expr] = []
    for i in range(2):
        lo, hi = c(f"carry{i}.lo"), c(f"carry{i}.hi")
        b.bus.send(TAG_RANGE, [lo], 1, f"liquidation limits: carry {i} low digit")
        b.bus.send(TAG_RANGE, [hi * (1 << (2 * 12 - CARRY_BITS))], 1,
                   f"liquidation limits: carry {i} high digit")  # fmt: skip
        carry.append(carry_value(lo, hi))
    for k in range(3):
        e = xd[k] * slip - BPS * td[k] + (carry[k - 1] if k else -r)
        if k < 2:
            e = e - _DIGIT * carry[k]
        b.constrain(g * e, f"liquidation limits: slippage rounded down (digit {k})")
    # a buy: x + t, at most MAX_TICKS; a sell: x − t (at least 1 tick: t ≤ x/2)
    cl = c("clamp")
    b.boolean(cl, "liquidation limits: clamp")
    up = x + t
    _, over = digits("over", 3, _TOP_BITS)
    b.constrain(g * ((1 - 2 * cl) * (MAX_TICKS - up) - cl - over), "liquidation limits: the clamp")
    limit = b.existing("hdr.limit")
    b.constrain(
        g * (limit - buy * (cl * MAX_TICKS + (1 - cl) * up) - (1 - buy) * (x - t)),
        "liquidation limits: the limit is the rule's",
    )


def generate(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the section (after the health section and the headers).

    Raises:
        ValueError: (with ``refuse``) a post-state liquidation order the rule's content
            does not allow (named: market, side and flags, quantity, one per market).
    """
    post, sw = statement.post, statement.settle_witness
    m = len(statement.markets)
    index = {name: j for j, name in enumerate(statement.markets)}
    margins = statement.settle.margins
    n = tb.num_rows
    o = np.zeros((m, n), np.int64)
    digits = np.zeros((m, 3, 2, n), np.int64)
    for r, sub, liq in pending_orders(post):
        if not liq:
            continue
        order = r.order
        key = AccountKey(r.trader, sub)
        j = index.get(order.market)
        a = post.row(key) if post.has(key) else None
        if j is None or a is None:
            if refuse:
                raise ValueError(
                    f"liquidation orders: order 0x{r.order_id.hex()} in {order.market!r} of "
                    f"account {key.address}/{key.subaccount}: expected a market of the batch "
                    "and an account of the post-state"
                )
            continue
        pos = int(sw.positions_post[a, j])
        cap = slice_cap(statement, j)
        problem = None
        if pos == 0 or margins[j].mark <= 0 or margins[j].flagged:
            problem = "a market with a position, a mark and an unflagged oracle"
        elif order.side is not (Side.BUY if pos < 0 else Side.SELL):
            problem = "the side that closes the position"
        elif not (order.reduce_only and order.limit_price is not None) or (
            order.time_in_force is not TimeInForce.IOC
        ):
            problem = "a reduce-only IOC limit order"
        elif not 1 <= order.quantity <= min(abs(pos), cap):
            problem = f"a quantity between 1 and min(|position| {abs(pos)}, cap {cap})"
        elif o[j, a]:
            problem = "one order per account and market"
        if problem is not None:
            if refuse:
                raise ValueError(
                    f"liquidation orders: account row {a}'s order in {order.market}: "
                    f"expected {problem}, got {order.side.name} {order.quantity} lots "
                    f"(position {pos})"
                )
            if not 1 <= order.quantity < 1 << 24:
                continue  # the forged record's lookup cannot balance
        o[j, a] += 1
        q = order.quantity
        for i, v in enumerate((q - 1, abs(pos) - q, cap - q)):
            v %= 1 << 24  # a forged one: out of the digits' range, or off the identity
            digits[j, i, :, a] = two_digits(v)
    sends: list[np.ndarray] = []
    for j in range(m):
        tb.set(SECTION, f"o{j}", o[j])
        for i, name in enumerate(("a", "c", "k")):
            for k in range(2):
                tb.set(SECTION, f"{name}{j}[{k}]", digits[j, i, k])
                sends.append(digits[j, i, k])
    tb.count_range(np.concatenate(sends))
    _generate_limits(tb, statement, refuse=refuse)
    if refuse:
        _check_ids(statement)


def _check_ids(statement: BatchStatement) -> None:
    """Raise ValueError naming the first post-state liquidation order whose id is not
    ``liquidation_order_id`` of this batch, its account and its market."""
    batch_id = statement.post.batch_id
    for lo in statement.post.pending_liquidations:
        want = liquidation_order_id(batch_id, lo.account, lo.resting.order.market)
        if lo.resting.order_id != want:
            raise ValueError(
                f"liquidation ids: the order of {lo.account.address}/{lo.account.subaccount} "
                f"in {lo.resting.order.market}: expected the id 0x{want.hex()} (batch "
                f"{batch_id}, its account and market), got 0x{lo.resting.order_id.hex()}"
            )


def generate_ids(tb: TraceBuilder, statement: BatchStatement) -> None:
    """Write the id rows after the state headers' block rows (right after the headers
    section, before any section that reads the headers' columns on every row); the
    digests are the rule's whatever the records hold (:func:`generate` refuses a record
    whose id is not).

    Raises:
        ValueError: more id rows than the trace has.
    """
    post = statement.post
    orders = post.pending_liquidations
    if not orders:
        return
    start = int(np.count_nonzero(tb.get("hdr", "on")))
    if start + 2 * len(orders) >= tb.num_rows:
        raise ValueError(
            f"liquidation ids: expected {2 * len(orders)} rows after row {start}, "
            f"the trace has {tb.num_rows}"
        )
    batch_id = statement.post.batch_id
    elements = [liquidation_id_elements(batch_id, lo.account, lo.resting.order.market)
                for lo in orders]  # fmt: skip
    ins = np.zeros((2 * len(orders), WIDTH), np.uint64)
    outs = np.zeros((2 * len(orders), WIDTH), np.uint64)
    for i, el in enumerate(elements):
        ins[2 * i : 2 * i + 2], outs[2 * i : 2 * i + 2] = sponge_rows(el)
    tb.permute(ins)
    rows = np.arange(start, start + 2 * len(orders))
    for k in range(RATE):
        tb.get("hdr", f"b{k}")[rows] = ins[:, k]
    for k in range(WIDTH - RATE):
        tb.get("hdr", f"c{k}")[rows] = ins[:, RATE + k]
    for k in range(WIDTH):
        tb.get("hdr", f"o{k}")[rows] = outs[:, k] % np.uint64(P)
    accounts = [post.row(lo.account) if post.has(lo.account) else 0 for lo in orders]
    tb.get("hdr", "mcode")[rows] = np.repeat(ins[0::2, 4], 2)
    tb.get("hdr", "fc0")[rows[1::2]] = np.array(accounts, dtype=np.uint64)
    id0 = np.zeros(tb.num_rows, np.int64)
    id0[rows[0::2]] = 1
    tb.set(SECTION, "id0", id0)
    tb.set(SECTION, "id1", np.roll(id0, 1))
    # the accounts section receives each second row's address lookup on its row
    column = tb.get("acct", "orders")
    counts = np.bincount(np.array(accounts, dtype=np.int64), minlength=tb.num_rows)
    column[:] = (column + counts[: tb.num_rows].astype(np.uint64)) % np.uint64(P)


def _limit_witness(mark: int, index: int, slip: int, buy: bool) -> dict[str, int]:
    """The limit columns' honest values for one record (``limit`` the rule's limit)."""
    tighter = min(mark, index) if buy else max(mark, index)
    w = int(tighter == mark) if mark != index else 1
    sigma = -1 if buy else 1
    gap = (2 * w - 1) * sigma * (mark - index) - (1 - w)
    x = mark if w else index
    t, r = divmod(x * slip, BPS)
    up = x + t
    cl = int(buy and up > MAX_TICKS)
    over = (1 - 2 * cl) * (MAX_TICKS - up) - cl
    out = {"mark": mark, "index": index, "slip": slip, "w": w, "clamp": cl}
    for name, value, count in (("gap", gap, 3), ("x", x, 3), ("t", t, 3), ("r", r, 2),
                               ("room", BPS - 1 - r, 2), ("over", over, 3)):  # fmt: skip
        for k in range(count):
            out[f"{name}[{k}]"] = (value >> (12 * k)) % _DIGIT
    xd = [(x >> (12 * k)) % _DIGIT for k in range(3)]
    td = [(t >> (12 * k)) % _DIGIT for k in range(3)]
    sums = [xd[k] * slip - BPS * td[k] - (r if k == 0 else 0) for k in range(3)]
    carry = carries(np.array([[v] for v in sums], dtype=np.int64))
    lo, hi = carry_columns(carry)
    for i in range(2):
        out[f"carry{i}.lo"], out[f"carry{i}.hi"] = int(lo[i, 0]), int(hi[i, 0])
    out["limit"] = min(MAX_TICKS, up) if buy else x - t
    return out


def _generate_limits(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool) -> None:
    """Write the limit columns on each post-state liquidation record's id row.

    Raises:
        ValueError: (with ``refuse``) a record whose limit is not the rule's.
    """
    post = statement.post
    m = len(statement.markets)
    index = {name: j for j, name in enumerate(statement.markets)}
    margins = statement.settle.margins
    g = (tb.get("hdr", "r2") == 1) & (tb.get("hdr", "tree") == 1) & (tb.get("hdr", "kind") == 1)
    rows = np.flatnonzero(g)
    names = ["mark", "index", "slip", "w", "clamp", "carry0.lo", "carry0.hi", "carry1.lo",
             "carry1.hi"]  # fmt: skip
    names += [f"{n}[{k}]" for n, count in (("gap", 3), ("x", 3), ("t", 3), ("r", 2),
              ("room", 2), ("over", 3)) for k in range(count)]  # fmt: skip
    values = {n: np.zeros(tb.num_rows, np.int64) for n in names}
    for row, lo in zip(rows, post.pending_liquidations, strict=False):
        order = lo.resting.order
        j = index.get(order.market)
        if j is None or margins[j].mark <= 0:
            continue  # refused by the content check (a market of the batch with a mark)
        # the public inputs' mark and index price (which the margin terms hold, and which
        # the constraints read)
        at = PUBLIC_HEADER + PUBLIC_PER_MARKET * m + _margin_at(statement, j)
        mark, index_mark = (int(v) for v in statement.public_inputs[at : at + 2])
        buy = order.side is Side.BUY
        wit = _limit_witness(mark, index_mark, statement.liquidation_slippage[j], buy)
        if refuse and order.limit_price != wit["limit"]:
            raise ValueError(
                f"liquidation limits: a liquidation order in {order.market} "
                f"({order.side.name}): expected the limit {wit['limit']} (mark {mark}, "
                f"index {index_mark}, slippage "
                f"{statement.liquidation_slippage[j]} bps), got {order.limit_price}"
            )
        for n in names:
            values[n][row] = wit[n]
    for n in names:
        tb.set(SECTION, n, values[n])
    top = ("gap[2]", "x[2]", "over[2]")
    ranged = [values[n] for n in names if ("[" in n and n not in top) or n.endswith(".lo")]
    ranged += [values[n] * 64 for n in names if n.endswith(".hi") or n in top]
    tb.count_range(np.concatenate(ranged))
