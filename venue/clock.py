"""Time in the venue: an injectable millisecond clock and the batch schedule.

The schedule is fixed by a genesis time and two window lengths, so the batch
clock needs no state to resume after a crash: batch ``n`` collects
commitments in ``[genesis + n·C, genesis + (n+1)·C)`` and takes reveals in
``[genesis + (n+1)·C, genesis + (n+1)·C + R)``, while batch ``n+1`` collects
(pipelining, R <= C). Batch ``n`` clears at ``genesis + (n+1)·C + R``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from sealbatch.auction.commit_reveal import BatchWindows
from sealbatch.venue.errors import VenueError

__all__ = ["BatchSchedule", "Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Milliseconds since the Unix epoch, never decreasing."""

    def now_ms(self) -> int: ...


class SystemClock:
    """Wall-clock milliseconds, made monotonic (a step back of the system clock
    repeats the last reading instead of going back)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        now = time.time_ns() // 1_000_000
        with self._lock:
            if now < self._last:
                now = self._last
            self._last = now
        return now


class ManualClock:
    """A clock that moves only when told (tests)."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise VenueError(f"clock: expected a time at or after {self._now}, got {now_ms}")
        self._now = now_ms

    def advance(self, delta_ms: int) -> int:
        self.set(self._now + delta_ms)
        return self._now


@dataclass(frozen=True)
class BatchSchedule:
    """Batch ids and windows derived from ``genesis_ms`` and the window lengths."""

    genesis_ms: int
    commit_ms: int
    reveal_ms: int

    def __post_init__(self) -> None:
        if not 0 < self.reveal_ms <= self.commit_ms:
            raise VenueError(
                f"expected 0 < reveal window <= commit window, got {self.reveal_ms} ms and "
                f"{self.commit_ms} ms"
            )

    def collecting(self, now_ms: int) -> int:
        """The batch whose commit window contains ``now_ms`` (-1 before genesis)."""
        if now_ms < self.genesis_ms:
            return -1
        return (now_ms - self.genesis_ms) // self.commit_ms

    def windows(self, batch_id: int) -> BatchWindows:
        open_ms = self.genesis_ms + batch_id * self.commit_ms
        close_ms = open_ms + self.commit_ms
        return BatchWindows(open_ms, close_ms, close_ms + self.reveal_ms)

    def clears_at(self, batch_id: int) -> int:
        return self.genesis_ms + (batch_id + 1) * self.commit_ms + self.reveal_ms

    def first_clearing_at_or_after(self, at_ms: int) -> int:
        """The first batch that clears at or after ``at_ms`` (never below 0).

        ``clears_at(b) >= at_ms`` for ``b + 1 >= (at_ms - genesis - reveal) / commit``;
        the division rounds up.
        """
        t = at_ms - self.genesis_ms - self.reveal_ms
        return max(0, -(-t // self.commit_ms) - 1)

    def last_cleared_by(self, now_ms: int) -> int:
        """The highest batch whose reveal window has closed at ``now_ms`` (-1 if none)."""
        t = now_ms - self.genesis_ms - self.reveal_ms
        if t < 0:
            return -1
        return t // self.commit_ms - 1
