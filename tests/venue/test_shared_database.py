"""Two venues on one database under different settlement rules: the second refuses to
start, naming both config digests, and the first goes on as if it had not tried."""

from __future__ import annotations

from pathlib import Path

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
