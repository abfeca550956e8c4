"""End to end: a real uvicorn server on 127.0.0.1, the SDK, commit/reveal,
the stream, and an RFQ block trade."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import VenueClient
from tests.venue.conftest import KEYS
from tests.venue.server import free_port, start_server, stop_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = start_server(f"sqlite:///{tmp_path / 'e2e.db'}", port, commit_ms=1_000, reveal_ms=300)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


def _follow(
    client: VenueClient, topics: list[str], out: list[dict[str, Any]], stop: threading.Event
) -> None:
    async def run() -> None:
        sc = client.stream(topics)
        async for msg in sc.messages():
            out.append(msg)
            if stop.is_set():
                return

    async def main() -> None:
        task = asyncio.create_task(run())
        while not stop.is_set() and not task.done():
            await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(main())


def test_sdk_trades_streams_and_settles_a_block(server: str) -> None:
    alice, bob, carol, dave, erin = (
        VenueClient(server, KEYS[n]) for n in ("alice", "bob", "carol", "dave", "erin")
    )
    for c in (alice, bob, carol, dave, erin):
        c.deposit(100_000_000_000)
    seen: list[dict[str, Any]] = []
    stop = threading.Event()
    follower = threading.Thread(
        target=_follow, args=(alice, ["batches", f"account:{alice.address}"], seen, stop)
    )
    follower.start()
    try:
        # 1. Sealed orders in one batch, revealed by the SDK when the window opens.
        # Both commit at the start of a fresh commit window, so they share a batch
        # however slowly the machine runs.
        s = alice.info()["schedule"]
        batch = (alice.server_now_ms() - s["genesis_ms"]) // s["commit_window_ms"] + 1
        alice.sleep_until(s["genesis_ms"] + batch * s["commit_window_ms"] + 1)
        pa = alice.commit(Order("BTC-PERP", Side.BUY, 100, 5), batch_id=batch)
        pb = bob.commit(Order("BTC-PERP", Side.SELL, 100, 5), batch_id=batch)
        assert alice.reveal_when_open(pa)["status"] == bob.reveal_when_open(pb)["status"]
        assert pa.revealed is not None and pa.revealed["status"] == "revealed"
        rec = alice.wait_cleared(batch)
        assert rec["markets"]["BTC-PERP"]["price"] == 100
        assert alice.order(pa.commitment)["status"] == "filled"

        # 2. RFQ: hidden side, two makers, best ask wins, settles in the batch collecting
        # at accept time. The RFQ opens at the start of a commit window, so the accept
        # (600 ms in) leaves that batch's commitments open for the auction trade below.
        batch = (alice.server_now_ms() - s["genesis_ms"]) // s["commit_window_ms"] + 1
        alice.sleep_until(s["genesis_ms"] + batch * s["commit_window_ms"] + 1)
        rfq = alice.request_rfq("BTC-PERP", 10_000, window_ms=800)
        rid = rfq["rfq_id"]
        assert any(r["rfq_id"] == rid for r in bob.open_rfqs())
        qb = bob.quote(rid, 99, 101)
        qc = carol.quote(rid, 98, 100)
        bob.reveal_quote_when_open(qb, rfq)
        carol.reveal_quote_when_open(qc, rfq)
        acc = alice.accept_best_when_open(rfq, "buy")
        assert (acc["price"], acc["seller"]) == (100, carol.address)
        # An auction trade in the same batch gives the clearing price the block settles at.
        pd = dave.commit(Order("BTC-PERP", Side.BUY, 100, 1), batch_id=acc["batch_id"])
        pe = erin.commit(Order("BTC-PERP", Side.SELL, 100, 1), batch_id=acc["batch_id"])
        dave.reveal_when_open(pd)
        erin.reveal_when_open(pe)
        rec = alice.wait_cleared(acc["batch_id"])
        assert rec["blocks"][0]["status"] == "filled", rec["blocks"]
        assert alice.account()["positions"]["BTC-PERP"] == 5 + 10_000
        assert rec["blocks"][0]["buyer"] == alice.address
    finally:
        stop.set()
        follower.join(timeout=10)
    kinds = [(m["topic"], m["type"]) for m in seen]
    assert ("batches", "snapshot") in kinds and ("batches", "batch") in kinds
    batch_msgs = [m for m in seen if m["topic"] == "batches" and m["type"] == "batch"]
    assert [m["seq"] for m in batch_msgs] == list(
        range(batch_msgs[0]["seq"], batch_msgs[0]["seq"] + len(batch_msgs))
    )
    assert any(
        m["topic"] == f"account:{str(alice.address).lower()}" and m["type"] == "batch" for m in seen
    )
