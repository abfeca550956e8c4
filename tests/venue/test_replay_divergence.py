"""A stored batch the replay does not produce again is a divergence too."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from sealbatch.venue.errors import StateDiverged
from sealbatch.venue.service import VenueService
from tests.venue.conftest import make_settings
from tests.venue.test_recovery import one_batch_stored


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_stored_batch_missing_from_the_replay_refuses_to_start(db_url: str) -> None:
    store, clock = one_batch_stored(db_url)
    assert 0 in store.load_batches()
    with store.engine.begin() as conn:  # the log loses its events, the record stays
        conn.execute(text("DELETE FROM event"))
    store.close()
    with pytest.raises(StateDiverged):
        VenueService(make_settings(db_url, snapshot_every=0), clock)
