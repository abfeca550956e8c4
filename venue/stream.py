"""The event stream behind ``WS /v1/stream``: topics, sequence numbers, replay.

Topics are ``batches`` (every cleared batch), ``rfqs`` (RFQ lifecycle),
``keys`` (each batch's seal, for the keypers: docs/threshold.md) and
``account:<address>`` (an account's order fates and balances). Every message
carries the venue's ``epoch`` (a fresh id at each start), the topic and the
topic's sequence number ``seq`` (1, 2, 3, ... within the epoch). A client
that sees ``seq`` jump by more than one, or a new ``epoch``, has missed
messages and heals the gap: it fetches the missed messages from
``GET /v1/stream/replay?topic=T&after=SEQ`` (the last ``buffer`` messages
published across all topics are kept, and no more of them than fit in
``buffer_bytes`` bytes of JSON: memory grows neither with the number of
accounts nor with the size of the batches) or, when they are gone (410),
takes a fresh snapshot by subscribing again. Kept messages are held as their
JSON text, not as Python objects: what a batch's message refers to (its
record, its fates) is not kept alive by the buffer. A subscriber that cannot
keep up loses messages (its queue is bounded) and heals the same way — the
venue never blocks on a slow reader.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sealbatch.venue.errors import Gone, VenueError

__all__ = ["DEFAULT_BUFFER_BYTES", "MAX_TOPICS", "Broker", "Subscription", "valid_topic"]

#: Most topics one subscription may name (each costs a snapshot on subscribe).
MAX_TOPICS = 64

#: Bytes of JSON the replay buffer keeps by default (a busy batch's messages are
#: tens of kilobytes: this is some minutes of them, whatever the message count).
DEFAULT_BUFFER_BYTES = 8_000_000

_HEX = frozenset("0123456789abcdefABCDEF")


def valid_topic(topic: str) -> bool:
    """``batches``, ``rfqs`` or ``account:`` and a 0x-prefixed 40-hex-digit address."""
    if topic in ("batches", "rfqs", "keys"):
        return True
    if topic.startswith("account:"):
        addr = topic[len("account:") :]
        return len(addr) == 42 and addr.startswith("0x") and set(addr[2:]) <= _HEX
    return False


@dataclass
class Subscription:
    """A subscriber's bounded queue and the topics it follows."""

    topics: set[str]
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=1024)
    )
    dropped: int = 0


class Broker:
    """Publishes messages with per-topic sequence numbers and keeps recent ones.

    Args:
        buffer: most messages kept for replay, across all topics.
        buffer_bytes: most bytes of JSON kept for replay, across all topics (the
            newest message is kept whatever its size).
    """

    def __init__(self, buffer: int = 10_000, buffer_bytes: int = DEFAULT_BUFFER_BYTES) -> None:
        self.epoch = os.urandom(8).hex()
        self.buffer = buffer
        self.buffer_bytes = buffer_bytes
        self._seq: dict[str, int] = {}
        #: per topic, its kept messages as (seq, JSON text), oldest first
        self._recent: dict[str, deque[tuple[int, str]]] = {}
        #: the topic and size of every kept message, oldest first (the oldest goes first)
        self._kept: deque[tuple[str, int]] = deque()
        #: bytes of JSON kept
        self.kept_bytes = 0
        self._subs: list[Subscription] = []
        self.published = 0

    @property
    def kept(self) -> int:
        """Messages kept for replay, across all topics."""
        return len(self._kept)

    def seq(self, topic: str) -> int:
        """The last sequence number published on ``topic`` (0 if none)."""
        return self._seq.get(topic, 0)

    def publish(self, topic: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        msg = {"type": kind, "epoch": self.epoch, "topic": topic, "seq": seq, "data": data}
        text = json.dumps(msg, separators=(",", ":"))
        recent = self._recent.get(topic)
        if recent is None:
            recent = self._recent[topic] = deque()
        recent.append((seq, text))
        self._kept.append((topic, len(text)))
        self.kept_bytes += len(text)
        while len(self._kept) > self.buffer or (
            self.kept_bytes > self.buffer_bytes and len(self._kept) > 1
        ):
            oldest, size = self._kept.popleft()
            self.kept_bytes -= size
            left = self._recent[oldest]
            left.popleft()
            if not left:
                del self._recent[oldest]
        self.published += 1
        for sub in self._subs:
            if topic in sub.topics:
                try:
                    sub.queue.put_nowait(msg)
                except asyncio.QueueFull:
                    sub.dropped += 1  # the client sees the gap in seq and heals
        return msg

    def subscribe(self, topics: set[str]) -> Subscription:
        """Follow ``topics``; raises VenueError for an unknown topic or too many."""
        if len(topics) > MAX_TOPICS:
            raise VenueError(f"topics: expected at most {MAX_TOPICS}, got {len(topics)}")
        for t in topics:
            if not valid_topic(t):
                raise VenueError(
                    f"topic: expected batches, rfqs, keys or account:<address>, got {t!r}"
                )
        sub = Subscription(set(topics))
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def replay(self, topic: str, after: int) -> list[dict[str, Any]]:
        """Messages of ``topic`` with ``seq > after``.

        Raises:
            Gone: some of them are no longer kept; take a
                fresh snapshot instead.
        """
        recent = self._recent.get(topic, deque())
        if after >= self.seq(topic):
            return []
        first = recent[0][0] if recent else self.seq(topic) + 1
        if after + 1 < first:
            raise Gone(
                f"replay: expected after >= {first - 1} (older messages are gone), got {after}"
            )
        out: list[dict[str, Any]] = [json.loads(text) for seq, text in recent if seq > after]
        return out
