"""The outputs digest recomputed in the batch AIR (``batch_air/digests.py``): the honest
sponge equals the public digest, and a published fill list that differs from the fills
settled — a fill changed, dropped, added, reordered or hidden past the fill rows — is
refused by the prover and rejected by the AIR (``refuse=False``), naming the statement."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import hash_elements
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.errors import BatchStatementError
from tests.settlement.batch_air_helpers import BTC, check_all, small_batch_files, statement_of

_DIGEST = slice(35, 43)


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return small_batch_files(forfeit_at=(1,))


@pytest.fixture(scope="module")
def statement(files: dict[str, str]) -> BatchStatement:
    return statement_of(files)


def _published(statement: BatchStatement, blocks: list[tuple[int, ...]]) -> BatchStatement:
    """The statement of a batch whose result.json lists ``blocks``: the verifier's digest
    (a public input) is the hash of exactly those blocks."""
    fills = blocks[0][5]
    digest = [int(v) for v in hash_elements([v for b in blocks for v in b])]
    public = list(statement.public_inputs)
    public[_DIGEST] = digest
    return replace(
        statement, output_blocks=tuple(blocks), output_fills=fills, public_inputs=tuple(public)
    )


def _with_count(block: tuple[int, ...], fills: int) -> tuple[int, ...]:
    return (*block[:5], fills, *block[6:])


def _refused_and_rejected(forged: BatchStatement, rejected: str) -> None:
    rows = rows_for(forged)
    with pytest.raises(BatchStatementError, match="outputs digest"):
        generate(forged, rows)
    air, trace = generate(forged, rows, refuse=False)
    with pytest.raises(ConstraintViolation, match=rejected):
        check_all(air, trace)


def test_the_public_digest_is_the_sponge_of_the_published_blocks(
    statement: BatchStatement,
) -> None:
    blocks = statement.output_blocks
    assert all(len(b) == 8 for b in blocks)
    header = blocks[0]
    assert header[1:4] == statement.public_inputs[0:3]  # batch id limbs
    assert header[4:8] == (2, statement.output_fills, 1, 0)  # markets, fills, forfeits, carried
    fills = [b[:5] for b in blocks[1 : 1 + statement.output_fills]]
    settled = [(f.account, f.market, int(f.buy), f.lots, f.price)
               for f in statement.settle_witness.fills]  # fmt: skip
    assert sorted(fills) == sorted(settled) and len(fills) == 8
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
    blocks = list(statement.output_blocks)
    f = statement.output_fills
    dropped = [_with_count(blocks[0], f - 1), *blocks[1:f], *blocks[f + 1 :]]
    _refused_and_rejected(_published(statement, dropped), "bus")


def test_an_extra_fill_is_rejected_by_the_outputs_digest(statement: BatchStatement) -> None:
    """The published fills list one fill twice: the second digest row receives a fill
    tuple the settlement never sent."""
    blocks = list(statement.output_blocks)
    f = statement.output_fills
    extra = [_with_count(blocks[0], f + 1), *blocks[1 : f + 1], blocks[1], *blocks[f + 1 :]]
    _refused_and_rejected(_published(statement, extra), "bus")


def test_a_fill_hidden_among_the_other_blocks_is_rejected_by_the_fill_count(
    statement: BatchStatement,
) -> None:
    """The trace absorbs the published blocks but marks the last fill row as an ordinary
    block: the header's fill count no longer matches the fill rows (and the forfeit after
    it no longer follows a fill)."""
    air, layout = build_with_layout(rows_for(statement), statement)
    _, trace = generate(statement, rows_for(statement))
    f = statement.output_fills
    fill = layout.column("odig", "fill")
    count = layout.column("odig", "count")
    trace[fill, f] = 0
    trace[count, f:] -= np.uint64(1)
    rejected = r"outputs digest: (as many fill rows|forfeits follow)"
    with pytest.raises(ConstraintViolation, match=rejected):
        check_all(air, trace)


def test_fills_absorbed_in_another_order_miss_the_public_digest(
    statement: BatchStatement,
) -> None:
    """The same fills in another order hash to another digest than the verifier's."""
    blocks = list(statement.output_blocks)
    f = statement.output_fills
    swapped = [blocks[0], blocks[2], blocks[1], *blocks[3:]]
    assert f >= 2 and swapped[1] != swapped[2]
    forged = replace(statement, output_blocks=tuple(swapped))
    _refused_and_rejected(forged, "outputs digest: output")


def test_a_changed_forfeit_record_misses_the_public_digest(statement: BatchStatement) -> None:
    """The blocks after the fills (forfeits, markets, carried) are bound by the digest."""
    blocks = list(statement.output_blocks)
    f = statement.output_fills
    forfeit = blocks[f + 3]  # bond limbs, quote flag
    blocks[f + 3] = (forfeit[0] - 1, *forfeit[1:])
    forged = replace(statement, output_blocks=tuple(blocks))
    _refused_and_rejected(forged, "outputs digest: output")


# ---- forfeits: the commitment tree's unrevealed leaves come from the digest rows


def _forfeit_start(statement: BatchStatement, i: int) -> int:
    return 1 + statement.output_fills + 3 * i


def _s8_refused_and_rejected(forged: BatchStatement) -> None:
    rows = rows_for(forged)
    with pytest.raises(BatchStatementError, match="S8 completeness"):
        generate(forged, rows)
    air, trace = generate(forged, rows, refuse=False)
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


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
    """result.json lists the forfeit twice: its leaf is sent twice, the tree takes it once."""
    blocks = list(statement.output_blocks)
    r = _forfeit_start(statement, 0)
    header = (*blocks[0][:6], blocks[0][6] + 1, blocks[0][7])
    doubled = [header, *blocks[1 : r + 3], *blocks[r : r + 3], *blocks[r + 3 :]]
    _s8_refused_and_rejected(_published(statement, doubled))


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
    for name in ("forfeit_a", "forfeit_b", "forfeit_c", "leaf"):
        trace[layout.column("odig", name), r : r + 3] = 0
    trace[layout.column("odig", "forfeit_count"), r:] -= np.uint64(1)
    with pytest.raises(ConstraintViolation, match="outputs digest: as many forfeits"):
        check_all(air, trace)
