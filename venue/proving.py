"""The proving pipeline: settled batches proved in parallel, recorded in order.

The operator hands every settled batch to :meth:`ProvingPipeline.submit` in
batch order, by id: the batch waits in line as a number, and only when its
turn comes does the pipeline ask the venue (``load``) for a picklable call
that renders the files of its published folder (docs/formats.md), from
memory or the database. The venue proves exactly what it publishes, and the
rendering happens on the worker and the recorder thread, not on the event
loop. At most ``max_in_flight`` batches are loaded and handed to the
executor at a time — worker processes of the venue by default
(:func:`local_executor`), or a Dask cluster by address
(:func:`dask_executor`) — so consecutive batches are proved at the same time,
nothing runs on the event loop, and a prover that lags far behind costs a
list of batch ids, not a transition in memory per batch. One recorder thread
starts the jobs and takes them back in submission order: it waits for batch
n before it looks at batch n+1, verifies the proof against the batch's files
(the venue never records a proof it did not verify), and hands it to
``on_proven``.

A job that fails (the prover refuses the batch, the proof does not verify,
a worker dies) is handed to ``on_failed`` once and halts the pipeline: the
batches after it are neither recorded nor dropped, so the status chain
``settled → proven`` stops at the failed batch and the operator sees it
(log, metric, operator view). A restart proves the unproven batches again.
"""

from __future__ import annotations

import collections
import itertools
import logging
import multiprocessing
import os
import socket
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
    "dask_scheduler_problem",
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

#: Finds the files of a settled batch when its turn comes (raises ProofUnavailable).
LoadFiles = Callable[[int], FilesOf]

#: Batches loaded and handed to the executor at a time when nobody says otherwise.
DEFAULT_IN_FLIGHT = 2


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
        # The executor's own dict, not a copy: a submit racing this stop may still
        # spawn a process into it until shutdown sets the flag every submit checks
        # under the executor's lock; shutdown then drops the executor's reference.
        live = getattr(executor, "_processes", None)
        executor.shutdown(wait=False, cancel_futures=True)
        procs = dict(live or {})
        for proc in procs.values():
            proc.terminate()
        deadline = time.monotonic() + 10
        for proc in procs.values():
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        for proc in procs.values():
            if proc.is_alive():  # SIGTERM not taken within 10 s: no proof is worth a hang
                proc.kill()
                proc.join()
        # With its processes gone the executor's manager thread ends: joining it
        # releases the queues' semaphores (else the resource tracker warns at exit).
        executor.shutdown(wait=True)

    return executor, stop


#: Schemes of a Dask scheduler address that run over TCP (``host:port`` alone is TCP).
_TCP_SCHEMES = ("tcp", "tls", "ws", "wss")
#: A Dask scheduler's default port.
DASK_PORT = 8786


def dask_scheduler_problem(address: str, timeout_s: float = 5.0) -> str | None:
    """Why no Dask scheduler can be reached at ``address``, or None.

    The address is ``[scheme://]host[:port]`` as Dask takes it (``tcp`` by default,
    port 8786 by default). For a TCP-based scheme the host and port must accept a
    connection within ``timeout_s``; other schemes (``inproc``, ``ucx``) are left to
    Dask. A venue asks this before it binds its port, so that an unreachable cluster is
    one line and not the failed start of the app (``sealbatch serve --dask``).
    """
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in _TCP_SCHEMES:
        return None
    rest = rest.rstrip("/")
    host, colon, port_text = rest.rpartition(":")
    # no port: a bare host, or an IPv6 literal ("[::1]") whose last colon is its own
    if not colon or (":" in host and not host.endswith("]")):
        host, port_text = rest, ""
    host = host.strip("[]")
    if not host:
        return f"expected a Dask scheduler address such as tcp://host:8786, got {address!r}"
    try:
        port = int(port_text) if port_text else DASK_PORT
    except ValueError:
        return f"expected a Dask scheduler address such as tcp://host:8786, got {address!r}"
    if not 0 < port < 65536:
        return f"expected a Dask scheduler port from 1 to 65535, got {port} in {address!r}"
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"no Dask scheduler answers at {address}: {exc.strerror or exc}"


def dask_executor(address: str) -> tuple[Executor, Callable[[], None]]:
    """An executor on the Dask cluster at ``address`` and the call that disconnects.

    Raises:
        OSError: the scheduler cannot be reached (within 10 s).
    """
    from distributed import Client

    client = Client(address, timeout=10, set_as_default=False)
    # pure=False: two batches never share a result, whatever their arguments hash to.
    return client.get_executor(pure=False), client.close


@dataclass(slots=True)
class _Job:
    """A settled batch in line: ``files_of`` and ``future`` are set when it starts
    (``files_of`` stays None for a batch whose files could not be found). Slotted: a
    prover that lags keeps one per batch it has not proved (64 bytes each rather
    than 350 with a ``__dict__``)."""

    batch_id: int
    settled_ms: int
    files_of: FilesOf | None = None
    future: Future[ProvedBatch] | None = None


class ProvingPipeline:
    """Prove settled batches on ``executor``; record them in batch order.

    Args:
        executor: where :func:`prove_job` runs.
        on_proven: ``(batch_id, proof, summary)`` once a proof verified, in order.
        on_failed: ``(failure)`` once, for the first batch that could not be proved.
        clock_ms: the venue's clock (milliseconds), for lag and failure times.
        shutdown: stops the executor (its running jobs too) on :meth:`close`.
        verify: checks a proof against its publication (:func:`verify_job`).
        load: finds a batch's files when its turn comes, for batches submitted
            without them (raises :class:`ProofUnavailable` when they are gone).
        max_in_flight: batches loaded and on the executor at a time (at least 1);
            the rest wait in line as ids.
        prove: runs on the executor (None: :func:`prove_job`).

    Raises:
        ValueError: ``max_in_flight`` is below 1.
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
        load: LoadFiles | None = None,
        max_in_flight: int = DEFAULT_IN_FLIGHT,
        prove: Callable[[int, FilesOf], ProvedBatch] | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight: expected at least 1, got {max_in_flight}")
        self.executor = executor
        self.on_proven = on_proven
        self.on_failed = on_failed
        self.clock_ms = clock_ms
        self.shutdown = shutdown
        self.verify = verify
        self.load = load
        self.max_in_flight = max_in_flight
        self.prove = prove
        #: Reentrant: cancelling a job under it runs its done callback, which takes it.
        self._lock = threading.RLock()
        #: Wakes the recorder: a batch submitted, or the pipeline closed.
        self._wake = threading.Condition(self._lock)
        #: Submitted and not yet recorded, in batch order (the recorder's head first);
        #: the first ``started`` of them are loaded and on the executor.
        self._pending: collections.deque[_Job] = collections.deque()
        self._started = 0
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

    @property
    def in_flight(self) -> int:
        """Batches loaded and handed to the executor, not recorded yet."""
        with self._lock:
            return self._started

    def pending_ids(self, limit: int | None = None) -> list[int]:
        """The batches not proven yet, oldest first (the first ``limit`` of them)."""
        with self._lock:
            jobs = self._pending if limit is None else itertools.islice(self._pending, limit)
            return [j.batch_id for j in jobs]

    # ---------------------------------------------------------------- submit

    def submit(self, batch_id: int, files_of: FilesOf | None, settled_ms: int) -> None:
        """Put ``batch_id`` in line to be proved (ids must increase).

        Args:
            batch_id: the batch.
            files_of: renders the batch's files (picklable, e.g. a ``functools.partial``
                of :meth:`BatchPublication.files`), or None: ``load`` finds them when
                the batch's turn comes (nothing of the batch is held meanwhile).
            settled_ms: when the batch settled (for the lag).

        Raises:
            ValueError: ``batch_id`` is not after the last one submitted, or neither
                ``files_of`` nor ``load`` says where its files are.
        """
        if files_of is None and self.load is None:
            raise ValueError(f"batch {batch_id}: expected its files or a loader, got neither")
        self._enqueue(_Job(batch_id, settled_ms, files_of))

    def _enqueue(self, job: _Job) -> None:
        with self._wake:
            if self._closed:
                return
            last = self._pending[-1].batch_id if self._pending else self.last_proven
            if last is not None and job.batch_id <= last:
                raise ValueError(f"batch_id: expected a batch after {last}, got {job.batch_id}")
            self._pending.append(job)
            self._wake.notify()

    def submit_unavailable(self, batch_id: int, reason: str, settled_ms: int) -> None:
        """Put a batch that cannot be proved in line: proving halts when it is its turn.

        Raises:
            ValueError: ``batch_id`` is not after the last one submitted.
        """
        future: Future[ProvedBatch] = Future()
        future.set_exception(ProofUnavailable(reason))
        self._enqueue(_Job(batch_id, settled_ms, None, future))

    def close(self) -> None:
        """Stop: record nothing more, cancel the queued jobs, stop the executor (a
        proof in progress is abandoned: a restart proves the batch again)."""
        with self._wake:
            self._closed = True
            for job in self._pending:
                if job.future is not None:
                    job.future.cancel()
            self._wake.notify()
        if self.shutdown is not None:
            self.shutdown()
        self._thread.join(timeout=30)

    # -------------------------------------------------------------- recorder

    def _run(self) -> None:
        try:
            while True:
                with self._wake:
                    # Halted: the jobs stay pending, never started nor recorded.
                    while not self._closed and (self.failure is not None or not self._due()):
                        self._wake.wait()
                    if self._closed:
                        return
                    head = self._pending[0]
                    head_done = head.future is not None and head.future.done()
                self._start_due()
                if head_done:
                    self._record(head)
        except BaseException as exc:
            # Never die silently: a recorder that stopped is a halted pipeline.
            self._fail(-1, f"the proof recorder stopped: {exc!r}")
            raise

    def _due(self) -> bool:
        """Whether the recorder has work (caller holds the lock): a batch to start, or
        the oldest one's proof to record."""
        if not self._pending:
            return False
        head = self._pending[0].future
        return (head is not None and head.done()) or self._started < min(
            self.max_in_flight, len(self._pending)
        )

    def _wake_recorder(self, _future: Future[ProvedBatch]) -> None:
        with self._wake:
            self._wake.notify()

    def _start_due(self) -> None:
        """Load and start the batches next in line, up to ``max_in_flight`` at a time."""
        while True:
            with self._lock:
                if self._closed or self.failure is not None:
                    return
                if self._started >= min(self.max_in_flight, len(self._pending)):
                    return
                job = self._pending[self._started]
                self._started += 1
            if job.future is None:
                future: Future[ProvedBatch]
                try:
                    if job.files_of is None:
                        if self.load is None:
                            raise ProofUnavailable(f"batch {job.batch_id}: nowhere to load it from")
                        job.files_of = self.load(job.batch_id)
                    prove = prove_job if self.prove is None else self.prove
                    future = self.executor.submit(prove, job.batch_id, job.files_of)
                except JOB_ERRORS as exc:  # files gone, or a broken or closed executor
                    future = Future()
                    future.set_exception(exc)
                job.future = future
            # Done already: the callback runs here, at once (the lock is not held).
            job.future.add_done_callback(self._wake_recorder)

    def _record(self, job: _Job) -> None:
        try:
            if job.future is None:
                raise ProofUnavailable(f"batch {job.batch_id} was never started")
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
            self._pending.popleft()
            self._started -= 1
            self.last_proven = job.batch_id
            self.proven += 1
        # What it held (the batch's transition, the proof) goes with it.
        job.files_of = job.future = None

    def _fail(self, batch_id: int, reason: str) -> None:
        with self._lock:
            if self.failure is not None:
                return
            if batch_id < 0 and self._pending:
                batch_id = self._pending[0].batch_id
            self.failure = ProofFailure(batch_id, reason, self.clock_ms())
            for job in self._pending:
                if job.batch_id != batch_id and job.future is not None:
                    job.future.cancel()
        log.error("batch %d could not be proved: %s; proving halts here", batch_id, reason)
        self.on_failed(self.failure)
