"""The running venue service: batch clock, durable log, crash recovery, streams, metrics.

:class:`VenueService` wraps the deterministic
:class:`~venue.state_machine.VenueStateMachine` (its ``core``):

- every write first advances the batch clock to the current time, then is
  applied to the core, appended to the log and committed (group commit)
  before the answer leaves; a replay performs exactly the same sequence;
- the loop (:meth:`VenueService.run`) advances the clock every ``tick_ms`` so
  batches close, clear and settle on time with no traffic: commit → reveal →
  clear → settle (→ prove → anchor, once those exist), pipelined so that
  batch n+1 collects while batch n reveals;
- at start-up the log is replayed from the beginning; every batch that was
  stored before the crash must come out with the same result hash, or the
  service refuses to start (:class:`~venue.errors.StateDiverged`);
- stream messages about a batch are published only once its record is
  durable, so no client ever sees a result a crash could undo.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import math
import pickle
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sealbatch.auction.commit_reveal import Receipt, RevealedOrder
from sealbatch.auction.commitment import commitment_leaf, commitment_path
from sealbatch.auction.errors import AuctionError
from sealbatch.auction.markets import DEFAULT_MARKETS, Market
from sealbatch.crypto.eip712 import DEV_VERIFYING_CONTRACT, Address, Eip712Domain
from sealbatch.crypto.exceptions import SealbatchError
from sealbatch.settlement.clearinghouse import Clearinghouse
from sealbatch.settlement.oracle import load_oracle_config
from sealbatch.settlement.publication import BatchPublication, PublishedBatch
from sealbatch.settlement.roots import state_root
from sealbatch.venue.auth import RateLimiter
from sealbatch.venue.batch_record import BatchRecord, OpenBatch
from sealbatch.venue.clock import BatchSchedule, Clock, SystemClock
from sealbatch.venue.committee import Committee, load_committee
from sealbatch.venue.errors import (
    BadRequest,
    Conflict,
    Gone,
    Halted,
    NotFound,
    SnapshotDamaged,
    StateDiverged,
    StorageUnavailable,
    VenueError,
)
from sealbatch.venue.order_status import OrderStatus
from sealbatch.venue.persistence import GroupCommitter, LoggedEvent, Snapshot, Store
from sealbatch.venue.proving import (
    ProofFailure,
    ProofUnavailable,
    ProvingPipeline,
    dask_executor,
    local_executor,
)
from sealbatch.venue.publisher import (
    PROOF_FILE,
    THRESHOLD_FILE,
    archive_bytes,
    folder_name,
    read_folder,
    write_folder,
    write_proof,
)
from sealbatch.venue.rfq import OPEN_PAGE_MAX, Acceptance, Quote, Rfq
from sealbatch.venue.schemas import (
    AcceptIn,
    AnswerIn,
    CommitIn,
    ComplaintIn,
    DealingIn,
    DepositIn,
    KeyShareIn,
    L1RequestIn,
    OracleReportIn,
    ProofHaltIn,
    QuoteCommitIn,
    QuoteRevealIn,
    ResumeIn,
    RevealIn,
    RfqIn,
    WithdrawIn,
    hexb,
)
from sealbatch.venue.settings import DEFAULT_OPERATOR_KEY, Settings
from sealbatch.venue.signer_pool import SignerPool
from sealbatch.venue.snapshot_blob import SnapshotLabel, open_snapshot_blob, seal_snapshot_blob
from sealbatch.venue.state_machine import RevealOutcome, VenueStateMachine
from sealbatch.venue.stream import Broker

if TYPE_CHECKING:
    from sealbatch.settlement.anchor import Chain
    from sealbatch.settlement.anchor import Receipt as L1Receipt
    from sealbatch.venue.l1 import AnchorFailure, L1Link, L1Request

__all__ = ["VenueService"]

log = logging.getLogger("sealbatch.venue")

#: Commitments of a bulk request taken between two yields to other requests.
_CHUNK = 128

#: Seconds between the operator loop's refreshes of the gauges (a scrape refreshes them).
_METRICS_REFRESH_S = 1.0

_T = TypeVar("_T")
_PendingMessages = tuple["Future[None]", list[tuple[str, str, dict[str, Any]]]]
"""A write's future and the stream messages to publish once it is durable."""


_M = TypeVar("_M", Counter, Gauge, Histogram)


class _Metric(Generic[_M]):
    """One exported metric: its type, name, help text and label names (one row of
    :class:`_Metrics`' table), made once per registry.

    Args:
        kind: ``Counter``, ``Gauge`` or ``Histogram``.
        name: the metric's name (a counter's samples end in ``_total``).
        help: its help text.
        labels: its label names.
        buckets: a histogram's bucket bounds (seconds).
    """

    def __init__(
        self,
        kind: type[_M],
        name: str,
        help: str,
        labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] | None = None,
    ) -> None:
        self.kind: type[_M] = kind
        self.name, self.help, self.labels, self.buckets = name, help, labels, buckets
        self.attr = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    @overload
    def __get__(self, obj: None, owner: type) -> _Metric[_M]: ...
    @overload
    def __get__(self, obj: _Metrics, owner: type) -> _M: ...
    def __get__(self, obj: _Metrics | None, owner: type) -> _Metric[_M] | _M:
        if obj is None:
            return self
        return cast(_M, obj.made[self.attr])

    def make(self, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
        """The metric, registered in ``registry``."""
        if self.buckets is not None:
            return Histogram(
                self.name, self.help, self.labels, registry=registry, buckets=self.buckets
            )
        return self.kind(self.name, self.help, self.labels, registry=registry)


class _Metrics:
    """The venue's Prometheus metrics: a table of definitions (names, types, help and
    labels are what operators' dashboards and ops/ alert rules read), made in a fresh
    registry per venue, in table order."""

    writes = _Metric(Counter, "sealbatch_writes", "accepted signed writes", ("kind",))
    rejections = _Metric(Counter, "sealbatch_rejections", "refused writes by code", ("code",))
    batches = _Metric(Counter, "sealbatch_batches_cleared", "batches cleared")
    volume = _Metric(Counter, "sealbatch_volume_lots", "lots executed", ("market",))
    batch_lag = _Metric(Gauge, "sealbatch_batch_lag", "batches due but not cleared")
    queue_depth = _Metric(Gauge, "sealbatch_db_queue_depth", "writes awaiting commit")
    db_tx = _Metric(Gauge, "sealbatch_db_transactions", "group commits so far")
    subscribers = _Metric(Gauge, "sealbatch_stream_subscribers", "stream clients")
    published = _Metric(
        Counter, "sealbatch_batches_published", "batch folders written to --publish"
    )
    publish_failures = _Metric(
        Counter, "sealbatch_publish_failures", "batch folders that could not be written"
    )
    snapshots = _Metric(Counter, "sealbatch_snapshots", "snapshots of the venue state written")
    failed = _Metric(
        Counter, "sealbatch_batches_failed", "batches that settlement refused (status failed)"
    )
    last_cleared = _Metric(Gauge, "sealbatch_last_cleared_batch", "id of the last batch cleared")
    halted = _Metric(
        Gauge,
        "sealbatch_halted",
        "1 while the venue is halted after a failed or unprovable batch (until resumed)",
    )
    writer_failed = _Metric(
        Gauge,
        "sealbatch_db_writer_failed",
        "1 once a durable log write failed (the venue refuses everything until restarted)",
    )
    insurance = _Metric(Gauge, "sealbatch_insurance_fund", "insurance fund, collateral base units")
    fee_pool = _Metric(Gauge, "sealbatch_fee_pool", "fee pool, collateral base units")
    flagged = _Metric(
        Gauge,
        "sealbatch_oracle_flagged",
        "1 while the last oracle round gave the market no trusted index",
        ("market",),
    )
    index_age = _Metric(
        Gauge,
        "sealbatch_oracle_index_age_seconds",
        "age of the market's last trusted index (+Inf: never had one)",
        ("market",),
    )
    max_index_age = _Metric(
        Gauge,
        "sealbatch_oracle_max_price_age_seconds",
        "index age at which a market halts (the oracle rules' max_price_age_ms)",
    )
    protective = _Metric(
        Gauge,
        "sealbatch_breaker_protective",
        "1 while the circuit breaker holds the market in protective mode",
        ("market",),
    )
    proven = _Metric(Counter, "sealbatch_batches_proven", "batches proven, in order")
    proof_failures = _Metric(
        Counter,
        "sealbatch_proof_failures",
        "batches that could not be proved (proving halts at the first)",
    )
    proof_lag = _Metric(Gauge, "sealbatch_proof_lag", "settled batches not proven yet")
    proof_lag_seconds = _Metric(
        Gauge,
        "sealbatch_proof_lag_seconds",
        "age of the oldest settled batch not proven yet (0 when none)",
    )
    proofs_in_flight = _Metric(
        Gauge,
        "sealbatch_proofs_in_flight",
        "settled batches loaded and handed to the provers, not recorded yet (the rest "
        "of the proof lag waits in line as batch ids)",
    )
    proving_halted = _Metric(
        Gauge,
        "sealbatch_proving_halted",
        "1 once a batch could not be proved (no later batch is recorded as proven)",
    )
    last_proven = _Metric(
        Gauge, "sealbatch_last_proven_batch", "id of the last batch proven (-1: none)"
    )
    prove_seconds = _Metric(
        Histogram,
        "sealbatch_prove_seconds",
        "time to prove one batch on its worker",
        buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
    )
    anchored = _Metric(Counter, "sealbatch_batches_anchored", "batches anchored on L1, in order")
    anchor_failures = _Metric(
        Counter,
        "sealbatch_anchor_failures",
        "refused anchoring transactions (each retried with backoff, never skipped)",
    )
    anchor_retrying = _Metric(
        Gauge,
        "sealbatch_anchor_retrying",
        "1 while the next batch to anchor waits to be retried after a refusal",
    )
    l1_lag = _Metric(Gauge, "sealbatch_l1_lag", "batches proven but not anchored yet")
    l1_lag_seconds = _Metric(
        Gauge,
        "sealbatch_l1_lag_seconds",
        "age of the oldest batch proven but not anchored yet (0 when none)",
    )
    last_anchored = _Metric(
        Gauge, "sealbatch_last_anchored_batch", "id of the last batch anchored (-1: none)"
    )
    l1_credited = _Metric(
        Counter,
        "sealbatch_l1_requests_credited",
        "L1 requests (deposits, forced withdrawals) credited from the contract's events",
    )
    l1_blocked = _Metric(
        Gauge,
        "sealbatch_l1_request_blocked",
        "1 while the next L1 request cannot be credited yet (a forced withdrawal with "
        "nothing to serve it)",
    )
    slow_closed = _Metric(
        Counter,
        "sealbatch_slow_connections_closed",
        "connections closed at a deadline (phase: idle, nothing sent; head; body; write, "
        "answers not read)",
        ("phase",),
    )
    commit_latency = _Metric(
        Histogram,
        "sealbatch_durable_write_seconds",
        "time from accepting a write to its durable commit",
        buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
    )

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        table = [m for m in vars(type(self)).values() if isinstance(m, _Metric)]
        self.made = {m.attr: m.make(self.registry) for m in table}


def _markets(ids: Sequence[str]) -> dict[str, Market]:
    unknown = [m for m in ids if m not in DEFAULT_MARKETS]
    if unknown:
        raise BadRequest(f"markets: expected ids from {sorted(DEFAULT_MARKETS)}, got {unknown}")
    return {m: DEFAULT_MARKETS[m] for m in ids}


def _digest_hex(digest: tuple[int, ...]) -> str:
    """A config digest as the 32 bytes of ``digest_to_bytes``, 0x-hex."""
    return "0x" + b"".join(int(x).to_bytes(4, "little") for x in digest).hex()


def _stored_domain(settings: Settings, meta: dict[str, str]) -> Eip712Domain:
    """The EIP-712 domain the venue's log was signed under (set at its first start).

    Raises:
        BadRequest: ``settings`` name another chain id or verifying contract
            (the logged signatures would not verify under it), or the database holds
            chain id 1 under the public development operator key.
    """
    domain = Eip712Domain(
        chain_id=int(meta["chain_id"]), verifying_contract=Address(meta["verifying_contract"])
    )
    asked = {
        "chain_id": settings.chain_id,
        "verifying_contract": (settings.verifying_contract or DEV_VERIFYING_CONTRACT).lower(),
    }
    if domain.chain_id == 1 and settings.operator_key == DEFAULT_OPERATOR_KEY:
        # A database started before development venues moved off mainnet's chain id.
        raise BadRequest(
            "chain_id: expected a development chain id with the public development operator "
            "key, got 1 (Ethereum mainnet) stored in the venue's database: start a new database"
        )
    stored = {"chain_id": domain.chain_id, "verifying_contract": domain.verifying_contract.lower()}
    for name in sorted(settings.model_fields_set & set(asked)):
        if asked[name] != stored[name]:
            raise BadRequest(
                f"{name}: expected {stored[name]} (the venue's database was started with it), "
                f"got {asked[name]}"
            )
    return domain


class VenueService:
    """The running venue (one process, the markets in ``settings.markets``).

    Args:
        settings: configuration.
        clock: time source (a :class:`~venue.clock.ManualClock` in tests).
    """

    def __init__(
        self, settings: Settings, clock: Clock | None = None, chain: Chain | None = None
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        # A start that fails (StateDiverged, a bad committee file, an L1 that does not
        # answer) closes what it opened so far, last opened first, and re-raises: the
        # database engine and its connections, the writer thread, the pools.
        with contextlib.ExitStack() as opened:
            self._start(chain, opened)
            opened.pop_all()  # started: from here on :meth:`close` releases it all

    def _start(self, chain: Chain | None, opened: contextlib.ExitStack) -> None:
        """Open the database, recover the state and start the stages; each resource
        is put on ``opened`` as soon as it exists, to be closed should a later step fail.

        Raises:
            StateDiverged: the database was settled under other rules, or a re-run batch
                differs from its stored record.
            BadRequest: the settings do not fit the database (``--l1``, the committee).
        """
        settings = self.settings
        self.store = Store(settings.db_url)
        opened.callback(self.store.close)
        meta = self.store.get_meta()
        #: The L1 stage (None: no L1; deposits are the embedded mode's signed messages).
        self.l1: L1Link | None = None
        l1_meta = self._l1_meta(meta, chain) if settings.l1_url else {}
        if not settings.l1_url and meta.get("l1_exchange"):
            raise BadRequest(
                f"l1: expected --l1 (the venue's database was started on the exchange at "
                f"{meta['l1_exchange']}), got none"
            )
        if not meta:
            now = self.clock.now_ms()
            meta = {
                "genesis_ms": str(now - now % settings.commit_window_ms),
                "commit_ms": str(settings.commit_window_ms),
                "reveal_ms": str(settings.reveal_window_ms),
                "chain_id": str(settings.chain_id),
                "verifying_contract": settings.verifying_contract or DEV_VERIFYING_CONTRACT,
                "markets": json.dumps(list(settings.markets)),
            }
            if settings.committee:
                meta["committee"] = json.dumps(load_committee(settings.committee).to_json())
            meta.update(l1_meta)
            self.store.put_meta(meta)
        self.schedule = BatchSchedule(
            int(meta["genesis_ms"]), int(meta["commit_ms"]), int(meta["reveal_ms"])
        )
        self.domain = _stored_domain(settings, meta)
        #: The exchange contract the domain names, or None for the development placeholder.
        self.exchange_contract: str | None = (
            None
            if self.domain.verifying_contract.lower() == DEV_VERIFYING_CONTRACT.lower()
            else self.domain.verifying_contract
        )
        markets = _markets(json.loads(meta["markets"]))
        self.core = VenueStateMachine(
            markets=markets,
            domain=self.domain,
            operator_key=bytes.fromhex(settings.operator_key.removeprefix("0x")),
            schedule=self.schedule,
            settlement=Clearinghouse(
                markets,
                oracle=load_oracle_config(settings.oracle_sources)
                if settings.oracle_sources
                else None,
                min_bond=settings.min_bond,
                # on an L1 every batch must anchor: one that could not is refused
                anchored=bool(settings.l1_url),
            ),
            rfq_window_ms=(settings.rfq_min_window_ms, settings.rfq_max_window_ms),
            rfq_band_bps=settings.rfq_band_bps,
            quote_bond=max(settings.quote_bond, settings.min_bond),
            rfq_bond=settings.rfq_request_bond,
            # Folders are written and batches proved from memory: keep enough for that.
            publications_kept=max(
                settings.publications_kept,
                64 if settings.publish_dir or settings.prove else 0,
            ),
            memory_batches=settings.memory_batches,
            rfq_max_open=(settings.rfq_max_open_per_account, settings.rfq_max_open),
            committee=Committee.from_json(json.loads(meta["committee"]))
            if meta.get("committee")
            else None,
            key_wait_ms=settings.key_wait_ms,
        )
        self.core.keep_unproven = settings.prove
        self.publish_dir = Path(settings.publish_dir) if settings.publish_dir else None
        self.broker = Broker(settings.stream_buffer, settings.stream_buffer_bytes)
        self.limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.metrics = _Metrics()
        for phase in ("idle", "head", "body", "write"):  # each series from the start (ops/)
            self.metrics.slow_closed.labels(phase)
        #: ``sealbatch_writes_total{kind="commit"}``, looked up once, at the first
        #: commitment (the series appears then, as before): the hot path.
        self._commit_writes: Counter | None = None
        self.signers = SignerPool(
            settings.signer_workers,
            self.domain,
            bytes.fromhex(settings.operator_key.removeprefix("0x")),
        )
        opened.callback(self.signers.close)
        self.replayed = 0
        self._next_seq = 1
        #: the batch of the newest snapshot written or loaded (-1: none)
        self.snapshot_batch = -1
        #: the last event the newest snapshot holds (0: none)
        self.snapshot_seq = 0
        #: stored snapshots a start found damaged or not checking out (each logged)
        self._snapshots_refused = 0
        self._snapshot_due = False
        self._check_config(meta)
        self.recover()
        self.writer = GroupCommitter(self.store, settings.group_commit_max)
        opened.callback(self.writer.close)
        #: One thread writes the folders, in batch order, off the event loop.
        self._publisher = ThreadPoolExecutor(1, thread_name_prefix="sealbatch-publish")
        opened.callback(self._publisher.shutdown, wait=True)
        #: One thread clears and settles the batches that fall due (and takes the
        #: snapshots they trigger), so the event loop keeps answering meanwhile.
        self._clearer = ThreadPoolExecutor(1, thread_name_prefix="sealbatch-clear")
        opened.callback(self._clearer.shutdown, wait=True)
        self._clearing: Future[list[BatchRecord]] | None = None
        self._publishing: list[Future[None]] = []
        # Batches settled before a crash whose folder was not written yet, and the
        # proofs recorded before a crash whose proof.bin was not.
        self._write_folders(list(self.core.publications.values()))
        self._write_missing_proofs()
        self._tasks: set[asyncio.Task[None]] = set()
        self.prover: ProvingPipeline | None = None
        #: The event loop :meth:`run` runs on: stream messages from other threads go
        #: through it (the broker is not thread-safe).
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Guards the core for callers on other threads than the event loop's
        #: (every write and read of the app takes it; uncontended it costs ~0.1 µs).
        self.core_lock = threading.RLock()
        self._stopping = False
        opened.callback(self._close_stages)
        if settings.l1_url:
            self._start_l1(meta)
        if settings.prove:
            self._start_prover()

    def _close_stages(self) -> None:
        """Stop the L1 stage and the proving pipeline, those started (a failed start)."""
        self._stopping = True
        if self.l1 is not None:
            self.l1.close()
        if self.prover is not None:
            self.prover.close()

    # ---------------------------------------------------------------- recovery

    def _check_config(self, meta: dict[str, str]) -> None:
        """Refuse to start on a database whose ledger runs under other settlement rules.

        Every state root commits to the config digest of its rules from genesis on
        (docs/formats.md, "The configuration digest"), so a venue restarted with other
        rules than its log and snapshots were settled under would fork its own chain of
        roots. The digest is stored in the meta at the first start (and added to a
        database that predates it).

        Raises:
            StateDiverged: the stored digest is not the running rules'.
        """
        running = _digest_hex(self.core.settlement.state.config_digest)
        stored = meta.get("config_digest")
        if stored is None:
            self.store.put_meta({"config_digest": running})
        elif stored != running:
            raise StateDiverged(
                f"config digest: expected {stored} (the settlement rules this database was "
                f"settled under), got {running} (the rules the venue starts with): start it "
                "with the rules it ran under, or on a new database"
            )

    def _restore_snapshot(self) -> int:
        """Load the newest snapshot that checks out into the core; returns the
        sequence number of the last event it holds (0: none, replay from the start).

        The snapshot's blob must hash to the digest stored in it (checked before
        it is unpickled: venue/snapshot_blob.py), its ledger must hash to the state
        root stored with it, and that root must be the post-state root of the last
        batch it settled as stored in the ``batch`` table; a snapshot that fails
        any check (or does not load) is not used and the error is logged: the one
        before it is tried, and when none checks out the whole log is replayed.

        Raises:
            StateDiverged: a snapshot was taken under other settlement rules.
        """
        for snap in self.store.load_snapshots():
            core = self._checked_snapshot(snap)
            if core is None:
                continue
            core.memory_batches = self.settings.memory_batches
            core.rfqs.max_open_per_requester = self.settings.rfq_max_open_per_account
            core.rfqs.max_open = self.settings.rfq_max_open
            core.rfq_bond = self.settings.rfq_request_bond
            core.publications_kept = self.core.publications_kept
            core.keep_unproven = self.core.keep_unproven
            core.transitions_out = []
            self.core = core
            self.snapshot_batch = snap.batch_id
            self.snapshot_seq = snap.event_seq
            return snap.event_seq
        if self._snapshots_refused:
            log.error("no stored snapshot checks out: replaying the whole log")
        return 0

    def _checked_snapshot(self, snap: Snapshot) -> VenueStateMachine | None:
        """The core ``snap`` holds, with the operator's key, if it loads and checks out
        against the stored roots; else None (why is logged).

        Raises:
            StateDiverged: the snapshot was taken under other settlement rules.
        """
        try:
            pickled = open_snapshot_blob(
                snap.blob, SnapshotLabel(snap.batch_id, snap.event_seq, snap.state_root)
            )
        except SnapshotDamaged as exc:
            self._snapshots_refused += 1
            log.error(
                "snapshot of batch %d fails its integrity check (%s): not used, never "
                "unpickled; the start falls back to an older snapshot, else to the whole log",
                snap.batch_id,
                exc,
            )
            return None
        try:
            core = pickle.loads(pickled)
        except (
            # The digest matched, so the pickle is as it was written; it can still
            # fail to load: a class of another version (AttributeError, ImportError,
            # TypeError), or a pickle written damaged, which fails in many ways (a bad
            # opcode or length, a protocol byte out of range (ValueError), text that
            # is no UTF-8 (UnicodeDecodeError, a ValueError), a huge length
            # (OverflowError, MemoryError)).
            pickle.UnpicklingError,
            EOFError,
            AttributeError,
            ImportError,
            TypeError,
            ValueError,
            KeyError,
            IndexError,
            OverflowError,
            MemoryError,
            RecursionError,
        ) as exc:
            self._snapshots_refused += 1
            log.error("snapshot of batch %d does not load (%s): not used", snap.batch_id, exc)
            return None
        if not isinstance(core, VenueStateMachine):
            self._snapshots_refused += 1
            log.error("snapshot of batch %d holds no venue state: not used", snap.batch_id)
            return None
        snapped = _digest_hex(core.settlement.state.config_digest)
        running = _digest_hex(self.core.settlement.state.config_digest)
        if snapped != running:
            raise StateDiverged(
                f"snapshot of batch {snap.batch_id}: config digest: expected {running} (the "
                f"rules the venue starts with), got {snapped}"
            )
        root = "0x" + state_root(core.settlement.state).hex()
        settled = [r for r in core.records.values() if r.status != "failed"]
        stored = self.store.load_batch(settled[-1].batch_id) if settled else None
        stored_root = stored.settlement["post_root"] if stored and stored.settlement else root
        if root != snap.state_root or root != stored_root:
            self._snapshots_refused += 1
            log.error(
                "snapshot of batch %d: expected state root %s (stored with it) and %s (the "
                "stored batch), got %s: not used",
                snap.batch_id,
                snap.state_root,
                stored_root,
                root,
            )
            return None
        try:
            core.set_operator_key(self.core.operator_key)
        except BadRequest as exc:
            self._snapshots_refused += 1
            log.error("snapshot of batch %d: %s: not used", snap.batch_id, exc)
            return None
        return core

    def _snapshot(self) -> None:
        """Hand a snapshot of the core to the writer (caller holds ``core_lock``;
        after the records of the batches just cleared, so it is durable after them)."""
        core = self.core
        label = SnapshotLabel(
            core.last_cleared, self._next_seq - 1, "0x" + state_root(core.settlement.state).hex()
        )
        snap = Snapshot(
            *label, seal_snapshot_blob(pickle.dumps(core, protocol=pickle.HIGHEST_PROTOCOL), label)
        )
        self.writer.submit(snapshots=[snap])
        self.snapshot_batch = core.last_cleared
        self.snapshot_seq = snap.event_seq
        self._snapshot_due = False
        self.metrics.snapshots.inc()

    def recover(self) -> None:
        """Load the newest snapshot, then replay the durable log after it; stored
        batch results must come out identical.

        Raises:
            StateDiverged: a re-run batch differs from its stored record.
        """
        after_seq = self._restore_snapshot()
        self._next_seq = after_seq + 1
        stored = self.store.load_batches(after=self.core.last_cleared if after_seq else -1)
        missing: list[BatchRecord] = []
        missing_statuses: list[OrderStatus] = []
        cleared: set[int] = set()

        def check(records: list[BatchRecord]) -> None:
            for rec in records:
                cleared.add(rec.batch_id)
                statuses = self.core.statuses_out.pop(rec.batch_id, [])
                old = stored.get(rec.batch_id)
                if old is None:
                    missing.append(rec)
                    missing_statuses.extend(statuses)
                elif old[0] != rec.result_hash:
                    raise StateDiverged(
                        f"batch {rec.batch_id}: expected result {old[0]} on replay, got "
                        f"{rec.result_hash}"
                    )
                elif old[1].get("status", rec.status) != rec.status:
                    # A stored batch may have moved on (proven, anchored).
                    self.core.records[rec.batch_id] = dataclasses.replace(
                        rec, status=old[1]["status"]
                    )
                    if old[1].get("status") in ("proven", "anchored"):
                        self.core.records[rec.batch_id] = dataclasses.replace(
                            self.core.records[rec.batch_id],
                            proof=old[1].get("proof"),
                            anchor=old[1].get("anchor"),
                        )

        events = self.store.load_events(after_seq)
        # The reveals' commitments in one vectorised hash rather than one by one.
        self.core.prepare_replay([(e.kind, e.payload) for e in events])
        for e in events:
            check(self.core.advance(e.at_ms))
            try:
                self.core.apply(e.kind, e.payload, e.at_ms)
            except SealbatchError as exc:
                raise StateDiverged(f"event {e.seq} ({e.kind}) no longer applies: {exc}") from exc
            self._next_seq = e.seq + 1
        self.core.replay_digests = {}
        self.replayed = len(events)
        # Batches due by now (cleared before the crash or while the venue was down).
        check(self.core.advance(self.clock.now_ms()))
        # A stored batch that is due but did not come out again (the replay found
        # it empty): the log lost what the stored result was made of.
        lost = sorted(b for b in stored if b <= self.core.last_cleared and b not in cleared)
        if lost:
            raise StateDiverged(
                f"batch {lost[0]}: expected result {stored[lost[0]][0]} on replay, got no batch "
                f"(the log holds nothing for it; {len(lost)} such)"
            )
        leaving = self._transitions_out()
        # A batch proven before the crash has nothing left to prove.
        leaving = [
            (b, files)
            for b, files in leaving
            if (old_rec := self.store.load_batch(b)) is None or old_rec.status == "settled"
        ]
        # RFQs that left memory again in the replay (stored already unless the crash
        # came first: the rows are replaced by the same views).
        rfqs = self._rfqs_out()
        if missing or leaving or rfqs:
            # Cleared before the crash but not yet stored: store them now.
            self.store.write([], missing, missing_statuses, transitions=leaving, rfqs=rfqs)
        # Records restored from a snapshot predate the proofs recorded after it.
        # (One query for all of them: the records in memory may be hundreds.)
        restored = [
            b
            for b, rec in self.core.records.items()
            if rec.status in ("settled", "proven") and b not in cleared
        ]
        for batch_id, old in self.store.load_progressed(restored).items():
            self.core.records[batch_id] = dataclasses.replace(
                self.core.records[batch_id], status=old.status, proof=old.proof, anchor=old.anchor
            )
        if events:
            log.info("replayed %d events, %d batches", len(events), len(cleared))

    # ------------------------------------------------------------- batch clock

    def _advance_locked(self, now: int, pending: list[_PendingMessages]) -> list[BatchRecord]:
        """Clear every batch due at ``now`` (caller holds ``core_lock``); the records
        go to the writer at once and their stream messages into ``pending``."""
        records = self.core.advance(now)
        if self.core.transitions_out:
            # Unproven batches leaving memory: stored, so the prover can still prove them.
            self.writer.submit(transitions=self._transitions_out())
        if self.core.rfqs_out:
            # Closed RFQs leaving memory: read back from the database on request.
            self.writer.submit(rfqs=self._rfqs_out())
        self._publish_seals(pending)
        if records:
            statuses = [s for r in records for s in self.core.statuses_out.pop(r.batch_id, [])]
            fut = self.writer.submit(batches=records, statuses=statuses)
            if self._snapshot_falls_due():
                # Taken by :meth:`advance`, where no logged event waits to be submitted.
                self._snapshot_due = True
            if self.publish_dir is not None:
                kept = self.core.publications
                done = [kept[r.batch_id] for r in records if r.batch_id in kept]
                fut.add_done_callback(functools.partial(self._queue_folders, done=done))
            pending.append((fut, [m for rec in records for m in self._batch_messages(rec)]))
            self.metrics.batches.inc(len(records))
            if self.prover is not None:
                for rec in records:
                    if rec.status == "settled":
                        self._prove(rec.batch_id)
            for rec in records:
                if rec.status == "failed":
                    self.metrics.failed.inc()
                    log.error(
                        "batch %d failed: settlement refused it: %s; the venue halted "
                        "(sealbatch resume --batch %d once fixed)",
                        rec.batch_id,
                        rec.settlement["error"] if rec.settlement is not None else None,
                        rec.batch_id,
                    )
                for market_id, mr in rec.markets.items():
                    self.metrics.volume.labels(market_id).inc(mr.volume)
        return records

    def _snapshot_falls_due(self) -> bool:
        """Whether the batches just cleared call for a snapshot: every
        ``snapshot_every`` batches, or once ``snapshot_events`` events were logged
        since the last one (what a restart replays is bounded either way)."""
        every = self.settings.snapshot_every
        if not every:
            return False
        if self.core.last_cleared // every > self.snapshot_batch // every:
            return True
        events = self.settings.snapshot_events
        return bool(events) and self._next_seq - 1 - self.snapshot_seq >= events

    def _transitions_out(self) -> list[tuple[int, dict[str, str]]]:
        """Take the core's transitions that left memory unproven, as folders (caller
        holds ``core_lock``)."""
        settle = self.core.settlement
        out = [
            (p.batch_id, p.files(settle.config, settle.oracle)) for p in self.core.transitions_out
        ]
        self.core.transitions_out = []
        return out

    def _rfqs_out(self) -> list[dict[str, Any]]:
        """Take the final views of the RFQs that left the core's memory (caller holds
        ``core_lock``)."""
        out = [r.final_view() for r in self.core.rfqs_out]
        self.core.rfqs_out = []
        return out

    def _publish_seals(self, pending: list[_PendingMessages]) -> None:
        """Publish the seals the clock just made on the ``keys`` topic, once every write
        before them is durable (a seal covers commitments a crash must not undo)."""
        keys = self.core.keys
        if keys is None or not keys.seals_out:
            return
        seals, keys.seals_out = keys.seals_out, []
        last = self.writer.last
        fut: Future[None]
        if last is None:
            fut = Future()
            fut.set_result(None)
        else:
            fut = last
        pending.append((fut, [("keys", "seal", s.to_json()) for s in seals]))

    def _write_folders(self, publications: Sequence[BatchPublication]) -> None:
        """Write each batch's folder under ``--publish`` (once durable; never twice).

        A failure is logged and counted (``sealbatch_publish_failures``); the
        batch stays settled and its archive can still be fetched."""
        if self.publish_dir is None:
            return
        for p in publications:
            try:
                files = self._folder_files(p, self.core.threshold_files.get(p.batch_id))
                if write_folder(self.publish_dir, p.batch_id, files):
                    self.metrics.published.inc()
                elif self._folder_differs(p.batch_id, files):
                    # Never overwritten (what was published stays as it was), but never
                    # taken for this batch either: another venue's folder, or one changed.
                    self.metrics.publish_failures.inc()
                    log.error(
                        "could not publish batch %d: %s holds other files (another "
                        "venue's, or changed since); the archive serves the venue's own",
                        p.batch_id,
                        self.publish_dir / folder_name(p.batch_id),
                    )
            except OSError:
                self.metrics.publish_failures.inc()
                log.exception("could not publish batch %d", p.batch_id)

    def _folder_differs(self, batch_id: int, files: Mapping[str, str]) -> bool:
        """Whether the folder already in ``--publish`` for ``batch_id`` holds other files
        than ``files`` (a file missing, changed, or no UTF-8 text).

        Raises:
            OSError: the folder could not be read.
        """
        if self.publish_dir is None:
            return False
        try:
            return read_folder(self.publish_dir, batch_id) != files
        except (FileNotFoundError, UnicodeDecodeError):
            return True

    def _folder_files(
        self, publication: BatchPublication, threshold: Mapping[str, Any] | None
    ) -> dict[str, str]:
        """The files of a settled batch's folder (docs/formats.md): the transition's,
        and ``threshold.json`` for a batch with encrypted orders (``threshold``, its
        document in ``core.threshold_files``)."""
        settle = self.core.settlement
        files = publication.files(settle.config, settle.oracle)
        if threshold is not None:
            files[THRESHOLD_FILE] = json.dumps(threshold, indent=1, sort_keys=True) + "\n"
        return files

    def _write_missing_proofs(self) -> None:
        """Write ``proof.bin`` into each published folder of a recent proven batch that
        lacks it (the venue stopped after the proof was stored, before its file was
        written, or the folder was written only at this start)."""
        if self.publish_dir is None:
            return
        for batch_id, rec in sorted(self.core.records.items()):
            if rec.status not in ("proven", "anchored"):
                continue
            folder = self.publish_dir / folder_name(batch_id)
            if not folder.is_dir() or (folder / PROOF_FILE).exists():
                continue
            proof = self.store.load_proof(batch_id)
            if proof is None:
                continue
            try:
                write_proof(self.publish_dir, batch_id, proof)
            except OSError:
                self.metrics.publish_failures.inc()
                log.exception("could not publish the proof of batch %d", batch_id)

    def _queue_folders(self, durable: Future[None], done: list[BatchPublication]) -> None:
        """Hand ``done`` to the publisher once their records are durable (never
        when the write failed: a restart will not reproduce them)."""
        if durable.exception() is not None:
            return
        with contextlib.suppress(RuntimeError):  # the publisher shut down
            self._publishing = [f for f in self._publishing if not f.done()]
            self._publishing.append(self._publisher.submit(self._write_folders, done))

    def wait_published(self) -> None:
        """Block until every folder handed to the publisher so far is written."""
        while self._publishing:
            self._publishing.pop(0).result()

    # ----------------------------------------------------------------- proving

    def _start_prover(self) -> None:
        """Start the proving pipeline and hand it every settled batch not proven yet.

        A step that fails once the executor exists (the pipeline refused, the store
        unreadable) stops what this call started, the pipeline and the executor (its
        prover processes, its connection to the cluster), leaves no pipeline
        installed, and re-raises: a failed start or restart leaks no process.
        """
        settings = self.settings
        if settings.dask_scheduler:
            executor, shutdown = dask_executor(settings.dask_scheduler)
            where = f"the Dask cluster at {settings.dask_scheduler}"
        else:
            executor, shutdown = local_executor(settings.prove_workers)
            where = f"{settings.prove_workers} local prover process(es)"
        prover: ProvingPipeline | None = None
        try:
            prover = ProvingPipeline(
                executor,
                on_proven=self._on_proven,
                on_failed=self._on_failed,
                clock_ms=self.clock.now_ms,
                shutdown=shutdown,
                load=self._files_of,
                max_in_flight=settings.prove_in_flight or settings.prove_workers + 1,
            )
            log.info("proving batches on %s", where)
            with self.core_lock:
                # Installed under the lock: a batch settling meanwhile is handed over once.
                self.prover = prover
                # Settled batches older than the records kept in memory: their transition
                # is gone too unless it is among the publications kept (then proved).
                floor = min(self.core.records, default=self.core.last_cleared + 1)
                for batch_id in self.store.load_settled_ids(floor):
                    self._prove(batch_id)
                for batch_id, rec in sorted(self.core.records.items()):
                    if rec.status == "settled":
                        self._prove(batch_id)
        except BaseException:  # stop what was started, then re-raise whatever it was
            if prover is None:
                shutdown()
            else:
                with self.core_lock:
                    if self.prover is prover:
                        self.prover = None
                prover.close()  # stops the executor too
            raise

    def _prove(self, batch_id: int) -> None:
        """Put a settled batch in the prover's line (caller holds ``core_lock``; a batch
        settlement refused has nothing to prove: the ledger did not move). Only its
        id waits there: its files are found when its turn comes (:meth:`_files_of`)."""
        if self.prover is None:
            return
        self.prover.submit(batch_id, None, self.schedule.clears_at(batch_id))

    def _files_of(self, batch_id: int) -> Callable[[], Mapping[str, str]]:
        """Where the prover finds a settled batch's files when its turn comes: the
        transition kept in memory, else the one stored when it left memory (the
        prover's thread; it may wait for the writer).

        Raises:
            ProofUnavailable: the transition is neither in memory nor stored.
        """
        with self.core_lock:
            publication = self.core.publications.get(batch_id)
            if publication is not None:
                settle = self.core.settlement
                return functools.partial(publication.files, settle.config, settle.oracle)
            # A transition leaves memory under this lock, handed to the writer in the
            # same step: once everything submitted so far is durable, it is stored.
            durable = self.writer.last
        if durable is not None:
            wait_futures([durable])  # a failed write shows as the transition missing
        stored = self.store.load_transition(batch_id)
        if stored is None:
            # Settled before its transition was stored (e.g. by an older venue, or
            # with proving off). Loud, never skipped: proving halts here.
            raise ProofUnavailable(
                f"batch {batch_id}'s transition is neither in memory (older than the "
                f"{self.core.publications_kept} batches kept) nor stored; it cannot be "
                "proved here"
            )
        return functools.partial(dict, stored)

    def _on_proven(self, batch_id: int, proof: bytes, summary: dict[str, Any]) -> None:
        """Record a verified proof (the pipeline's thread, in batch order): the batch
        becomes ``proven`` once its proof and record are durable together."""
        with self.core_lock:
            old = self._record(batch_id)
            if old is None:
                return
            # A new record object: stream messages already sent keep what they said.
            rec = dataclasses.replace(old, status="proven", proof=summary)
            if batch_id in self.core.records:
                self.core.records[batch_id] = rec
            fut = self.writer.submit(batches=[rec], proofs=[(batch_id, proof)])
        if self.l1 is not None:
            # Anchor once the proof is durable (the L1 stage reads it from the database).
            link = self.l1
            fut.add_done_callback(lambda _f: link.wake())
        self.metrics.proven.inc()
        self.metrics.last_proven.set(batch_id)
        self.metrics.prove_seconds.observe(summary["prove_s"])
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(
                    self._publish_once_durable, fut, [("batches", "proof", rec.to_json())]
                )
        if self.publish_dir is not None:
            fut.add_done_callback(
                functools.partial(self._queue_proof, batch_id=batch_id, proof=proof)
            )

    def _on_failed(self, failure: ProofFailure) -> None:
        """Report a batch that could not be proved and halt the venue: log (the
        pipeline's, and the halt's), metric, record, operator view. Its status
        stays ``settled`` (its ledger moved); nothing trades until the operator
        resumes (docs/operator.md)."""
        self.metrics.proof_failures.inc()
        pending: list[_PendingMessages] = []
        with self.core_lock:
            old = self._record(failure.batch_id)
            if old is not None:
                rec = dataclasses.replace(
                    old, proof={"error": failure.reason, "failed_ms": failure.at_ms}
                )
                if failure.batch_id in self.core.records:
                    self.core.records[failure.batch_id] = rec
                self.writer.submit(batches=[rec])
            self._halt_unproven(failure, pending)
        self._publish_all(pending)

    def _halt_unproven(self, failure: ProofFailure, pending: list[_PendingMessages]) -> None:
        """Halt the venue after a proof failure (caller holds ``core_lock``): the halt
        is a logged event, so a restart replays it where it happened.

        Nothing is logged when the venue is stopping, its log failed, or it is
        halted already (a failed batch, or an earlier proof failure)."""
        if self._stopping or self.writer.failed is not None or self.core.halted is not None:
            return
        now = self.clock.now_ms()
        # The log's order: batches due by now clear before the halt, as on replay.
        self._advance_locked(now, pending)
        if self.core.halted is not None:
            return
        batch_id = failure.batch_id if failure.batch_id >= 0 else max(self.core.last_cleared, 0)
        reason = f"batch {batch_id} could not be proved: {failure.reason}"[:2_000]
        body = ProofHaltIn(batch_id=batch_id, reason=reason)
        cancelled = self.core.halt_unproven(body, now)
        statuses = [self.core.order_statuses[c] for c in cancelled if c in self.core.order_statuses]
        self.writer.submit(
            [self._log("proof_halt", body.model_dump_json(), now)], statuses=statuses
        )
        log.error("%s; the venue halted (sealbatch resume --batch %d once fixed)", reason, batch_id)

    def _restart_prover(self) -> None:
        """Start proving again after a resume: a new pipeline (a new executor: the old
        one may have lost its worker) proves every settled batch not yet proven,
        the failed one first. Blocking: call it off the event loop."""
        with self.core_lock:
            old, self.prover = self.prover, None
        if old is not None:
            old.close()
        if not self._stopping:
            self._start_prover()

    # --------------------------------------------------------------------- L1

    def _l1_meta(self, meta: dict[str, str], chain: Chain | None) -> dict[str, str]:
        """Connect to the L1 (``chain`` if given, else ``settings.l1_url``); at the first
        start attach the exchange named by ``verifying_contract`` or deploy one, and
        return what the venue's meta must hold of it (the EIP-712 domain names it).

        Raises:
            BadRequest: the database was started without an L1, or the exchange to attach
                is not fresh or takes deposits from more than 2^l1_max_depth accounts;
                L1Unavailable: the chain or the contract cannot be used.
        """
        from sealbatch.venue import l1

        settings = self.settings
        url = settings.l1_url or l1.EMBEDDED
        self._chain = chain if chain is not None else l1.connect(url)
        if meta:
            if not meta.get("l1_exchange"):
                raise BadRequest(
                    "l1: expected a database started on an L1, got one whose deposits were "
                    "credited without one: start a new database"
                )
            return {}
        chain_id = int(self._chain.w3.eth.chain_id)
        if "chain_id" in settings.model_fields_set and settings.chain_id != chain_id:
            raise BadRequest(
                f"chain_id: expected the L1's chain id {chain_id}, got {settings.chain_id}"
            )
        genesis = Clearinghouse(_markets(settings.markets)).state
        if settings.verifying_contract:
            exchange = l1.attach(self._chain, settings.verifying_contract)
            if exchange.queue_consumed() or exchange.state_root() != state_root(genesis):
                raise BadRequest(
                    f"l1: expected a fresh exchange at {exchange.address} for a new database "
                    f"(the empty ledger's root, no request consumed), got root "
                    f"0x{exchange.state_root().hex()} and {exchange.queue_consumed()} requests "
                    "consumed"
                )
            capacity = exchange.account_capacity()
            if capacity > 1 << settings.l1_max_depth:
                raise BadRequest(
                    f"l1: expected an exchange taking deposits from at most "
                    f"2^l1_max_depth = {1 << settings.l1_max_depth} accounts (a deeper tree "
                    f"than its verifiers take would hold the queue until a freeze), got one "
                    f"taking {capacity} at {exchange.address}: set SEALBATCH_L1_MAX_DEPTH to "
                    "the deepest tree its verifiers take"
                )
            from_block = 0  # requests queued before the venue's first start count too
            # a fresh exchange has anchored nothing (its root is the genesis root, which
            # commits to the batch id): the venue's first anchoring is in a later block
            anchors_from = int(self._chain.w3.eth.block_number)
        else:
            exchange, from_block = l1.deploy_for_venue(self._chain, settings)
            anchors_from = from_block
        return {
            "l1_exchange": exchange.address,
            "l1_from_block": str(from_block),
            "l1_anchors_from_block": str(anchors_from),
            "chain_id": str(chain_id),
            "verifying_contract": exchange.address,
        }

    def _start_l1(self, meta: dict[str, str]) -> None:
        """Attach the exchange the venue's database names and start the L1 stage."""
        from sealbatch.venue import l1

        exchange = l1.attach(self._chain, meta["l1_exchange"])
        self.core.l1_anchoring = True
        with self.core_lock:
            for batch_id in [
                b
                for b in self.core.l1_queue_to
                if (r := self._record(b)) is None or r.status == "anchored"
            ]:
                del self.core.l1_queue_to[batch_id]
        self.l1 = l1.L1Link(
            self,
            self._chain,
            exchange,
            l1.exchange_anchor(exchange),
            from_block=int(meta.get("l1_from_block", "0")),
            anchors_from_block=self._anchors_from_block(meta),
            clock_ms=self.clock.now_ms,
            poll_ms=self.settings.l1_poll_ms,
            retry_ms=self.settings.l1_retry_ms,
            retry_max_ms=self.settings.l1_retry_max_ms,
        )
        self.l1.last_anchored = max(
            (b for b, r in self.core.records.items() if r.status == "anchored"), default=None
        )
        self.l1.start()

    def _anchors_from_block(self, meta: Mapping[str, str]) -> int:
        """The first block that may hold the ``BatchAnchored`` event of a batch not recorded
        as anchored: the block of the last anchored batch the venue holds, else the block
        the exchange was deployed or attached in (a database from before that was kept:
        the block requests start in)."""
        start = int(meta.get("l1_anchors_from_block", meta.get("l1_from_block", "0")))
        with self.core_lock:
            blocks = [
                int(r.anchor["block"])
                for r in self.core.records.values()
                if r.status == "anchored" and r.anchor and "block" in r.anchor
            ]
        return max([start, *blocks])

    def l1_next(self) -> int:
        """The index of the next L1 request to credit."""
        with self.core_lock:
            return self.core.l1_next

    def credit_l1_request(self, request: L1Request) -> int:
        """Credit one L1 request as a logged event (durable before it returns); returns
        the amount credited or queued for withdrawal. Called from the L1 thread.

        Raises:
            Conflict: not the next request, or a forced withdrawal with nothing to serve
                it; BadRequest: the ledger refused the deposit, or its values are out of
                the venue's bounds; StorageUnavailable: the log failed.
        """
        from pydantic import ValidationError

        try:
            body = L1RequestIn(
                index=request.index,
                kind=request.kind,  # type: ignore[arg-type]
                account=_checksum(request.account),
                subaccount=request.subaccount,
                amount=request.amount,
            )
        except ValidationError as exc:
            raise BadRequest(f"l1 request {request.index}: {exc.errors()[0]['msg']}") from exc
        pending: list[_PendingMessages] = []
        while True:
            self.advance()  # a batch due now clears first, as a write's would
            with self.core_lock:
                self._check_storage()
                now = self.clock.now_ms()
                if self._due(now):
                    continue
                self._advance_locked(now, pending)
                amount = self.core.l1_request(body, now)
                fut = self.writer.submit([self._log("l1_request", body.model_dump_json(), now)])
                break
        self._publish_all(pending)
        topic = f"account:{body.account.lower()}"
        kind = "deposit" if body.kind == "deposit" else "withdrawal"
        self._publish_once_durable(
            fut, [(topic, kind, {"amount": amount, "l1_request": body.index})]
        )
        fut.result()
        self.metrics.l1_credited.inc()
        log.info(
            "l1 request %d (%s of %s) credited: %d", body.index, body.kind, body.account, amount
        )
        return amount

    def next_to_anchor(self) -> tuple[int, str] | None:
        """The first cleared batch in id order that is not anchored and did not fail, with
        its status (None: every such batch is anchored)."""
        with self.core_lock:
            for batch_id, rec in sorted(self.core.records.items()):
                if rec.status in ("settled", "proven"):
                    return batch_id, rec.status
        return None

    def anchor_inputs(self, batch_id: int) -> tuple[dict[str, str], bytes, int]:
        """A proven batch's published files, its proof and the queue position it consumed.

        Raises:
            Gone: the files or the proof are no longer at hand.
        """
        with self.core_lock:
            publication = self.core.publications.get(batch_id)
            queue_to = self.core.l1_queue_to.get(batch_id)
            settle = self.core.settlement
            files = publication.files(settle.config, settle.oracle) if publication else None
            # A batch is proven in memory as its proof goes to the writer: once
            # everything submitted so far is durable, the proof is stored.
            durable = self.writer.last
        if files is None and self.publish_dir is not None:
            files = read_folder(self.publish_dir, batch_id)
        proof = self.store.load_proof(batch_id)
        if proof is None and durable is not None:
            wait_futures([durable])  # a failed write shows as the proof missing
            proof = self.store.load_proof(batch_id)
        if files is None or proof is None or queue_to is None:
            raise Gone(
                f"batch {batch_id}: expected its files, proof and L1 queue position to anchor "
                "it, got "
                + ", ".join(
                    what
                    for what, v in (
                        ("no files", files),
                        ("no proof", proof),
                        ("no queue", queue_to),
                    )
                    if v is None
                )
            )
        return files, proof, queue_to

    def record_anchor(
        self, batch_id: int, receipt: L1Receipt, post_root: bytes, queue_to: int
    ) -> None:
        """Record a batch anchored on L1 (status ``anchored``, durable, streamed)."""
        with self.core_lock:
            old = self._record(batch_id)
            if old is None:
                return
            rec = dataclasses.replace(
                old,
                status="anchored",
                anchor={
                    "tx": receipt.tx_hash,
                    "block": receipt.block,
                    "gas_used": receipt.gas_used,
                    "post_root": "0x" + post_root.hex(),
                    "queue_to": queue_to,
                    "anchored_ms": self.clock.now_ms(),
                },
            )
            if batch_id in self.core.records:
                self.core.records[batch_id] = rec
            self.core.l1_queue_to.pop(batch_id, None)
            fut = self.writer.submit(batches=[rec])
        self.metrics.anchored.inc()
        self.metrics.last_anchored.set(batch_id)
        self.metrics.anchor_retrying.set(0)
        self._publish_from_thread(fut, [("batches", "anchor", rec.to_json())])
        fut.result()

    def report_anchor_failure(self, failure: AnchorFailure) -> None:
        """Count and stream a refused anchoring (the L1 stage retries it)."""
        self.metrics.anchor_failures.inc()
        self.metrics.anchor_retrying.set(1)
        done: Future[None] = Future()
        done.set_result(None)
        self._publish_from_thread(done, [("batches", "anchor_failed", failure.to_json())])

    def _publish_from_thread(
        self, fut: Future[None], msgs: list[tuple[str, str, dict[str, Any]]]
    ) -> None:
        """Publish stream messages from a thread other than the event loop's."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._publish_once_durable, fut, msgs)

    def l1_view(self) -> dict[str, Any]:
        """The L1 stage for the operator view."""
        link = self.l1
        if link is None:
            return {
                "enabled": False,
                "exchange": None,
                "chain_id": None,
                "next_request": 0,
                "last_anchored_batch": None,
                "lag": 0,
                "lag_seconds": 0.0,
                "unanchored": [],
                "failure": None,
                "unserved": None,
            }
        lag, lag_s, waiting = self._l1_lag()
        return {
            "enabled": True,
            "exchange": link.exchange.address,
            "chain_id": self.domain.chain_id,
            "next_request": self.core.l1_next,
            "last_anchored_batch": link.last_anchored,
            "lag": lag,
            "lag_seconds": lag_s,
            "unanchored": waiting[:20],
            "failure": None if link.failure is None else link.failure.to_json(),
            "unserved": link.unserved,
        }

    def _l1_lag(self) -> tuple[int, float, list[int]]:
        """Batches proven but not anchored: how many, the oldest one's age (s), the ids of
        every settled or proven batch still to anchor (caller holds ``core_lock``)."""
        proven = [b for b, r in sorted(self.core.records.items()) if r.status == "proven"]
        waiting = [
            b for b, r in sorted(self.core.records.items()) if r.status in ("settled", "proven")
        ]
        age = 0.0
        if proven:
            age = max(0.0, (self.clock.now_ms() - self.schedule.clears_at(proven[0])) / 1000)
        return len(proven), age, waiting

    def _record(self, batch_id: int) -> BatchRecord | None:
        """A cleared batch's record: from memory, else as stored (records leave
        memory long after their last write committed)."""
        rec = self.core.records.get(batch_id)
        return rec if rec is not None else self.store.load_batch(batch_id)

    def _queue_proof(self, durable: Future[None], batch_id: int, proof: bytes) -> None:
        """Write ``proof.bin`` beside a published folder once the proof is durable."""
        if durable.exception() is not None or self.publish_dir is None:
            return
        publish_dir = self.publish_dir

        def write() -> None:
            try:
                write_proof(publish_dir, batch_id, proof)
            except OSError:
                self.metrics.publish_failures.inc()
                log.exception("could not publish the proof of batch %d", batch_id)

        with contextlib.suppress(RuntimeError):  # the publisher shut down
            self._publishing = [f for f in self._publishing if not f.done()]
            self._publishing.append(self._publisher.submit(write))

    async def proof_bytes(self, batch_id: int) -> bytes:
        """The stored proof of a proven batch (read from the database off the loop).

        Raises:
            NotFound: no such batch. Conflict (``no_proof_yet``): not proven (yet).
        """
        view = await self.read_durable(lambda: self.batch_view(batch_id))
        proof = None
        if view.status in ("proven", "anchored"):
            proof = await asyncio.to_thread(self.store.load_proof, batch_id)
        if proof is None:
            raise Conflict(
                f"no proof for batch {batch_id} yet: expected status proven, got {view.status}",
                "no_proof_yet",
            )
        return proof

    def proving_view(self) -> dict[str, Any]:
        """The proving pipeline for the operator view."""
        p = self.prover
        if p is None:
            return {
                "enabled": False,
                "where": None,
                "last_proven_batch": None,
                "lag": 0,
                "lag_seconds": 0.0,
                "in_flight": 0,
                "pending": [],
                "failure": None,
            }
        failure = p.failure
        return {
            "enabled": True,
            "where": self.settings.dask_scheduler or f"local:{self.settings.prove_workers}",
            "last_proven_batch": p.last_proven,
            "lag": p.lag,
            "lag_seconds": p.lag_seconds(),
            "in_flight": p.in_flight,
            "pending": p.pending_ids(20),
            "failure": None
            if failure is None
            else {"batch_id": failure.batch_id, "reason": failure.reason, "at_ms": failure.at_ms},
        }

    def _published_files(self, batch_id: int) -> dict[str, str]:
        """The published folder's files of a settled batch.

        Raises:
            NotFound: no such batch. Conflict (``batch_not_settled``): not settled
            (yet). Gone (``archive_unavailable``): settled, but neither published
            nor among the batches kept in memory.
        """
        view = self.read(lambda: self.batch_view(batch_id))
        if view.status not in ("settled", "proven", "anchored"):
            raise Conflict(
                f"batch {batch_id}: expected a settled batch, got status {view.status}",
                "batch_not_settled",
            )
        files = None
        with self.core_lock:
            publication = self.core.publications.get(batch_id)
            threshold = self.core.threshold_files.get(batch_id)
        if publication is not None:
            # The venue's own transition first: a folder in DIR may be another's.
            files = self._folder_files(publication, threshold)
        if files is None and self.publish_dir is not None:
            files = read_folder(self.publish_dir, batch_id)
        if files is None:
            files = self.store.load_transition(batch_id)
        if files is None:
            raise Gone(
                f"batch {batch_id}: expected a published or recent batch, got one older than "
                f"the {self.core.publications_kept} kept in memory and not published "
                "(serve with --publish DIR)"
            )
        return dict(files)

    def archive(self, batch_id: int) -> bytes:
        """The published folder of a settled batch as a gzipped tar.

        Raises:
            NotFound, Conflict, Gone: see :meth:`_published_files`.
        """
        return archive_bytes(batch_id, self._published_files(batch_id))

    def commitment_proof(self, batch_id: int, sequence: int) -> dict[str, Any]:
        """The inclusion proof of receipt ``sequence``'s commitment under the batch's
        commitment root (its seed), computed from the batch's published files.

        Raises:
            NotFound: no such batch, or no commitment with that receipt number in it.
            Conflict, Gone: see :meth:`_published_files`.
        """
        files = self._published_files(batch_id)
        batch = PublishedBatch.from_files(files)
        leaves = batch.commitments()
        if not 0 <= sequence < len(leaves):
            raise NotFound(
                f"batch {batch_id}: expected a receipt number in [0, {len(leaves)}), got {sequence}"
            )
        commitments = [c for c, _, _, _ in leaves]
        markets = [m for _, m, _, _ in leaves]
        traders = [t for _, _, t, _ in leaves]
        bonds = [b for _, _, _, b in leaves]
        commitment, market, trader, bond = leaves[sequence]
        path = commitment_path(commitments, markets, traders, bonds, sequence)
        return {
            "batch_id": batch_id,
            "sequence": sequence,
            "commitment": "0x" + commitment.hex(),
            "market": market,
            "trader": trader,
            "bond": bond,
            "leaf": "0x" + commitment_leaf(commitment, market, trader, bond).hex(),
            "path": ["0x" + p.hex() for p in path],
            "root": "0x" + batch.seed.hex(),
            "commitments": len(leaves),
        }

    def _check_storage(self) -> None:
        """Refuse to apply or show anything once the log could not be written.

        A write is applied to the core before its log entry is committed, so
        after a failed commit the running state holds writes a restart would
        undo: from then on the venue neither applies nor shows anything (it
        answers 503 until restarted, and the replay drops what was not logged).

        Raises:
            StorageUnavailable: the writer has failed.
        """
        if self.writer.failed is not None:
            raise StorageUnavailable(
                f"the database writer stopped ({self.writer.failed}); the venue refuses "
                "reads and writes until restarted"
            )

    def _due(self, now: int) -> bool:
        """Whether a batch falls due by ``now`` (its clearing must not run on the loop)."""
        return self.core.clear_due(now)

    async def _clear_due(self, force: bool = False) -> None:
        """Clear every batch due now on the clearing thread, never on the event loop.

        The caller waits for it without blocking the loop (other requests are
        answered meanwhile); concurrent callers share one clearing. ``force``
        runs one pass even when no batch is due (a snapshot that fell due).

        Raises:
            StorageUnavailable: the durable log failed.
        """
        while force or self._due(self.clock.now_ms()):
            force = False
            before = self.core.last_cleared
            fut = self._clearing
            if fut is None or fut.done():
                fut = self._clearing = self._clearer.submit(self.advance)
            await asyncio.wrap_future(fut)
            if self.core.last_cleared == before and self.core.halted is None:
                break  # nothing moved (e.g. the time of the check and the clearing's differ)

    async def _locked(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` under ``core_lock`` without blocking the event loop: at once when
        the lock is free, else on a thread that waits for it (a batch clearing)."""
        if self.core_lock.acquire(blocking=False):
            try:
                return fn()
            finally:
                self.core_lock.release()
        return await asyncio.to_thread(self._call_locked, fn)

    def _call_locked(self, fn: Callable[[], _T]) -> _T:
        with self.core_lock:
            return fn()

    def advance(self) -> list[BatchRecord]:
        """Clear every batch that is due; records are stored, then published.

        Any thread may call it; the running venue calls it on its clearing
        thread (:meth:`_clear_due`)."""
        pending: list[_PendingMessages] = []
        with self.core_lock:
            self._check_storage()
            records = self._advance_locked(self.clock.now_ms(), pending)
            if self._snapshot_due and self.core.halted is None:
                self._snapshot()
        self._publish_all(pending)
        return records

    async def run(self) -> None:
        """Advance the batch clock every ``tick_ms`` until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        refreshed = -math.inf
        while not self._stopping:
            try:
                if self.writer.failed is None:
                    await self._clear_due(force=self._snapshot_due)
            except SealbatchError:
                log.exception("batch clock step failed")
            # Every scrape refreshes the gauges itself; between scrapes once a
            # second is enough (every tick cost ~2 % of a core under load).
            if time.monotonic() - refreshed >= _METRICS_REFRESH_S:
                await self.refresh_metrics_async()
                refreshed = time.monotonic()
            await asyncio.sleep(self.settings.tick_ms / 1000)

    async def refresh_metrics_async(self) -> None:
        """:meth:`refresh_metrics` from the event loop (never blocked by a clearing)."""
        await self._locked(self.refresh_metrics)

    def refresh_metrics(self) -> None:
        """Set the gauges from the venue's state (the loop and each scrape call it)."""
        m = self.metrics
        now = self.clock.now_ms()
        with self.core_lock:
            m.batch_lag.set(max(0, self.schedule.last_cleared_by(now) - self.core.last_cleared))
            m.last_cleared.set(self.core.last_cleared)
            m.halted.set(int(self.core.halted is not None))
            settle = self.core.settlement
            m.insurance.set(settle.state.insurance_fund)
            m.fee_pool.set(settle.state.fee_pool)
            m.max_index_age.set(settle.oracle.max_price_age_ms / 1000)
            for market in sorted(self.core.markets):
                view = settle.market_state(market)
                m.flagged.labels(market).set(int(view.flagged))
                age = (now - view.index_time_ms) / 1000 if view.index_time_ms else float("inf")
                m.index_age.labels(market).set(age)
                m.protective.labels(market).set(int(view.breaker.protective))
        m.queue_depth.set(self.writer.depth)
        m.db_tx.set(self.writer.transactions)
        m.writer_failed.set(int(self.writer.failed is not None))
        m.subscribers.set(self.broker.subscribers)
        if self.l1 is not None:
            with self.core_lock:
                lag, lag_s, _ = self._l1_lag()
            m.l1_lag.set(lag)
            m.l1_lag_seconds.set(lag_s)
            m.l1_blocked.set(int(self.l1.unserved is not None))
            m.anchor_retrying.set(int(self.l1.failure is not None))
            last_anchored = self.l1.last_anchored
            m.last_anchored.set(-1 if last_anchored is None else last_anchored)
        if self.prover is not None:
            m.proof_lag.set(self.prover.lag)
            m.proof_lag_seconds.set(self.prover.lag_seconds())
            m.proofs_in_flight.set(self.prover.in_flight)
            m.proving_halted.set(int(self.prover.failure is not None))
            last = self.prover.last_proven
            m.last_proven.set(-1 if last is None else last)

    def stop(self) -> None:
        self._stopping = True

    def close(self) -> None:
        self._close_stages()
        self._clearer.shutdown(wait=True)
        self.writer.close()
        self._publisher.shutdown(wait=True)
        self.signers.close()
        self.store.close()

    # ----------------------------------------------------------------- writes
    #
    # Every write reads the time, advances the batch clock to it, applies the
    # write and hands its event to the writer, all under ``core_lock``: the
    # log's order is the order of application, and a replay (advance to the
    # event's time, then apply) retraces it exactly.

    def _log(self, kind: str, payload: str, at_ms: int) -> LoggedEvent:
        e = LoggedEvent(self._next_seq, kind, at_ms, payload)
        self._next_seq += 1
        self.metrics.writes.labels(kind).inc()
        return e

    def _publish_all(self, pending: list[_PendingMessages]) -> None:
        for fut, msgs in pending:
            self._publish_once_durable(fut, msgs)

    def _publish_once_durable(
        self, fut: Future[None], msgs: list[tuple[str, str, dict[str, Any]]]
    ) -> None:
        """Publish ``msgs`` once ``fut`` (their write) is durable."""
        if not msgs:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop
        if running is None and loop is not None and not loop.is_closed():
            # Another thread (the clearing thread): the broker lives on the loop.
            try:
                loop.call_soon_threadsafe(self._publish_once_durable, fut, msgs)
                return
            except RuntimeError:  # the loop closed meanwhile
                pass

        async def publish() -> None:
            with contextlib.suppress(VenueError):
                await asyncio.wrap_future(fut)
                for topic, kind, data in msgs:
                    self.broker.publish(topic, kind, data)

        if running is None:  # no loop (replay, sync tests): publish once durable
            fut.result()
            for topic, kind, data in msgs:
                self.broker.publish(topic, kind, data)
            return
        task = running.create_task(publish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _limit(self, address: str, cost: int = 1) -> None:
        self.limiter.check(address.lower(), cost)

    def _spend(self, address: str, err: SealbatchError | None, cost: int = 1) -> None:
        """Spend for an accepted (or logged) write of ``address``; count a refusal."""
        if err is None or getattr(err, "code", "") != "bad_signature":
            self.limiter.spend(address.lower(), cost)
        if err is not None:
            self.metrics.rejections.labels(getattr(err, "code", "error")).inc()

    def _refused(self, kind: str, body: Any, address: str, err: SealbatchError) -> None:
        """Count a refused write; its named signer pays only if it truly signed it
        (a refusal may come before the signature check, e.g. a wrong batch)."""
        self.metrics.rejections.labels(getattr(err, "code", "error")).inc()
        if getattr(err, "code", "") == "bad_signature":
            return
        signer = self.core.signed_by(kind, body)
        if signer is not None and signer.lower() == address.lower():
            self.limiter.spend(address.lower())

    def _commit_chunk(
        self,
        bodies: Sequence[CommitIn],
        signers: Sequence[Address | None],
        sign: bool = True,
    ) -> tuple[
        list[Receipt | AuctionError | VenueError], Future[None] | None, list[_PendingMessages]
    ]:
        """Take a run of commitments under ``core_lock``: the first of ``bodies``, up
        to the first that arrives when a batch is due (none clears here).
        ``signers``: each body's signer recovered by the workers (or None). With
        ``sign=False`` the receipts come back unsigned (the caller signs them)."""
        pending: list[_PendingMessages] = []
        out: list[Receipt | AuctionError | VenueError] = []
        events: list[LoggedEvent] = []
        with self.core_lock:
            self._check_storage()
            if self.core.evicted_any:
                # Hashes taken in batches no longer in memory: from the database.
                self.core.taken_elsewhere = self.store.taken([hexb(b.commitment) for b in bodies])
            last = -1
            limiter = self.limiter
            for body, signer in zip(bodies, signers, strict=True):
                now = self.clock.now_ms()
                if now != last:  # the same instant changes nothing in between
                    if self._due(now):
                        break  # a batch fell due: the caller has it cleared off the loop
                    self._advance_locked(now, pending)
                    last = now
                key = body.trader.lower()  # the rate limiter's key (_limit, _spend)
                try:
                    limiter.check(key)
                    receipt = self.core.commit(body, now, sign=sign, signer=signer)
                except (AuctionError, VenueError) as err:
                    if not isinstance(err, VenueError) or err.code != "rate_limited":
                        self._refused("commit", body, body.trader, err)
                    out.append(err)
                    continue
                limiter.spend(key)
                events.append(LoggedEvent(self._next_seq, "commit", now, body.log_json()))
                self._next_seq += 1
                out.append(receipt)
            self.core.taken_elsewhere = {}
            if events:
                if self._commit_writes is None:
                    self._commit_writes = self.metrics.writes.labels("commit")
                self._commit_writes.inc(len(events))
            fut = self.writer.submit(events) if events else None
        return out, fut, pending

    async def commit(self, bodies: Sequence[CommitIn]) -> list[Receipt | AuctionError | VenueError]:
        """Take commitments (one request, one or many); each gets a receipt or an error.

        A bulk request yields to other requests every ``_CHUNK`` commitments.
        Every receipt leaves only after its commitment is durable.
        """
        out: list[Receipt | AuctionError | VenueError] = []
        futures: list[Future[None]] = []
        # In bulk, the signers are recovered in the workers while other requests
        # run, and the receipts signed there while the group commit runs.
        pooled = self.signers.pooled(len(bodies))
        signers = await self.signers.recover(bodies)
        i = 0
        while i < len(bodies):
            if i:
                await asyncio.sleep(0)
            # A batch due now clears on the clearing thread first (never here).
            await self._clear_due()
            res, fut, pending = await self._locked(
                functools.partial(
                    self._commit_chunk, bodies[i : i + _CHUNK], signers[i : i + _CHUNK], not pooled
                )
            )
            self._publish_all(pending)
            out.extend(res)
            i += len(res)
            if fut is not None:
                futures.append(fut)

        async def durable() -> None:
            for fut in futures:
                await asyncio.wrap_future(fut)

        with self.metrics.commit_latency.time():
            if not pooled:
                await durable()
                return out
            taken = [k for k, r in enumerate(out) if isinstance(r, Receipt)]
            signed, _ = await asyncio.gather(
                self.signers.sign_receipts([cast(Receipt, out[k]) for k in taken]), durable()
            )
        for k, r in zip(taken, signed, strict=True):
            out[k] = r
        return out

    async def _write(
        self,
        kind: str,
        signer: str,
        body: Any,
        fn: Callable[[Any, int], Any],
        messages: Callable[[Any, int], list[tuple[str, str, dict[str, Any]]]] | None = None,
    ) -> Any:
        """Apply one signed write other than a commitment and wait until it is durable.

        A batch due when the write arrives is cleared first, on the clearing
        thread: the write waits for it without blocking the event loop."""
        pending: list[_PendingMessages] = []

        def attempt() -> tuple[Any, Future[None], list[tuple[str, str, dict[str, Any]]]] | None:
            self._check_storage()
            now = self.clock.now_ms()
            if self._due(now):
                return None  # a batch fell due meanwhile: clear it off the loop first
            self._advance_locked(now, pending)
            self._limit(signer)
            try:
                result = fn(body, now)
            except SealbatchError as err:
                self._refused(kind, body, signer, err)
                raise
            self._spend(signer, result.error if isinstance(result, RevealOutcome) else None)
            fut = self.writer.submit([self._log(kind, body.model_dump_json(), now)])
            return result, fut, (messages(result, now) if messages else [])

        try:
            while True:
                await self._clear_due()
                done = await self._locked(attempt)
                if done is not None:
                    break
        finally:
            self._publish_all(pending)
        result, fut, msgs = done
        self._publish_once_durable(fut, msgs)
        with self.metrics.commit_latency.time():
            await asyncio.wrap_future(fut)
        return result

    async def deal(self, body: DealingIn) -> Any:
        """Take a keyper's dealing for a future batch (durable before the answer)."""
        return await self._write("dealing", body.keyper, body, self.core.deal)

    async def complain(self, body: ComplaintIn) -> Any:
        """Take a keyper's complaint about a dealing share (durable before the answer);
        published on the ``keys`` topic (``complaint``) for the dealer to answer."""
        return await self._write(
            "complaint",
            body.keyper,
            body,
            self.core.complain,
            lambda rec, _now: [("keys", "complaint", rec.to_json())],
        )

    async def answer_complaint(self, body: AnswerIn) -> Any:
        """Take a dealer's answer to a complaint; published on ``keys`` (``answer``). A bad
        one is recorded (the dealer is disqualified), published, then refused."""
        outcome = await self._write(
            "answer",
            body.keyper,
            body,
            self.core.answer_complaint,
            lambda out, _now: [("keys", "answer", out.record.to_json())],
        )
        if outcome.error is not None:
            raise outcome.error
        return outcome

    async def release_share(self, body: KeyShareIn) -> Any:
        """Take a keyper's released share; a bad one is recorded, then refused. With the
        ``t``-th valid share the batch clears at once (its reveal window is over)."""
        outcome = await self._write("key_share", body.keyper, body, self.core.release_share)
        if outcome.error is not None:
            raise outcome.error
        if outcome.combined:
            await self._clear_due()  # on the clearing thread, not here
        return outcome

    async def reveal(self, body: RevealIn) -> RevealedOrder:
        """Reveal a committed order; raises the refusal (logged when it concerns the order)."""
        outcome: RevealOutcome = await self._write("reveal", body.trader, body, self.core.reveal)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.revealed is not None  # a reveal without error has an order
        return outcome.revealed

    def _rfq_messages(self, kind: str, body: Any) -> Callable[[Any, int], list[Any]]:
        def messages(result: Any, now: int) -> list[tuple[str, str, dict[str, Any]]]:
            rfq_id = getattr(body, "rfq_id", None)
            rfq = self.core.rfqs.get(bytes.fromhex(rfq_id[2:])) if rfq_id else result
            return [("rfqs", kind, rfq.to_dict(now))]

        return messages

    def _recalling(self, fn: Callable[[Any, int], _T]) -> Callable[[Any, int], _T]:
        """``fn`` (a write naming an RFQ) with what it needs of RFQs that left memory,
        from the database: the named RFQ, closed (so the write is refused as it was
        while the RFQ was in memory), and for a sealed quote whether its hash was
        taken in one of them (caller holds ``core_lock``, as for :meth:`_commit_chunk`'s
        lookup of old commitment hashes)."""

        def run(body: Any, now: int) -> _T:
            book = self.core.rfqs
            if not book.forgotten:
                return fn(body, now)
            rfq_id = hexb(body.rfq_id)
            recalled: dict[bytes, Rfq] = {}
            if rfq_id not in book.rfqs:
                view = self.store.load_rfq(rfq_id)
                # Closed by the venue's clock (else, with a clock set back, a write could
                # be taken into an RFQ that is not in memory): unknown otherwise.
                if view is not None and now >= view["close_ms"]:
                    recalled[rfq_id] = Rfq.from_final_view(view)
            taken: frozenset[bytes] = frozenset()
            if isinstance(body, QuoteCommitIn):
                quote = hexb(body.commitment)
                if quote not in book.quote_hashes and self.store.quote_taken(quote):
                    taken = frozenset((quote,))
            book.recalled, book.taken_elsewhere = recalled, taken
            try:
                return fn(body, now)
            finally:
                del book.recalled, book.taken_elsewhere  # back to the class's: none

        return run

    async def request_rfq(self, body: RfqIn) -> Rfq:
        rfq: Rfq = await self._write(
            "rfq", body.requester, body, self.core.request_rfq, self._rfq_messages("rfq", body)
        )
        return rfq

    async def quote_commit(self, body: QuoteCommitIn) -> Quote:
        q: Quote = await self._write(
            "quote_commit",
            body.maker,
            body,
            self._recalling(self.core.quote_commit),
            self._rfq_messages("quote_commit", body),
        )
        return q

    async def quote_reveal(self, body: QuoteRevealIn) -> Quote:
        q: Quote = await self._write(
            "quote_reveal",
            body.maker,
            body,
            self._recalling(self.core.quote_reveal),
            self._rfq_messages("quote_reveal", body),
        )
        return q

    async def accept(self, body: AcceptIn) -> Acceptance:
        a: Acceptance = await self._write(
            "accept",
            body.requester,
            body,
            self._recalling(self.core.accept),
            self._rfq_messages("accept", body),
        )
        return a

    async def deposit(self, body: DepositIn) -> None:
        topic = f"account:{body.trader.lower()}"
        await self._write(
            "deposit",
            body.trader,
            body,
            self.core.deposit,
            lambda _r, _now: [(topic, "deposit", {"amount": body.amount})],
        )

    async def withdraw(self, body: WithdrawIn) -> None:
        topic = f"account:{body.trader.lower()}"
        await self._write(
            "withdraw",
            body.trader,
            body,
            self.core.withdraw,
            lambda _r, _now: [(topic, "withdrawal", {"amount": body.amount})],
        )

    async def oracle_report(self, body: OracleReportIn) -> None:
        await self._write("oracle", body.source, body, self.core.oracle_report)

    async def resume(self, body: ResumeIn) -> dict[str, Any]:
        """Resume the venue halted after a failed batch (the operator's signed order)."""
        out: dict[str, Any] = await self._write("resume", body.operator, body, self.core.resume)
        log.warning("the operator resumed the venue halted after batch %d", out["batch_id"])
        if self.settings.prove and (self.prover is None or self.prover.failure is not None):
            # Proving halted too (the halt's cause, or alongside), or an earlier restart
            # failed and left none: it starts over at the unproven batch; a batch that
            # fails again halts the venue again.
            try:
                await asyncio.to_thread(self._restart_prover)
            except Exception as exc:
                reason = f"proving could not restart: {type(exc).__name__}: {exc}"
                log.error("%s", reason)
                failure = ProofFailure(out["batch_id"], reason, self.clock.now_ms())
                pending: list[_PendingMessages] = []
                with self.core_lock:
                    self._halt_unproven(failure, pending)
                self._publish_all(pending)
                raise Halted(
                    f"resume: {reason}; the venue halted again (sealbatch resume --batch "
                    f"{out['batch_id']} once fixed)"
                ) from exc
        return out

    def read(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` (a read of venue state) under ``core_lock``, after the clock advanced.

        What it returns may hold writes not yet durable: answer it through
        :meth:`read_durable`."""
        self.advance()
        with self.core_lock:
            self._check_storage()
            return fn()

    def _read_locked(self, fn: Callable[[], _T]) -> _T:
        self._check_storage()
        return fn()

    async def read_durable(self, fn: Callable[[], _T]) -> _T:
        """:meth:`read`, returned once every write it may show is durable.

        A write is applied before its log entry commits, so a read could show
        a write (or a batch result) that a crash would undo; this waits for
        the latest write submitted before the read (groups commit in order).

        Raises:
            StorageUnavailable: that write failed.
        """
        await self._clear_due()
        out = await self._locked(functools.partial(self._read_locked, fn))
        last = self.writer.last
        if last is not None:
            await asyncio.wrap_future(last)
        return out

    # ------------------------------------------------------------------ views
    #
    # The core keeps the last ``memory_batches`` batches; older records and
    # order statuses are read from the database (stored with their batch).

    def batch_view(self, batch_id: int) -> BatchRecord | OpenBatch:
        """A batch's record (from memory, else the database) or an open batch's state.

        Raises:
            NotFound: no such batch.
        """
        try:
            return self.core.batch_view(batch_id, self.clock.now_ms())
        except NotFound:
            if 0 <= batch_id <= self.core.last_cleared and batch_id not in self.core.records:
                rec = self.store.load_batch(batch_id)
                if rec is not None:
                    return rec
            raise

    def batch_page(self, before: int | None, limit: int) -> list[BatchRecord]:
        """Records of the ``limit`` newest batches before ``before``, newest first."""
        recent = self.core.records
        ids = sorted((b for b in recent if before is None or b < before), reverse=True)
        out = [recent[b] for b in ids[:limit]]
        if len(out) < limit:
            floor = min(recent, default=self.core.last_cleared + 1)
            older = floor if before is None else min(floor, before)
            out += self.store.load_batch_page(older, limit - len(out))
        return out

    def order_status(self, commitment: bytes) -> OrderStatus:
        """An order's status as shown (from memory, else the database; see
        ``VenueStateMachine.order_status``).

        Raises:
            NotFound: the commitment was never taken.
        """
        try:
            return self.core.order_status(commitment)
        except NotFound:
            stored = self.store.load_order_status(commitment) if self.core.evicted_any else None
            if stored is None:
                raise
            return stored.sealed()

    def trader_orders(self, trader: str, last: int = 100) -> list[OrderStatus]:
        """The statuses of ``trader``'s latest ``last`` orders as shown, oldest first."""
        recent = self.core.trader_orders(trader, last)
        if len(recent) < last and self.core.evicted_any:
            exclude = frozenset(s.commitment for s in recent)
            older = self.store.load_trader_orders(trader, last - len(recent), exclude)
            recent = [s.sealed() for s in older] + recent
        return recent

    async def rfq_view(self, rfq_id: bytes) -> dict[str, Any]:
        """An RFQ's public view now: from memory, else (one that left it: closed, its
        final view) from the database, once every write before it is durable.

        Raises:
            NotFound (``unknown_rfq``): the venue never had it.
        """

        def view() -> dict[str, Any] | None:
            rfq = self.core.rfqs.rfqs.get(rfq_id)
            return None if rfq is None else rfq.to_dict(self.clock.now_ms())

        out = await self.read_durable(view)
        if out is None and self.core.rfqs.forgotten:
            # (read_durable waited for the writes before it: those of RFQs leaving too)
            out = await asyncio.to_thread(self.store.load_rfq, rfq_id)
        if out is None:
            raise NotFound(f"rfq 0x{rfq_id.hex()} does not exist", "unknown_rfq")
        return out

    async def rfq_page(self, after: bytes | None, limit: int) -> list[dict[str, Any]]:
        """The public views of the open RFQs opened after ``after`` (see
        :meth:`RfqBook.open_rfqs`), at most ``limit``. An ``after`` that left memory
        is looked up in the database: every RFQ in memory opened after it.

        Raises:
            NotFound (``unknown_rfq``): the venue never had ``after``.
        """

        def view(start: bytes | None) -> list[dict[str, Any]] | None:
            now = self.clock.now_ms()
            try:
                page = self.core.rfqs.open_rfqs(now, start, limit)
            except NotFound:
                if not self.core.rfqs.forgotten:
                    raise
                return None
            return [r.to_dict(now) for r in page]

        out = await self.read_durable(functools.partial(view, after))
        if out is None:
            assert after is not None  # only an ``after`` can name no RFQ in memory
            if await asyncio.to_thread(self.store.load_rfq, after) is None:
                raise NotFound(
                    f"after: expected the rfq_id of an RFQ, got 0x{after.hex()}", "unknown_rfq"
                )
            out = await self.read_durable(functools.partial(view, None))
            assert out is not None  # no ``after``: nothing to look up
        return out

    def _batch_messages(self, rec: BatchRecord) -> list[tuple[str, str, dict[str, Any]]]:
        msgs: list[tuple[str, str, dict[str, Any]]] = [("batches", "batch", rec.to_json())]
        traders: dict[str, None] = {}  # in order of first appearance
        for mr in sorted(rec.markets.values(), key=lambda mr: mr.market):
            for f in mr.fills:
                traders.setdefault(f.trader.lower())
        for forfeit in rec.forfeits:
            traders.setdefault(forfeit.trader.lower())
        for b in rec.blocks:
            traders.setdefault(b.acceptance.buyer.lower())
            traders.setdefault(b.acceptance.seller.lower())
        for trader in traders:
            orders = [
                self.core.order_status(c).to_json()
                for c in self.core.by_trader.get(Address(_checksum(trader)), [])
                if _last_batch(self.core.order_statuses[c]) == rec.batch_id
            ]
            msgs.append(
                (f"account:{trader}", "batch", {"batch_id": rec.batch_id, "orders": orders})
            )
        return msgs

    def snapshot(self, topic: str) -> dict[str, Any]:
        """What a new subscriber to ``topic`` starts from."""
        now = self.clock.now_ms()
        if topic == "batches":
            recent = sorted(self.core.records)[-5:]
            return {
                "collecting": self.schedule.collecting(now),
                "last_cleared": self.core.last_cleared,
                "recent": [self.core.records[b].to_json() for b in recent],
            }
        if topic == "rfqs":
            # The first page of GET /v1/rfqs: the rest is read there, not sent unbounded.
            page = self.core.rfqs.open_rfqs(now, limit=OPEN_PAGE_MAX)
            return {"open": [r.to_dict(now) for r in page]}
        if topic == "keys":
            keys = self.core.keys
            seals = [] if keys is None else [s.to_json() for _, s in sorted(keys.seals.items())]
            return {"collecting": self.schedule.collecting(now), "seals": seals}
        trader = _checksum(topic.split(":", 1)[1])
        orders = [s.to_json() for s in self.trader_orders(trader)]
        account = self.core.settlement.account(Address(trader)).to_dict()
        return {"account": account, "orders": orders}

    def operator_view(self) -> dict[str, Any]:
        now = self.clock.now_ms()
        due = self.schedule.last_cleared_by(now)
        return {
            "now_ms": now,
            "collecting_batch": self.schedule.collecting(now),
            "last_cleared_batch": self.core.last_cleared,
            "batch_lag": max(0, due - self.core.last_cleared),
            "commit_window_ms": self.schedule.commit_ms,
            "reveal_window_ms": self.schedule.reveal_ms,
            "breaker": {
                m: self.core.settlement.market_state(m).breaker.to_dict()
                for m in sorted(self.core.markets)
            },
            "settlement": self.core.settlement.name,
            "halted": dict(self.core.halted) if self.core.halted is not None else None,
            "failed_batches": [
                {"batch_id": b, "reason": r.settlement["error"] if r.settlement else None}
                for b, r in sorted(self.core.records.items())
                if r.status == "failed"
            ][-10:],
            "proving": self.proving_view(),
            "l1": self.l1_view(),
            "queues": {
                "db_writes": self.writer.depth,
                "open_books": {
                    str(b): len(book._order) for b, book in sorted(self.core.books.items())
                },
                "carried_orders": len(self.core.carried),
                "pending_blocks": sum(len(v) for v in self.core.blocks.values()),
                "open_rfqs": len(self.core.rfqs.open_rfqs(now)),
                "stream_subscribers": self.broker.subscribers,
            },
            "db": {
                "transactions": self.writer.transactions,
                "events_written": self.writer.events_written,
                "replayed_at_start": self.replayed,
                "snapshot_batch": self.snapshot_batch if self.snapshot_batch >= 0 else None,
            },
        }


def _last_batch(status: OrderStatus) -> int:
    """The last batch an order took part in (its own, before it clears)."""
    return status.last_batch_id if status.last_batch_id is not None else status.batch_id


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))
