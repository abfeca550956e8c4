"""An operator who drops, adds or alters a pending liquidation order or a GTC rest
between batches is caught by the chain of state roots: each published batch may be
consistent on its own, but ``sealbatch replay DIR`` names the difference."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sealbatch.auction.batch import RestingOrder
from sealbatch.settlement.ledger import LedgerState, LiquidationOrder
from sealbatch.settlement.publication import BATCH_FILES, BatchPublication, PublishedBatch
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.snapshot import (
    config_from_dict,
    state_from_dict,
    state_to_dict,
)
from sealbatch.settlement.transition import halted_markets, pending_carried_in
from sealbatch.venue.cli import main

# The default demo stages a liquidation order and carries GTC rests into batch 4.
LAST = 4


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--batches", str(LAST), "--no-prove", "--out", str(out)]) == 0
    pre = json.loads((out / f"batch-{LAST}" / "pre_state.json").read_text())
    assert pre["pending_liquidations"] and pre["resting_orders"]  # what the attacks move
    return out


@pytest.fixture
def chain(published: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(published, tmp_path / "chain"))


def _read(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text())


def _reissue(folder: Path, mutate: Callable[[LedgerState], LedgerState]) -> None:
    """Rewrite ``folder`` as a dishonest operator would: its pre-state's pending orders
    changed by ``mutate``, the batch re-cleared and re-settled on that pre-state, every
    file (roots included) made consistent with it."""
    files = {name: (folder / name).read_text() for name in BATCH_FILES}
    pre_doc = json.loads(files["pre_state.json"])
    config = config_from_dict(pre_doc["config"])
    batch = PublishedBatch.from_files(files)
    pre = state_from_dict(pre_doc, config)
    revealed, _ = batch.split_orders(pre)  # the batch's own orders, as published
    forged = mutate(pre)
    halted = halted_markets(forged, batch.oracle, batch.oracle_round.timestamp_ms)
    again = batch.resettle(
        forged, config, list(pending_carried_in(forged, halted).values()), revealed
    )
    pub = BatchPublication(
        again.result,
        batch.oracle_round,
        forged,
        again.post,
        batch.deposits,
        batch.blocks,
        batch.withdrawals,
    )
    for name, text in pub.files(config, batch.oracle).items():
        (folder / name).write_text(text)
    # The honest batch's proof is not a proof of the reissued one (a dishonest operator
    # would prove the reissued batch anew: it is consistent on its own).
    (folder / "proof.bin").unlink(missing_ok=True)


def _drop_liquidation(s: LedgerState) -> LedgerState:
    return replace(s, pending_liquidations=s.pending_liquidations[1:])


def _soften_liquidation(s: LedgerState) -> LedgerState:
    lo = s.pending_liquidations[0]
    smaller = replace(lo.resting, order=lo.resting.order.with_quantity(1))
    return replace(s, pending_liquidations=(LiquidationOrder(lo.account, smaller),))


def _drop_rest(s: LedgerState) -> LedgerState:
    return replace(s, resting_orders=s.resting_orders[1:])


def _move_rest(s: LedgerState) -> LedgerState:
    r = s.resting_orders[0]
    limit = r.order.limit_price or 1
    moved = replace(r, order=replace(r.order, limit_price=limit - 1 if limit > 1 else 2))
    return replace(s, resting_orders=(moved, *s.resting_orders[1:]))


def _add_rest(s: LedgerState) -> LedgerState:
    r = s.resting_orders[0]
    extra = RestingOrder(b"\x42" * 32, r.trader, r.order.with_quantity(1), r.origin_batch)
    return replace(s, resting_orders=(*s.resting_orders, extra))


ATTACKS = {
    "drop_liquidation": (_drop_liquidation, ".pending_liquidations"),
    "soften_liquidation": (_soften_liquidation, ".pending_liquidations[0].quantity"),
    "drop_rest": (_drop_rest, ".resting_orders[0]"),
    "move_rest": (_move_rest, ".resting_orders[0].limit_price"),
    "add_rest": (_add_rest, ".resting_orders"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_reissued_batch_replays_alone_but_the_chain_names_the_pending_order(
    chain: Path, attack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mutate, field = ATTACKS[attack]
    honest_pre = _read(chain / f"batch-{LAST}", "pre_state.json")
    _reissue(chain / f"batch-{LAST}", mutate)
    forged_pre = _read(chain / f"batch-{LAST}", "pre_state.json")
    # On its own the forged batch is consistent: its pre-root is recomputed from its
    # own fields. That root is not the previous batch's post-root (the anchored one).
    assert forged_pre["state_root"] != honest_pre["state_root"]
    assert main(["replay", str(chain / f"batch-{LAST}")]) == 0
    capsys.readouterr()
    assert main(["replay", str(chain)]) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith(f"batch {LAST} "))
    assert f"MISMATCH chain: pre_state.json is not batch-{LAST - 1}'s recomputed post-state" in line
    assert field in line and "published" in line and "recomputed" in line
    for n in range(1, LAST):  # the honest batches still replay
        assert any(
            ln.startswith(f"batch {n} ") and "replays exactly" in ln for ln in out.splitlines()
        )


def test_dropping_a_pending_order_from_orders_csv_is_named(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = chain / f"batch-{LAST}"
    liquidation = _read(folder, "pre_state.json")["pending_liquidations"][0]["order_id"]
    lines = (folder / "orders.csv").read_text().splitlines()
    kept = [ln for ln in lines if not ln.startswith(liquidation)]
    assert len(kept) == len(lines) - 1
    (folder / "orders.csv").write_text("\n".join(kept) + "\n")
    assert main(["replay", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "orders.csv carried-in orders" in out
    assert f"pre_state.json's liquidation order {liquidation}" in out and "not in orders.csv" in out


def test_a_post_state_hiding_a_staged_liquidation_fails_its_own_replay(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The operator publishes batch 3's post-state without the liquidation order the
    batch staged (its root recomputed to match): replay recomputes the order."""
    folder = chain / f"batch-{LAST - 1}"
    doc = _read(folder, "post_state.json")
    assert doc["pending_liquidations"]
    config = config_from_dict(doc["config"])
    hidden = replace(state_from_dict(doc, config), pending_liquidations=())
    forged = state_to_dict(hidden, config)
    assert forged["state_root"] == "0x" + state_root(hidden).hex() != doc["state_root"]
    (folder / "post_state.json").write_text(json.dumps(forged))
    assert main(["replay", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "post_state.json" in out
    assert "MISMATCH .pending_liquidations: published 0 entries, recomputed 1" in out


def _ground_id(s: LedgerState) -> LedgerState:
    """The first pending liquidation order under another id (one an operator grinding
    tie-break keys might pick)."""
    lo = s.pending_liquidations[0]
    resting = replace(
        lo.resting, order_id=bytes([lo.resting.order_id[0] ^ 1]) + lo.resting.order_id[1:]
    )
    return replace(
        s, pending_liquidations=(LiquidationOrder(lo.account, resting), *s.pending_liquidations[1:])
    )


def test_a_post_state_with_another_liquidation_id_fails_its_own_replay(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batch 3's post-state with its staged order's id changed (root recomputed): replay
    recomputes the id from the batch, the account and the market, and names it."""
    folder = chain / f"batch-{LAST - 1}"
    doc = _read(folder, "post_state.json")
    config = config_from_dict(doc["config"])
    forged = state_to_dict(_ground_id(state_from_dict(doc, config)), config)
    (folder / "post_state.json").write_text(json.dumps(forged))
    assert main(["replay", str(folder)]) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "post_state.json liquidation ids" in ln)
    assert "MISMATCH" in line and "recomputed 0x" in line and f"(batch {LAST - 1})" in line


def test_a_reissued_batch_with_another_liquidation_id_fails_its_own_replay(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batch 4 reissued on a pre-state whose pending liquidation order has another id
    (every file consistent with it): its own replay names the id."""
    _reissue(chain / f"batch-{LAST}", _ground_id)
    assert main(["replay", str(chain / f"batch-{LAST}")]) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "pre_state.json liquidation ids" in ln)
    assert "MISMATCH" in line and f"(batch {LAST - 1})" in line


def test_a_batch_taken_out_of_the_folder_breaks_the_chain_and_is_named(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An auditor handed a folder without one batch (the one that staged the liquidation
    order): the chain breaks at the next, and the message names the gap; a gap the chain
    crosses (an empty batch is not published) is not an error on its own."""
    shutil.rmtree(chain / f"batch-{LAST - 1}")
    assert main(["replay", str(chain)]) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith(f"batch {LAST} "))
    assert "MISMATCH chain" in line
    assert f"(batch-{LAST - 1} not in the folder: a batch missing?)" in line
    # The honest chain with the last batch left out: no gap inside it, no hint.
    shutil.rmtree(chain / f"batch-{LAST}")
    assert main(["replay", str(chain)]) == 0
    assert "not in the folder" not in capsys.readouterr().out
