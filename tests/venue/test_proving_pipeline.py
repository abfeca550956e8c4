"""The proving pipeline on its own: a batch the prover refuses halts it, and the
same pipeline runs on a Dask cluster (a LocalCluster on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.batch_proof import verify_files
from sealbatch.settlement.publication import BatchPublication
from sealbatch.venue.demo import DemoConfig, demo_oracle, demo_settlement_config, run_demo
from sealbatch.venue.proving import (
    ProofFailure,
    ProofUnavailable,
    ProvedBatch,
    ProvingPipeline,
    dask_executor,
    local_executor,
)

WAIT_S = 300.0


@pytest.fixture(scope="module")
def demo_files() -> list[dict[str, str]]:
    """The published files of two consecutive demo batches (1 and 2)."""
    config = DemoConfig(batches=2)
    settle, (oracle, _) = demo_settlement_config(config), demo_oracle(config.seed)
    return [
        BatchPublication(b.result, b.oracle_round, b.pre_state, b.post_state).files(settle, oracle)
        for b in run_demo(config)
    ]


class Recorder:
    """What a pipeline reported, in the order it reported it."""

    def __init__(self, expected: int) -> None:
        self.proven: list[tuple[int, bytes, dict[str, Any]]] = []
        self.failures: list[ProofFailure] = []
        self.expected = expected
        self.done = threading.Event()

    def on_proven(self, batch_id: int, proof: bytes, summary: dict[str, Any]) -> None:
        self.proven.append((batch_id, proof, summary))
        if len(self.proven) == self.expected:
            self.done.set()

    def on_failed(self, failure: ProofFailure) -> None:
        self.failures.append(failure)
        self.done.set()


def _tampered(files: dict[str, str]) -> dict[str, str]:
    """The batch's result with one fill a lot larger than it was."""
    result = json.loads(files["result.json"])
    fills = [f for m in result["markets"].values() for f in m["fills"]]
    fills[0]["quantity"] += 1
    return {**files, "result.json": json.dumps(result)}


def test_a_batch_the_prover_refuses_halts_the_pipeline(demo_files: list[dict[str, str]]) -> None:
    """The operator would be attacked here by its own bug: a batch whose published
    result is not what the auction and settlement produce. The prover refuses it,
    the pipeline reports it once, and the honest batch after it is not recorded
    as proven (its statement builds on the refused one's post-state)."""
    executor, shutdown = local_executor(1)
    seen = Recorder(expected=2)
    pipeline = ProvingPipeline(
        executor,
        on_proven=seen.on_proven,
        on_failed=seen.on_failed,
        clock_ms=lambda: 0,
        shutdown=shutdown,
    )
    try:
        pipeline.submit(1, partial(dict, _tampered(demo_files[0])), 0)
        pipeline.submit(2, partial(dict, demo_files[1]), 0)
        assert seen.done.wait(WAIT_S)
        assert [f.batch_id for f in seen.failures] == [1]
        assert "BatchStatementError" in seen.failures[0].reason
        assert seen.proven == []
        assert pipeline.lag == 2 and pipeline.pending_ids() == [1, 2]
        with pytest.raises(ValueError, match="expected a batch after 2"):
            pipeline.submit(2, partial(dict, demo_files[1]), 0)
    finally:
        pipeline.close()
    assert seen.proven == [] and len(seen.failures) == 1  # reported once, nothing after


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two batch proofs on a loaded 2-core machine
def test_consecutive_batches_prove_in_parallel_on_dask_and_record_in_order(
    demo_files: list[dict[str, str]],
) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        executor, shutdown = dask_executor(cluster.scheduler_address)
        seen = Recorder(expected=2)
        pipeline = ProvingPipeline(
            executor,
            on_proven=seen.on_proven,
            on_failed=seen.on_failed,
            clock_ms=lambda: 0,
            shutdown=shutdown,
        )
        try:
            pipeline.submit(1, partial(dict, demo_files[0]), 0)
            pipeline.submit(2, partial(dict, demo_files[1]), 0)
            assert seen.done.wait(WAIT_S)
        finally:
            pipeline.close()
    assert seen.failures == []
    assert [b for b, _, _ in seen.proven] == [1, 2]
    for (_, proof, summary), files in zip(seen.proven, demo_files, strict=True):
        assert summary["verified"] and summary["size_bytes"] == len(proof)
        verify_files(proof, files)  # raises VerificationError if it is not this batch's


class GatedProver:
    """Proves nothing until let through, one batch at a time: each "proof" is the
    keccak of the batch's files, which ``verify`` recomputes (the pipeline's order,
    bound and bookkeeping are what these tests check, not the STARK)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.released: set[int] = set()
        self.wake = threading.Condition(self.lock)
        self.loaded: list[int] = []
        self.recorded: list[int] = []
        #: Most batches loaded and not yet recorded at any time.
        self.most_held = 0

    def files(self, batch_id: int) -> dict[str, str]:
        return {"batch.json": json.dumps({"batch_id": batch_id})}

    def load(self, batch_id: int) -> Any:
        with self.lock:
            self.loaded.append(batch_id)
            self.most_held = max(self.most_held, len(self.loaded) - len(self.recorded))
        return partial(self.files, batch_id)

    def prove(self, batch_id: int, files_of: Any) -> ProvedBatch:
        with self.wake:
            while batch_id not in self.released:
                self.wake.wait()
        return ProvedBatch(batch_id, _digest(files_of()), 0.0)

    def verify(self, proof: bytes, files: Any) -> dict[str, Any]:
        if proof != _digest(files):
            raise VerificationError("expected the proof of these files, got another")
        return {"verified": True}

    def release(self, *batch_ids: int) -> None:
        with self.wake:
            self.released.update(batch_ids)
            self.wake.notify_all()


def _digest(files: Any) -> bytes:
    return keccak256(json.dumps(files, sort_keys=True).encode())


def test_a_lagging_prover_holds_at_most_max_in_flight_batches_and_the_lag_stays_true() -> None:
    """A prover far slower than the batches: every settled batch waits in line as an
    id, only ``max_in_flight`` of them are loaded (their files read) and on the
    executor at a time, the lag counts every one of them, and they are recorded in
    order once proved. Counted in objects, not time: with the gate shut, nothing
    more than the bound is ever loaded however many batches wait."""
    gate = GatedProver()
    seen = Recorder(expected=30)

    def on_proven(batch_id: int, proof: bytes, summary: dict[str, Any]) -> None:
        with gate.lock:
            gate.recorded.append(batch_id)
        seen.on_proven(batch_id, proof, summary)

    pool = ThreadPoolExecutor(4)
    pipeline = ProvingPipeline(
        pool,
        on_proven=on_proven,
        on_failed=seen.on_failed,
        clock_ms=lambda: 10_000,
        verify=gate.verify,
        load=gate.load,
        max_in_flight=2,
        prove=gate.prove,
    )
    try:
        for b in range(30):
            pipeline.submit(b, None, 1_000 * b)
        # The recorder starts the first two and waits for batch 0: nothing else loads.
        deadline = time.monotonic() + WAIT_S
        while pipeline.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pipeline.in_flight == 2
        assert pipeline.lag == 30 and pipeline.pending_ids(3) == [0, 1, 2]
        assert pipeline.lag_seconds() == 10.0  # batch 0 settled at 0 ms, now is 10 s
        gate.release(*range(1, 30))  # every batch but the oldest: still nothing recorded
        assert not seen.done.wait(0.2)
        assert gate.recorded == [] and pipeline.lag == 30
        gate.release(0)
        assert seen.done.wait(WAIT_S)
    finally:
        pipeline.close()
        pool.shutdown(wait=True)
    assert seen.failures == []
    assert [b for b, _, _ in seen.proven] == list(range(30))
    assert gate.loaded == list(range(30))  # each batch read once, in order
    assert gate.most_held == 2
    assert pipeline.lag == 0 and pipeline.in_flight == 0 and pipeline.last_proven == 29


def test_a_batch_whose_files_are_gone_halts_the_pipeline_when_its_turn_comes() -> None:
    """The loader cannot find batch 1 (its transition is neither in memory nor
    stored): batch 0 is recorded, batch 1 fails with the loader's reason, and batch 2
    is never recorded (nor loaded past the bound)."""
    gate = GatedProver()
    seen = Recorder(expected=3)

    def load(batch_id: int) -> Any:
        if batch_id == 1:
            raise ProofUnavailable("batch 1's transition is neither in memory nor stored")
        return gate.load(batch_id)

    gate.release(0, 1, 2)
    pool = ThreadPoolExecutor(2)
    pipeline = ProvingPipeline(
        pool,
        on_proven=seen.on_proven,
        on_failed=seen.on_failed,
        clock_ms=lambda: 0,
        verify=gate.verify,
        load=load,
        max_in_flight=2,
        prove=gate.prove,
    )
    try:
        for b in range(3):
            pipeline.submit(b, None, 0)
        assert seen.done.wait(WAIT_S)
    finally:
        pipeline.close()
        pool.shutdown(wait=True)
    assert [b for b, _, _ in seen.proven] == [0]
    assert [(f.batch_id, f.reason) for f in seen.failures] == [
        (1, "ProofUnavailable: batch 1's transition is neither in memory nor stored")
    ]
    assert pipeline.pending_ids() == [1, 2] and pipeline.lag == 2


def test_the_bound_and_the_source_of_files_are_checked() -> None:
    pool = ThreadPoolExecutor(1)
    try:
        with pytest.raises(ValueError, match="max_in_flight: expected at least 1, got 0"):
            ProvingPipeline(
                pool,
                on_proven=lambda *_a: None,
                on_failed=lambda _f: None,
                clock_ms=lambda: 0,
                max_in_flight=0,
            )
        pipeline = ProvingPipeline(
            pool, on_proven=lambda *_a: None, on_failed=lambda _f: None, clock_ms=lambda: 0
        )
        try:
            with pytest.raises(ValueError, match="expected its files or a loader, got neither"):
                pipeline.submit(0, None, 0)
            assert pipeline.lag == 0
        finally:
            pipeline.close()
    finally:
        pool.shutdown(wait=True)


def test_a_lagging_prover_keeps_a_few_bytes_per_batch_in_line() -> None:
    """A prover that proves nothing while thousands of batches settle holds each of
    them as a slotted id and time (no ``__dict__``, no files, no transition)."""
    import sys
    import tracemalloc

    blocked = threading.Event()

    def never_done(batch_id: int, files_of: Any) -> ProvedBatch:
        blocked.wait(WAIT_S)
        raise ProofUnavailable("the test is over")

    executor = ThreadPoolExecutor(1)
    seen = Recorder(expected=1)
    pipeline = ProvingPipeline(
        executor,
        on_proven=seen.on_proven,
        on_failed=seen.on_failed,
        clock_ms=lambda: 0,
        load=lambda b: partial(dict),
        max_in_flight=1,
        prove=never_done,
    )
    try:
        batches = 5_000
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for b in range(batches):
            pipeline.submit(b, None, b)
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert pipeline.lag == batches
        job = pipeline._pending[-1]
        assert not hasattr(job, "__dict__") and sys.getsizeof(job) <= 80
        # The job, its deque slot and two ints: not a kilobyte of transition a batch.
        assert grown / batches < 200, grown / batches
    finally:
        blocked.set()
        pipeline.close()
        executor.shutdown(wait=True)


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "trader_commit_reveal.py"


@pytest.mark.timeout(300)
def test_a_local_venue_stopped_while_proving_leaks_no_semaphore() -> None:
    """The example starts a local venue, trades in one batch and stops the venue while the
    prover process still proves it: stopping terminates the prover and joins the
    executor, so the resource tracker finds none of its queues' semaphores left at exit
    (it warned "leaked semaphore objects" after every example)."""
    for _ in range(2):  # the leak depended on when the stop came: most runs showed it
        done = subprocess.run(
            [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert " settled: price " in done.stdout, done.stdout
        assert "leaked" not in done.stderr and "resource_tracker" not in done.stderr, done.stderr


def test_stopping_the_local_prover_stops_a_process_a_racing_submit_spawned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch submitted while the venue stops its provers must not leave a prover
    process running its job: the stop would then wait for a whole proof."""
    import concurrent.futures
    import threading
    import time

    executor, stop = local_executor(2)
    first = executor.submit(time.sleep, 0)  # one process up, idle again
    first.result(timeout=WAIT_S)
    real_shutdown = executor.shutdown
    raced: list[concurrent.futures.Future[None]] = []

    def racing_shutdown(wait: bool = True, *, cancel_futures: bool = False) -> None:
        if not raced:  # the first call, stop()'s: a submit gets in just before it
            raced.append(executor.submit(time.sleep, 300))
            raced.append(executor.submit(time.sleep, 300))  # the second spawns a process
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline and not all(f.running() for f in raced):
                time.sleep(0.05)
            assert all(f.running() for f in raced)
        real_shutdown(wait=wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(executor, "shutdown", racing_shutdown)
    procs = executor._processes  # type: ignore[attr-defined]
    done = threading.Event()
    stopper = threading.Thread(target=lambda: (stop(), done.set()), daemon=True)
    stopper.start()
    assert done.wait(60), "stop() waited for a job a racing submit started"
    assert len(procs) == 0 or not any(p.is_alive() for p in list(procs.values()))
