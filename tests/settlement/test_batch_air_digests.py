"""The outputs digest recomputed in the batch AIR (``batch_air/digests.py``): the honest
sponge equals the public digest, and a published fill list that differs from the book's
fills and the fills settled — a fill changed, dropped, added, reordered, hidden past the
fill rows or moved to another order — is refused by the prover and rejected by the AIR
(``refuse=False``), naming the statement."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import hash_elements
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    check_all,
    refused_and_rejected,
    small_batch_files,
    statement_of,
    with_output_blocks,
)
from tests.settlement.conftest import TRADERS

_DIGEST = slice(35, 43)


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return small_batch_files(forfeit_at=(1,))


@pytest.fixture(scope="module")
def statement(files: dict[str, str]) -> BatchStatement:
    return statement_of(files)


def _published(statement: BatchStatement, blocks: list[tuple[int, ...]]) -> BatchStatement:
    return with_output_blocks(statement, blocks)


def _with_count(block: tuple[int, ...], fills: int) -> tuple[int, ...]:
    return (*block[:5], fills, *block[6:])


def _records(statement: BatchStatement) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The published fill records: (order id block, fill block) per fill."""
    blocks = statement.output_blocks
    f = statement.output_fills
    return list(zip(blocks[1 : 1 + 2 * f : 2], blocks[2 : 2 + 2 * f : 2], strict=True))


def _with_records(
    statement: BatchStatement, records: list[tuple[tuple[int, ...], tuple[int, ...]]]
) -> list[tuple[int, ...]]:
    """The statement's blocks with ``records`` in place of its fill records."""
    blocks = statement.output_blocks
    rest = blocks[1 + 2 * statement.output_fills :]
    flat = [b for r in records for b in r]
    return [_with_count(blocks[0], len(records)), *flat, *rest]


def _refused_and_rejected(forged: BatchStatement, rejected: str) -> None:
    refused_and_rejected(forged, "outputs digest", rejected)


def test_the_public_digest_is_the_sponge_of_the_published_blocks(
    statement: BatchStatement,
) -> None:
    blocks = statement.output_blocks
    assert all(len(b) == 8 for b in blocks)
    header = blocks[0]
    assert header[1:4] == statement.public_inputs[0:3]  # batch id limbs
    assert header[4:8] == (2, statement.output_fills, 1, 0)  # markets, fills, forfeits, carried
    records = _records(statement)
    fills = [data[:5] for _, data in records]
    settled = [(f.account, f.market, int(f.buy), f.lots, f.price)
               for f in statement.settle_witness.fills]  # fmt: skip
    assert sorted(fills) == sorted(settled) and len(fills) == 8
    # each fill record names its order: the order's id, account, market, side and fill
    by_id = {o.id_elements(): o for o in statement.orders}
    for ident, data in records:
        o = by_id[ident]
        assert data == (o.account, o.market, o.is_buy, o.fill, o.fill_price, 0, 0, 0)
    digest = hash_elements([v for b in blocks for v in b])
    assert tuple(int(v) for v in digest) == statement.public_inputs[_DIGEST]


def test_honest_digest_rows_satisfy_the_air(statement: BatchStatement) -> None:
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)


def test_a_published_fill_at_another_price_is_rejected_by_s1_uniform_price_in_the_digest(
    files: dict[str, str],
) -> None:
    """result.json lists a BTC fill one tick off its clearing price (and the verifier
    hashes that): the fills section settles it at the public price, so the digest row's
    fill tuple is never sent."""
    result = json.loads(files["result.json"])
    result["markets"][BTC]["fills"][0]["price"] += 1
    forged = statement_of({**files, "result.json": json.dumps(result)})
    _refused_and_rejected(forged, "bus")


def test_a_dropped_fill_is_rejected_by_the_outputs_digest(statement: BatchStatement) -> None:
    """The published fills omit one that was settled: its settled fill tuple has no
    digest row to receive it."""
    records = _records(statement)
    _refused_and_rejected(_published(statement, _with_records(statement, records[:-1])), "bus")


def test_an_extra_fill_is_rejected_by_the_outputs_digest(statement: BatchStatement) -> None:
    """The published fills list one fill twice: the second record receives a fill the
    book never sent."""
    records = _records(statement)
    extra = _with_records(statement, [*records, records[0]])
    _refused_and_rejected(_published(statement, extra), "bus")


def test_a_fill_hidden_among_the_other_blocks_is_rejected_by_the_fill_count(
    statement: BatchStatement,
) -> None:
    """The trace absorbs the published blocks but marks the last fill's two rows as
    ordinary blocks: the header's fill count no longer matches the fills (and the forfeit
    after them no longer follows a fill)."""
    air, layout = build_with_layout(rows_for(statement), statement)
    _, trace = generate(statement, rows_for(statement))
    f = statement.output_fills
    fid = layout.column("odig", "fid")
    fill = layout.column("odig", "fill")
    count = layout.column("odig", "count")
    trace[fid, 2 * f - 1] = 0
    trace[fill, 2 * f] = 0
    trace[count, 2 * f - 1 :] -= np.uint64(1)
    rejected = r"outputs digest: (as many fills|forfeits follow)"
    with pytest.raises(ConstraintViolation, match=rejected):
        check_all(air, trace)


def test_fills_absorbed_in_another_order_miss_the_public_digest(
    statement: BatchStatement,
) -> None:
    """The same fills in another order hash to another digest than the verifier's."""
    records = _records(statement)
    assert len(records) >= 2 and records[0] != records[1]
    swapped = _with_records(statement, [records[1], records[0], *records[2:]])
    forged = replace(statement, output_blocks=tuple(swapped))
    _refused_and_rejected(forged, "outputs digest: output")


def test_a_changed_forfeit_record_misses_the_public_digest(statement: BatchStatement) -> None:
    """The blocks after the fills (forfeits, markets, carried) are bound by the digest
    (here an element the leaf does not read: a changed bond limb is S8's, below)."""
    blocks = list(statement.output_blocks)
    r = _forfeit_start(statement, 0) + 1  # sequence, quote flag, bond limbs, padding
    blocks[r] = (*blocks[r][:5], blocks[r][5] + 1, *blocks[r][6:])
    forged = replace(statement, output_blocks=tuple(blocks))
    _refused_and_rejected(forged, "outputs digest: output")


# ---- forfeits: the commitment tree's unrevealed leaves come from the digest rows


def _forfeit_start(statement: BatchStatement, i: int) -> int:
    return 1 + 2 * statement.output_fills + 3 * i


def _s8_refused_and_rejected(forged: BatchStatement, rejected: str = "bus") -> None:
    refused_and_rejected(forged, "S8 completeness", rejected)


def test_a_published_forfeit_of_another_commitment_is_caught_by_s8(
    statement: BatchStatement,
) -> None:
    """result.json names another commitment for the forfeit at receipt slot 1: its leaf
    is not the one under the commitment root."""
    blocks = list(statement.output_blocks)
    r = _forfeit_start(statement, 0)
    blocks[r] = ((blocks[r][0] + 1) % P, *blocks[r][1:])
    _s8_refused_and_rejected(_published(statement, blocks))


def test_a_forfeit_moved_to_another_receipt_slot_is_caught_by_s8(
    statement: BatchStatement,
) -> None:
    blocks = list(statement.output_blocks)
    r = _forfeit_start(statement, 0) + 1
    blocks[r] = (blocks[r][0] + 1, *blocks[r][1:])
    _s8_refused_and_rejected(_published(statement, blocks))


def test_a_dropped_forfeit_is_caught_by_s8(statement: BatchStatement) -> None:
    """result.json leaves out the forfeit: the tree still needs its leaf."""
    blocks = list(statement.output_blocks)
    r = _forfeit_start(statement, 0)
    header = (*blocks[0][:6], blocks[0][6] - 1, blocks[0][7])
    _s8_refused_and_rejected(_published(statement, [header, *blocks[1:r], *blocks[r + 3 :]]))


def test_an_extra_forfeit_is_caught_by_s8(statement: BatchStatement) -> None:
    """result.json lists the forfeit twice: its leaf is sent twice, the tree takes it once
    (the duplicate, which nothing charges, is also a waiver the rule does not give:
    statement 3 may catch it first)."""
    blocks = list(statement.output_blocks)
    r = _forfeit_start(statement, 0)
    header = (*blocks[0][:6], blocks[0][6] + 1, blocks[0][7])
    doubled = [header, *blocks[1 : r + 3], *blocks[r : r + 3], *blocks[r + 3 :]]
    _s8_refused_and_rejected(
        _published(statement, doubled), r"bus|statement 3: a forfeit is waived exactly"
    )


def test_a_forfeit_passed_off_as_an_rfq_quote_is_caught_by_s8(
    statement: BatchStatement,
) -> None:
    """Marking the order forfeit as an unrevealed quote would keep its leaf out of the tree."""
    blocks = list(statement.output_blocks)
    r = _forfeit_start(statement, 0) + 1
    blocks[r] = (blocks[r][0], 1, *blocks[r][2:])
    _s8_refused_and_rejected(_published(statement, blocks))


def test_forfeit_rows_not_counted_by_the_header_are_rejected(statement: BatchStatement) -> None:
    """The trace stops treating the forfeit's rows as a forfeit (its leaf unsent)."""
    air, layout = build_with_layout(rows_for(statement), statement)
    _, trace = generate(statement, rows_for(statement))
    r = _forfeit_start(statement, 0)
    for name in ("forfeit_a", "forfeit_b", "forfeit_c", "leaf", "leaf_c"):
        trace[layout.column("odig", name), r : r + 3] = 0
    trace[layout.column("odig", "forfeit_count"), r:] -= np.uint64(1)
    # (or the charge's range check, which the third row's flag gates, fails first)
    rejected = r"outputs digest: (as many forfeits|the market summaries follow)|odig: fdiff"
    with pytest.raises(ConstraintViolation, match=rejected):
        check_all(air, trace)


# ---- fill records: each names the order that took the fill (no verifier order table)


def test_fill_records_with_their_order_ids_swapped_are_rejected(
    statement: BatchStatement,
) -> None:
    """Two fills published under each other's order ids: each filled order row sends its
    id and its fill under its record's number, and the record names another order."""
    records = _records(statement)
    (id0, data0), (id1, data1) = records[0], records[1]
    assert id0 != id1 and data0 != data1
    swapped = _with_records(statement, [(id1, data0), (id0, data1), *records[2:]])
    _refused_and_rejected(_published(statement, swapped), "bus")


def test_a_fill_record_naming_no_order_is_rejected(statement: BatchStatement) -> None:
    """A fill record whose order id is no order of the book (its fill unchanged)."""
    records = _records(statement)
    ident, data = records[0]
    forged = [((ident[0] + 1) % P, *ident[1:]), data]
    blocks = _with_records(statement, [(forged[0], forged[1]), *records[1:]])
    _refused_and_rejected(_published(statement, blocks), "bus")


def test_a_fill_moved_to_another_order_of_the_same_account_is_rejected() -> None:
    """Trader 0 has two BTC buys; the one at 650,010 fills, the one at 640,000 does not.
    The publication credits the fill to the unfilled order: its record's fill (account,
    market, side, lots, price) is unchanged, only the order id differs — the book's filled
    order sends its own id under that record's number, so the bus does not balance."""
    t = TRADERS
    orders = [
        (t[0], Order(BTC, Side.BUY, 650_010, 5)),
        (t[0], Order(BTC, Side.BUY, 640_000, 1)),
        (t[1], Order(BTC, Side.SELL, 649_990, 5)),
        (t[2], Order(ETH, Side.BUY, None, 2)),
        (t[3], Order(ETH, Side.SELL, 350_000, 2)),
    ]
    statement = statement_of(small_batch_files(orders))
    by_id = {o.id_elements(): o for o in statement.orders}
    filled = next(o for o in statement.orders if o.market == 0 and o.is_buy and o.fill)
    other = next(
        o
        for o in statement.orders
        if o.account == filled.account and o.market == 0 and o.is_buy and not o.fill
    )
    records = _records(statement)
    moved = [(other.id_elements() if by_id[i] is filled else i, data) for i, data in records]
    assert moved != records
    _refused_and_rejected(_published(statement, _with_records(statement, moved)), "bus")


def test_every_bus_tag_is_distinct() -> None:
    """Tuples of different tags never balance each other only if no two tags share a value."""
    from sealbatch.settlement.batch_air import commitments, framework

    tags: dict[str, int] = {}
    for module in (framework, commitments):
        for name, value in vars(module).items():
            if name.startswith("TAG_") and isinstance(value, int):
                tags[name] = value
    assert "TAG_FILL_ORDER" in tags and "TAG_ORDER" not in tags
    assert len(set(tags.values())) == len(tags), sorted(tags.items(), key=lambda kv: kv[1])


# ---- the markets' summaries: code, public price, the book's volume and fill count


def _summary_row(statement: BatchStatement, j: int) -> int:
    forfeits = statement.output_blocks[0][6]
    return 1 + 2 * statement.output_fills + 3 * forfeits + j


def _summary_rejected(forged: BatchStatement, rejected: str) -> None:
    """Refused by the prover, and the AIR rejects the trace naming ``rejected``."""
    refused_and_rejected(forged, "market summary", rejected)


def _with_summary(statement: BatchStatement, j: int, k: int, delta: int) -> BatchStatement:
    """The statement whose result.json's market ``j`` summary has element ``k`` moved."""
    blocks = list(statement.output_blocks)
    r = _summary_row(statement, j)
    blocks[r] = tuple(v + delta if i == k else v for i, v in enumerate(blocks[r]))
    return _published(statement, blocks)


def test_the_summaries_are_the_markets_code_price_volume_and_fill_count(
    statement: BatchStatement,
) -> None:
    for j in range(len(statement.markets)):
        block = statement.output_blocks[_summary_row(statement, j)]
        mine = [o for o in statement.orders if o.market == j]
        volume = sum(o.fill for o in mine if o.is_buy)
        assert block[1:4] == (statement.prices[j], volume, sum(1 for o in mine if o.fill))


def test_a_summary_with_another_price_is_rejected(statement: BatchStatement) -> None:
    """result.json's summary of ETH says one tick more than the public clearing price."""
    _summary_rejected(_with_summary(statement, 1, 1, 1), "market summary: the public clearing")


@pytest.mark.parametrize(("k", "what"), [(2, "volume"), (3, "fill count")])
def test_a_summary_with_another_volume_or_fill_count_is_rejected(
    statement: BatchStatement, k: int, what: str
) -> None:
    """The BTC summary publishes one lot (or one fill) more than the book took: the
    market's last book row sends its own volume and fill count."""
    _summary_rejected(_with_summary(statement, 0, k, 1), "bus")


def test_a_summary_with_another_market_code_is_rejected(statement: BatchStatement) -> None:
    _summary_rejected(_with_summary(statement, 0, 0, 1), "market summary: the market's code")


def test_a_market_without_orders_publishes_no_volume() -> None:
    """ETH has no orders at all: its summary has no book row to check it against, so the
    AIR pins its volume and fill count to 0."""
    t = TRADERS
    orders = [(t[0], Order(BTC, Side.BUY, 650_010, 3)), (t[1], Order(BTC, Side.SELL, None, 3))]
    statement = statement_of(small_batch_files(orders))
    assert statement.order_counts == (2, 0)
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)
    for k, name in ((2, "volume"), (3, "fill count")):
        _summary_rejected(
            _with_summary(statement, 1, k, 1), f"market summary: no orders, no {name}"
        )


@pytest.mark.parametrize(
    ("j", "flag", "rejected"),
    [(1, 1, "market summary: has orders"), (0, 0, "market summary: orders, so has orders")],
)
def test_a_summary_flag_other_than_its_public_order_count_is_rejected(
    j: int, flag: int, rejected: str
) -> None:
    """Whether a market has orders comes from its public order count (so the program does
    not depend on which markets traded): a prover that says ETH (no orders) has some, to
    receive a summary no book row sends, or that BTC (orders) has none, to publish it
    without the book's volume, breaks the flag's constraints."""
    from sealbatch.settlement.batch_air.digests import SECTION

    t = TRADERS
    orders = [(t[0], Order(BTC, Side.BUY, 650_010, 3)), (t[1], Order(BTC, Side.SELL, None, 3))]
    statement = statement_of(small_batch_files(orders))
    assert statement.order_counts == (2, 0)
    _, layout = build_with_layout(rows_for(statement), statement)
    air, trace = generate(statement, rows_for(statement))
    row = int(np.flatnonzero(trace[layout.column(SECTION, "summary")])[j])
    trace[layout.column(SECTION, "has_orders"), row] = flag
    trace[layout.column(SECTION, "orders_inv"), row] *= flag  # has = orders · inv holds at 0
    with pytest.raises(ConstraintViolation, match=rejected):
        check_all(air, trace)
