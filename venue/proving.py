"""The proving pipeline: settled batches proved in parallel, recorded in order.

The operator hands every settled batch to :meth:`ProvingPipeline.submit` in
batch order, as a picklable call that renders the files of its published
folder (docs/formats.md): the venue proves exactly what it publishes, and the
rendering happens on the worker and the recorder thread, not on the event
loop. Each batch becomes one job on
an executor — worker processes of
the venue by default (:func:`local_executor`), or a Dask cluster by address
(:func:`dask_executor`) — so consecutive batches are proved at the same time
and nothing runs on the event loop. One recorder thread takes the jobs back
in submission order: it waits for batch n before it looks at batch n+1,
verifies the proof against the batch's files (the venue never records a
proof it did not verify), and hands it to ``on_proven``.

A job that fails (the prover refuses the batch, the proof does not verify,
a worker dies) is handed to ``on_failed`` once and halts the pipeline: the
batches after it are neither recorded nor dropped, so the status chain
``settled → proven`` stops at the failed batch and the operator sees it
(log, metric, operator view). A restart proves the unproven batches again.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sealbatch.crypto.exceptions import SealbatchError

__all__ = [
    "ProofFailure",
    "ProofUnavailable",
    "ProvedBatch",
    "ProvingPipeline",
    "dask_executor",
    "local_executor",
    "prove_job",
    "verify_job",
]

log = logging.getLogger("sealbatch.venue.proving")

#: What a failed job may raise, whichever executor ran it: the prover's and
#: verifier's own errors (``SealbatchError`` and the ``ValueError`` /
#: ``ArithmeticError`` of a refused trace), a dead worker process
#: (``BrokenProcessPool`` is a ``RuntimeError``), a cancelled job, the OS, and
#: Dask's ``KilledWorker`` / ``CommClosedError`` (``RuntimeError`` / ``OSError``
#: subclasses or re-raised remote errors of the kinds above).
JOB_ERRORS: tuple[type[BaseException], ...] = (
    SealbatchError,
    ValueError,
    ArithmeticError,
    RuntimeError,
    OSError,
    MemoryError,
    CancelledError,
    TimeoutError,
)


class ProofUnavailable(SealbatchError):
    """A settled batch the venue cannot hand to a prover (its transition is gone)."""


@dataclass(frozen=True)
class ProvedBatch:
    """A worker's answer: the proof bytes and how long proving took there."""

    batch_id: int
    proof: bytes
    prove_s: float


@dataclass(frozen=True)
class ProofFailure:
    """Why a batch has no proof: the first batch the pipeline could not prove."""

    batch_id: int
    reason: str
    at_ms: int


#: Renders a batch's published files (a picklable call: it travels to the worker).
FilesOf = Callable[[], Mapping[str, str]]


def prove_job(batch_id: int, files_of: FilesOf) -> ProvedBatch:
    """Prove one batch from its folder's files (runs in a worker: a process of the
    venue or a Dask worker).

    Raises:
        BatchStatementError: the prover refuses the batch (its message says why).
    """
    from sealbatch.settlement.batch_proof import prove_files

    started = time.perf_counter()
    proof = prove_files(files_of())
    return ProvedBatch(batch_id, proof, time.perf_counter() - started)


def verify_job(proof: bytes, files: Mapping[str, str]) -> dict[str, Any]:
    """Verify ``proof`` against the batch's files; the summary the record keeps.

    Raises:
        VerificationError: the proof does not prove this batch.
    """
    from sealbatch.settlement.batch_proof import BATCH_AIR_NAME, verify_files

    started = time.perf_counter()
    report = verify_files(proof, files)
    return {
        "air": BATCH_AIR_NAME,
        "size_bytes": len(proof),
        "verified": True,
        "verify_ms": round((time.perf_counter() - started) * 1000, 1),
        "conjectured_bits": report.conjectured,
        "proven_bits": report.proven,
    }


def _exit_with_parent(parent: int) -> None:
    """Prover process initializer: exit when the venue that started it is gone (a
    ``kill -9`` of the venue must not leave provers running on)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="sealbatch-parent-watch", daemon=True).start()


def local_executor(workers: int) -> tuple[Executor, Callable[[], None]]:
    """``workers`` prover processes of this venue and the call that stops them.

    Spawned, not forked: the venue runs threads. Stopping cancels the queued
    jobs and terminates the processes (a proof in progress is abandoned; a
    restart proves the batch again).

    Raises:
        ValueError: ``workers`` is below 1.
    """
    if workers < 1:
        raise ValueError(f"prove workers: expected at least 1, got {workers}")
    executor = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )

    def stop() -> None:
        # ProcessPoolExecutor has no public way to stop a running job before
        # Python 3.14 (terminate_workers): terminate its processes ourselves.
        procs = dict(getattr(executor, "_processes", None) or {})
        executor.shutdown(wait=False, cancel_futures=True)
        for proc in procs.values():
            proc.terminate()

    return executor, stop


def dask_executor(address: str) -> tuple[Executor, Callable[[], None]]:
    """An executor on the Dask cluster at ``address`` and the call that disconnects.

    Raises:
        OSError: the scheduler cannot be reached (within 10 s).
    """
    from distributed import Client

    client = Client(address, timeout=10, set_as_default=False)
    # pure=False: two batches never share a result, whatever their arguments hash to.
    return client.get_executor(pure=False), client.close


@dataclass
class _Job:
    batch_id: int
    files_of: FilesOf | None
    future: Future[ProvedBatch]
    settled_ms: int


_STOP = object()


class ProvingPipeline:
    """Prove settled batches on ``executor``; record them in batch order.

    Args:
        executor: where :func:`prove_job` runs.
        on_proven: ``(batch_id, proof, summary)`` once a proof verified, in order.
        on_failed: ``(failure)`` once, for the first batch that could not be proved.
        clock_ms: the venue's clock (milliseconds), for lag and failure times.
        shutdown: stops the executor (its running jobs too) on :meth:`close`.
        verify: checks a proof against its publication (:func:`verify_job`).
    """

    def __init__(
        self,
        executor: Executor,
        *,
        on_proven: Callable[[int, bytes, dict[str, Any]], None],
        on_failed: Callable[[ProofFailure], None],
        clock_ms: Callable[[], int],
        shutdown: Callable[[], None] | None = None,
        verify: Callable[[bytes, Mapping[str, str]], dict[str, Any]] = verify_job,
    ) -> None:
        self.executor = executor
        self.on_proven = on_proven
        self.on_failed = on_failed
        self.clock_ms = clock_ms
        self.shutdown = shutdown
        self.verify = verify
        self._lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue()
        #: Submitted and not yet recorded, in batch order (the recorder's head first).
        self._pending: list[_Job] = []
        self.failure: ProofFailure | None = None
        self.last_proven: int | None = None
        self.proven = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sealbatch-prove", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- state

    @property
    def lag(self) -> int:
        """Settled batches handed over and not proven yet."""
        with self._lock:
            return len(self._pending)

    def lag_seconds(self) -> float:
        """Age of the oldest settled batch not proven yet (0 when none)."""
        with self._lock:
            oldest = self._pending[0].settled_ms if self._pending else None
        return 0.0 if oldest is None else max(0, self.clock_ms() - oldest) / 1000

    def pending_ids(self) -> list[int]:
        with self._lock:
            return [j.batch_id for j in self._pending]

    # ---------------------------------------------------------------- submit

    def submit(self, batch_id: int, files_of: FilesOf, settled_ms: int) -> None:
        """Start proving ``batch_id`` from its folder's files (ids must increase).

        Args:
            batch_id: the batch.
            files_of: renders the batch's files (picklable, e.g. a ``functools.partial``
                of :meth:`BatchPublication.files`).
            settled_ms: when the batch settled (for the lag).

        Raises:
            ValueError: ``batch_id`` is not after the last one submitted.
        """
        future: Future[ProvedBatch]
        if self.failure is not None:
            # Halted: keep the batch in line (it counts in the lag), prove nothing new.
            future = Future()
            future.set_exception(CancelledError("proving halted"))
        else:
            try:
                future = self.executor.submit(prove_job, batch_id, files_of)
            except JOB_ERRORS as exc:  # a broken or closed executor
                future = Future()
                future.set_exception(exc)
        self._enqueue(batch_id, files_of, future, settled_ms)

    def _enqueue(
        self,
        batch_id: int,
        files_of: FilesOf | None,
        future: Future[ProvedBatch],
        settled_ms: int,
    ) -> None:
        with self._lock:
            if self._closed:
                future.cancel()
                return
            last = self._pending[-1].batch_id if self._pending else self.last_proven
            if last is not None and batch_id <= last:
                future.cancel()
                raise ValueError(f"batch_id: expected a batch after {last}, got {batch_id}")
            job = _Job(batch_id, files_of, future, settled_ms)
            self._pending.append(job)
        self._queue.put(job)

    def submit_unavailable(self, batch_id: int, reason: str, settled_ms: int) -> None:
        """Put a batch that cannot be proved in line: proving halts when it is its turn.

        Raises:
            ValueError: ``batch_id`` is not after the last one submitted.
        """
        future: Future[ProvedBatch] = Future()
        future.set_exception(ProofUnavailable(reason))
        self._enqueue(batch_id, None, future, settled_ms)

    def close(self) -> None:
        """Stop: record nothing more, cancel the queued jobs, stop the executor (a
        proof in progress is abandoned: a restart proves the batch again)."""
        with self._lock:
            self._closed = True
            for job in self._pending:
                job.future.cancel()
        if self.shutdown is not None:
            self.shutdown()
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    # -------------------------------------------------------------- recorder

    def _run(self) -> None:
        try:
            while True:
                job = self._queue.get()
                if job is _STOP:
                    return
                if self.failure is not None:
                    continue  # halted: the job stays pending, never recorded
                self._record(job)
        except BaseException as exc:
            # Never die silently: a recorder that stopped is a halted pipeline.
            self._fail(-1, f"the proof recorder stopped: {exc!r}")
            raise

    def _record(self, job: _Job) -> None:
        try:
            proved = job.future.result()
            if job.files_of is None:
                raise ProofUnavailable(f"batch {job.batch_id} has no transition to check against")
            if proved.batch_id != job.batch_id:
                raise ValueError(
                    f"expected the proof of batch {job.batch_id}, got batch {proved.batch_id}"
                )
            summary = self.verify(proved.proof, job.files_of())
        except JOB_ERRORS as exc:
            if self._closed:
                return
            self._fail(job.batch_id, f"{type(exc).__name__}: {exc}")
            return
        summary = {**summary, "prove_s": round(proved.prove_s, 3), "proved_ms": self.clock_ms()}
        self.on_proven(job.batch_id, proved.proof, summary)
        with self._lock:
            self._pending.remove(job)
            self.last_proven = job.batch_id
            self.proven += 1

    def _fail(self, batch_id: int, reason: str) -> None:
        with self._lock:
            if self.failure is not None:
                return
            if batch_id < 0 and self._pending:
                batch_id = self._pending[0].batch_id
            self.failure = ProofFailure(batch_id, reason, self.clock_ms())
            for job in self._pending:
                if job.batch_id != batch_id:
                    job.future.cancel()
        log.error("batch %d could not be proved: %s; proving halts here", batch_id, reason)
        self.on_failed(self.failure)
