"""The outputs digest recomputed in the batch AIR: a Poseidon2 sponge over the published
fills, one rate-8 block per row.

The outputs digest (public inputs 35–42) is ``hash_elements`` over the blocks of
docs/formats.md "Batch digests": a header block ``[0x5EA10005, batch_id×3, m,
fills, forfeits, carried]``, then one block per fill ``[account, market, is_buy,
lots, price, 0, 0, 0]``, then the rest of ``result.json`` (forfeits, the markets'
summaries, the carried orders), each record padded to whole blocks. Section
``odig`` has one row per block, from row 0: the row absorbs its block ``b`` into
the sponge — one permutation ``(b ‖ c) → o`` from the Poseidon2 service, the next
row's capacity ``c`` is this row's ``o[8:16]`` — and the last row's ``o[0:8]`` is
the public outputs digest. Statements (constraint names start with
``outputs digest``):

* the header: row 0's block is the domain, the public batch id and market count,
  and the number of fill rows (``fills``, counted down the section); row 0's
  capacity is ``[length, 0, …, 0]`` (the length word is not constrained: a prover
  who changes it changes the digest, like any other absorbed element);
* the fills: rows ``1 … fills`` (one run after the header) each **receive**
  ``(TAG_PUBLISHED_FILL, account, market, side, lots, price)`` from their block —
  the tuple each row of the settlement's fills section sends — so the fills
  settled are exactly the fill blocks of the published digest, none dropped,
  none added, none changed;
* the rest of the blocks are absorbed as they are: the digest binds them to the
  published ``result.json`` (the verifier hashes the same blocks), but nothing
  else in the AIR reads them yet.

Since the sponge's output is a public input the verifier computes from the
published files, the order of the blocks is the published one: a prover who
absorbs the fills in another order produces another digest.
"""

from __future__ import annotations

import numpy as np

from sealbatch.crypto.air import Column, pub
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import RATE, WIDTH, permute
from sealbatch.settlement.batch_air.framework import TAG_PUBLISHED_FILL, AirBuilder, TraceBuilder
from sealbatch.settlement.batch_air.statement import OUTPUTS_DOMAIN, BatchStatement

__all__ = ["SECTION", "declare", "generate", "rows_needed"]

SECTION = "odig"
#: Public-input positions (docs/stark.md "The batch AIR").
_BATCH_ID = 0
_OUTPUTS = 35
_MARKETS = 43
_FILL_WIDTH = 5


def rows_needed(statement: BatchStatement) -> int:
    """Rows (and permutations) the section needs: one per block of the outputs digest."""
    return len(statement.output_blocks)


def declare(b: AirBuilder, statement: BatchStatement) -> None:
    """Allocate the section's columns, constraints and bus interactions (both sides)."""

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    on, head, is_fill, count, fills = c("on"), c("head"), c("fill"), c("count"), c("fills")
    block = [c(f"b{k}") for k in range(RATE)]
    cap = [c(f"c{k}") for k in range(WIDTH - RATE)]
    out = [c(f"o{k}") for k in range(WIDTH)]

    b.boolean(on, "outputs digest: on")
    b.boolean(is_fill, "outputs digest: fill")
    b.constrain(on.next * (1 - on), "outputs digest: block rows first")
    b.boundary(0, on - 1, "outputs digest: the header block is absorbed")
    b.boundary(-1, on, "outputs digest: the last row is past the blocks")
    # the sponge: one permutation per row, the capacity chained to the next row
    b.permutation([*block, *cap], out, on)
    for k in range(WIDTH - RATE):
        b.constrain(on.next * (cap[k].next - out[RATE + k]), f"outputs digest: capacity {k}")
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
    # the fill rows: one run right after the header, exactly `fills` of them
    b.boundary(0, is_fill, "outputs digest: the header is not a fill")
    b.constrain(is_fill * (1 - on), "outputs digest: fills are block rows")
    b.constrain(is_fill.next * (1 - is_fill - head), "outputs digest: fills follow the header")
    b.constrain(fills.next - fills, "outputs digest: fill count is constant")
    b.boundary(0, count, "outputs digest: fill rows counted")
    b.constrain(count.next - count - is_fill.next, "outputs digest: fill rows counted")
    b.boundary(-1, count - fills, "outputs digest: as many fill rows as the header says")
    b.bus.receive(
        TAG_PUBLISHED_FILL, block[:_FILL_WIDTH], is_fill, "outputs digest: a settled fill"
    )


def generate(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the section: absorb the statement's output blocks in order (prover side).

    Raises:
        ValueError: more blocks than rows, or (with ``refuse``) blocks that do not hash
            to the public outputs digest, or fill blocks that are not the settled fills.
    """
    blocks = np.array(statement.output_blocks, dtype=np.uint64).reshape(-1, RATE)
    n, f = blocks.shape[0], statement.output_fills
    if n + 1 > tb.num_rows:
        raise ValueError(f"expected at most {tb.num_rows - 1} output blocks, got {n}")
    settled = sorted(
        (r.account, r.market, int(r.buy), r.lots, r.price) for r in statement.settle_witness.fills
    )
    published = sorted(tuple(int(v) for v in blk[:_FILL_WIDTH]) for blk in blocks[1 : 1 + f])
    if refuse and settled != published:
        raise ValueError("outputs digest: the published fills are not the fills settled")
    ins = np.zeros((n, WIDTH), np.uint64)
    outs = np.zeros((n, WIDTH), np.uint64)
    capacity = np.zeros(WIDTH - RATE, np.uint64)
    capacity[0] = RATE * n  # the sponge's length word (crypto/poseidon2.py)
    for r in range(n):
        ins[r, :RATE] = blocks[r]
        ins[r, RATE:] = capacity
        outs[r] = permute(ins[r : r + 1])[0]
        capacity = outs[r, RATE:]
    if (
        refuse
        and n
        and tuple(int(v) for v in outs[-1, :RATE])
        != tuple(statement.public_inputs[_OUTPUTS : _OUTPUTS + RATE])
    ):
        raise ValueError("outputs digest: the published outputs do not hash to the digest")
    tb.permute(ins)
    tb.set(SECTION, "on", np.ones(n, np.int64))
    tb.set(SECTION, "head", [1])
    fill_flag = np.zeros(n, np.int64)
    fill_flag[1 : 1 + f] = 1
    tb.set(SECTION, "fill", fill_flag)
    tb.set(SECTION, "count", np.cumsum(fill_flag), pad=f)
    tb.set(SECTION, "fills", [], pad=f)
    for k in range(RATE):
        tb.set(SECTION, f"b{k}", ins[:, k].astype(np.int64))
    for k in range(WIDTH - RATE):
        tb.set(SECTION, f"c{k}", ins[:, RATE + k].astype(np.int64))
    for k in range(WIDTH):
        tb.set(SECTION, f"o{k}", (outs[:, k] % np.uint64(P)).astype(np.int64))
