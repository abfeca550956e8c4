"""Once the durable log cannot be written, nothing unlogged is applied or shown."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from sealbatch.venue.errors import ApiError
from tests.venue.conftest import Venue


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_after_a_failed_log_write_the_venue_applies_and_shows_nothing_more(
    venue: Venue,
) -> None:
    service = venue.service
    alice = venue.traders["alice"]
    with service.store.engine.begin() as conn:  # the log becomes unwritable
        conn.execute(text("DROP TABLE event"))
    with pytest.raises(ApiError) as first:
        alice.deposit(5)
    assert first.value.status == 503 and first.value.code == "storage_unavailable"
    # The failed one was applied before its commit failed; a restart drops it.
    before = len(service.core.settlement.pending_deposits)  # type: ignore[attr-defined]
    with pytest.raises(ApiError) as second:
        alice.deposit(7)
    assert second.value.status == 503
    # A write after the failure is not applied ...
    assert len(service.core.settlement.pending_deposits) == before  # type: ignore[attr-defined]
    # ... nor shown to anyone (a restart would undo it).
    r = venue.tc.get(f"/v1/accounts/{alice.address}", headers=alice.read_headers())
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "storage_unavailable"
