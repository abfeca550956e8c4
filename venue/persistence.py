"""Durability: SQLite (WAL) or PostgreSQL through sqlmodel, with group commits.

Every accepted write is appended to the ``event`` table before its answer
leaves the venue. Writers do not commit one by one: :class:`GroupCommitter`
runs one thread that takes everything queued since its last transaction and
commits it at once (``synchronous=FULL`` on SQLite, so a commit survives a
crash of the process and of the machine), then wakes every waiting request.
Throughput grows with load while each write stays durable before its
receipt.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import delete, event, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from sealbatch.venue.batch_record import BatchRecord
from sealbatch.venue.errors import StorageUnavailable
from sealbatch.venue.order_status import OrderStatus
from sealbatch.venue.tables import (
    BatchRow,
    EventRow,
    FateRow,
    MetaRow,
    ProofRow,
    RfqQuoteRow,
    RfqRow,
    SnapshotRow,
    TransitionRow,
)

__all__ = ["GroupCommitter", "LoggedEvent", "Snapshot", "Store", "make_engine"]

log = logging.getLogger(__name__)


class LoggedEvent(NamedTuple):
    """One accepted write as logged: a row of the event table, its columns in order
    (the writer hands a group's events to a positional database driver as they are;
    every bulk commitment makes one)."""

    seq: int
    kind: str
    at_ms: int
    payload: str


@dataclass(frozen=True)
class Snapshot:
    """The venue core pickled after ``batch_id`` cleared and event ``event_seq``;
    ``blob`` is the pickle sealed with its digest (venue/snapshot_blob.py)."""

    batch_id: int
    event_seq: int
    state_root: str
    blob: bytes


#: Snapshots kept in the database (the newest, and one before it).
SNAPSHOTS_KEPT = 2


def make_engine(url: str) -> Engine:
    """An SQLAlchemy engine for ``url``; SQLite files get WAL and synchronous=FULL."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _positional_insert(engine: Engine) -> str | None:
    """The driver's ``INSERT`` of event rows given as :class:`LoggedEvent` tuples when
    its parameters are positional (SQLite's ``?``), else None (rows go through
    SQLAlchemy as dictionaries): the same rows, without a dictionary and
    SQLAlchemy's parameter processing for each."""
    compiled = insert(EventRow.__table__).compile(dialect=engine.dialect)  # type: ignore[attr-defined]
    if compiled.positional and compiled.positiontup == list(LoggedEvent._fields):
        return str(compiled)
    return None


class Store:
    """Tables, reads at start-up, and the writes the group committer batches."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        SQLModel.metadata.create_all(self.engine)
        self._insert_events = _positional_insert(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def load_events(self, after_seq: int = 0) -> list[LoggedEvent]:
        """The logged events after ``after_seq``, in order."""
        t = EventRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.seq, t.c.kind, t.c.at_ms, t.c.payload)
                .where(t.c.seq > after_seq)
                .order_by(t.c.seq)
            ).all()
        return [LoggedEvent(int(s), k, int(t), p) for s, k, t, p in rows]

    def load_batches(self, after: int = -1) -> dict[int, tuple[str, dict[str, Any]]]:
        """``{batch_id: (result_hash, record)}`` of every stored batch after ``after``."""
        t = BatchRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.batch_id, t.c.result_hash, t.c.record).where(t.c.batch_id > after)
            ).all()
        return {int(b): (h, json.loads(r)) for b, h, r in rows}

    def load_snapshots(self) -> Iterator[Snapshot]:
        """The stored snapshots (at most ``SNAPSHOTS_KEPT``), newest first, each read
        only when the caller asks for it (a snapshot is the whole venue state)."""
        t = SnapshotRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            ids = conn.execute(select(t.c.batch_id).order_by(t.c.batch_id.desc())).all()
        for (batch_id,) in ids:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(t.c.event_seq, t.c.state_root, t.c.blob).where(t.c.batch_id == batch_id)
                ).first()
            if row is not None:
                yield Snapshot(int(batch_id), int(row[0]), row[1], bytes(row[2]))

    def load_batch(self, batch_id: int) -> BatchRecord | None:
        """The stored record of ``batch_id``, or None."""
        t = BatchRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.record).where(t.c.batch_id == batch_id)).first()
        return None if row is None else BatchRecord.from_json(json.loads(row[0]))

    def load_progressed(self, batch_ids: Sequence[int]) -> dict[int, BatchRecord]:
        """The stored records among ``batch_ids`` whose status moved past ``settled``
        (``proven``, ``anchored``), in one query per 500 ids."""
        t = BatchRow.__table__  # type: ignore[attr-defined]
        ids = sorted(set(batch_ids))
        out: dict[int, BatchRecord] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                rows = conn.execute(
                    select(t.c.batch_id, t.c.record).where(
                        t.c.batch_id.in_(ids[i : i + 500]),
                        t.c.status.in_(("proven", "anchored")),
                    )
                ).all()
                out.update((int(b), BatchRecord.from_json(json.loads(r))) for b, r in rows)
        return out

    def load_transition(self, batch_id: int) -> dict[str, str] | None:
        """The stored folder (file name -> text) of a settled batch that left memory
        unproven, or None."""
        t = TransitionRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.files).where(t.c.batch_id == batch_id)).first()
        if row is None:
            return None
        files: dict[str, str] = json.loads(zlib.decompress(bytes(row[0])))
        return files

    def load_settled_ids(self, before: int) -> list[int]:
        """Ids of the stored batches before ``before`` whose status is ``settled``
        (settled and not proven), oldest first."""
        t = BatchRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.batch_id)
                .where(t.c.batch_id < before, t.c.status == "settled")
                .order_by(t.c.batch_id)
            ).all()
        return [int(r[0]) for r in rows]

    def load_batch_page(self, before: int, limit: int) -> list[BatchRecord]:
        """Stored records of the ``limit`` newest batches before ``before``, newest first."""
        t = BatchRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.record)
                .where(t.c.batch_id < before)
                .order_by(t.c.batch_id.desc())
                .limit(limit)
            ).all()
        return [BatchRecord.from_json(json.loads(r[0])) for r in rows]

    def load_order_status(self, commitment: bytes) -> OrderStatus | None:
        """The stored status of the order ``commitment``, or None."""
        t = FateRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.c.body).where(t.c.commitment == "0x" + commitment.hex())
            ).first()
        return None if row is None else OrderStatus.from_json(json.loads(row[0]))

    def load_trader_orders(
        self, trader: str, limit: int, exclude: frozenset[bytes] = frozenset()
    ) -> list[OrderStatus]:
        """The stored statuses of ``trader``'s ``limit`` latest orders not in ``exclude``,
        oldest first."""
        t = FateRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.commitment, t.c.body)
                .where(t.c.trader == trader)
                .order_by(t.c.batch_id.desc(), t.c.sequence.desc())
                .limit(limit + len(exclude))
            ).all()
        skip = {"0x" + c.hex() for c in exclude}
        out = [OrderStatus.from_json(json.loads(b)) for c, b in rows if c not in skip][:limit]
        return out[::-1]

    def taken(self, commitments: Sequence[bytes]) -> dict[bytes, int]:
        """Of ``commitments``, those with a stored order status: commitment -> its batch."""
        if not commitments:
            return {}
        t = FateRow.__table__  # type: ignore[attr-defined]
        keys = {"0x" + c.hex(): c for c in commitments}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.commitment, t.c.batch_id).where(t.c.commitment.in_(list(keys)))
            ).all()
        return {keys[c]: int(b) for c, b in rows}

    def load_rfq(self, rfq_id: bytes) -> dict[str, Any] | None:
        """The stored final view of the RFQ ``rfq_id`` (one that left memory), or None."""
        t = RfqRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.body).where(t.c.rfq_id == "0x" + rfq_id.hex())).first()
        if row is None:
            return None
        view: dict[str, Any] = json.loads(row[0])
        return view

    def quote_taken(self, commitment: bytes) -> bool:
        """Whether the quote hash ``commitment`` was taken in an RFQ stored as it left
        memory."""
        t = RfqQuoteRow.__table__  # type: ignore[attr-defined]
        key = "0x" + commitment.hex()
        with self.engine.connect() as conn:
            return conn.execute(select(t.c.rfq_id).where(t.c.commitment == key)).first() is not None

    def get_meta(self) -> dict[str, str]:
        t = MetaRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return {k: v for k, v in conn.execute(select(t.c.key, t.c.value)).all()}

    def put_meta(self, values: dict[str, str]) -> None:
        t = MetaRow.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            for k, v in values.items():
                conn.execute(delete(t).where(t.c.key == k))
                conn.execute(insert(t).values(key=k, value=v))

    def load_proof(self, batch_id: int) -> bytes | None:
        """The stored proof of ``batch_id``, or None."""
        t = ProofRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.proof).where(t.c.batch_id == batch_id)).first()
        return None if row is None else bytes(row[0])

    def write(
        self,
        events: Sequence[LoggedEvent],
        batches: Sequence[BatchRecord],
        statuses: Sequence[OrderStatus] = (),
        snapshots: Sequence[Snapshot] = (),
        proofs: Sequence[tuple[int, bytes]] = (),
        transitions: Sequence[tuple[int, dict[str, str]]] = (),
        rfqs: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Append events, upsert batch records, order statuses, snapshots, the
        transitions of batches leaving memory unproven and the final views of RFQs
        leaving memory, and store proofs, in one transaction (only the newest
        ``SNAPSHOTS_KEPT`` snapshots stay; a batch's stored transition goes with its
        proof)."""
        et = EventRow.__table__  # type: ignore[attr-defined]
        bt = BatchRow.__table__  # type: ignore[attr-defined]
        ft = FateRow.__table__  # type: ignore[attr-defined]
        pt = ProofRow.__table__  # type: ignore[attr-defined]
        tt = TransitionRow.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            for batch_id, files in transitions:
                blob = zlib.compress(json.dumps(files, separators=(",", ":")).encode())
                conn.execute(delete(tt).where(tt.c.batch_id == batch_id))
                conn.execute(insert(tt).values(batch_id=batch_id, files=blob))
            for batch_id, proof in proofs:
                conn.execute(delete(pt).where(pt.c.batch_id == batch_id))
                conn.execute(insert(pt).values(batch_id=batch_id, proof=proof))
                conn.execute(delete(tt).where(tt.c.batch_id == batch_id))
            if events and self._insert_events is not None:
                conn.exec_driver_sql(self._insert_events, list(events))
            elif events:
                conn.execute(insert(et), [e._asdict() for e in events])
            for rec in batches:
                conn.execute(delete(bt).where(bt.c.batch_id == rec.batch_id))
                conn.execute(
                    insert(bt).values(
                        batch_id=rec.batch_id,
                        status=rec.status,
                        result_hash=rec.result_hash,
                        # in the answer's key order: the settlement summary is served as stored
                        record=json.dumps(rec.to_json(), separators=(",", ":")),
                    )
                )
            if statuses:
                # the last state of each
                latest = {"0x" + f.commitment.hex(): f for f in statuses}
                keys = list(latest)
                for i in range(0, len(keys), 500):
                    conn.execute(delete(ft).where(ft.c.commitment.in_(keys[i : i + 500])))
                conn.execute(
                    insert(ft),
                    [
                        {
                            "commitment": c,
                            "trader": f.trader,
                            "batch_id": f.batch_id,
                            "sequence": f.sequence,
                            "body": json.dumps(f.to_json(), separators=(",", ":")),
                        }
                        for c, f in latest.items()
                    ],
                )
            if rfqs:
                rt = RfqRow.__table__  # type: ignore[attr-defined]
                qt = RfqQuoteRow.__table__  # type: ignore[attr-defined]
                views = {v["rfq_id"]: v for v in rfqs}
                ids = list(views)
                quotes = {q["commitment"]: i for i, v in views.items() for q in v["quotes"]}
                hashes = list(quotes)
                for i in range(0, len(ids), 500):
                    conn.execute(delete(rt).where(rt.c.rfq_id.in_(ids[i : i + 500])))
                for i in range(0, len(hashes), 500):
                    conn.execute(delete(qt).where(qt.c.commitment.in_(hashes[i : i + 500])))
                if quotes:
                    conn.execute(
                        insert(qt), [{"commitment": c, "rfq_id": i} for c, i in quotes.items()]
                    )
                conn.execute(
                    insert(rt),
                    [
                        {
                            "rfq_id": i,
                            "requester": v["requester"],
                            "body": json.dumps(v, separators=(",", ":")),
                        }
                        for i, v in views.items()
                    ],
                )
            if snapshots:
                st = SnapshotRow.__table__  # type: ignore[attr-defined]
                for snap in snapshots:
                    conn.execute(delete(st).where(st.c.batch_id == snap.batch_id))
                    conn.execute(
                        insert(st).values(
                            batch_id=snap.batch_id,
                            event_seq=snap.event_seq,
                            state_root=snap.state_root,
                            blob=snap.blob,
                        )
                    )
                keep = conn.execute(
                    select(st.c.batch_id).order_by(st.c.batch_id.desc()).limit(SNAPSHOTS_KEPT)
                ).all()
                conn.execute(delete(st).where(st.c.batch_id < min(int(r[0]) for r in keep)))


_STOP = object()


class GroupCommitter:
    """One writer thread; each :meth:`submit` resolves once its rows are committed.

    Args:
        store: where to write.
        max_group: most events per transaction.
    """

    def __init__(self, store: Store, max_group: int = 2048) -> None:
        self.store = store
        self.max_group = max_group
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self.transactions = 0
        self.events_written = 0
        self.failed: BaseException | None = None
        #: The future of the latest submit: groups commit in order, so once it
        #: resolves everything submitted before it is durable too.
        self.last: Future[None] | None = None
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(
        self,
        events: Sequence[LoggedEvent] = (),
        batches: Sequence[BatchRecord] = (),
        statuses: Sequence[OrderStatus] = (),
        snapshots: Sequence[Snapshot] = (),
        proofs: Sequence[tuple[int, bytes]] = (),
        transitions: Sequence[tuple[int, dict[str, str]]] = (),
        rfqs: Sequence[dict[str, Any]] = (),
    ) -> Future[None]:
        fut: Future[None] = Future()
        # Running from the start, so it cannot be cancelled: a waiter that goes away
        # (its task cancelled: ``asyncio.wrap_future`` then cancels what it wraps) must
        # not cancel the write, which happens anyway, nor make the writer's
        # ``set_result`` raise in its thread, nor cancel the other waiters of the same
        # future (``last``).
        fut.set_running_or_notify_cancel()
        if self.failed is not None:
            fut.set_exception(StorageUnavailable(f"the database writer stopped: {self.failed}"))
            return fut
        self._queue.put(
            (
                list(events),
                list(batches),
                list(statuses),
                list(snapshots),
                list(proofs),
                list(transitions),
                list(rfqs),
                fut,
            )
        )
        self.last = fut
        return fut

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is _STOP:
                break
            group = [item]
            n = len(item[0])
            while n < self.max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                group.append(nxt)
                n += len(nxt[0])
            events = [e for g in group for e in g[0]]
            batches = [b for g in group for b in g[1]]
            statuses = [f for g in group for f in g[2]]
            snapshots = [s for g in group for s in g[3]]
            proofs = [p for g in group for p in g[4]]
            transitions = [t for g in group for t in g[5]]
            rfqs = [r for g in group for r in g[6]]
            try:
                self.store.write(events, batches, statuses, snapshots, proofs, transitions, rfqs)
            except Exception as exc:  # any failure stops the writer, loudly
                # A database or OS error, or a bug: either way this group is not durable,
                # and a writer thread that died here would leave every later waiter
                # hanging. It stays alive, failing each group, and refuses new writes.
                self.failed = exc
                log.error("the database writer stopped: %s", exc, exc_info=exc)
                for *_, fut in group:
                    fut.set_exception(StorageUnavailable(f"the database write failed: {exc}"))
                continue
            self.transactions += 1
            self.events_written += len(events)
            for *_, fut in group:
                fut.set_result(None)
