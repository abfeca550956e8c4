"""A stored batch the replay does not produce again is a divergence too."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.venue.conftest import T0, Venue, make_settings
from tests.venue.test_recovery import _trade
from venue.app import create_app
from venue.clock import ManualClock
from venue.errors import StateDiverged
from venue.operator import Operator
from venue.persistence import Store


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_stored_batch_missing_from_the_replay_refuses_to_start(db_url: str) -> None:
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(make_settings(db_url), clock)) as tc:
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
        Operator(make_settings(db_url), clock)
