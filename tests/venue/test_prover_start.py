"""A start of the proving pipeline that fails part-way stops what it started (the
executor, its prover processes, the pipeline's thread) and re-raises: at the venue's
start and at a restart after a resume (``VenueService._start_prover``)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pytest

from sealbatch.venue import service as service_module
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.persistence import Store
from sealbatch.venue.service import VenueService
from tests.venue.conftest import T0, make_settings


def _recorded_executors(
    monkeypatch: pytest.MonkeyPatch, processes: list[Any] | None = None
) -> list[Executor]:
    """Every local executor the service makes from now on; with ``processes``, each
    runs a job first and its prover processes (alive then) are put there."""
    made: list[Executor] = []
    real = service_module.local_executor

    def recorded(workers: int) -> tuple[Executor, Any]:
        executor, stop = real(workers)
        made.append(executor)
        if processes is not None:
            before = set(multiprocessing.active_children())
            assert executor.submit(os.getpid).result(timeout=120) != os.getpid()
            processes.extend(set(multiprocessing.active_children()) - before)
        return executor, stop

    monkeypatch.setattr(service_module, "local_executor", recorded)
    return made


def _assert_shut_down(executor: Executor) -> None:
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(os.getpid)


def _unreadable(self: Store, floor: int) -> list[int]:
    raise OSError("the store is gone")


def _prover_threads() -> int:
    return sum(t.name == "sealbatch-prove" for t in threading.enumerate())


def test_a_pipeline_refused_after_the_executor_exists_stops_the_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no pipeline here")

    made = _recorded_executors(monkeypatch)
    monkeypatch.setattr(service_module, "ProvingPipeline", refused)
    before = {t.name for t in threading.enumerate()}
    settings = make_settings(f"sqlite:///{tmp_path / 'v.db'}", prove=True)
    with pytest.raises(RuntimeError, match="no pipeline here"):
        VenueService(settings, ManualClock(T0 + 100))
    [executor] = made
    _assert_shut_down(executor)
    leftover = {t.name for t in threading.enumerate()} - before
    assert not leftover, leftover


def test_a_start_failing_after_the_pipeline_runs_stops_its_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prover process is alive when the hand-over of settled batches fails."""
    processes: list[Any] = []
    made = _recorded_executors(monkeypatch, processes)
    monkeypatch.setattr(Store, "load_settled_ids", _unreadable)
    threads = _prover_threads()
    settings = make_settings(f"sqlite:///{tmp_path / 'v.db'}", prove=True, prove_workers=1)
    with pytest.raises(OSError, match="the store is gone"):
        VenueService(settings, ManualClock(T0 + 100))
    [executor] = made
    _assert_shut_down(executor)
    assert processes  # the warm-up's prover process
    for proc in processes:
        proc.join(timeout=30)
    assert not [p for p in processes if p.is_alive()]
    assert _prover_threads() == threads


def test_a_restart_failing_part_way_leaves_no_pipeline_and_no_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a resume the venue starts a new pipeline on a new executor; when that start
    fails, the half-started pipeline is neither left installed nor left running."""
    settings = make_settings(f"sqlite:///{tmp_path / 'v.db'}", prove=True, prove_workers=1)
    service = VenueService(settings, ManualClock(T0 + 100))
    try:
        first = service.prover
        assert first is not None
        made = _recorded_executors(monkeypatch)
        monkeypatch.setattr(Store, "load_settled_ids", _unreadable)
        threads = _prover_threads()
        with pytest.raises(OSError, match="the store is gone"):
            service._restart_prover()
        [executor] = made
        _assert_shut_down(executor)
        assert service.prover is None
        assert _prover_threads() == threads - 1  # the old pipeline's and the new one's gone
    finally:
        service.close()


def _resume_in(service: VenueService, batch_id: int, nonce: int) -> Any:
    from sealbatch.crypto.eip712 import address_of, sign_digest, signing_digest
    from sealbatch.venue.auth import RESUME_TYPE
    from sealbatch.venue.schemas import ResumeIn
    from sealbatch.venue.settings import DEFAULT_OPERATOR_KEY

    key = bytes.fromhex(DEFAULT_OPERATOR_KEY[2:])
    operator = address_of(key)
    expiry = service.clock.now_ms() + 60_000
    values = {"operator": operator, "batchId": batch_id, "nonce": nonce, "expiry": expiry}
    sig = sign_digest(key, signing_digest(service.domain, RESUME_TYPE, values))
    return ResumeIn(
        operator=operator,
        batch_id=batch_id,
        nonce=nonce,
        expiry_ms=expiry,
        signature="0x" + sig.hex(),
    )


def test_a_resume_whose_proving_restart_fails_halts_again_and_the_next_resume_restarts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack on liveness: a restart of proving that fails must not leave the venue
    trading with no prover (settled batches piling up unproven while nothing is halted);
    it halts the venue again, and the operator's next resume starts proving."""
    import asyncio

    from sealbatch.venue.errors import Halted
    from sealbatch.venue.proving import ProofFailure

    settings = make_settings(f"sqlite:///{tmp_path / 'v.db'}", prove=True, prove_workers=1)
    service = VenueService(settings, ManualClock(T0 + 100))
    try:
        with monkeypatch.context() as m:
            m.setattr(Store, "load_settled_ids", _unreadable)
            # A restart that failed (after an earlier resume) left no pipeline ...
            with pytest.raises(OSError):
                service._restart_prover()
            assert service.prover is None
            # ... and the venue halts (here: a proof failure reported meanwhile).
            with service.core_lock:
                failure = ProofFailure(0, "a test fault", service.clock.now_ms())
                service._halt_unproven(failure, [])
            assert service.core.halted is not None
            with pytest.raises(Halted, match="proving could not restart: OSError"):
                asyncio.run(service.resume(_resume_in(service, 0, 1)))
        assert service.prover is None
        halted = service.core.halted
        assert halted is not None and "proving could not restart" in halted["reason"]
        out = asyncio.run(service.resume(_resume_in(service, halted["batch_id"], 2)))
        assert out["batch_id"] == halted["batch_id"]
        assert service.core.halted is None
        assert service.prover is not None and service.prover.failure is None
    finally:
        service.close()
