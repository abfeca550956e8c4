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
        seen["account"] = venue.tc.get(f"/v1/accounts/{alice.address}").json()
        seen["at"] = time.monotonic()

    writer = threading.Thread(target=deposit)
    writer.start()
    time.sleep(0.3)  # the deposit is applied and queued, not yet committed
    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.5)
    released = time.monotonic()
    blocker.execute("ROLLBACK")
    blocker.close()
    writer.join(10)
    reader.join(10)
    shown = seen["account"]["pending_deposits"] - before
    # Either the read waited for the deposit to be durable, or it did not show it.
    assert shown == 0 or seen["at"] >= released, (shown, seen["at"], released)
