"""Batches clear and settle on the venue's clearing thread, never on the event loop:
the API answers while a batch clears, and reads and writes that need the venue's
state wait for the clearing (without stalling the loop) and come after it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.state_machine import VenueStateMachine
from tests.venue.conftest import T0, Venue


class _Gate:
    """Holds the clearing of a batch until released; notes where each clearing ran."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.on_loop: list[int] = []
        self.threads: list[str] = []


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Gate]:
    g = _Gate()
    real = VenueStateMachine._clear

    def clear(self: VenueStateMachine, batch_id: int) -> Any:
        g.threads.append(threading.current_thread().name)
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # off the loop: hold the clearing here
            g.entered.set()
            g.release.wait(timeout=120)  # a guard against a hung test, not a threshold
        else:
            # On the event loop: holding it would hang the test; note it, the
            # assertions below fail on it.
            g.on_loop.append(batch_id)
            g.entered.set()
        return real(self, batch_id)

    monkeypatch.setattr(VenueStateMachine, "_clear", clear)
    try:
        yield g
    finally:
        g.release.set()


def _in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        out["value"] = fn()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, out


def test_the_api_answers_while_a_batch_clears(venue: Venue, gate: _Gate) -> None:
    t = venue.traders
    a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 2))
    b = t["bob"].commit(Order("BTC-PERP", Side.SELL, 100, 2))
    venue.to_reveal(0)
    t["alice"].reveal(a)
    t["bob"].reveal(b)
    assert not gate.entered.is_set()

    # Batch 0 falls due: the batch clock hands it to the clearing thread, which holds.
    venue.clock.set(T0 + 1_000 + 300 + 5)
    assert gate.entered.wait(timeout=60)
    assert gate.on_loop == []

    # A read of the batch and a write wait for the clearing, off the loop.
    read, read_out = _in_thread(lambda: venue.tc.get("/v1/batches/0"))
    write, write_out = _in_thread(
        lambda: t["carol"].commit(Order("BTC-PERP", Side.BUY, 99, 1), batch_id=1)
    )

    # Meanwhile the event loop answers.
    info = venue.tc.get("/v1/info")
    assert info.status_code == 200, info.text
    assert info.json()["schedule"]["collecting"] == 1
    assert venue.tc.get("/healthz").status_code == 200
    assert not gate.release.is_set()
    assert "value" not in read_out  # still waiting for the clearing

    gate.release.set()
    read.join(timeout=60)
    write.join(timeout=60)
    assert not read.is_alive() and not write.is_alive()
    record = read_out["value"]
    assert record.status_code == 200, record.text
    # The read waited: it shows the batch cleared, not still revealing.
    assert record.json()["status"] == "settled"
    assert record.json()["markets"]["BTC-PERP"]["volume"] == 2
    assert write_out["value"].batch_id == 1
    assert gate.on_loop == []
    assert all(name.startswith("sealbatch-clear") for name in gate.threads), gate.threads


def test_a_write_after_the_clear_time_is_logged_after_the_batch(venue: Venue, gate: _Gate) -> None:
    """A write arriving once batch 0 is due never overtakes its clearing: the replay
    (which clears before applying a later event) retraces it."""
    t = venue.traders
    a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    b = t["bob"].commit(Order("BTC-PERP", Side.SELL, 100, 1))
    venue.to_reveal(0)
    t["alice"].reveal(a)
    t["bob"].reveal(b)
    gate.release.set()  # clear without holding
    venue.clock.set(T0 + 1_000 + 300 + 5)
    receipt = t["carol"].commit(Order("BTC-PERP", Side.BUY, 99, 1))
    assert receipt.batch_id == 1
    service = venue.service
    with service.core_lock:
        assert service.core.last_cleared >= 0
        assert service.core.records[0].status == "settled"
    assert gate.on_loop == []
