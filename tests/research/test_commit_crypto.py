"""The lab's commitment cryptography in worker processes: same bytes, same outcomes.

``data/commit_reveal_runs.json`` holds four commit-reveal and commit-encrypt
runs (1 s of market time) recorded before the cryptography moved to worker
processes: every metric but the timings, and a SHA-256 of the trade tape and
the ledger. If a deliberate change of the lab or the auction changes them,
record them again with the same fingerprint (:func:`_fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from sealbatch.auction.commit_reveal import Commit, CommitBook, SignedCommit
from sealbatch.auction.errors import BadSignature
from sealbatch.crypto.eip712 import recover_signer
from sealbatch.research.errors import LabError
from sealbatch.research.mechanisms.commit_crypto import (
    CommitContext,
    CommitCrypto,
    sign_commitments,
    trader_address,
)
from sealbatch.research.mechanisms.commit_reveal import CommitRevealMechanism
from sealbatch.research.runner import RunResult, run_simulation
from sealbatch.research.scenario import load_scenario
from sealbatch.research.scenarios import shipped_scenario

RECORDED = Path(__file__).parent / "data" / "commit_reveal_runs.json"
TIMINGS = {
    "wall_s", "loop_s", "loop_cpu_s", "events_per_s", "venue_code_s", "crypto_worker_cpu_s"
}  # fmt: skip


def _fingerprint(r: RunResult) -> dict[str, Any]:
    metrics = {
        k: repr(v) if isinstance(v, float) else v
        for k, v in sorted(r.metrics.items())
        if k not in TIMINGS
    }
    sim = r.sim
    ledger = hashlib.sha256(repr((sim.tape, sim.cash, sim.pos)).encode()).hexdigest()
    return {"metrics": metrics, "ledger": ledger}


def _run(name: str, label: str, seed: int, workers: int, horizon: float = 1.0) -> RunResult:
    scenario = load_scenario(shipped_scenario(name)).with_override("horizon_s", horizon)
    spec = next(m for m in scenario.mechanisms if m.label == label)
    return run_simulation(scenario, spec, seed, crypto_workers=workers)


@pytest.mark.parametrize("key", sorted(json.loads(RECORDED.read_text())))
def test_runs_reproduce_the_outcomes_recorded_before_the_speed_up(key: str) -> None:
    recorded = json.loads(RECORDED.read_text())[key]
    name, label, seed = key.split("/")
    now = _fingerprint(_run(name, label, int(seed), workers=0))
    assert now["ledger"] == recorded["ledger"], f"{key}: the tape or the ledger changed"
    changed = {
        k: (v, now["metrics"].get(k))
        for k, v in recorded["metrics"].items()
        if now["metrics"].get(k) != v
    }
    assert not changed, f"{key}: metrics changed (recorded, now): {changed}"


def test_workers_change_nothing_but_the_speed() -> None:
    """The sequencer scenario (reveals held, censored and withheld, bonds
    forfeited) with the cryptography in a worker process and in place: the same
    fills, ledger and metrics; every commitment receipted, by the workers."""
    pooled = _run("sequencer", "cr-100ms", 3, workers=1, horizon=1.5)
    in_place = _run("sequencer", "cr-100ms", 3, workers=0, horizon=1.5)
    assert _fingerprint(pooled) == _fingerprint(in_place)
    assert pooled.metrics["forfeits"] > 0 and pooled.metrics["censored_sequencer"] > 0
    mech = pooled.mechanism
    assert isinstance(mech, CommitRevealMechanism)
    assert mech.crypto.receipts_signed == mech.commits > 0
    assert mech.crypto.worker_cpu_s > 0
    # the commitments still in the books were signed by their traders' keys
    entries = [e for book in mech.books.values() for e in book._entries.values()]
    assert entries
    for e in entries:
        assert recover_signer(e.commit.digest(mech.domain), e.signature) == e.commit.trader


def test_commit_encrypt_with_workers_keeps_its_outcomes() -> None:
    pooled = _run("commit_encrypt", "ce-100ms", 0, workers=1)
    in_place = _run("commit_encrypt", "ce-100ms", 0, workers=0)
    assert _fingerprint(pooled) == _fingerprint(in_place)
    assert pooled.metrics["reveals"] > 0


def _book(ctx: CommitContext) -> CommitBook:
    from sealbatch.auction.commit_reveal import BatchWindows
    from sealbatch.auction.markets import Market

    return CommitBook(0, {ctx.market: Market(ctx.market)}, ctx.domain, ctx.operator_key,
                      BatchWindows(0, 100, 120))  # fmt: skip


def test_a_signature_for_another_trader_is_refused_though_a_worker_recovered_it() -> None:
    """The attack: a trader signs a commitment and names someone else as its
    trader, so that the other account's bond pays for it. The worker recovers
    the real signer; the book still checks it against the named trader."""
    from sealbatch.crypto.eip712 import Eip712Domain

    ctx = CommitContext("BTC-PERP", 10, b"\x00" * 8, Eip712Domain(), b"\x01" * 32)
    mine, victim = 7, 8
    ((_, commitment, me, signature, signer),) = sign_commitments(
        ctx, [(mine, 1, 100, 5, 1, 0, 0)], recover=True
    )
    assert signer == me == trader_address(mine)
    book = _book(ctx)
    forged = Commit(trader_address(victim), 0, ctx.market, commitment, 0, 0, ctx.bond)
    with pytest.raises(BadSignature, match="expected signer"):
        book.commit(SignedCommit(forged, signature), 10, sign=False, signer=signer)
    honest = Commit(me, 0, ctx.market, commitment, 0, 0, ctx.bond)
    receipt = book.commit(SignedCommit(honest, signature), 10, sign=False, signer=signer)
    assert receipt.sequence == 0  # the forged commitment was not taken


def test_commit_crypto_refuses_a_negative_worker_count() -> None:
    from sealbatch.crypto.eip712 import Eip712Domain

    ctx = CommitContext("BTC-PERP", 0, b"", Eip712Domain(), b"\x01" * 32)
    with pytest.raises(LabError, match="expected >= 0, got -1"):
        CommitCrypto(ctx, -1)
