"""The cryptography of the lab's sealed orders, in place or in worker processes.

Every order under commit-reveal costs the same real work as on the venue:

* **the trader's side** — hash the order into its Poseidon2 commitment
  (:func:`~sealbatch.auction.commitment.compute_commitments`), build the
  EIP-712 ``Commit``, hash it and sign the digest with the trader's secp256k1
  key (libsecp256k1 through coincurve, called directly);
* **the book's side** — recover the signer from the digest and signature
  (:func:`~sealbatch.crypto.eip712.recover_signer`, every check of the book's
  own recovery) and sign the operator's ``Receipt``
  (:func:`~sealbatch.auction.commit_reveal.sign_receipt`); at the batch's
  close, the commitment root (the batch seed) and each reveal's commitment
  recomputed from the revealed order and salt.

:class:`CommitCrypto` runs that work either in place, one commit window at a
time in one vectorised hash (``workers=0``, what sweeps use: their runs are
already spread over processes), or in worker processes (``workers>0``). Then
the traders' work is done ahead of need: each order is sent to a worker as
it arrives, in chunks of :data:`CHUNK` (the worker hashes, signs and, for
the book, recovers the signer), so by the window's close most commitments
are signed; the book takes them in arrival order and checks each itself
(window, batch, market, the recovered signer against the named trader,
commitment form, nonce), exactly as the venue does with its
signer pool. Receipts are signed in the workers once
the book has numbered them, the commitment root while the reveal window
runs, and the reveals' commitments as the reveals arrive. When the loop
needs a result (a window's commitments, a root, a batch's reveal hashes, the
receipts at the end) it takes back every job of it that no worker has
started and runs it itself, newest first, while the workers finish the older
ones: it would otherwise wait idle, and with one worker on two cores this
shares the work between both. The bytes are the
same either way (RFC 6979 signatures are deterministic): a run's outcomes do
not depend on ``workers`` (tested).
"""

from __future__ import annotations

import atexit
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache

import coincurve

from sealbatch.auction.commit_reveal import COMMIT_TYPE, sign_receipt
from sealbatch.auction.commitment import commitment_root, compute_commitments
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import Address, Eip712Domain, checksum_address, recover_signer
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.poseidon2_jit import use_compiled
from sealbatch.research.errors import LabError
from sealbatch.research.simulation import LabOrder

__all__ = [
    "CHUNK",
    "CommitContext",
    "CommitCrypto",
    "CommitJob",
    "CryptoWorkerError",
    "SignedCommitJob",
    "lab_key",
    "lab_order",
    "lab_salt",
    "sealed_order",
    "shutdown_pools",
    "trader_address",
]

#: Orders per job sent to a worker: small, so that little is left to sign
#: when a window closes; large enough that the vectorised Poseidon2 hash, whose
#: cost is mostly per call (~1.8 ms for 1 to 16 rows, 2.3 ms for 64), and the
#: round trip are paid by the work.
CHUNK = 32
#: Reveals per job: they are needed only at the batch's close.
REVEAL_CHUNK = 64

CommitJob = tuple[int, int, int, int, int, int, int]
"""One order to commit: (account, side ±1, limit ticks, lots, order id, nonce, batch id)."""

SignedCommitJob = tuple[bytes, bytes, Address, bytes, Address | None]
"""What the trader sends for one order, and what the book's worker recovered:
(salt, commitment, trader address, 65-byte signature, recovered signer or None
when the book recovers it itself)."""

RevealJob = tuple[int, int, int, int, bytes, str, int]
"""One reveal to hash: (side ±1, limit ticks, lots, order id, salt, trader, batch id)."""


class CryptoWorkerError(LabError):
    """A worker process of the lab's commit cryptography died."""


def lab_key(account: int) -> bytes:
    """The deterministic secp256k1 key of lab account ``account`` (simulation only)."""
    return keccak256(b"sealbatch.lab.key", account.to_bytes(8, "big"))


def lab_salt(seed_bytes: bytes, oid: int) -> bytes:
    """The 32-byte salt of order ``oid`` in the run with seed ``seed_bytes`` (simulation only)."""
    return keccak256(b"sealbatch.lab.salt", seed_bytes, oid.to_bytes(8, "big"))


@lru_cache(maxsize=1 << 14)
def lab_order(market: str, side: int, price: int, qty: int, oid: int) -> Order:
    """The auction layer's order for a sealed lab order (IOC: it lasts one batch).

    Built once per order (cached): the reveal, the book's check and an
    adversary's trial clearings all use the same immutable :class:`Order`.
    """
    return Order(
        market, Side.BUY if side > 0 else Side.SELL, price, qty, TimeInForce.IOC, client_id=oid
    )


def sealed_order(market: str, o: LabOrder) -> Order:
    """:func:`lab_order` of lab order ``o`` (all its lots)."""
    return lab_order(market, o.side, o.price, o.qty, o.oid)


@dataclass(frozen=True)
class CommitContext:
    """What every commitment of a run shares (sent once per job)."""

    market: str
    bond: int
    seed_bytes: bytes
    domain: Eip712Domain
    operator_key: bytes


@lru_cache(maxsize=1 << 16)
def _trader(account: int) -> tuple[coincurve.PrivateKey, Address]:
    """The trader's signing key (built once: building one costs about a signature) and address."""
    key = coincurve.PrivateKey(lab_key(account))
    return key, checksum_address(keccak256(key.public_key.format(compressed=False)[1:])[-20:])


def trader_address(account: int) -> Address:
    """The address of lab account ``account``."""
    return _trader(account)[1]


def sign_commitments(
    ctx: CommitContext, jobs: Sequence[CommitJob], recover: bool
) -> list[SignedCommitJob]:
    """The traders' commitments and signatures for ``jobs`` (one vectorised Poseidon2
    hash), with the signer each recovers to when ``recover`` (the book's worker)."""
    orders = [lab_order(ctx.market, s, p, q, oid) for _, s, p, q, oid, _, _ in jobs]
    salts = [lab_salt(ctx.seed_bytes, job[4]) for job in jobs]
    traders = [_trader(job[0]) for job in jobs]
    out: list[SignedCommitJob] = []
    by_batch: dict[int, list[int]] = {}
    for i, job in enumerate(jobs):
        by_batch.setdefault(job[6], []).append(i)
    commitments: list[bytes] = [b""] * len(jobs)
    for batch, rows in by_batch.items():
        hashed = compute_commitments(
            [orders[i] for i in rows],
            [salts[i] for i in rows],
            [traders[i][1] for i in rows],
            batch,
        )
        for i, c in zip(rows, hashed, strict=True):
            commitments[i] = c
    domain = ctx.domain
    for job, salt, commitment, (key, address) in zip(
        jobs, salts, commitments, traders, strict=True
    ):
        _, _, _, _, _, nonce, batch = job
        message = {
            "trader": address,
            "batchId": batch,
            "market": ctx.market,
            "commitment": commitment,
            "nonce": nonce,
            "marginLock": 0,
            "bond": ctx.bond,
            "expiry": (1 << 64) - 1,
        }
        digest = keccak256(b"\x19\x01", domain.separator, COMMIT_TYPE.hash_struct(message))
        raw = key.sign_recoverable(digest, hasher=None)
        signature = raw[:64] + bytes((raw[64] + 27,))
        signer = recover_signer(digest, signature) if recover else None
        out.append((salt, commitment, address, signature, signer))
    return out


def sign_receipts(ctx: CommitContext, items: Sequence[tuple[int, int, bytes, int]]) -> list[bytes]:
    """The operator's signature of each receipt ``(batch, sequence, commitment, received_ms)``."""
    return [sign_receipt(ctx.domain, ctx.operator_key, *item) for item in items]


def hash_reveals(market: str, jobs: Sequence[RevealJob]) -> list[bytes | None]:
    """The commitment each reveal's order and salt hash to under its trader and batch
    (one vectorised Poseidon2 hash per batch); None where the reveal cannot be
    hashed (the book hashes it again and reports the field)."""
    out: list[bytes | None] = [None] * len(jobs)
    by_batch: dict[int, list[int]] = {}
    for i, job in enumerate(jobs):
        by_batch.setdefault(job[6], []).append(i)
    for batch, rows in by_batch.items():
        try:
            hashed = compute_commitments(
                [lab_order(market, *jobs[i][:4]) for i in rows],
                [jobs[i][4] for i in rows],
                [jobs[i][5] for i in rows],
                batch,
            )
        except ValueError:
            continue
        for i, c in zip(rows, hashed, strict=True):
            out[i] = c
    return out


def _timed(fn_name: str, *args: object) -> tuple[object, float]:
    """In a worker: run one job, with the worker's CPU seconds for it."""
    use_compiled()
    started = time.process_time()
    result = _JOBS[fn_name](*args)  # type: ignore[operator]
    return result, time.process_time() - started


_JOBS = {
    "sign_commitments": sign_commitments,
    "sign_receipts": sign_receipts,
    "hash_reveals": hash_reveals,
    "commitment_root": commitment_root,
}

_POOLS: dict[int, ProcessPoolExecutor] = {}


@dataclass(frozen=True)
class _Task:
    """A job sent to the workers, with what it needs to run in place instead."""

    future: Future[tuple[object, float]]
    fn_name: str
    args: tuple[object, ...]


def _pool(workers: int) -> ProcessPoolExecutor:
    """The shared pool of ``workers`` processes (started once, reused by every run)."""
    pool = _POOLS.get(workers)
    if pool is None:
        # spawn, not fork: a run may live in a threaded process (a Dask worker, the venue)
        ctx = multiprocessing.get_context("spawn")
        pool = _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=ctx)
    return pool


@atexit.register
def shutdown_pools() -> None:
    """Stop this process's worker pools (at exit, and where exit is abrupt: a Dask worker)."""
    for pool in _POOLS.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


@dataclass
class CommitCrypto:
    """The commitments, receipts, seeds and reveal hashes of one run.

    Args:
        ctx: what the run's commitments share.
        workers: worker processes (0: everything in place, as the book does it).
    """

    ctx: CommitContext
    workers: int = 0
    #: CPU seconds the workers spent on this run's jobs (0 in place).
    worker_cpu_s: float = 0.0
    receipts_signed: int = 0
    _open: dict[int, list[CommitJob]] = field(default_factory=dict, repr=False)
    #: Jobs the loop took back from the workers' queue and ran itself while it
    #: waited for them (their CPU is the loop's).
    stolen: int = 0
    #: The loop's CPU seconds for those jobs (part of the loop's CPU time).
    stolen_cpu_s: float = 0.0
    #: Whether to keep the receipt signatures (a recorded run, a test): a long
    #: run's memory would otherwise grow with its commitments.
    keep_receipts: bool = False
    #: The operator's receipt signatures by (batch, sequence), when kept: signed
    #: in the workers (or by the loop that took their job back), or handed to
    #: :meth:`keep_receipt` by the book's caller in place.
    receipt_signatures: dict[tuple[int, int], bytes] = field(default_factory=dict, repr=False)
    _sent: dict[int, list[_Task]] = field(default_factory=dict, repr=False)
    _receipts: list[_Task] = field(default_factory=list, repr=False)
    _reveals: dict[int, list[RevealJob]] = field(default_factory=dict, repr=False)
    _reveals_sent: dict[int, list[_Task]] = field(default_factory=dict, repr=False)
    _roots: dict[int, _Task] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise LabError(f"workers: expected >= 0, got {self.workers}")
        # every Poseidon2 permutation of the run through the compiled kernel (same values)
        use_compiled()

    @property
    def pooled(self) -> bool:
        return self.workers > 0

    def start(self) -> None:
        """Start the workers now (not inside the measured loop): one round trip each."""
        if self.pooled:
            pool = _pool(self.workers)
            for f in [
                pool.submit(_timed, "sign_receipts", self.ctx, []) for _ in range(self.workers)
            ]:
                f.result()

    def _submit(self, fn_name: str, *args: object) -> _Task:
        try:
            return _Task(_pool(self.workers).submit(_timed, fn_name, *args), fn_name, args)
        except BrokenProcessPool as exc:
            _POOLS.pop(self.workers, None)
            raise CryptoWorkerError(f"a commit-crypto worker died: {exc}") from exc

    def _steal(self, tasks: Sequence[_Task]) -> dict[int, object]:
        """Run here the tasks no worker has started (newest first, while the workers
        finish the older ones): the loop would otherwise wait idle for them. The
        same functions on the same arguments: the same bytes."""
        done: dict[int, object] = {}
        for i in range(len(tasks) - 1, -1, -1):
            task = tasks[i]
            if task.future.cancel():
                started = time.process_time()
                done[i] = _JOBS[task.fn_name](*task.args)  # type: ignore[operator]
                self.stolen_cpu_s += time.process_time() - started
                self.stolen += 1
        return done

    def _results(self, tasks: Sequence[_Task]) -> list[object]:
        """The results of ``tasks`` in order (those not started yet run here)."""
        stolen = self._steal(tasks)
        return [stolen[i] if i in stolen else self._result(t) for i, t in enumerate(tasks)]

    def _result(self, task: _Task) -> object:
        try:
            result, cpu = task.future.result()
        except BrokenProcessPool as exc:
            _POOLS.pop(self.workers, None)
            raise CryptoWorkerError(f"a commit-crypto worker died: {exc}") from exc
        self.worker_cpu_s += cpu
        return result

    # -- commitments ----------------------------------------------------------------
    def add(self, job: CommitJob) -> None:
        """An order arrived in its batch's commit window: with workers, its trader
        starts signing as soon as a chunk is full."""
        batch = job[6]
        chunk = self._open.setdefault(batch, [])
        chunk.append(job)
        if self.pooled and len(chunk) >= CHUNK:
            self._sent.setdefault(batch, []).append(
                self._submit("sign_commitments", self.ctx, chunk, True)
            )
            self._open[batch] = []

    def take(self, batch: int) -> list[SignedCommitJob]:
        """Every commitment of ``batch`` not taken yet, in arrival order (waits for the workers)."""
        chunk = self._open.pop(batch, [])
        if not self.pooled:
            return sign_commitments(self.ctx, chunk, recover=False)
        tasks = self._sent.pop(batch, [])
        if chunk:
            tasks.append(self._submit("sign_commitments", self.ctx, chunk, True))
        out: list[SignedCommitJob] = []
        for result in self._results(tasks):
            out.extend(result)  # type: ignore[arg-type]
        return out

    # -- receipts -------------------------------------------------------------------
    def sign_receipts(self, items: Sequence[tuple[int, int, bytes, int]]) -> None:
        """Sign the book's numbered receipts in the workers (collected by :meth:`collect`)."""
        if not items:
            return
        step = -(-len(items) // self.workers)  # one slice per worker
        for i in range(0, len(items), step):
            self._receipts.append(
                self._submit("sign_receipts", self.ctx, list(items[i : i + step]))
            )

    def collect(self, wait: bool = False) -> None:
        """Count the receipts the workers have signed (all of them with ``wait``)."""
        if wait:
            for task, result in zip(self._receipts, self._results(self._receipts), strict=True):
                self._keep_receipts(task, result)
            self._receipts = []
            return
        keep = []
        for task in self._receipts:
            if task.future.done():
                self._keep_receipts(task, self._result(task))
            else:
                keep.append(task)
        self._receipts = keep

    def _keep_receipts(self, task: _Task, signatures: object) -> None:
        items: list[tuple[int, int, bytes, int]] = task.args[1]  # type: ignore[assignment]
        if self.keep_receipts:
            for (batch, sequence, _, _), sig in zip(items, signatures, strict=True):  # type: ignore[call-overload]
                self.receipt_signatures[(batch, sequence)] = sig
        self.receipts_signed += len(items)

    def keep_receipt(self, batch: int, sequence: int, signature: bytes) -> None:
        """A receipt the book signed in place: kept like the workers' (when kept)."""
        if self.keep_receipts:
            self.receipt_signatures[(batch, sequence)] = signature

    # -- the batch seed ---------------------------------------------------------------
    def start_root(self, batch: int, leaves: Sequence[tuple[bytes, str, str, int]]) -> None:
        """Start the commitment root of ``batch``: its commitments in receipt order, each
        with its market, trader and bond (its leaf binds them)."""
        if self.pooled:
            self._roots[batch] = self._submit(
                "commitment_root",
                [c for c, _, _, _ in leaves],
                [m for _, m, _, _ in leaves],
                [t for _, _, t, _ in leaves],
                [b for _, _, _, b in leaves],
            )

    def root(self, batch: int) -> bytes | None:
        """The root started for ``batch``, None if none was (the book computes it)."""
        task = self._roots.pop(batch, None)
        return None if task is None else self._results([task])[0]  # type: ignore[return-value]

    # -- reveals --------------------------------------------------------------------
    def add_reveal(self, job: RevealJob) -> None:
        """A reveal arrived: with workers, its commitment is recomputed as chunks fill."""
        if not self.pooled:
            return
        batch = job[6]
        chunk = self._reveals.setdefault(batch, [])
        chunk.append(job)
        if len(chunk) >= REVEAL_CHUNK:
            self._reveals_sent.setdefault(batch, []).append(
                self._submit("hash_reveals", self.ctx.market, chunk)
            )
            self._reveals[batch] = []

    def reveal_hashes(self, batch: int) -> list[bytes | None] | None:
        """The recomputed commitments of ``batch``'s reveals in arrival order, None in place."""
        if not self.pooled:
            return None
        chunk = self._reveals.pop(batch, [])
        tasks = self._reveals_sent.pop(batch, [])
        if chunk:
            tasks.append(self._submit("hash_reveals", self.ctx.market, chunk))
        out: list[bytes | None] = []
        for result in self._results(tasks):
            out.extend(result)  # type: ignore[arg-type]
        return out
