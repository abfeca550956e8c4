"""Statement S8, the order binding: each revealed order's commitment recomputed from its
own fields, and its trader bound to the account its fills settle to.

A revealed order's id is its commitment, ``hash_elements`` of 31 elements
(docs/formats.md "Commitments": domain, market code, flags, limit, quantity,
client id, salt, batch id, trader), and that id is its leaf under the
commitment root (:mod:`.commitments`). Here the AIR recomputes the hash, so the
commitment root (a public input) binds every revealed order's fields — the
verifier no longer supplies them.

Section ``chash``: **one sponge block per row**, four rows per revealed order
(31 elements are four rate-8 blocks), rows ``4g … 4g + 3`` for the ``g``-th
order, then padding (``on = 0``). A period-4 selector (a periodic column,
chosen by the AIR) names the block. Each row sends its permutation
``(rate ‖ capacity) → out`` to the Poseidon2 service; block 0's capacity is
``[31, 0, …]`` (the message length, as ``hash_elements``), each later
block's is the previous row's ``out[8:16]`` and the digest is block 3's
``out[0:8]``. Fixed by the AIR: element 0 (the domain tag), elements 21–23
(the batch id, public inputs 0–2) and the padding element 31 (zero). The
rows are tied to their book row by two bus tuples keyed by the order's
receipt sequence number (unique: it is the order's leaf index in the
commitment tree):

* block 0 receives ``(TAG_CFIELDS, seq, market code, flags, limit, quantity)``
  with ``limit = e3 + 2^24·e4`` and ``quantity = e5 + 2^24·e6`` — the very
  values the book row clears with (its market code comes from the public
  market table, its flags are its ``is_buy``, ``has_limit``, ``gtc`` and
  ``reduce_only`` bits) — and sends the right half of its leaf's inner
  compression, ``(TAG_CNODE, −2, 4·seq + 1, code, 0×7)`` (:mod:`.commitments`),
  with the market code it hashed;
* block 3 receives ``(TAG_CDIGEST, seq, account, digest×8)``: the book row's
  account and id, so the id is the hash of those fields; and it sends
  ``(TAG_ACCOUNT_ADDR, account, trader×7, 0)`` to the accounts section, which
  receives it on the account's row from its address limbs and subaccount — the
  fills of a revealed order settle on the trader's own subaccount 0, no
  other; and it sends the right half of the order's commitment-tree leaf,
  ``(TAG_CNODE, −1, 2·seq + 1, trader×7, bond)`` (:mod:`.commitments`), the
  trader limbs it hashed with the order's ``bond`` (a free element: the
  commitment root fixes it).

Salt and client id are free elements (the digest fixes them). Columns: ``on``,
``last`` (= ``on`` on block 3), ``seq``, ``acct``, ``bond``, 8 rate, 8 capacity
and 16 output columns: 37, against about 95 had the four blocks sat on the book row
(rows are cheaper than columns: a proof opens whole rows). Scale: four rows
and four permutations per revealed order (docs/stark.md "Layout and scale").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sealbatch.auction.commitment import (
    COMMITMENT_DOMAIN,
    COMMITMENT_PREIMAGE_SIZE,
    LIMB_BITS,
    address_limbs,
    limbs,
    market_code,
)
from sealbatch.crypto.air import Column, Expr, const, pub
from sealbatch.settlement.batch_air.commitments import HALF, HEAD, TAG_CNODE
from sealbatch.settlement.batch_air.framework import (
    TAG_ACCOUNT_ADDR,
    TAG_CDIGEST,
    TAG_CFIELDS,
    AirBuilder,
    TraceBuilder,
)
from sealbatch.settlement.batch_air.statement import BatchStatement, OrderRow

__all__ = [
    "BLOCKS",
    "SECTION",
    "declare",
    "declare_book",
    "generate",
    "permutations",
    "preimage",
]

SECTION = "chash"
#: Sponge blocks (rows, permutations) per revealed order.
BLOCKS = 4
_RATE = 8
_LIMB = 1 << LIMB_BITS


def permutations(statement: BatchStatement) -> int:
    """Rows (and permutations) the section needs: four per revealed order."""
    return BLOCKS * sum(o.revealed for o in statement.orders)


def declare_book(
    b: AirBuilder,
    rev: Column,
    seq: Column,
    ids: Sequence[Column],
    fields: Sequence[Expr],
    acct: Column,
) -> None:
    """The book row's two sends to its commitment's hash (where ``rev`` is 1).

    Args:
        fields: ``(market code, flags, limit, quantity)`` as the book row holds them.
    """
    b.bus.send(TAG_CFIELDS, [seq, *fields], rev, "S8 commitment: a revealed order's fields")
    b.bus.send(TAG_CDIGEST, [seq, acct, *ids], rev, "S8 commitment: its id and account")


def declare(b: AirBuilder) -> None:
    """The section's columns, constraints and bus tuples."""

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    on, last, seq, acct, bond = c("on"), c("last"), c("seq"), c("acct"), c("bond")
    rate = [c(f"e{k}") for k in range(_RATE)]
    cap = [c(f"c{k}") for k in range(_RATE)]
    out = [c(f"o{k}") for k in range(2 * _RATE)]
    first = b.periodic((1, 0, 0, 0))
    third = b.periodic((0, 0, 1, 0))
    fourth = b.periodic((0, 0, 0, 1))
    name = "S8 commitment hash"
    b.boolean(on, f"{name}: on")
    b.constrain(on.next * (1 - on), f"{name}: hash rows first, then padding")
    b.constrain((1 - fourth) * (on.next - on), f"{name}: an order's four rows all on or off")
    b.constrain(last - on * fourth, f"{name}: last = on at block 3")
    b.constrain((1 - fourth) * (seq.next - seq), f"{name}: one sequence number per order")
    # block 0: the domain tag, and the capacity [message length, 0, …]
    b.constrain(on * first * (rate[0] - COMMITMENT_DOMAIN), f"{name}: domain tag")
    b.constrain(on * first * (cap[0] - COMMITMENT_PREIMAGE_SIZE), f"{name}: length")
    for k in range(1, _RATE):
        b.constrain(on * first * cap[k], f"{name}: capacity starts at 0 [{k}]")
    # the sponge: each later block's capacity is the previous block's output
    for k in range(_RATE):
        b.constrain(
            on * (1 - fourth) * (cap[k].next - out[_RATE + k]), f"{name}: sponge chain [{k}]"
        )
    # block 2 ends with the batch id (public inputs 0–2); block 3's last element is 0
    for k in range(3):
        b.constrain(on * third * (rate[5 + k] - pub(k)), f"{name}: batch id limb {k}")
    b.constrain(last * rate[7], f"{name}: 31 elements")
    b.permutation([*rate, *cap], out, on)
    fields = [rate[1], rate[2], rate[3] + _LIMB * rate[4], rate[5] + _LIMB * rate[6]]
    b.bus.receive(TAG_CFIELDS, [seq, *fields], on * first, f"{name}: the order's fields")
    b.bus.send(
        TAG_CNODE,
        [const(HEAD), 4 * seq + 1, rate[1], *[const(0)] * 7],
        on * first,
        "S8 completeness: a revealed order's market code (its leaf's inner right half)",
    )
    b.bus.receive(TAG_CDIGEST, [seq, acct, *out[:8]], last, f"{name}: digest = the order's id")
    b.bus.send(
        TAG_ACCOUNT_ADDR,
        [acct, *rate[:7], const(0)],
        last,
        "S8 order binding: the trader's account",
    )
    b.bus.send(
        TAG_CNODE,
        [const(HALF), 2 * seq + 1, *rate[:7], bond],
        last,
        "S8 completeness: a revealed order's trader and bond (its leaf's right half)",
    )


def preimage(order: OrderRow, market: str, batch_id: int) -> list[int]:
    """The 31 commitment-preimage elements of a revealed book row (its own fields).

    Raises:
        ValueError: the row has no salt, or a field outside its limbs.
    """
    if order.salt is None:
        raise ValueError(f"order 0x{order.order_id.hex()}: expected its salt, got none")
    return [
        COMMITMENT_DOMAIN,
        market_code(market),
        order.flags(),
        *limbs(order.limit, 2),
        *limbs(order.quantity, 2),
        *limbs(order.client_id, 3),
        *limbs(int.from_bytes(order.salt, "big"), 11),
        *limbs(batch_id, 3),
        *address_limbs(order.trader),
    ]


def generate(
    tb: TraceBuilder, statement: BatchStatement, rows: Sequence[OrderRow], refuse: bool
) -> None:
    """Write the section: each revealed row's sponge, in receipt order (prover side).

    Raises:
        ValueError: with ``refuse``, a revealed order whose fields do not hash to its id
            (S8), or whose account row is not its trader's (S8 order binding).
    """
    revealed = sorted((o for o in rows if o.revealed), key=lambda o: o.sequence)
    n = len(revealed)
    if BLOCKS * n > tb.num_rows:
        raise ValueError(f"expected at most {tb.num_rows // BLOCKS} revealed orders, got {n}")
    if n == 0:
        return
    pre = np.zeros((n, BLOCKS * _RATE), np.uint64)
    for i, o in enumerate(revealed):
        market = statement.markets[o.market]
        pre[i, :COMMITMENT_PREIMAGE_SIZE] = preimage(o, market, statement.batch_id)
    state = np.zeros((n, 2 * _RATE), np.uint64)
    state[:, _RATE] = COMMITMENT_PREIMAGE_SIZE
    ins, outs = [], []
    for blk in range(BLOCKS):
        state[:, :_RATE] = pre[:, _RATE * blk : _RATE * (blk + 1)]
        ins.append(state.copy())
        out = tb.permute(state)
        outs.append(out)
        state = out.copy()
    digest = outs[-1][:, :_RATE]
    if refuse:
        for i, o in enumerate(revealed):
            if tuple(int(v) for v in digest[i]) != o.id_elements():
                raise ValueError(
                    f"S8 commitment: order 0x{o.order_id.hex()}'s fields, client id, salt, "
                    "trader and batch id do not hash to its id"
                )
        addresses = statement.settle_witness.address_limbs
        subaccounts = statement.settle_witness.subaccount
        for o in revealed:
            want = address_limbs(o.trader)
            if (
                not 0 <= o.account < len(subaccounts)
                or [int(v) for v in addresses[o.account]] != want
                or int(subaccounts[o.account])
            ):
                raise ValueError(
                    f"S8 order binding: order 0x{o.order_id.hex()}'s fills go to account row "
                    f"{o.account}, expected its trader {o.trader}'s subaccount 0"
                )
    # rows 4g + blk: interleave the blocks order by order
    m = BLOCKS * n
    state_in = np.stack(ins, axis=1).reshape(m, 2 * _RATE)
    state_out = np.stack(outs, axis=1).reshape(m, 2 * _RATE)
    tb.set(SECTION, "on", np.ones(m, np.int64))
    last = np.zeros(m, np.int64)
    last[BLOCKS - 1 :: BLOCKS] = 1
    tb.set(SECTION, "last", last)
    tb.set(SECTION, "seq", np.repeat([o.sequence for o in revealed], BLOCKS))
    tb.set(SECTION, "acct", np.repeat([o.account for o in revealed], BLOCKS))
    tb.set(SECTION, "bond", np.repeat([o.bond for o in revealed], BLOCKS))
    for k in range(_RATE):
        tb.set(SECTION, f"e{k}", state_in[:, k].astype(np.int64))
        tb.set(SECTION, f"c{k}", state_in[:, _RATE + k].astype(np.int64))
    for k in range(2 * _RATE):
        tb.set(SECTION, f"o{k}", state_out[:, k].astype(np.int64))
    # the accounts section receives each revealed order's address lookup on its row
    counts = np.bincount([o.account for o in revealed], minlength=tb.num_rows)[: tb.num_rows]
    tb.set("acct", "orders", counts)
