"""Stream sequencing and gap healing (broker and SDK tracker)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sealbatch.venue.client import GapTracker, StreamClient
from sealbatch.venue.errors import Gone, VenueError
from sealbatch.venue.stream import Broker


def test_sequence_numbers_count_per_topic() -> None:
    b = Broker(buffer=4)
    seqs = [b.publish(t, "x", {})["seq"] for t in ("batches", "rfqs", "batches", "batches")]
    assert seqs == [1, 1, 2, 3]
    assert [m["seq"] for m in b.replay("batches", 1)] == [2, 3]
    assert b.replay("batches", 3) == []


def test_replay_past_the_buffer_is_gone() -> None:
    b = Broker(buffer=2)
    for _ in range(5):
        b.publish("batches", "x", {})
    assert [m["seq"] for m in b.replay("batches", 3)] == [4, 5]
    with pytest.raises(Gone):
        b.replay("batches", 1)


def test_the_buffer_bounds_all_topics_together() -> None:
    """Memory does not grow with the number of accounts: the last ``buffer``
    messages across all topics are kept, the oldest dropped first."""
    b = Broker(buffer=3)
    for t in ("account:a", "account:b", "account:a", "batches"):
        b.publish(t, "x", {})
    with pytest.raises(Gone):  # account:a's first message was the oldest of all
        b.replay("account:a", 0)
    assert [m["seq"] for m in b.replay("account:a", 1)] == [2]
    assert [m["seq"] for m in b.replay("account:b", 0)] == [1]
    for i in range(1_000):
        b.publish(f"account:{i}", "x", {})
    assert sum(len(q) for q in b._recent.values()) == 3
    assert len(b._recent) == 3
    with pytest.raises(Gone):
        b.replay("account:b", 0)
    assert b.replay("account:b", 1) == []  # nothing after what it had


def test_bad_topics_are_refused() -> None:
    with pytest.raises(VenueError):
        Broker().subscribe({"all"})


def test_tracker_delivers_in_order_and_flags_gaps_and_duplicates() -> None:
    t = GapTracker()
    t.snapshot({"epoch": "e", "topic": "batches", "seq": 3})
    m = {"epoch": "e", "topic": "batches"}
    assert t.observe({**m, "seq": 4}) == "deliver"
    assert t.observe({**m, "seq": 4}) == "duplicate"
    assert t.observe({**m, "seq": 7}) == "gap"
    assert t.observe({"epoch": "other", "topic": "batches", "seq": 8}) == "resync"


def test_stream_client_heals_a_gap_from_the_replay_endpoint() -> None:
    broker = Broker(buffer=100)
    for i in range(6):
        broker.publish("batches", "batch", {"i": i})

    def fetch(path: str, params: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        assert path == "/v1/stream/replay" and headers == {}
        try:
            msgs = broker.replay(params["topic"], params["after"])
        except Gone:
            return httpx.Response(410, json={"code": "gone"})
        return httpx.Response(200, json={"messages": msgs})

    sc = StreamClient("http://x", ["batches"], fetch=fetch)
    sc.tracker.snapshot({"epoch": broker.epoch, "topic": "batches", "seq": 2})
    latest = broker.replay("batches", 5)[0]  # seq 6 arrives; 3..5 were lost
    assert sc.tracker.observe(latest) == "gap"
    healed = sc.heal("batches", latest["seq"])
    assert [m["seq"] for m in healed] == [3, 4, 5]
    assert sc.tracker.observe(latest) == "deliver"


def test_the_buffer_is_bounded_in_bytes_too() -> None:
    """Messages grow with the batches (a batch's fills, an account's fates): the
    replay buffer keeps no more than ``buffer_bytes`` of JSON, whatever the count."""
    b = Broker(buffer=10_000, buffer_bytes=2_000)
    for i in range(200):
        b.publish("batches", "batch", {"i": i, "fills": ["0x" + "ab" * 40] * 3})
    assert b.kept_bytes <= 2_000
    kept = b.kept
    assert 0 < kept < 200
    replayed = b.replay("batches", 200 - kept)
    assert [m["seq"] for m in replayed] == list(range(201 - kept, 201))
    assert replayed[-1]["data"] == {"i": 199, "fills": ["0x" + "ab" * 40] * 3}
    with pytest.raises(Gone):
        b.replay("batches", 200 - kept - 1)
    # One message larger than the whole budget is still kept (the newest always is).
    b.publish("batches", "batch", {"blob": "x" * 5_000})
    assert b.kept == 1 and [m["seq"] for m in b.replay("batches", 200)] == [201]
