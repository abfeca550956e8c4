"""A refused reveal's detail (which quotes the order) stays sealed until its batch clears."""

from __future__ import annotations

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import ApiError
from tests.venue.conftest import Venue


def test_a_refused_reveal_does_not_show_the_order_to_others_before_the_clear(
    venue: Venue,
) -> None:
    alice = venue.traders["alice"]
    quantity = 1_234_567  # above BTC-PERP's 1 000 000 lots
    pending = alice.commit(Order("BTC-PERP", Side.BUY, 650_000, quantity))
    venue.to_reveal(pending.batch_id)
    with pytest.raises(ApiError) as refused:
        alice.reveal(pending)
    assert refused.value.code == "size_out_of_range"
    assert str(quantity) in refused.value.detail  # the trader itself is told why
    commitment = "0x" + pending.commitment.hex()
    view = alice.order(commitment)
    assert view["reason"] == "size_out_of_range"
    assert str(quantity) not in str(view), view  # anyone else learns no more
    account = alice.account()
    assert str(quantity) not in str(account["orders"])
    venue.to_cleared(pending.batch_id)
    view = alice.order(commitment)
    assert view["status"] == "forfeited" and str(quantity) in view["detail"]
