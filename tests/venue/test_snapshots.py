"""Snapshots: a restart loads the newest snapshot and replays only the log after it,
to exactly the state a replay of the whole log gives; a snapshot that does not
check out against its stored roots is not trusted."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.settlement.roots import state_root
from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.persistence import make_engine
from sealbatch.venue.service import VenueService
from sealbatch.venue.settings import Settings
from sealbatch.venue.snapshot_blob import (
    MAGIC,
    SnapshotLabel,
    open_snapshot_blob,
    seal_snapshot_blob,
)
from sealbatch.venue.state_machine import VenueStateMachine
from sealbatch.venue.tables import SnapshotRow
from tests.venue.conftest import T0, Venue, make_settings

EVERY = 4


def _trade(venue: Venue, start: int, stop: int) -> None:
    """Orders in every batch; alice's GTC rest carries across batches (and snapshots)."""
    t = venue.traders
    for b in range(start, stop):
        venue.clock.set(max(venue.clock.now_ms(), T0 + b * 1_000 + 100))
        p = [
            t["alice"].commit(Order("BTC-PERP", Side.BUY, 100 + b % 3, 5, TimeInForce.GTC)),
            t["bob"].commit(Order("BTC-PERP", Side.SELL, 99, 3)),
            t["carol"].commit(Order("ETH-PERP", Side.SELL, 50, 2), bond=7),
        ]
        venue.to_reveal(b)
        t["alice"].reveal(p[0])
        t["bob"].reveal(p[1])  # carol never reveals: forfeit
        venue.to_cleared(b)
    # batch `stop` is collecting with a commitment in it when the venue stops
    venue.clock.set(max(venue.clock.now_ms(), T0 + stop * 1_000 + 100))
    t["dave"].commit(Order("BTC-PERP", Side.BUY, 99, 1))


def _state(op: VenueService) -> dict[str, Any]:
    core = op.core
    now = op.clock.now_ms()
    return {
        "records": {b: json.dumps(r.to_json(), sort_keys=True) for b, r in core.records.items()},
        "statuses": json.dumps(
            {c.hex(): s.to_json() for c, s in core.order_statuses.items()}, sort_keys=True
        ),
        "root": state_root(core.settlement.state).hex(),
        "last_cleared": core.last_cleared,
        "carried": core.carried,
        "references": core.references,
        "books": {b: list(book._order) for b, book in core.books.items()},
        # nonces still valid (expired ones are forgotten at times a replay need not match)
        "nonces": {k for k, v in core.nonces._used.items() if v is None or v >= now},
    }


@contextmanager
def _running(settings: Settings, clock: ManualClock) -> Iterator[Venue]:
    """A venue of ``settings`` on ``clock``, up while the block runs."""
    with TestClient(create_app(settings, clock)) as tc:
        yield Venue(tc, clock)


def _restart(db_url: str, clock: ManualClock, **kw: Any) -> tuple[dict[str, Any], int, int]:
    state, replayed, snap, _ = _restart_counting_refusals(db_url, clock, **kw)
    return state, replayed, snap


def _restart_counting_refusals(
    db_url: str, clock: ManualClock, **kw: Any
) -> tuple[dict[str, Any], int, int, int]:
    """The state, events replayed, snapshot batch and snapshots refused of a restart."""
    settings = make_settings(db_url, **{"snapshot_every": EVERY, **kw})
    with TestClient(create_app(settings, clock)) as tc:
        op: VenueService = tc.app.state.service  # type: ignore[attr-defined]
        return _state(op), op.replayed, op.snapshot_batch, op._snapshots_refused


def test_a_restart_from_a_snapshot_equals_a_replay_of_the_whole_log(db_url: str) -> None:
    clock = ManualClock(T0 + 100)
    with _running(make_settings(db_url, snapshot_every=EVERY), clock) as venue:
        venue.fund()
        _trade(venue, 0, 11)
        live = _state(venue.service)
        total = venue.service.writer.events_written + venue.service.replayed
        view = venue.tc.get("/v1/operator").json()
        assert view["db"]["snapshot_batch"] == 8
    from_snapshot, replayed, snap = _restart(db_url, clock)
    assert snap == 8
    assert 0 < replayed < total / 2  # only the log after batch 8
    assert from_snapshot == live
    # The same without the snapshots: the whole log replayed, the same state.
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(delete(SnapshotRow.__table__))  # type: ignore[arg-type]
    engine.dispose()
    full, replayed_all, _ = _restart(db_url, clock, snapshot_every=0)
    assert replayed_all == total
    assert full == live


def test_trading_goes_on_after_a_restart_from_a_snapshot(db_url: str) -> None:
    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url, snapshot_every=EVERY)
    with _running(settings, clock) as venue:
        venue.fund()
        _trade(venue, 0, 6)
    with _running(settings, clock) as venue:
        assert venue.service.snapshot_batch == 4
        _trade(venue, 6, 10)
        live = _state(venue.service)
    again, _, snap = _restart(db_url, clock)
    assert snap == 8
    assert again == live


@pytest.mark.parametrize("tamper", ["root", "blob"])
def test_a_snapshot_that_does_not_check_out_is_not_used(
    db_url: str, tamper: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The attack: whoever can write the snapshot row (not the log) gives an account
    collateral it never had; the restart must not take it."""
    clock = ManualClock(T0 + 100)
    with _running(make_settings(db_url, snapshot_every=EVERY), clock) as venue:
        venue.fund()
        _trade(venue, 0, 6)
        live = _state(venue.service)
        total = venue.service.writer.events_written + venue.service.replayed
    t = SnapshotRow.__table__  # type: ignore[attr-defined]
    engine = make_engine(db_url)
    with engine.begin() as conn:
        if tamper == "root":
            conn.execute(update(t).values(state_root="0x" + "00" * 32))
        else:
            conn.execute(update(t).values(blob=b"not a snapshot"))
    engine.dispose()
    state, replayed, _ = _restart(db_url, clock)
    assert replayed == total  # the whole log, not the snapshot
    assert state == live
    assert any("replaying the whole log" in r.getMessage() for r in caplog.records)


def test_the_log_a_restart_replays_does_not_grow_with_the_history(db_url: str) -> None:
    """Counted in events, not timed: after 6 batches and after 14 (a snapshot every
    4, so the newest is as old in both), a restart replays the same short tail."""
    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url, snapshot_every=EVERY)
    replayed: list[int] = []
    logged: list[int] = []
    for start, stop in ((0, 6), (6, 14)):
        with _running(settings, clock) as venue:
            if start == 0:
                venue.fund()
            _trade(venue, start, stop)
            logged.append(venue.service._next_seq - 1)
        _, n, snap = _restart(db_url, clock)
        assert snap == (stop // EVERY) * EVERY
        replayed.append(n)
    assert logged[1] > 2 * logged[0]  # the history more than doubled
    assert replayed[0] == replayed[1] < logged[0] / 2


def test_a_busy_venue_snapshots_by_events_between_the_batch_snapshots(db_url: str) -> None:
    """Batches of many events: a snapshot once ``snapshot_events`` were logged since the
    last one, so a restart replays at most about that many (plus one batch's)."""
    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url, snapshot_every=1_000, snapshot_events=12)
    with _running(settings, clock) as venue:
        venue.fund()
        _trade(venue, 0, 9)
        live = _state(venue.service)
        logged = venue.service._next_seq - 1
    state, replayed, snap = _restart(db_url, clock, snapshot_every=1_000, snapshot_events=12)
    assert snap >= 5  # by events: the batch snapshots (every 1 000) never fell due
    assert replayed <= 12 + 6 < logged
    assert state == live


@pytest.mark.parametrize("snapshot_every", [EVERY, 0], ids=["snapshot", "log"])
def test_a_restart_under_other_settlement_rules_is_refused(
    db_url: str, snapshot_every: int
) -> None:
    """Every state root commits to the rules' digest: a venue restarted with other rules
    (here a higher forfeit bond) than its database was settled under would fork its chain
    of roots, whether it resumes from a snapshot or replays the log. It refuses to start,
    naming both digests; with the rules it ran under it starts again."""
    from sealbatch.venue.errors import StateDiverged

    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url, snapshot_every=snapshot_every)
    with _running(settings, clock) as venue:
        venue.fund()
        _trade(venue, 0, 5)
        live = _state(venue.service)
        running = venue.service.core.settlement.state.config_digest
    with pytest.raises(StateDiverged, match=r"config digest: expected 0x[0-9a-f]{64} .* got 0x"):
        _restart(db_url, clock, snapshot_every=snapshot_every,
                 min_bond=settings.min_bond + 1)  # fmt: skip
    state, _, _ = _restart(db_url, clock, snapshot_every=snapshot_every)
    assert state == live
    assert len(running) == 8


def _corrupt(blob: bytes, how: str, label: SnapshotLabel) -> bytes:
    """``blob``'s pickle damaged so that unpickling it fails with another error than
    the unpickler's own: a protocol byte out of range (ValueError), a market's name
    that is no UTF-8 any more (UnicodeDecodeError); sealed again with the damaged
    pickle's digest, as if it had been written so (the digest check is passed, the
    unpickler is reached)."""
    pickled = bytes(open_snapshot_blob(blob, label))
    if how == "protocol":
        damaged = pickled[:1] + b"\xff" + pickled[2:]
    else:
        at = pickled.index(b"BTC-PERP")
        damaged = pickled[:at] + b"\xff" * 8 + pickled[at + 8 :]
    return seal_snapshot_blob(damaged, label)


@pytest.mark.parametrize("how", ["protocol", "utf8"])
def test_a_damaged_snapshot_is_not_used_however_the_unpickler_fails(
    db_url: str, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged snapshot row must not stop the venue from starting: docs/api.md says a
    snapshot that does not load is not used and the log is replayed instead."""
    clock = ManualClock(T0 + 100)
    with _running(make_settings(db_url, snapshot_every=EVERY), clock) as venue:
        venue.fund()
        _trade(venue, 0, 6)
        live = _state(venue.service)
        total = venue.service.writer.events_written + venue.service.replayed
    t = SnapshotRow.__table__  # type: ignore[attr-defined]
    engine = make_engine(db_url)
    with engine.begin() as conn:
        rows = select(t.c.batch_id, t.c.event_seq, t.c.state_root, t.c.blob)
        for batch_id, seq, root, blob in conn.execute(rows).all():
            damaged = _corrupt(bytes(blob), how, SnapshotLabel(batch_id, seq, root))
            conn.execute(update(t).where(t.c.batch_id == batch_id).values(blob=damaged))
    engine.dispose()
    state, replayed, snap = _restart(db_url, clock)
    assert (replayed, snap) == (total, -1)  # the whole log, no snapshot
    assert state == live
    assert any("replaying the whole log" in r.getMessage() for r in caplog.records)


def test_a_restart_falls_back_to_the_older_snapshot_when_the_newest_does_not_check_out(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two snapshots are kept (batches 4 and 8): with the newest refused, the restart
    loads the one before it and replays the log from there, not the whole log."""
    clock = ManualClock(T0 + 100)
    with _running(make_settings(db_url, snapshot_every=EVERY), clock) as venue:
        venue.fund()
        _trade(venue, 0, 11)
        live = _state(venue.service)
        total = venue.service.writer.events_written + venue.service.replayed
    t = SnapshotRow.__table__  # type: ignore[attr-defined]
    engine = make_engine(db_url)
    with engine.begin() as conn:
        assert sorted(r[0] for r in conn.execute(select(t.c.batch_id)).all()) == [4, 8]
        conn.execute(update(t).where(t.c.batch_id == 8).values(state_root="0x" + "00" * 32))
    engine.dispose()
    state, replayed, snap = _restart(db_url, clock)
    assert snap == 4
    assert 0 < replayed < total
    assert state == live
    refused = [r.getMessage() for r in caplog.records if "snapshot of batch 8" in r.getMessage()]
    assert refused and "not used" in refused[0]


def _rewrite_blobs(db_url: str, rewrite: Callable[[bytes, SnapshotLabel], bytes]) -> None:
    """Every stored snapshot's blob replaced with ``rewrite`` of it and its row."""
    t = SnapshotRow.__table__  # type: ignore[attr-defined]
    engine = make_engine(db_url)
    with engine.begin() as conn:
        rows = select(t.c.batch_id, t.c.event_seq, t.c.state_root, t.c.blob)
        for batch_id, seq, root, blob in conn.execute(rows).all():
            new = rewrite(bytes(blob), SnapshotLabel(batch_id, seq, root))
            conn.execute(update(t).where(t.c.batch_id == batch_id).values(blob=new))
    engine.dispose()


def _flip_a_byte_that_still_unpickles(blob: bytes, label: SnapshotLabel) -> tuple[bytes, bytes]:
    """``blob`` with one bit flipped in the middle of its pickle, at the first byte from
    the middle on where the damaged pickle still unpickles to a venue state (so only the
    digest can tell); and that damaged pickle."""
    pickled = bytes(open_snapshot_blob(blob, label))
    offset = len(blob) - len(pickled)
    for at in range(len(pickled) // 2, len(pickled)):
        damaged = pickled[:at] + bytes([pickled[at] ^ 0x01]) + pickled[at + 1 :]
        try:
            core = pickle.loads(damaged)
        except (pickle.UnpicklingError, EOFError, ArithmeticError, LookupError, MemoryError,
                AttributeError, ImportError, TypeError, ValueError, RecursionError):  # fmt: skip
            continue  # the unpickler (or a class) notices this one: try the next byte
        if isinstance(core, VenueStateMachine):
            flipped = blob[: offset + at] + damaged[at : at + 1] + blob[offset + at + 1 :]
            return flipped, damaged
    raise AssertionError("no byte after the pickle's middle flips into a pickle that loads")


def _spy_on_unpickling(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every pickle ``pickle.loads`` is given from now on, in order."""
    seen: list[bytes] = []
    loads = pickle.loads

    def spy(data: Any, /, **kw: Any) -> Any:
        seen.append(bytes(data))
        return loads(data, **kw)

    monkeypatch.setattr(pickle, "loads", spy)
    return seen


def test_a_snapshot_with_a_flipped_byte_that_still_unpickles_is_never_unpickled(
    db_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bit flipped in the middle of each stored pickle (in open commitments, the RFQ
    book, nonces, records: wherever it falls), still a pickle of a venue state: the
    blob's digest refuses it before it is unpickled, and the whole log is replayed to
    the live state."""
    clock = ManualClock(T0 + 100)
    with _running(make_settings(db_url, snapshot_every=EVERY), clock) as venue:
        venue.fund()
        _trade(venue, 0, 11)
        live = _state(venue.service)
        total = venue.service.writer.events_written + venue.service.replayed
    damaged: list[bytes] = []

    def flip(blob: bytes, label: SnapshotLabel) -> bytes:
        flipped, pickled = _flip_a_byte_that_still_unpickles(blob, label)
        damaged.append(pickled)
        return flipped

    _rewrite_blobs(db_url, flip)
    assert len(damaged) == 2  # batches 4 and 8
    unpickled = _spy_on_unpickling(monkeypatch)
    state, replayed, snap, refused = _restart_counting_refusals(db_url, clock)
    assert (replayed, snap, refused) == (total, -1, 2)  # the whole log, no snapshot
    assert state == live
    assert not [p for p in unpickled if p in damaged]
    messages = [r.getMessage() for r in caplog.records]
    for batch_id in (4, 8):
        assert any(
            f"snapshot of batch {batch_id} fails its integrity check" in m and "SHA-256" in m
            for m in messages
        )
    assert any("replaying the whole log" in m for m in messages)


def test_a_snapshot_written_before_snapshots_carried_a_digest_is_refused(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A bare pickle (the blob of an older version, and an intact one) is refused like a
    damaged blob, saying why: the start replays the whole log to the same state."""
    clock = ManualClock(T0 + 100)
    with _running(make_settings(db_url, snapshot_every=EVERY), clock) as venue:
        venue.fund()
        _trade(venue, 0, 6)
        live = _state(venue.service)
        total = venue.service.writer.events_written + venue.service.replayed
    _rewrite_blobs(db_url, lambda blob, label: bytes(open_snapshot_blob(blob, label)))
    state, replayed, snap = _restart(db_url, clock)
    assert (replayed, snap) == (total, -1)
    assert state == live
    refused = [r.getMessage() for r in caplog.records if "snapshot of batch 4" in r.getMessage()]
    assert refused and "older version" in refused[0] and "falls back" in refused[0]
    assert any("replaying the whole log" in r.getMessage() for r in caplog.records)


def test_an_intact_snapshot_is_used_and_the_log_before_it_is_not_replayed(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each stored blob carries the header and its pickle's digest; the restart loads the
    newest and replays exactly the events logged after it."""
    clock = ManualClock(T0 + 100)
    with _running(make_settings(db_url, snapshot_every=EVERY), clock) as venue:
        venue.fund()
        _trade(venue, 0, 11)
        live = _state(venue.service)
        total = venue.service.writer.events_written + venue.service.replayed
    t = SnapshotRow.__table__  # type: ignore[attr-defined]
    engine = make_engine(db_url)
    with engine.begin() as conn:
        rows = conn.execute(select(t.c.batch_id, t.c.event_seq, t.c.state_root, t.c.blob)).all()
    engine.dispose()
    assert sorted(int(r[0]) for r in rows) == [4, 8]
    for batch_id, seq, root, blob in rows:
        assert bytes(blob).startswith(MAGIC)
        label = SnapshotLabel(batch_id, seq, root)
        assert isinstance(pickle.loads(open_snapshot_blob(bytes(blob), label)), VenueStateMachine)
    newest_seq = next(int(seq) for batch_id, seq, _, _ in rows if batch_id == 8)
    state, replayed, snap, refused = _restart_counting_refusals(db_url, clock)
    assert (snap, refused) == (8, 0)
    assert replayed == total - newest_seq  # none of the events the snapshot holds
    assert state == live
    assert not any("not used" in r.getMessage() for r in caplog.records)


def test_a_snapshot_row_whose_event_number_was_changed_is_refused(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The restart replays the log from the snapshot row's event number: with the newest
    row's number moved back by one (an event would be applied twice) its digest no
    longer checks out, so the restart takes the older snapshot and the state is the
    live one."""
    clock = ManualClock(T0 + 100)
    with _running(make_settings(db_url, snapshot_every=EVERY), clock) as venue:
        venue.fund()
        _trade(venue, 0, 11)
        live = _state(venue.service)
    t = SnapshotRow.__table__  # type: ignore[attr-defined]
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(t).where(t.c.batch_id == 8).values(event_seq=t.c.event_seq - 1))
    engine.dispose()
    state, replayed, snap, refused = _restart_counting_refusals(db_url, clock)
    assert (snap, refused) == (4, 1)
    assert replayed > 0
    assert state == live
    messages = [r.getMessage() for r in caplog.records if "snapshot of batch 8" in r.getMessage()]
    assert messages and "integrity check" in messages[0]
