"""The batch schedule: windows, pipelining, and which batch is due when."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealbatch.venue.clock import BatchSchedule, ManualClock, SystemClock
from sealbatch.venue.errors import VenueError


@given(
    genesis=st.integers(0, 10**13),
    commit=st.integers(10, 10_000),
    reveal_frac=st.integers(1, 100),
    n=st.integers(0, 10**6),
)
def test_windows_pipeline_and_due_batches(
    genesis: int, commit: int, reveal_frac: int, n: int
) -> None:
    reveal = max(1, commit * reveal_frac // 100)
    s = BatchSchedule(genesis, commit, reveal)
    w = s.windows(n)
    # Batch n+1 collects exactly while batch n reveals.
    assert w.commit_close_ms == s.windows(n + 1).commit_open_ms
    assert w.reveal_close_ms - w.commit_close_ms == reveal <= commit
    assert s.collecting(w.commit_open_ms) == n == s.collecting(w.commit_close_ms - 1)
    assert s.clears_at(n) == w.reveal_close_ms
    assert s.last_cleared_by(s.clears_at(n)) == n
    assert s.last_cleared_by(s.clears_at(n) - 1) == n - 1


def test_before_genesis_and_bad_windows() -> None:
    s = BatchSchedule(1_000, 100, 50)
    assert s.collecting(999) == -1 and s.last_cleared_by(1_000) == -1
    with pytest.raises(VenueError):
        BatchSchedule(0, 100, 101)
    with pytest.raises(VenueError):
        BatchSchedule(0, 100, 0)


def test_clocks_never_go_back() -> None:
    c = ManualClock(10)
    assert c.advance(5) == 15
    with pytest.raises(VenueError):
        c.set(14)
    sc = SystemClock()
    a = sc.now_ms()
    assert sc.now_ms() >= a
