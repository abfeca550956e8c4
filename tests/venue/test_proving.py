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
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.settlement.batch_proof import verify_files
from sealbatch.settlement.publication import BATCH_FILES
from sealbatch.venue.app import create_app
from sealbatch.venue.cli import main
from sealbatch.venue.clock import ManualClock
from tests.venue.conftest import Venue, make_settings

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


def test_a_batch_that_cannot_be_proved_halts_the_chain_and_is_reported(
    proving: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    """The prover process dies while batch 0 is being proved: batch 0 is reported
    (log, metric, operator view, its record) and no later batch becomes proven,
    even though nothing is wrong with it — the chain of proofs stops, never skips."""
    venue = proving
    op = venue.service
    assert op.prover is not None
    _trade(venue, 0)
    wait_for("a prover process", lambda: bool(getattr(op.prover.executor, "_processes", None)))
    with caplog.at_level(logging.ERROR, logger="sealbatch.venue.proving"):
        for pid in list(op.prover.executor._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        wait_for("the failure", lambda: op.prover.failure is not None)
    assert op.prover.failure.batch_id == 0
    assert "batch 0 could not be proved" in caplog.text
    _trade(venue, 1, 101)
    view = venue.tc.get("/v1/operator").json()["proving"]
    assert view["failure"]["batch_id"] == 0 and view["failure"]["reason"]
    assert view["lag"] == 2 and view["pending"] == [0, 1] and view["last_proven_batch"] is None
    record = venue.tc.get("/v1/batches/0").json()
    assert record["status"] == "settled" and record["proof"]["error"]
    assert _status(venue, 1) == "settled"
    assert venue.tc.get("/v1/batches/1/proof").status_code == 409
    metrics = venue.tc.get("/metrics").text
    assert "sealbatch_proof_failures_total 1.0" in metrics
    assert "sealbatch_proving_halted 1.0" in metrics
    assert "sealbatch_proof_lag 2.0" in metrics
