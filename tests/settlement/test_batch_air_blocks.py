"""RFQ blocks settled from the inputs digest's rows (``batch_air/inputs_digest.py``,
``batch_air/fills.py``): each published block's two fills reach the fills section from
its RFQ record (accounts by address, its market, lots, the clearing price and its block
price), and the price transfer ``(block price − clearing price) × lots × multiplier``
moves from the buyer to the seller; a block settled on another account, at another size
or price, dropped or settled twice is refused by the prover and rejected by the AIR
(``refuse=False``), the statement that catches it named."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import ConstraintViolation
from sealbatch.settlement.batch_air import inputs_digest
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.settle_witness import settle_inputs
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.l1_statement import BLOCK_TAG
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import PublishedBatch
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.snapshot import state_to_dict
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    check_all,
    refused_and_rejected,
    statement_of,
    transfer_batch_files,
)
from tests.settlement.conftest import TRADERS, key

#: Above the clearing price (the buyer pays the seller), and below it (the seller pays).
BLOCKS = (
    BlockTrade(bytes(range(32)), BTC, TRADERS[4], TRADERS[5], 651_000, 3, 1),
    BlockTrade(bytes(range(1, 33)), ETH, TRADERS[1], TRADERS[0], 349_000, 7, 1),
)


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return transfer_batch_files((), (), BLOCKS)


@pytest.fixture(scope="module")
def statement(files: dict[str, str]) -> BatchStatement:
    return statement_of(files)


def test_blocks_settle_from_the_inputs_rows_without_adjustments(
    statement: BatchStatement,
) -> None:
    sw = statement.settle_witness
    assert not statement.settle.has_adjustments and not sw.adjust_rows()
    heads = [b for b in statement.input_blocks if b[0] == BLOCK_TAG]
    assert len(heads) == len(BLOCKS)
    rows = rows_for(statement)
    air, trace = generate(statement, rows)
    check_all(air, trace)
    _, layout = build_with_layout(rows, statement)
    seller = statement.post.row(key(5))
    mult = DEFAULT_CONFIG.risk(BTC).multiplier
    paid = (651_000 - statement.prices[0]) * 3 * mult
    received = sum(
        int(trace[layout.column("acct", f"deposit[{k}]"), seller]) << (12 * k) for k in range(6)
    )
    assert paid > 0 and received == paid
    assert int(trace[layout.column("acct", "transfers"), seller]) == 1


def _forged(
    files: dict[str, str], statement: BatchStatement, blocks: Sequence[BlockTrade]
) -> BatchStatement:
    """The statement of a published post-state that settles ``blocks`` instead of the
    published ones (the verifier's inputs digest stays that of transfers.json), with the
    operator's witness for exactly that post-state."""
    published = PublishedBatch.from_files(files)
    honest = published.resettle(statement.pre, DEFAULT_CONFIG).witness
    witness = (
        replace(published, blocks=tuple(blocks)).resettle(statement.pre, DEFAULT_CONFIG).witness
    )
    post = witness.post
    assert post.collateral.tolist() != honest.post.collateral.tolist() or (
        post.positions.tolist() != honest.post.positions.tolist()
    )
    forged_files = {**files, "post_state.json": json.dumps(state_to_dict(post, DEFAULT_CONFIG))}
    forged = statement_of(forged_files)
    _, sw = settle_inputs(replace(witness, post=post, post_root=state_root(post)), DEFAULT_CONFIG)
    assert not any(sw.adjust)  # the forged blocks explain every account's change
    return replace(forged, settle_witness=sw)


def _refused_and_rejected(forged: BatchStatement, rejected: str) -> None:
    refused_and_rejected(forged, "the published RFQ blocks are not", rejected)


@pytest.mark.parametrize(
    "blocks",
    [
        (replace(BLOCKS[0], buyer=TRADERS[2]), BLOCKS[1]),
        (replace(BLOCKS[0], quantity=4), BLOCKS[1]),
        (replace(BLOCKS[0], price=652_000), BLOCKS[1]),
        (BLOCKS[1],),
        (BLOCKS[0], BLOCKS[0], BLOCKS[1]),
        (BLOCKS[0], replace(BLOCKS[1], buyer=TRADERS[0], seller=TRADERS[1])),
    ],
    ids=["another-account", "another-size", "another-price", "dropped", "twice", "sides-swapped"],
)
def test_a_block_settled_otherwise_than_published_is_caught_by_statement_3(
    files: dict[str, str], statement: BatchStatement, blocks: Sequence[BlockTrade]
) -> None:
    """The settled fills are not the ones the published blocks send: the fills section
    receives tuples nobody sent (the bus)."""
    forged = _forged(files, statement, blocks)
    assert forged.input_blocks == statement.input_blocks  # the published digest stays
    _refused_and_rejected(forged, "bus")


def _trace(statement: BatchStatement) -> tuple[object, np.ndarray, object]:
    rows = rows_for(statement)
    air, trace = generate(statement, rows)
    _, layout = build_with_layout(rows, statement)
    return air, trace, layout


def test_a_block_in_a_market_that_traded_cannot_be_passed_off_as_failed(
    statement: BatchStatement,
) -> None:
    """The prover marks the first block as failed (``ok = 0`` on its four rows) so that
    it settles nothing: its market has a clearing price."""
    air, trace, layout = _trace(statement)
    head = inputs_digest.HEADER_BLOCKS
    trace[layout.column("idig", "ok"), head : head + 4] = 0
    with pytest.raises(ConstraintViolation, match="statement 3: a block in a market that traded"):
        air.check_trace(trace)  # type: ignore[attr-defined]


def test_a_block_transfer_off_by_one_is_caught_by_statement_3(
    statement: BatchStatement,
) -> None:
    """The seller's fill row claims one unit more of the block's price transfer."""
    air, trace, layout = _trace(statement)
    rows = np.flatnonzero(trace[layout.column("fill", "block.transfer[0]")])
    assert rows.size == 4  # two blocks, two sides each
    trace[layout.column("fill", "block.transfer[0]"), rows[0]] += 1
    with pytest.raises(ConstraintViolation, match="statement 3: a block's transfer"):
        air.check_trace(trace)  # type: ignore[attr-defined]


def test_a_block_price_other_than_the_published_one_is_caught(
    statement: BatchStatement,
) -> None:
    """The prover copies a lower block price down the first block's rows than its head
    block publishes (the buyer pays less)."""
    air, trace, layout = _trace(statement)
    head = inputs_digest.HEADER_BLOCKS
    trace[layout.column("idig", "block_price"), head : head + 4] -= 1
    with pytest.raises(ConstraintViolation, match="RFQ block: its price"):
        air.check_trace(trace)  # type: ignore[attr-defined]
