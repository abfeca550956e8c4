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
  several of one account add up, none is dropped, moved or invented.

Why the sums do not wrap: the digits come from the preimage of the public digest,
which the verifier (or the contract) lays out from the published amounts, so each is
below 2^12; the section has at most :data:`MAX_ROWS` block rows and a transfer takes
two, so a digit sum stays below ``2^18 · 2^12 = 2^30 < p``, and the collateral identity's digit
positions stay below p in absolute value with it (docs/stark.md).
"""

from __future__ import annotations

import numpy as np

from sealbatch.crypto.air import Column, const, pub
from sealbatch.crypto.poseidon2 import RATE, WIDTH
from sealbatch.settlement.batch_air.framework import (
    TAG_ACCOUNT_ADDR,
    TAG_TRANSFERS,
    AirBuilder,
    TraceBuilder,
    sponge_rows,
)
from sealbatch.settlement.batch_air.limbs import AMOUNT_DIGITS
from sealbatch.settlement.batch_air.statement import INPUTS_DOMAIN, BatchStatement
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
    # the transfers: the account by address, each digit of the amount to it (statement 3)
    b.constrain(head * (account.next - account), "statement 3: a transfer's one account")
    b.bus.send(
        TAG_ACCOUNT_ADDR, [account, *block], addr, "statement 3: a transfer's account by address"
    )
    for k in range(AMOUNT_DIGITS):
        b.bus.receive(  # a send of weight d_k (a send's selector is a bit)
            TAG_TRANSFERS,
            [account, const(k) + AMOUNT_DIGITS * wd],
            -(head * block[1 + k]),
            f"statement 3: a transfer's digit {k} to its account",
        )


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
    ins, outs = sponge_rows(blocks)
    digest = tuple(statement.public_inputs[_INPUTS : _INPUTS + RATE])
    if refuse and n and tuple(int(v) for v in outs[-1, :RATE]) != digest:
        raise ValueError("inputs digest: the published inputs do not hash to the digest")
    tb.set_sponge(SECTION, ins, outs)
    tb.set(SECTION, "on", np.ones(n, np.int64))
    for name, values in flags.items():
        tb.set(SECTION, name, values)
    tb.set(SECTION, "account", accounts)
    tb.set("acct", "transfers", lookups)
