"""Snapshots: a restart loads the newest snapshot and replays only the log after it,
to exactly the state a replay of the whole log gives; a snapshot that does not
check out against its stored roots is not trusted."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    settings = make_settings(db_url, **{"snapshot_every": EVERY, **kw})
    with TestClient(create_app(settings, clock)) as tc:
        op: VenueService = tc.app.state.service  # type: ignore[attr-defined]
        return _state(op), op.replayed, op.snapshot_batch


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


def _corrupt(blob: bytes, how: str) -> bytes:
    """``blob`` damaged so that unpickling it fails with another error than the
    unpickler's own: a protocol byte out of range (ValueError), a market's name
    that is no UTF-8 any more (UnicodeDecodeError)."""
    if how == "protocol":
        return blob[:1] + b"\xff" + blob[2:]
    at = blob.index(b"BTC-PERP")
    return blob[:at] + b"\xff" * 8 + blob[at + 8 :]


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
        for batch_id, blob in conn.execute(select(t.c.batch_id, t.c.blob)).all():
            damaged = _corrupt(bytes(blob), how)
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
