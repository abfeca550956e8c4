"""Stream subscription with gap healing (the SDK side of ``WS /v1/stream``).

See :mod:`sealbatch.venue.stream` for the protocol: per-topic sequence numbers within
an epoch, ``GET /v1/stream/replay`` for missed messages, a fresh snapshot
when they are gone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from sealbatch.venue.errors import ApiError, VenueError
from sealbatch.venue.read_auth import ACCOUNT_HEADER, EXPIRY_HEADER, SIGNATURE_HEADER

__all__ = ["GapTracker", "StreamClient"]


class GapTracker:
    """Per-topic sequence bookkeeping of one stream subscription.

    :meth:`observe` says what to do with a message: ``"deliver"``,
    ``"duplicate"`` (already seen), or ``"gap"`` (messages ``last+1 ..
    seq-1`` are missing: fetch them with :meth:`missing_after`).
    """

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.last: dict[str, int] = {}

    def snapshot(self, msg: dict[str, Any]) -> None:
        self.epoch = msg["epoch"]
        self.last[msg["topic"]] = msg["seq"]

    def observe(self, msg: dict[str, Any]) -> str:
        if msg["epoch"] != self.epoch:
            return "resync"
        last = self.last.get(msg["topic"], 0)
        if msg["seq"] <= last:
            return "duplicate"
        if msg["seq"] > last + 1:
            return "gap"
        self.last[msg["topic"]] = msg["seq"]
        return "deliver"

    def missing_after(self, topic: str) -> int:
        return self.last.get(topic, 0)


class _Resync(Exception):
    pass


class StreamClient:
    """Follow topics of ``WS /v1/stream`` in order, healing gaps.

    Args:
        base_url: the venue's HTTP base URL.
        topics: e.g. ``["batches", "account:0xabc..."]``.
        fetch: GET function for the replay endpoint, given the path, the query
            and the headers (default: httpx).
        auth: signs a read of an account (``VenueClient.signed_read``); needed
            for ``account:`` topics, which are private.
    """

    def __init__(
        self,
        base_url: str,
        topics: list[str],
        fetch: Callable[[str, dict[str, Any], dict[str, str]], httpx.Response] | None = None,
        auth: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.topics = [t.lower() for t in topics]
        self.tracker = GapTracker()
        self.healed = 0
        self._auth = auth
        self._fetch = fetch or (
            lambda path, params, headers: httpx.get(
                self.base_url + path, params=params, headers=headers, timeout=10
            )
        )

    def _accounts(self) -> list[str]:
        return [t.split(":", 1)[1] for t in self.topics if t.startswith("account:")]

    def _signed(self, account: str) -> dict[str, Any]:
        if self._auth is None:
            raise VenueError(
                f"stream: expected a signer for the private topic account:{account}, got none "
                "(use VenueClient.stream)"
            )
        return self._auth(account)

    def subscribe_message(self) -> dict[str, Any]:
        """The subscribe message: the topics, with a fresh signed read per account topic."""
        msg: dict[str, Any] = {"op": "subscribe", "topics": self.topics}
        if self._accounts():
            msg["auth"] = [self._signed(a) for a in self._accounts()]
        return msg

    def heal(self, topic: str, upto: int) -> list[dict[str, Any]]:
        """Missed messages of ``topic`` before ``upto``; raises _Resync if gone."""
        headers: dict[str, str] = {}
        if topic.startswith("account:"):
            read = self._signed(topic.split(":", 1)[1])
            headers = {
                ACCOUNT_HEADER: read["account"],
                EXPIRY_HEADER: str(read["expiry"]),
                SIGNATURE_HEADER: read["signature"],
            }
        r = self._fetch(
            "/v1/stream/replay",
            {"topic": topic, "after": self.tracker.missing_after(topic)},
            headers,
        )
        if r.status_code == 410:
            raise _Resync()
        if r.status_code != 200:
            raise ApiError(r.status_code, "replay_failed", r.text[:200])
        out = [m for m in r.json()["messages"] if m["seq"] < upto]
        for m in out:
            if self.tracker.observe(m) != "deliver":
                raise _Resync()
        self.healed += len(out)
        return out

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Yield snapshots and messages in sequence order, for ever (reconnecting).

        websockets' reconnecting client opens the connection again after a
        drop, with exponential backoff while the venue is unreachable; a gap
        the replay cannot fill closes the connection for a fresh snapshot.
        Gap healing fetches over HTTP in a worker thread, so the event loop
        never blocks.
        """
        import websockets

        ws_url = "ws" + self.base_url[len("http") :] + "/v1/stream"
        async for ws in websockets.connect(ws_url):
            try:
                await ws.send(json.dumps(self.subscribe_message()))
                async for raw in ws:
                    msg = json.loads(raw)
                    if msg["type"] == "snapshot":
                        self.tracker.snapshot(msg)
                        yield msg
                        continue
                    if msg["type"] == "error":
                        raise VenueError(f"stream: {msg.get('detail')}")
                    verdict = self.tracker.observe(msg)
                    if verdict == "resync":
                        raise _Resync()
                    if verdict == "gap":
                        healed = await asyncio.to_thread(self.heal, msg["topic"], msg["seq"])
                        for m in healed:
                            yield m
                        verdict = self.tracker.observe(msg)
                    if verdict == "deliver":
                        yield msg
            except _Resync:
                await ws.close()  # the next connection starts from a fresh snapshot
                continue
            except websockets.ConnectionClosed:
                continue
