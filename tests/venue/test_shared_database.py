"""Two venues on one database under different settlement rules: the second refuses to
start, naming both config digests, and the first goes on as if it had not tried."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.errors import StateDiverged
from sealbatch.venue.persistence import Store
from sealbatch.venue.service import VenueService, _digest_hex
from tests.venue.conftest import T0, Venue, make_settings


def _digest(service: VenueService) -> str:
    """The service's config digest as the meta and the refusal write it."""
    return _digest_hex(service.core.settlement.state.config_digest)


def test_a_second_venue_under_other_rules_refuses_the_shared_database(tmp_path: Path) -> None:
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    first = make_settings(shared)
    other = make_settings(shared, min_bond=first.min_bond + 1)
    # the second venue's own digest, from a database of its own
    alone = VenueService(
        make_settings(f"sqlite:///{tmp_path / 'alone.db'}", min_bond=other.min_bond)
    )
    other_digest = _digest(alone)
    alone.close()
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(first, clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        first_digest = _digest(venue.service)
        assert first_digest != other_digest
        stored = Store(shared)
        meta_before = stored.get_meta()
        with pytest.raises(StateDiverged) as refused:
            VenueService(other, clock)
        message = str(refused.value)
        assert message.startswith(f"config digest: expected {first_digest} ")
        assert f"got {other_digest} " in message
        assert stored.get_meta() == meta_before  # the refusal wrote nothing
        stored.close()
        # the first venue trades on, its batches settled under its own rules
        alice, bob = venue.traders["alice"], venue.traders["bob"]
        buy = alice.commit(Order("BTC-PERP", Side.BUY, 100, 2))
        sell = bob.commit(Order("BTC-PERP", Side.SELL, 100, 2))
        venue.to_reveal(buy.batch_id)
        alice.reveal(buy)
        bob.reveal(sell)
        assert venue.to_cleared(buy.batch_id)["status"] == "settled"
        assert _digest(venue.service) == first_digest


def _open_files(prefix: str) -> list[str]:
    """The files this process holds open whose path starts with ``prefix`` (the database
    and its -wal and -shm files)."""
    fds = Path("/proc/self/fd")
    found = []
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target.startswith(prefix):
            found.append(target)
    return sorted(found)


class _RecordedStore(Store):
    """A Store that remembers each one made and whether it was closed."""

    made: ClassVar[list[_RecordedStore]] = []

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.closed = False
        _RecordedStore.made.append(self)

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_a_refused_start_closes_the_database_it_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A venue that refused to start with StateDiverged disposed of nothing it opened: its
    engine kept its SQLite connections (the file, -wal and -shm open) as long as the
    error was referenced. Now the refusal closes them before it is raised.

    The venue that ran under the first rules is closed first: while another connection
    of the process holds locks on the file, SQLite defers closing a descriptor."""
    from sealbatch.venue import service as service_module

    db = tmp_path / "v.db"
    first = make_settings(f"sqlite:///{db}")
    clock = ManualClock(T0 + 100)
    VenueService(first, clock).close()
    assert _open_files(str(db)) == []
    threads = {t.name for t in threading.enumerate()}
    monkeypatch.setattr(_RecordedStore, "made", [])
    monkeypatch.setattr(service_module, "Store", _RecordedStore)
    other = make_settings(f"sqlite:///{db}", min_bond=first.min_bond + 1)
    with pytest.raises(StateDiverged, match="config digest") as refused:
        VenueService(other, clock)
    # Checked while the error (and through its traceback the half-made venue) lives.
    assert refused.value is not None
    [store] = _RecordedStore.made
    assert store.closed
    assert store.engine.pool.checkedin() == 0  # no pooled connection left behind
    assert _open_files(str(db)) == []
    assert {t.name for t in threading.enumerate()} <= threads


def test_a_start_that_fails_after_its_threads_run_stops_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure late in the start (here the proving pipeline's) stops the writer thread
    and the pools already started, and closes the store, then re-raises."""
    from sealbatch.venue import service as service_module

    def no_prover(self: VenueService) -> None:
        raise RuntimeError("no prover here")

    before = {t.name for t in threading.enumerate()}
    monkeypatch.setattr(_RecordedStore, "made", [])
    monkeypatch.setattr(service_module, "Store", _RecordedStore)
    monkeypatch.setattr(VenueService, "_start_prover", no_prover)
    settings = make_settings(f"sqlite:///{tmp_path / 'v.db'}", prove=True)
    with pytest.raises(RuntimeError, match="no prover here"):
        VenueService(settings, ManualClock(T0 + 100))
    [store] = _RecordedStore.made
    assert store.closed
    leftover = {t.name for t in threading.enumerate()} - before
    assert not leftover, leftover
