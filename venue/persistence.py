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
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, event, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel, create_engine

from sealbatch.venue.errors import StorageUnavailable
from sealbatch.venue.tables import BatchRow, EventRow, MetaRow

__all__ = ["GroupCommitter", "LoggedEvent", "Store", "make_engine"]


@dataclass(frozen=True)
class LoggedEvent:
    """One accepted write as logged."""

    seq: int
    kind: str
    at_ms: int
    payload: str


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


class Store:
    """Tables, reads at start-up, and the writes the group committer batches."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        SQLModel.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def load_events(self) -> list[LoggedEvent]:
        t = EventRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.seq, t.c.kind, t.c.at_ms, t.c.payload).order_by(t.c.seq)
            ).all()
        return [LoggedEvent(int(s), k, int(t), p) for s, k, t, p in rows]

    def load_batches(self) -> dict[int, tuple[str, dict[str, Any]]]:
        """``{batch_id: (result_hash, record)}`` of every stored batch."""
        t = BatchRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.batch_id, t.c.result_hash, t.c.record)).all()
        return {int(b): (h, json.loads(r)) for b, h, r in rows}

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

    def write(self, events: Sequence[LoggedEvent], batches: Sequence[dict[str, Any]]) -> None:
        """Append events and upsert batch records in one transaction."""
        et = EventRow.__table__  # type: ignore[attr-defined]
        bt = BatchRow.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            if events:
                conn.execute(
                    insert(et),
                    [
                        {"seq": e.seq, "kind": e.kind, "at_ms": e.at_ms, "payload": e.payload}
                        for e in events
                    ],
                )
            for rec in batches:
                conn.execute(delete(bt).where(bt.c.batch_id == rec["batch_id"]))
                conn.execute(
                    insert(bt).values(
                        batch_id=rec["batch_id"],
                        status=rec["status"],
                        result_hash=rec["result_hash"],
                        record=json.dumps(rec, sort_keys=True, separators=(",", ":")),
                    )
                )


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
        self, events: Sequence[LoggedEvent] = (), batches: Sequence[dict[str, Any]] = ()
    ) -> Future[None]:
        fut: Future[None] = Future()
        if self.failed is not None:
            fut.set_exception(StorageUnavailable(f"the database writer stopped: {self.failed}"))
            return fut
        self._queue.put((list(events), list(batches), fut))
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
            try:
                self.store.write(events, batches)
            except (SQLAlchemyError, OSError) as exc:
                self.failed = exc
                for _, _, fut in group:
                    fut.set_exception(StorageUnavailable(f"the database write failed: {exc}"))
                continue
            self.transactions += 1
            self.events_written += len(events)
            for _, _, fut in group:
                fut.set_result(None)
