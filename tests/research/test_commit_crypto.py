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
    CHUNK,
    CommitContext,
    CommitCrypto,
    hash_reveals,
    sign_commitments,
    sign_receipts,
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


def _run(
    name: str, label: str, seed: int, workers: int, horizon: float = 1.0, record: bool = False
) -> RunResult:
    scenario = load_scenario(shipped_scenario(name)).with_override("horizon_s", horizon)
    spec = next(m for m in scenario.mechanisms if m.label == label)
    return run_simulation(scenario, spec, seed, record=record, crypto_workers=workers)


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
    pooled = _run("sequencer", "cr-100ms", 3, workers=1, horizon=1.5, record=True)
    in_place = _run("sequencer", "cr-100ms", 3, workers=0, horizon=1.5, record=True)
    assert _fingerprint(pooled) == _fingerprint(in_place)
    assert pooled.metrics["forfeits"] > 0 and pooled.metrics["censored_sequencer"] > 0
    mech = pooled.mechanism
    assert isinstance(mech, CommitRevealMechanism)
    # the same commitments, trader signatures and operator receipt signatures, byte for byte
    serial = in_place.mechanism
    assert isinstance(serial, CommitRevealMechanism)
    assert mech.signed_log == serial.signed_log and len(mech.signed_log) == mech.commits
    assert mech.crypto.receipt_signatures == serial.crypto.receipt_signatures
    assert len(serial.crypto.receipt_signatures) == serial.commits
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


def test_jobs_the_loop_takes_back_from_the_workers_give_the_same_bytes() -> None:
    """Eight chunks sent to one worker: the loop runs the ones the worker has not
    started itself while it waits; commitments, signatures, recovered signers,
    receipt signatures, the root and the reveal hashes equal the serial path's."""
    from sealbatch.auction.commitment import commitment_root
    from sealbatch.crypto.eip712 import Eip712Domain

    ctx = CommitContext("BTC-PERP", 10, b"\x05" * 8, Eip712Domain(), b"\x01" * 32)
    jobs = [(i % 23, 1 if i % 3 else -1, 900 + i % 40, 1 + i % 5, i, i // 23, 4)
            for i in range(8 * CHUNK)]  # fmt: skip
    serial = sign_commitments(ctx, jobs, recover=True)
    crypto = CommitCrypto(ctx, 1, keep_receipts=True)
    crypto.start()
    for job in jobs:
        crypto.add(job)
    assert crypto.take(4) == serial
    items = [(4, i, c, 1000 + i) for i, (_, c, _, _, _) in enumerate(serial)]
    crypto.sign_receipts(items)
    crypto.collect(wait=True)
    want = sign_receipts(ctx, items)
    assert crypto.receipt_signatures == {(4, i): sig for i, sig in enumerate(want)}
    leaves = [(c, ctx.market, t, ctx.bond) for _, c, t, _, _ in serial]
    crypto.start_root(4, leaves)
    assert crypto.root(4) == commitment_root(*map(list, zip(*leaves, strict=True)))
    reveals = [
        (s, p, q, oid, salt, t, 4)
        for (_, s, p, q, oid, _, _), (salt, _, t, _, _) in zip(jobs, serial, strict=True)
    ]
    for r in reveals:
        crypto.add_reveal(r)
    hashes = crypto.reveal_hashes(4)
    assert hashes == hash_reveals(ctx.market, reveals)
    assert hashes == [c for _, c, _, _, _ in serial]
    # the worker had not started most chunks when the loop asked: it ran them itself
    assert crypto.stolen > 0


def test_a_run_that_is_not_recorded_keeps_no_signatures() -> None:
    """Signatures are kept only for a recorded run: an unrecorded one's memory does not
    grow with its commitments, and its outcomes are the recorded run's."""
    quiet = _run("sequencer", "cr-100ms", 3, workers=1, horizon=1.0)
    recorded = _run("sequencer", "cr-100ms", 3, workers=1, horizon=1.0, record=True)
    mech, kept = quiet.mechanism, recorded.mechanism
    assert isinstance(mech, CommitRevealMechanism) and isinstance(kept, CommitRevealMechanism)
    assert mech.commits == kept.commits > 0
    assert mech.crypto.receipts_signed == mech.commits  # every receipt still signed
    assert mech.signed_log == [] and mech.crypto.receipt_signatures == {}
    assert len(kept.signed_log) == len(kept.crypto.receipt_signatures) == kept.commits
    assert _fingerprint(quiet) == _fingerprint(recorded)
