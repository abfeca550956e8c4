"""The rate limiter keeps no state for addresses that only check, and drops refilled buckets."""

from __future__ import annotations

import pytest

from sealbatch.venue.auth import RateLimiter
from sealbatch.venue.errors import RateLimited


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_checking_many_addresses_keeps_nothing() -> None:
    limiter = RateLimiter(10, 20)
    for i in range(5_000):  # e.g. a bulk of forged commitments, each naming a new address
        limiter.check(f"0x{i:040x}")
    assert len(limiter) == 0


def test_refilled_buckets_are_dropped_and_limits_still_hold() -> None:
    clock = _Clock()
    limiter = RateLimiter(10, 2, clock)
    for i in range(10_000):
        limiter.spend(f"0x{i:040x}")
        clock.t += 0.01  # each bucket refills 0.1 s after its spend
    assert len(limiter) < 10_000 // 2
    limiter.spend("hot", 2)
    with pytest.raises(RateLimited):
        limiter.check("hot")
    clock.t += 0.15
    limiter.check("hot")  # one and a half tokens back
    assert limiter.remaining("hot") == 1
