"""A stored batch the replay does not produce again is a divergence too."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.errors import StateDiverged
from sealbatch.venue.persistence import Store
from sealbatch.venue.service import VenueService
from tests.venue.conftest import T0, Venue, make_settings
from tests.venue.test_recovery import _trade


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_stored_batch_missing_from_the_replay_refuses_to_start(db_url: str) -> None:
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(make_settings(db_url, snapshot_every=0), clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        _trade(venue, 1)
        venue.to_cleared(0)
    store = Store(db_url)
    assert 0 in store.load_batches()
    with store.engine.begin() as conn:  # the log loses its events, the record stays
        conn.execute(text("DELETE FROM event"))
    store.close()
    with pytest.raises(StateDiverged):
        VenueService(make_settings(db_url, snapshot_every=0), clock)
