"""The venue proves its batches: settled → proven in order, the proof served and
stored durably, proof lag in the metrics, and a batch that cannot be proved
halts the chain loudly (log, metric, operator view, record)."""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
import signal
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.settlement.batch_proof import verify_files
from sealbatch.settlement.errors import BatchStatementError
from sealbatch.settlement.publication import BATCH_FILES
from sealbatch.venue.app import create_app
from sealbatch.venue.cli import main
from sealbatch.venue.client import ApiError
from sealbatch.venue.clock import ManualClock
from tests.venue.conftest import KEYS, T0, Venue, make_settings
from tests.venue.test_halt import OPERATOR_KEY, _resume_body

#: Waiting for a proof: generous, the machine may be loaded (a batch proof takes
#: a few seconds of one core). Tests wait for a state, never assert a duration.
PROOF_WAIT_S = 300.0


def wait_for(
    what: str,
    ready: Callable[[], bool],
    venue: Venue | None = None,
    timeout_s: float = PROOF_WAIT_S,
) -> None:
    """Poll ``ready``; with ``venue``, stop at once if its proving pipeline halted."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        prover = venue.service.prover if venue is not None else None
        if prover is not None and prover.failure is not None:
            raise AssertionError(f"proving halted while waiting for {what}: {prover.failure}")
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {timeout_s} s")
        time.sleep(0.2)


def _trade(venue: Venue, batch_id: int, price: int = 100) -> dict[str, Any]:
    t = venue.traders
    a = t["alice"].commit(Order("BTC-PERP", Side.BUY, price, 3))
    b = t["bob"].commit(Order("BTC-PERP", Side.SELL, price, 3))
    assert a.batch_id == batch_id
    venue.to_reveal(batch_id)
    t["alice"].reveal(a)
    t["bob"].reveal(b)
    record = venue.to_cleared(batch_id)
    assert record["markets"]["BTC-PERP"]["volume"] == 3
    return record


def _status(venue: Venue, batch_id: int) -> str:
    status: str = venue.tc.get(f"/v1/batches/{batch_id}").json()["status"]
    return status


def _archive_files(venue: Venue, batch_id: int) -> dict[str, str]:
    r = venue.tc.get(f"/v1/batches/{batch_id}/archive")
    assert r.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(r.content))) as tar:
        return {
            name: tar.extractfile(f"batch-{batch_id}/{name}").read().decode()  # type: ignore[union-attr]
            for name in BATCH_FILES
        }


@pytest.fixture
def proving(db_url: str, clock: ManualClock, tmp_path: Path) -> Iterator[Venue]:
    """A venue that proves its batches (one local prover process), publishing to a folder."""
    settings = make_settings(db_url, prove=True, publish_dir=str(tmp_path / "pub"))
    with TestClient(create_app(settings, clock)) as tc:
        v = Venue(tc, clock)
        v.fund()
        yield v


def test_batches_become_proven_in_order_the_proof_verifies_and_survives_a_restart(
    db_url: str, clock: ManualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish = tmp_path / "pub"
    # a snapshot after every batch: the restart below loads one taken before the proofs
    settings = make_settings(db_url, prove=True, publish_dir=str(publish), snapshot_every=1)
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        _trade(venue, 0)  # batch 0 also credits the deposits
        _trade(venue, 1, 101)
        wait_for("batch 1 proven", lambda: _status(venue, 1) == "proven", venue)
        assert _status(venue, 0) == "proven"  # recorded in order: 0 before 1
        proofs, summaries = {}, {}
        for batch_id in (0, 1):
            record = tc.get(f"/v1/batches/{batch_id}").json()
            r = tc.get(f"/v1/batches/{batch_id}/proof")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/octet-stream"
            proofs[batch_id], summaries[batch_id] = r.content, record["proof"]
            assert record["proof"]["size_bytes"] == len(r.content) and record["proof"]["verified"]
            # anyone can check it against the published files
            report = verify_files(r.content, _archive_files(venue, batch_id))
            assert report.conjectured >= 100
        # ... and a proof of batch 0 is not a proof of batch 1
        with pytest.raises(VerificationError, match="public inputs"):
            verify_files(proofs[0], _archive_files(venue, 1))
        view = tc.get("/v1/operator").json()["proving"]
        assert view["enabled"] and view["failure"] is None
        assert view["last_proven_batch"] == 1 and view["lag"] == 0
        metrics = tc.get("/metrics").text
        assert "sealbatch_batches_proven_total 2.0" in metrics
        assert "sealbatch_proof_lag 0.0" in metrics and "sealbatch_proving_halted 0.0" in metrics
        # the published folder gets its proof.bin, and replay checks it
        venue.service.wait_published()
        assert (publish / "batch-1" / "proof.bin").read_bytes() == proofs[1]
        assert main(["replay", str(publish / "batch-1")]) == 0
        assert re.search(r"^proof\.bin\s+ok$", capsys.readouterr().out, re.M)
    # restarted (without proving, from the snapshot): the stored status and proofs
    with TestClient(create_app(make_settings(db_url, snapshot_every=1), clock)) as tc:
        assert tc.app.state.service.snapshot_batch == 1  # type: ignore[attr-defined]
        for batch_id in (0, 1):
            record = tc.get(f"/v1/batches/{batch_id}").json()
            assert record["status"] == "proven" and record["proof"] == summaries[batch_id]
            assert tc.get(f"/v1/batches/{batch_id}/proof").content == proofs[batch_id]


def test_without_proving_a_batch_stays_settled_and_has_no_proof(venue: Venue) -> None:
    _trade(venue, 0)
    assert _status(venue, 0) == "settled"
    r = venue.tc.get("/v1/batches/0/proof")
    assert r.status_code == 409 and r.json()["code"] == "no_proof_yet"
    assert venue.tc.get("/v1/operator").json()["proving"]["enabled"] is False


@pytest.mark.slow
def test_a_batch_that_cannot_be_proved_halts_the_venue_until_the_operator_resumes(
    proving: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    """The prover process dies while batch 0 is being proved: batch 0 is reported
    (log, metric, operator view, its record), no later batch becomes proven, and
    the venue halts (open batches cancelled, trading writes refused) until the
    operator's signed resume, which proves the batch again and trading goes on."""
    venue = proving
    op = venue.service
    assert op.prover is not None
    _trade(venue, 0)
    # Carol's order waits in batch 2 (collecting while batch 1 would reveal).
    venue.clock.set(T0 + 2_000 + 10)
    carol = venue.traders["carol"].commit(Order("BTC-PERP", Side.BUY, 100, 1), bond=1_000_000)
    assert carol.batch_id == 2
    wait_for("a prover process", lambda: bool(getattr(op.prover.executor, "_processes", None)))
    with caplog.at_level(logging.ERROR, logger="sealbatch"):
        for pid in list(op.prover.executor._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        wait_for("the halt", lambda: op.core.halted is not None)
    assert op.prover.failure is not None and op.prover.failure.batch_id == 0
    assert "batch 0 could not be proved" in caplog.text
    assert "the venue halted (sealbatch resume --batch 0" in caplog.text
    view = venue.tc.get("/v1/operator").json()
    assert view["proving"]["failure"]["batch_id"] == 0 and view["proving"]["failure"]["reason"]
    assert view["proving"]["last_proven_batch"] is None
    assert view["halted"]["batch_id"] == 0
    assert view["halted"]["reason"].startswith("batch 0 could not be proved: ")
    record = venue.tc.get("/v1/batches/0").json()
    assert record["status"] == "settled" and record["proof"]["error"]
    assert venue.tc.get("/v1/batches/0/proof").status_code == 409
    metrics = venue.tc.get("/metrics").text
    assert "sealbatch_proof_failures_total 1.0" in metrics
    assert "sealbatch_proving_halted 1.0" in metrics
    assert "sealbatch_halted 1.0" in metrics
    # Halted: the open batch is cancelled (bond released) and trading writes refused.
    status = venue.traders["carol"].order(carol.commitment)
    assert (status["status"], status["reason"]) == ("not_filled", "venue_halted")
    with pytest.raises(ApiError) as err:
        venue.traders["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    assert (err.value.status, err.value.code) == (503, "venue_halted")
    # No batch clears while halted, however long the clock runs.
    venue.clock.set(T0 + 6_000 + 10)
    assert venue.tc.get("/v1/operator").json()["last_cleared_batch"] == 0
    # Only the operator resumes, naming the unproven batch.
    r = venue.tc.post("/v1/operator/resume", json=_resume_body(venue, 1, OPERATOR_KEY))
    assert (r.status_code, r.json()["code"]) == (409, "wrong_batch")
    r = venue.tc.post("/v1/operator/resume", json=_resume_body(venue, 0, OPERATOR_KEY))
    assert r.status_code == 200, r.text
    assert r.json()["collecting"] == 6
    # Proving starts over at batch 0 on a new prover process, then trading goes on.
    wait_for("batch 0 proven", lambda: _status(venue, 0) == "proven", venue)
    assert venue.tc.get("/v1/operator").json()["proving"]["failure"] is None
    _trade(venue, 6, 101)
    wait_for("batch 6 proven", lambda: _status(venue, 6) == "proven", venue)
    assert "sealbatch_halted 0.0" in venue.tc.get("/metrics").text


#: Batches the patched prover refuses (see ``thread_provers``).
REFUSED: set[int] = set()


@pytest.fixture
def thread_provers(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[int]]:
    """Provers in the venue's process (a real thread pool, so the patched job runs):
    the batches in REFUSED are refused as the prover refuses a batch, the others proved."""
    from sealbatch.venue import proving as proving_mod
    from sealbatch.venue import service as service_mod

    def threads(workers: int) -> tuple[Any, Callable[[], None]]:
        pool = ThreadPoolExecutor(workers)
        return pool, lambda: pool.shutdown(wait=False, cancel_futures=True)

    real_prove = proving_mod.prove_job

    def prove_job(batch_id: int, files_of: Any) -> Any:
        if batch_id in REFUSED:
            raise BatchStatementError(
                f"batch {batch_id}: expected a provable batch, got a test fault"
            )
        return real_prove(batch_id, files_of)

    monkeypatch.setattr(service_mod, "local_executor", threads)
    monkeypatch.setattr(proving_mod, "prove_job", prove_job)
    REFUSED.clear()
    yield REFUSED
    REFUSED.clear()


def test_a_proof_failure_halts_trading_and_a_resume_proves_again(
    db_url: str, clock: ManualClock, thread_provers: set[int]
) -> None:
    """The attack: keep trading on batches that can never be proved (or anchored).
    A batch whose proving raises halts the venue: the open batch is cancelled with
    its bond released, every trading write is refused, nothing clears, and the
    halt is loud (operator view, metrics, log); the operator's resume proves the
    batch again, and while its proving still fails the venue halts again."""
    thread_provers.add(0)
    with TestClient(create_app(make_settings(db_url, prove=True), clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        t = venue.traders
        a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 3))
        b = t["bob"].commit(Order("BTC-PERP", Side.SELL, 100, 3))
        venue.to_reveal(0)
        # Carol's order waits in batch 1 (collecting while batch 0 reveals).
        carol = t["carol"].commit(Order("BTC-PERP", Side.BUY, 100, 1), bond=1_000_000)
        assert carol.batch_id == 1
        t["alice"].reveal(a)
        t["bob"].reveal(b)
        assert venue.to_cleared(0)["status"] == "settled"
        op = venue.service
        wait_for("the halt", lambda: op.core.halted is not None)
        view = tc.get("/v1/operator").json()
        assert view["halted"]["batch_id"] == 0
        assert view["halted"]["reason"].startswith(
            "batch 0 could not be proved: BatchStatementError: batch 0: expected a provable"
        )
        assert view["proving"]["failure"]["batch_id"] == 0
        metrics = tc.get("/metrics").text
        assert "sealbatch_halted 1.0" in metrics and "sealbatch_proving_halted 1.0" in metrics
        assert "sealbatch_proof_failures_total 1.0" in metrics
        status = t["carol"].order(carol.commitment)
        assert (status["status"], status["reason"]) == ("not_filled", "venue_halted")
        carol_addr = t["carol"].address
        assert carol_addr is not None
        assert op.core.settlement._at_stake(carol_addr) == 0  # bond released, not forfeited
        with pytest.raises(ApiError) as err:
            t["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
        assert (err.value.status, err.value.code) == (503, "venue_halted")
        clock.set(T0 + 5_000 + 10)
        assert tc.get("/v1/operator").json()["last_cleared_batch"] == 0
        # A trader cannot resume it; the operator can, and proving starts over.
        r = tc.post(
            "/v1/operator/resume",
            json=_resume_body(venue, 0, bytes.fromhex(KEYS["alice"][2:])),
        )
        assert (r.status_code, r.json()["code"]) == (401, "bad_signature")
        r = tc.post("/v1/operator/resume", json=_resume_body(venue, 0, OPERATOR_KEY))
        assert r.status_code == 200, r.text
        # Batch 0 still cannot be proved: the venue halts again, at batch 0.
        wait_for("the halt again", lambda: op.core.halted is not None)
        assert op.core.halted["batch_id"] == 0
        assert "sealbatch_proof_failures_total 2.0" in tc.get("/metrics").text


@pytest.mark.slow
def test_a_restart_replays_a_proof_halt(
    db_url: str, clock: ManualClock, thread_provers: set[int]
) -> None:
    """The halt is a logged event: a venue restarted after a proof failure is halted
    at the same place (and proves the batch again); the replay reproduces every
    stored batch, and the resume after the restart is replayed too."""
    thread_provers.add(0)
    settings = make_settings(db_url, prove=True)
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        _trade(venue, 0)
        wait_for("the halt", lambda: venue.service.core.halted is not None)
    thread_provers.clear()  # the cause is fixed
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        op = venue.service
        assert op.core.halted is not None and op.core.halted["batch_id"] == 0
        wait_for("batch 0 proven", lambda: _status(venue, 0) == "proven", venue)
        assert op.core.halted is not None  # proven again, still halted until resumed
        clock.set(T0 + 4_000 + 50)
        r = tc.post("/v1/operator/resume", json=_resume_body(venue, 0, OPERATOR_KEY))
        assert r.status_code == 200, r.text
    with TestClient(create_app(make_settings(db_url), clock)) as tc:
        op = tc.app.state.service  # type: ignore[attr-defined]
        assert op.core.halted is None
        assert tc.get("/v1/batches/0").json()["status"] == "proven"


def _run_lagging(db_url: str, clock: ManualClock) -> dict[str, str]:
    """Two batches on a venue that keeps one transition in memory and stores the
    unproven ones leaving it, as while proving (the first run of the test below does
    not prove: its prover lags behind for ever); batch 0's stored folder."""
    settings = make_settings(db_url, snapshot_every=1)
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        core = venue.service.core
        core.keep_unproven, core.publications_kept = True, 1
        venue.fund()
        _trade(venue, 0)
        _trade(venue, 1, 101)
        store = venue.service.store
        venue.service.writer.last.result(timeout=60)  # type: ignore[union-attr]
        assert sorted(core.publications) == [1]
        stored = store.load_transition(0)
        assert stored is not None and store.load_transition(1) is None
        assert stored == _archive_files(venue, 0)  # the archive serves it from there too
    return stored


def test_an_unproven_batch_leaving_memory_is_stored_with_its_folder(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    stored = _run_lagging(db_url, clock)
    assert sorted(stored) == sorted(BATCH_FILES)
    # The stored folder replays exactly: it is batch 0's whole transition.
    folder = tmp_path / "batch-0"
    folder.mkdir()
    for name, text in stored.items():
        (folder / name).write_text(text)
    assert main(["replay", str(folder)]) == 0


@pytest.mark.slow
def test_a_batch_that_left_memory_unproven_is_proved_from_the_database_after_a_restart(
    db_url: str, clock: ManualClock
) -> None:
    # A prover that lags behind (a proof takes seconds, a batch clears every second)
    # sees its oldest unproven batches leave memory.
    stored = _run_lagging(db_url, clock)
    # Restarted from the snapshot of batch 1, proving: batch 0's transition is in no
    # snapshot and in no memory, only in the database.
    settings = make_settings(db_url, prove=True, snapshot_every=1)
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        assert venue.service.snapshot_batch == 1
        assert 0 not in venue.service.core.publications
        wait_for("batch 1 proven", lambda: _status(venue, 1) == "proven", venue)
        assert _status(venue, 0) == "proven"
        r = tc.get("/v1/batches/0/proof")
        assert r.status_code == 200
        # the proof is of batch 0's own transition, as published
        assert verify_files(r.content, stored).conjectured >= 100
        venue.service.writer.last.result(timeout=60)  # type: ignore[union-attr]
        assert venue.service.store.load_transition(0) is None  # dropped with its proof


def test_a_lagging_prover_holds_batch_ids_not_transitions_and_the_lag_counts_them_all(
    db_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prover far behind the batches (here: one that has not finished a proof yet).
    Only ``prove_in_flight`` settled batches are loaded and on the provers; the
    others wait as ids while their transitions leave memory for the database, and
    the lag (metrics, operator view) still counts every one of them. Counted in
    objects: eight batches settled, two transitions held by the pipeline."""
    from sealbatch.venue import proving as proving_mod
    from sealbatch.venue import service as service_mod

    gate = threading.Event()

    def threads(workers: int) -> tuple[Any, Callable[[], None]]:
        pool = ThreadPoolExecutor(workers)
        return pool, lambda: pool.shutdown(wait=False, cancel_futures=True)

    def prove_job(batch_id: int, files_of: Any) -> Any:
        gate.wait()
        raise BatchStatementError(f"batch {batch_id}: expected a provable batch, got a test stop")

    monkeypatch.setattr(service_mod, "local_executor", threads)
    monkeypatch.setattr(proving_mod, "prove_job", prove_job)
    settings = make_settings(db_url, prove=True, prove_workers=2, prove_in_flight=2)
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        op = venue.service
        op.core.publications_kept = 1  # the transitions of older batches go to the database
        venue.fund()
        try:
            for b in range(8):
                _trade(venue, b, 100 + b)
            prover = op.prover
            assert prover is not None
            wait_for("eight batches in line", lambda: prover.lag == 8)
            wait_for("two batches out", lambda: prover.in_flight == 2)
            held = [job.files_of is not None for job in list(prover._pending)]
            assert held == [True, True] + [False] * 6
            op.writer.last.result(timeout=60)  # type: ignore[union-attr]
            assert all(op.store.load_transition(b) is not None for b in range(7))
            assert sorted(op.core.publications) == [7]
            metrics = tc.get("/metrics").text
            assert "sealbatch_proof_lag 8.0" in metrics
            assert "sealbatch_proofs_in_flight 2.0" in metrics
            view = tc.get("/v1/operator").json()["proving"]
            assert (view["lag"], view["in_flight"], view["pending"]) == (8, 2, list(range(8)))
        finally:
            gate.set()
        # Batch 0's proof fails: the venue halts there, and the lag stays the truth.
        wait_for("the halt", lambda: op.core.halted is not None)
        assert op.core.halted["batch_id"] == 0
        view = tc.get("/v1/operator").json()["proving"]
        assert view["lag"] == 8 and view["failure"]["batch_id"] == 0
