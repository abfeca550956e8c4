"""A clock set back (a restart on a machine whose clock is behind) cannot reopen a
cleared batch: a commitment there would never clear and lock its bond for good."""

from __future__ import annotations

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import ApiError
from sealbatch.venue.clock import ManualClock
from tests.venue.conftest import T0, Venue


def test_no_commitment_into_a_batch_already_cleared(venue: Venue) -> None:
    alice = venue.traders["alice"]
    first = alice.commit(Order("BTC-PERP", Side.BUY, 650_000, 1))
    venue.to_cleared(first.batch_id)
    cleared = venue.service.core.last_cleared
    assert cleared >= first.batch_id
    venue.service.clock = ManualClock(T0 + 100)  # back in batch 0's commit window
    with pytest.raises(ApiError) as refused:
        alice.commit(Order("BTC-PERP", Side.BUY, 650_000, 1), batch_id=0, expiry_ms=T0 + 60_000)
    assert refused.value.status == 409 and refused.value.code == "outside_window"
    assert all(b > cleared for b in venue.service.core.books)
