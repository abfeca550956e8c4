"""A subscription names few, well-formed topics; a bad one is refused, not crashed on."""

from __future__ import annotations

import pytest

from sealbatch.venue.errors import VenueError
from sealbatch.venue.stream import MAX_TOPICS, Broker, valid_topic
from tests.venue.conftest import Venue


def test_an_account_topic_needs_a_hex_address() -> None:
    assert valid_topic("account:0x" + "ab" * 20)
    assert not valid_topic("account:0x" + "zz" * 20)


def test_a_subscription_names_at_most_max_topics() -> None:
    many = {f"account:0x{i:040x}" for i in range(MAX_TOPICS + 1)}
    with pytest.raises(VenueError):
        Broker().subscribe(many)
    Broker().subscribe(set(sorted(many)[:MAX_TOPICS]))


def test_a_non_hex_account_topic_is_refused_over_the_websocket(venue: Venue) -> None:
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_json({"op": "subscribe", "topics": ["account:0x" + "zz" * 20]})
        assert ws.receive_json()["code"] == "bad_subscribe"
