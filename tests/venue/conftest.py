"""Fixtures of the venue tests: a manual clock, an app on a fresh database, traders."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order
from sealbatch.venue.app import create_app
from sealbatch.venue.client import ApiError, PendingOrder, VenueClient
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.service import VenueService
from sealbatch.venue.settings import Settings

#: Collateral each test trader deposits: 100 000 USDC (6 decimals).
FUNDING = 100_000_000_000

#: Start of the manual clock: a multiple of the 1 s commit window, so batch
#: 0's commit window opens exactly here.
T0 = 1_800_000_000_000

KEYS = {
    name: "0x" + f"{i:02x}" * 32
    for i, name in enumerate(["alice", "bob", "carol", "dave", "erin"], 1)
}


def pg_url() -> str | None:
    return os.environ.get("SEALBATCH_TEST_PG_URL")


def reset_pg(url: str) -> None:
    """Drop the venue's tables so each PostgreSQL test starts empty."""
    from sqlmodel import SQLModel

    from sealbatch.venue.persistence import make_engine

    engine = make_engine(url)
    SQLModel.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each TestClient test runs on SQLite and, under ``-m postgres``, on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'venue.db'}"
        return
    url = pg_url()
    if url is None:
        pytest.skip("SEALBATCH_TEST_PG_URL is not set")
    reset_pg(url)
    yield url
    reset_pg(url)


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody here can create a file in: a read-only folder of tmp_path, or
    /sys when the tests run as root (root writes through any mode bits)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    for candidate in (folder, Path("/sys")):
        try:
            fd, probe = tempfile.mkstemp(dir=candidate)
        except OSError:
            yield candidate
            break
        os.close(fd)
        os.unlink(probe)
    else:
        pytest.skip("no directory here refuses a new file")
    folder.chmod(0o700)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0 + 100)


def make_settings(db_url: str, **kw: object) -> Settings:
    base: dict[str, object] = {
        "db_url": db_url,
        "commit_window_ms": 1_000,
        "reveal_window_ms": 300,
        "tick_ms": 5,
        "rfq_min_window_ms": 400,
        # Proving is on by default; only the tests about proofs turn it on here
        # (a batch proof takes seconds of CPU).
        "prove": False,
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


class Venue:
    """A TestClient app with a manual clock and SDK clients per trader."""

    def __init__(self, tc: TestClient, clock: ManualClock) -> None:
        self.tc = tc
        self.clock = clock
        self.traders = {
            n: VenueClient("http://testserver", k, http=tc, clock=clock.now_ms)
            for n, k in KEYS.items()
        }

    def fund(self, amount: int = FUNDING) -> None:
        """Deposit collateral for every trader (credited with the next batch; the
        reveal margin check counts it at once)."""
        for c in self.traders.values():
            c.deposit(amount)

    @property
    def service(self) -> VenueService:
        service: VenueService = self.tc.app.state.service  # type: ignore[attr-defined]
        return service

    def to_reveal(self, batch_id: int) -> None:
        """Move the clock into ``batch_id``'s reveal window (+10 ms)."""
        self.clock.set(T0 + (batch_id + 1) * 1_000 + 10)

    def to_cleared(self, batch_id: int) -> dict[str, Any]:
        """Move the clock past ``batch_id``'s reveal window and fetch its record."""
        self.clock.set(max(self.clock.now_ms(), T0 + (batch_id + 1) * 1_000 + 300 + 5))
        r = self.tc.get(f"/v1/batches/{batch_id}")
        assert r.status_code == 200, r.text
        record: dict[str, Any] = r.json()
        return record

    def trade(self, batch_id: int, orders: Sequence[tuple[str, Order]]) -> dict[str, Any]:
        """Each named trader commits its order in ``batch_id``, all reveal, and the batch
        clears: its record."""
        pending = [(self.traders[n], self.traders[n].commit(o)) for n, o in orders]
        self.to_reveal(batch_id)
        for client, p in pending:
            client.reveal(p)
        return self.to_cleared(batch_id)

    def refused_then_forfeited(
        self, client: VenueClient, pending: PendingOrder, code: str, reason: str
    ) -> ApiError:
        """``client``'s reveal of ``pending`` (in batch 0's reveal window) is refused with
        ``code``, and once batch 0 clears the order's fate is a forfeit for ``reason``:
        the refusal, for further checks."""
        with pytest.raises(ApiError) as e:
            client.reveal(pending)
        assert e.value.code == code
        self.to_cleared(0)
        fate = client.order(pending.commitment)
        assert fate["status"] == "forfeited" and fate["reason"] == reason
        return e.value


@contextmanager
def funded_venue(tmp_path: Path, **settings: object) -> Iterator[Venue]:
    """A funded :class:`Venue` on a fresh SQLite database in ``tmp_path``, its clock
    at ``T0 + 100``, with ``settings`` over :func:`make_settings`'s."""
    clock = ManualClock(T0 + 100)
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'v.db'}", **settings), clock)
    with TestClient(app) as tc:
        v = Venue(tc, clock)
        v.fund()
        yield v


@pytest.fixture
def venue(db_url: str, clock: ManualClock) -> Iterator[Venue]:
    app = create_app(make_settings(db_url), clock)
    with TestClient(app) as tc:
        v = Venue(tc, clock)
        v.fund()
        yield v
