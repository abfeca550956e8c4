"""A read answers only once every write it may show is durable (no dirty reads)."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest

from tests.venue.conftest import Venue


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_read_does_not_show_a_write_before_it_is_durable(venue: Venue, db_url: str) -> None:
    alice = venue.traders["alice"]
    before = alice.account()["pending_deposits"]
    blocker = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the group committer now waits for this lock
    seen: dict[str, Any] = {}

    def deposit() -> None:
        alice.deposit(12_345)

    def read() -> None:
        seen["account"] = alice.account()

    writer = threading.Thread(target=deposit)
    writer.start()
    # Wait for the deposit to be applied (it cannot become durable: the log is locked).
    deadline = time.monotonic() + 30
    while not _pending(venue, alice.address, 12_345):
        assert time.monotonic() < deadline, "the deposit was never applied"
        time.sleep(0.01)
    assert writer.is_alive()  # its answer waits for the log
    reader = threading.Thread(target=read)
    reader.start()
    reader.join(0.5)
    answered_early = not reader.is_alive()  # answered while the deposit was not durable
    blocker.execute("ROLLBACK")
    blocker.close()
    writer.join(10)
    reader.join(10)
    shown = seen["account"]["pending_deposits"] - before
    # A read that answered before the log was released must not show the deposit;
    # one that waited shows it.
    assert shown == (0 if answered_early else 12_345)


def _pending(venue: Venue, address: str, amount: int) -> bool:
    pending = venue.service.core.settlement.pending_deposits
    return any(k.address == address and a == amount for k, a in pending)
