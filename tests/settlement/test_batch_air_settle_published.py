"""The batch AIR on published folders: a post-state the transition does not produce is
refused by the prover, and its trace rejected by the settlement statement it breaks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from sealbatch.crypto.air import ConstraintViolation
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.settle_witness import replay_published, settle_inputs
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.snapshot import config_from_dict
from tests.settlement.batch_air_helpers import (
    check_all,
    republish,
    small_batch_files,
    statement_of,
)


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return small_batch_files()


def _moved_collateral(post: LedgerState) -> LedgerState:
    c = post.collateral.copy()
    c[0] += 10_000
    c[1] -= 10_000
    return post.with_arrays(collateral=c)


def _fee_pool_grown(post: LedgerState) -> LedgerState:
    return post.with_arrays(fee_pool=post.fee_pool + 10_000)


def _position_moved(post: LedgerState) -> LedgerState:
    p = post.positions.copy()
    p[0, 0] += 1
    p[1, 0] -= 1
    return post.with_arrays(positions=p)


def test_the_published_batch_satisfies_the_settlement_sections(files: dict[str, str]) -> None:
    statement = statement_of(files)
    assert statement.settle.n_post == statement.post.size and statement.settle_witness.fills
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)


@pytest.mark.parametrize(
    ("change", "caught_by", "cheat_caught_by"),
    [
        (_moved_collateral, "statement 6: state root 1", "bus"),
        (_position_moved, "statement 6: state root 1", "bus"),
        (_fee_pool_grown, "statement 5", "statement 5"),
    ],
)
def test_a_forged_post_state_is_rejected(
    files: dict[str, str],
    change: Callable[[LedgerState], LedgerState],
    caught_by: str,
    cheat_caught_by: str,
) -> None:
    """The operator publishes a post-state the batch does not produce (with its root).

    Proved from the replayed transition, the trace's post-state root is not the
    published one (statement 6); a prover that lays the published post-state into the
    trace instead needs an adjustment that explains it, which the verifier's adjustments
    table (its replay: none) does not send (statement 3's table, the bus). (A fee pool
    grown from nothing is refused by the prover either way: the fee pool moves by the
    fees alone, statement 5.)"""
    statement = statement_of(republish(files, change))
    with pytest.raises((ConstraintViolation, ValueError), match=caught_by):
        air, trace = generate(statement, rows_for(statement))
        check_all(air, trace)
    config = config_from_dict(json.loads(files["pre_state.json"])["config"])
    replayed = replay_published(files, statement.pre, config)
    forged = replace(replayed, post=statement.post, post_root=state_root(statement.post))
    _, cheat = settle_inputs(forged, config)
    with pytest.raises((ConstraintViolation, ValueError), match=cheat_caught_by):
        _, trace = generate(replace(statement, settle_witness=cheat), rows_for(statement))
        air, _ = build_with_layout(rows_for(statement), statement)  # the verifier's tables
        check_all(air, trace)
