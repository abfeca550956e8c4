"""The inputs digest recomputed in the batch AIR, and the transfers it carries reaching
their accounts.

The inputs digest (public inputs 27–34) is ``hash_elements`` over the rate-8 blocks of
docs/formats.md "Batch digests" (:func:`sealbatch.settlement.l1_statement.inputs_blocks`,
the exchange contract's own layout): three header blocks ``[0x5EA10006, batch_id×3,
round_id×3, 0]``, ``[timestamp_ms×3, 0×5]``, ``[oracle digest×8]``, then one record per
deposit, RFQ block and withdrawal, each starting with a block whose first element is
its tag: a deposit (tag 1) or withdrawal (tag 2) is ``[tag, amount digits×6, 0]``,
``[address×7, subaccount]``; an RFQ block (tag 3) is ``[3, market code, price,
quantity, 0×4]``, ``[block_id×8]``, ``[buyer×7, 0]``, ``[seller×7, 0]``.

Section ``idig`` has one row per block, from row 0: the row absorbs its block into the
sponge (one permutation from the Poseidon2 service, the capacity chained to the next
row) and the last block row's output is the public inputs digest. Statements
(constraint names start with ``inputs digest`` or ``statement 3``):

* the header: rows 0–2 are the header (``hdr``), row 0 holds the domain and the public
  batch id; the oracle round's blocks are absorbed as they are (its signatures are the
  contract's and the verifier's business);
* the parse: every later block row is exactly one of a record's head (``dep``, ``wd``,
  ``rfq``, its first element the tag) or the continuation its head forces (``addr``
  after a transfer's head, ``r2 … r4`` after an RFQ block's), so the blocks parse one
  way only — a prover cannot pass a deposit off as part of another record;
* the transfers (statement 3): a transfer's second row looks its account up by
  address, ``(TAG_ACCOUNT_ADDR, account, address×7, subaccount)`` (received by the
  account's row), and its head row sends each 12-bit digit ``d_k`` of its amount as
  ``(TAG_TRANSFERS, account, k)`` (deposits) or ``(account, 6 + k)`` (withdrawals) with
  multiplicity ``d_k``. The account's row receives ``(account, k)`` with multiplicity
  its column ``deposit[k]`` (:mod:`.accounts`), so ``deposit[k]`` is the sum of digit
  ``k`` over the account's deposits: every published transfer reaches its account,
  several of one account add up, none is dropped, moved or invented;
* the RFQ blocks (statement 3): an RFQ record's rows carry its market (a one-hot
  ``mk[j]``, the head's market code the market's), lots and block price (the head's,
  copied down) and ``ok``, which is 1 exactly when the market has a clearing price
  (the public one, non-zero: an inverse column proves it) — a block whose market did
  not trade fails and changes nothing. Where ``ok``, the buyer's row (``r3``) and the
  seller's (``r4``) look their account up by address, subaccount 0
  (``TAG_ACCOUNT_ADDR``), and each sends its fill ``(TAG_FILL, account, market, side,
  lots, clearing price, block price)`` to the settlement's fills section, which
  settles it like a book fill (fee, position, cash at the clearing price) and moves
  the block's price transfer ``(block price − clearing price) × lots × multiplier``
  from the buyer to the seller (:mod:`.fills`): every block is settled once, on the
  accounts it names, at its size and price. A block whose side has no account (the
  transition fails it too) cannot be proved: the AIR has no non-membership proof.

Why the sums do not wrap: the digits come from the preimage of the public digest,
which the verifier (or the contract) lays out from the published amounts, so each is
below 2^12; the section has at most :data:`MAX_ROWS` block rows and a transfer takes
two, so a digit sum stays below ``2^18 · 2^12 = 2^30 < p``, and the collateral identity's digit
positions stay below p in absolute value with it (docs/stark.md).
"""

from __future__ import annotations

import numpy as np

from sealbatch.auction.commitment import market_code
from sealbatch.crypto.air import Column, Expr, const, pub
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import RATE, WIDTH
from sealbatch.settlement.batch_air.framework import (
    TAG_ACCOUNT_ADDR,
    TAG_FILL,
    TAG_TRANSFERS,
    AirBuilder,
    TraceBuilder,
    sponge_rows,
)
from sealbatch.settlement.batch_air.limbs import AMOUNT_DIGITS
from sealbatch.settlement.batch_air.statement import (
    INPUTS_DOMAIN,
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
)
from sealbatch.settlement.l1_statement import BLOCK_TAG, DEPOSIT_TAG, WITHDRAWAL_TAG

__all__ = ["HEADER_BLOCKS", "MAX_ROWS", "SECTION", "declare", "generate", "rows_needed"]

SECTION = "idig"
#: Public-input positions (docs/stark.md "The batch AIR").
_BATCH_ID = 0
_INPUTS = 27
#: Blocks of the header: domain and batch id, round, oracle digest.
HEADER_BLOCKS = 3
#: The most block rows the section takes: the transfers' digit sums stay below 2^30.
MAX_ROWS = 1 << 19
_KINDS = ("dep", "wd", "addr", "rfq", "r2", "r3", "r4")
_RECORD_ROWS = {DEPOSIT_TAG: 2, WITHDRAWAL_TAG: 2, BLOCK_TAG: 4}


def rows_needed(statement: BatchStatement) -> int:
    """Rows (and permutations) the section needs: one per block of the inputs digest."""
    return len(statement.input_blocks)


def declare(b: AirBuilder, statement: BatchStatement) -> None:
    """Allocate the section's columns, constraints and bus interactions (both sides)."""

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    on, hdr = c("on"), c("hdr")
    kinds = {k: c(k) for k in _KINDS}
    account = c("account")
    sponge = b.sponge_columns(SECTION)
    block, cap, out = sponge

    for flag, name in ((on, "on"), (hdr, "hdr"), *((v, k) for k, v in kinds.items())):
        b.boolean(flag, f"inputs digest: {name}")
    b.constrain(on.next * (1 - on), "inputs digest: block rows first")
    b.boundary(-1, on, "inputs digest: the last row is past the blocks")
    if b.num_rows > MAX_ROWS:  # at most 2^19 block rows: the digit sums stay below 2^30
        b.boundary(MAX_ROWS, on, f"inputs digest: at most {MAX_ROWS} block rows")
    # the sponge: one permutation per row, the capacity chained to the next row
    b.sponge(sponge, on, on.next, "inputs digest: capacity {k}")
    end = on - on.next  # 1 on the last block row only (the rows are a prefix)
    for k in range(RATE):
        b.constrain(end * (out[k] - pub(_INPUTS + k)), f"inputs digest: output {k}")
    for k in range(1, WIDTH - RATE):
        b.boundary(0, cap[k], f"inputs digest: initial capacity {k}")
    # the header: rows 0, 1, 2 exactly
    for r in range(HEADER_BLOCKS):
        b.boundary(r, hdr - 1, f"inputs digest: header row {r}")
    b.boundary(HEADER_BLOCKS, hdr, "inputs digest: three header rows")
    b.constrain(hdr.next * (1 - hdr), "inputs digest: the header rows come first")
    b.boundary(0, block[0] - INPUTS_DOMAIN, "inputs digest: header domain")
    for k in range(3):
        b.boundary(0, block[1 + k] - pub(_BATCH_ID + k), f"inputs digest: header batch id {k}")
    # the parse: each block row is one kind; a head's tag, its continuation forced
    total = hdr + sum((v for v in kinds.values()), const(0))
    b.constrain(total - on, "inputs digest: each block row is one kind")
    dep, wd, addr = kinds["dep"], kinds["wd"], kinds["addr"]
    tagged = ((dep, DEPOSIT_TAG, "deposit"), (wd, WITHDRAWAL_TAG, "withdrawal"))
    for flag, tag, name in (*tagged, (kinds["rfq"], BLOCK_TAG, "RFQ block")):
        b.constrain(flag * (block[0] - tag), f"inputs digest: a {name} record's tag")
    head = dep + wd
    b.constrain(addr.next - head, "inputs digest: a transfer's address follows its head")
    for prev, nxt in (("rfq", "r2"), ("r2", "r3"), ("r3", "r4")):
        b.constrain(kinds[nxt].next - kinds[prev], f"inputs digest: RFQ block row {nxt}")
    # the RFQ blocks: market, lots, block price and whether it settles, on every row
    ok = _declare_blocks(b, statement, kinds, block, account)
    buyer, seller = kinds["r3"], kinds["r4"]
    # the transfers: the account by address, each digit of the amount to it (statement 3)
    b.constrain(head * (account.next - account), "statement 3: a transfer's one account")
    b.bus.send(
        TAG_ACCOUNT_ADDR,
        [account, *block],
        addr + ok * (buyer + seller),
        "statement 3: a transfer's or a block side's account by address",
    )
    for k in range(AMOUNT_DIGITS):
        b.bus.receive(  # a send of weight d_k (a send's selector is a bit)
            TAG_TRANSFERS,
            [account, const(k) + AMOUNT_DIGITS * wd],
            -(head * block[1 + k]),
            f"statement 3: a transfer's digit {k} to its account",
        )


def _declare_blocks(
    b: AirBuilder,
    statement: BatchStatement,
    kinds: dict[str, Column],
    block: list[Column],
    account: Column,
) -> Column:
    """The RFQ records' market, lots, block price and ``ok``, and each settled block's two
    fills to the fills section (statement 3); returns ``ok``."""

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    m = len(statement.markets)
    mk = [c(f"mk{j}") for j in range(m)]
    lots, price, ok, inv = c("lots"), c("block_price"), c("ok"), c("inv")
    rfq, r2, r3, r4 = (kinds[k] for k in ("rfq", "r2", "r3", "r4"))
    record = rfq + r2 + r3 + r4
    code: Expr = const(0)
    index: Expr = const(0)
    clearing: Expr = const(0)
    for j, (name, flag) in enumerate(zip(statement.markets, mk, strict=True)):
        b.boolean(flag, f"RFQ block: mk{j}")
        code = code + market_code(name) * flag
        index = index + j * flag
        clearing = clearing + pub(PUBLIC_HEADER + PUBLIC_PER_MARKET * j) * flag
    b.constrain(sum(mk, const(0)) - record, "RFQ block: one market on its rows, none elsewhere")
    b.constrain(rfq * (block[1] - code), "RFQ block: the market of its code")
    b.constrain(rfq * (block[3] - lots), "RFQ block: its lots")
    b.constrain(rfq * (block[2] - price), "RFQ block: its price")
    follow = r2.next + r3.next + r4.next  # the next row continues an RFQ record
    copied = [
        (lots, "lots"),
        (price, "price"),
        (ok, "ok"),
        *((f, f"mk{j}") for j, f in enumerate(mk)),
    ]
    for x, name in copied:
        b.constrain(follow * (x.next - x), f"RFQ block: {name} on each of its rows")
    b.boolean(ok, "RFQ block: ok")
    b.constrain(ok * (1 - record), "RFQ block: ok only on its rows")
    # ok = 1 exactly when its market has a clearing price: (1 − ok)·p = 0, ok·(p·inv − 1) = 0
    b.constrain((1 - ok) * clearing, "statement 3: a block in a market that traded settles")
    b.constrain(ok * (clearing * inv - 1), "statement 3: a block settles where its market traded")
    b.bus.send(
        TAG_FILL,
        [account, index, r3, lots, clearing, price, const(0)],
        ok * (r3 + r4),
        "statement 3: a block's fill to settlement",
    )
    return ok


def _parse(blocks: np.ndarray) -> dict[str, np.ndarray]:
    """The kind flags of each block row (the one parse the constraints allow).

    Raises:
        ValueError: a block that is not a record's head where one must start.
    """
    n = blocks.shape[0]
    flags = {k: np.zeros(n, np.int64) for k in ("hdr", *_KINDS)}
    flags["hdr"][: min(n, HEADER_BLOCKS)] = 1
    r = HEADER_BLOCKS
    while r < n:
        tag = int(blocks[r, 0])
        rows = _RECORD_ROWS.get(tag)
        if rows is None or r + rows > n:
            raise ValueError(f"inputs digest: expected a record's tag at block {r}, got {tag}")
        names: tuple[str, ...] = ("dep", "addr") if tag == DEPOSIT_TAG else ("wd", "addr")
        if tag == BLOCK_TAG:
            names = ("rfq", "r2", "r3", "r4")
        for i, name in enumerate(names):
            flags[name][r + i] = 1
        r += rows
    return flags


def _blocks_trace(
    tb: TraceBuilder,
    statement: BatchStatement,
    blocks: np.ndarray,
    flags: dict[str, np.ndarray],
    rows_of: dict[tuple[int, ...], int],
    accounts: np.ndarray,
    lookups: np.ndarray,
    *,
    refuse: bool,
) -> None:
    """Write the RFQ records' columns, their sides' accounts and address lookups.

    Raises:
        ValueError: (with ``refuse``) a block of an unknown market, a settled block whose
            side names no account, or blocks that are not the ones settled.
    """
    n = blocks.shape[0]
    m = len(statement.markets)
    codes = {market_code(name): j for j, name in enumerate(statement.markets)}
    mk = np.zeros((m, n), np.int64)
    lots, price, ok, inv = (np.zeros(n, np.int64) for _ in range(4))
    fills = []
    for r in (int(i) for i in np.flatnonzero(flags["rfq"])):
        j = codes.get(int(blocks[r, 1]))
        if j is None:
            if refuse:
                raise ValueError(f"inputs digest: the RFQ block at block {r} is of no market")
            continue
        clearing = statement.prices[j]
        rows = slice(r, r + 4)
        mk[j, rows] = 1
        lots[rows] = int(blocks[r, 3])
        price[rows] = int(blocks[r, 2])
        if not clearing:  # the market did not trade: the block fails, nothing settles
            continue
        ok[rows] = 1
        inv[rows] = pow(clearing, P - 2, P)
        for side, at in ((1, r + 2), (0, r + 3)):
            found = rows_of.get((*(int(v) for v in blocks[at, :7]), 0))
            if found is None and refuse:
                raise ValueError(f"inputs digest: the RFQ block at block {r} names no account")
            account = 0 if found is None else found
            accounts[at] = account
            lookups[account] += 1
            fills.append((account, j, side, int(lots[r]), clearing, int(price[r])))
    settled = sorted(
        (f.account, f.market, int(f.buy), f.lots, f.price, f.block_price)
        for f in statement.settle_witness.fills
        if f.block_price
    )
    if refuse and sorted(fills) != settled:
        raise ValueError("inputs digest: the published RFQ blocks are not the blocks settled")
    for j in range(m):
        tb.set(SECTION, f"mk{j}", mk[j])
    for name, values in (("lots", lots), ("block_price", price), ("ok", ok), ("inv", inv)):
        tb.set(SECTION, name, values)


def generate(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the section: absorb the inputs digest's blocks, resolve each transfer's
    account, and count the address lookups on the account rows (prover side).

    Raises:
        ValueError: more blocks than rows, a malformed preimage, or (with ``refuse``)
            blocks that do not hash to the public inputs digest, a transfer to no
            account, or transfers that are not the ones settled.
    """
    blocks = np.array(statement.input_blocks, dtype=np.uint64).reshape(-1, RATE)
    n = blocks.shape[0]
    if n + 1 > tb.num_rows or n > MAX_ROWS:
        raise ValueError(f"expected at most {min(tb.num_rows - 1, MAX_ROWS)} input blocks, got {n}")
    flags = _parse(blocks)
    sw = statement.settle_witness
    rows_of = {
        (*(int(v) for v in sw.address_limbs[r]), int(sw.subaccount[r])): r
        for r in range(len(sw.subaccount))
    }
    accounts = np.zeros(tb.num_rows, np.int64)
    lookups = np.zeros(tb.num_rows, np.int64)
    sums = np.zeros((len(sw.subaccount), 2 * AMOUNT_DIGITS), np.int64)
    for r in (int(i) for i in np.flatnonzero(flags["addr"])):
        found = rows_of.get(tuple(int(v) for v in blocks[r]))
        if found is None and refuse:
            raise ValueError(f"inputs digest: the transfer at block {r - 1} names no account")
        account = 0 if found is None else found
        accounts[r - 1 : r + 1] = account
        lookups[account] += 1
        base = AMOUNT_DIGITS * int(flags["wd"][r - 1])
        sums[account, base : base + AMOUNT_DIGITS] += blocks[r - 1, 1 : 1 + AMOUNT_DIGITS].astype(
            np.int64
        )
    settled = np.concatenate([sw.deposit_digits, sw.withdrawal_digits], axis=1)
    if refuse and not np.array_equal(sums, settled):
        raise ValueError("inputs digest: the published transfers are not the transfers settled")
    _blocks_trace(tb, statement, blocks, flags, rows_of, accounts, lookups, refuse=refuse)
    ins, outs = sponge_rows(blocks)
    digest = tuple(statement.public_inputs[_INPUTS : _INPUTS + RATE])
    if refuse and n and tuple(int(v) for v in outs[-1, :RATE]) != digest:
        raise ValueError("inputs digest: the published inputs do not hash to the digest")
    tb.set_sponge(SECTION, ins, outs)
    tb.set(SECTION, "on", np.ones(n, np.int64))
    for name, values in flags.items():
        tb.set(SECTION, name, values)
    tb.set(SECTION, "account", accounts)
    # added to the forfeits' lookups (the outputs digest's section counts those)
    tb.set("acct", "transfers", tb.get("acct", "transfers").astype(np.int64) + lookups)
