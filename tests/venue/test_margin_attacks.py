"""Margin attacks through the venue's API on an account that fell below initial margin
between its commitments and their reveals: it may still reduce, not open new risk nor
close at a limit that leaves its loss to the others."""

from __future__ import annotations

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import ApiError, PendingOrder, VenueClient
from tests.venue.conftest import Venue

BTC = "BTC-PERP"


def _fallen(
    venue: Venue, print_price: int, orders: list[Order]
) -> tuple[VenueClient, list[PendingOrder]]:
    """Erin buys 5 000 lots at 100 on 7 100 000 of collateral (initial margin 5 000 000),
    commits ``orders`` for batch 2 while healthy, and a 1-lot print at ``print_price``
    in batch 1 leaves her between maintenance and initial margin (no oracle: the mark
    is the last price). Returns erin and her commitments, the clock in batch 2's
    reveal window."""
    t = venue.traders
    erin = VenueClient(
        "http://testserver", "0x" + "e7" * 32, http=venue.tc, clock=venue.clock.now_ms
    )
    erin.deposit(7_100_000)  # with the bonds of two commitments in batch 2
    buy = erin.commit(Order(BTC, Side.BUY, 100, 5_000))
    ask = t["bob"].commit(Order(BTC, Side.SELL, 100, 5_000))
    venue.to_reveal(0)
    erin.reveal(buy)
    t["bob"].reveal(ask)
    assert venue.to_cleared(0)["markets"][BTC]["price"] == 100
    prints = [
        (t["carol"], t["carol"].commit(Order(BTC, Side.SELL, print_price, 1), batch_id=1)),
        (t["dave"], t["dave"].commit(Order(BTC, Side.BUY, print_price, 1), batch_id=1)),
    ]
    venue.to_reveal(1)
    # batch 2 collects while batch 1 reveals: erin commits while still healthy
    pending = [erin.commit(o, batch_id=2) for o in orders]
    for client, p in prints:
        client.reveal(p)
    assert venue.to_cleared(1)["markets"][BTC]["price"] == print_price
    view = erin.account()
    assert view["positions"][BTC] == 5_000
    venue.to_reveal(2)
    return erin, pending


def test_below_initial_margin_a_reveal_cannot_flip_the_position(venue: Venue) -> None:
    """At 95 a 10 000-lot sell, which would turn the long into a 5 000-lot short on equity
    below its initial margin, kept the requirement of 5 000 lots and was taken."""
    erin, (flip, close) = _fallen(
        venue, 95, [Order(BTC, Side.SELL, 95, 10_000), Order(BTC, Side.SELL, 95, 5_000)]
    )
    with pytest.raises(ApiError) as e:
        erin.reveal(flip)
    assert e.value.code == "insufficient_margin" and "through zero" in e.value.detail
    erin.reveal(close)  # closing is still taken


def test_a_reduce_only_close_cannot_sell_into_bankruptcy(venue: Venue) -> None:
    """At 91 erin's equity is 2 575 000; a reduce-only sell of the 5 000 lots at 82, the
    band's floor, would lose 4 500 000 to whoever bids there (a sibling account), the rest
    beyond her equity paid by the insurance fund and the other traders. It was taken:
    reduce-only orders skipped every equity check."""
    erin, (dump, close) = _fallen(
        venue,
        91,
        [
            Order(BTC, Side.SELL, 82, 5_000, reduce_only=True),
            Order(BTC, Side.SELL, 90, 5_000, reduce_only=True),
        ],
    )
    with pytest.raises(ApiError) as e:
        erin.reveal(dump)
    assert e.value.code == "insufficient_margin" and "reduce-only" in e.value.detail
    erin.reveal(close)  # a close whose loss her equity covers is still taken
