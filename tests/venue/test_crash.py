"""Crash safety: kill -9 a real ``sealbatch serve`` mid-batch, restart, nothing
lost, and every batch re-run gives identical results."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import VenueClient
from tests.venue.conftest import KEYS
from tests.venue.server import free_port, start_server

#: Batch B's commitments must still be open when the restarted server answers: a
#: restart (interpreter, imports, log replay) takes several seconds on a loaded
#: machine, so the windows leave it 15 s.
COMMIT_MS, REVEAL_MS = 10_000, 5_000


def _kill9(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_kill_9_mid_batch_loses_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'crash.db'}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(db, port, COMMIT_MS, REVEAL_MS)
    try:
        alice, bob, carol = (VenueClient(url, KEYS[n]) for n in ("alice", "bob", "carol"))
        for c in (alice, bob, carol):
            c.deposit(100_000_000_000)
        # Batch A: committed and revealed before the crash.
        pa = alice.commit(Order("BTC-PERP", Side.BUY, 101, 4))
        pb = bob.commit(Order("BTC-PERP", Side.SELL, 99, 3))
        alice.reveal_when_open(pa)
        bob.reveal_when_open(pb)
        # Batch B (collecting while A reveals): commitments with receipts, then kill -9
        # at once — mid-batch, with A still revealing and B still collecting.
        b_orders = [
            (alice, alice.commit(Order("BTC-PERP", Side.BUY, 100, 6))),
            (bob, bob.commit(Order("BTC-PERP", Side.SELL, 100, 2))),
            (carol, carol.commit(Order("BTC-PERP", Side.SELL, 100, 3))),
        ]
        batch_b = b_orders[0][1].batch_id
        assert {p.batch_id for _, p in b_orders} == {batch_b} and batch_b == pa.batch_id + 1
        _kill9(proc)

        proc = start_server(db, port, COMMIT_MS, REVEAL_MS)
        # Nothing lost: batch B's commitments are all there, A's reveals count.
        for owner, p in b_orders:
            fate = owner.order(p.commitment)
            assert fate["batch_id"] == batch_b and fate["status"] == "committed", fate
        rec_a = alice.wait_cleared(pa.batch_id)
        assert rec_a["revealed"] == 2 and rec_a["markets"]["BTC-PERP"]["volume"] == 3
        # The clock resumed: reveal batch B and let it clear.
        for client, p in b_orders:
            client.info(refresh=True)
            client.reveal_when_open(p)
        rec_b = alice.wait_cleared(batch_b)
        assert rec_b["commitments"] == 3 and rec_b["markets"]["BTC-PERP"]["volume"] == 5

        # Re-run everything from the log after another kill -9: identical results.
        _kill9(proc)
        proc = start_server(db, port, COMMIT_MS, REVEAL_MS)
        assert httpx.get(f"{url}/v1/batches/{pa.batch_id}").json() == rec_a
        assert httpx.get(f"{url}/v1/batches/{batch_b}").json() == rec_b
        view = httpx.get(f"{url}/v1/operator").json()
        # A snapshot was written once the first batch cleared: only the log after it
        # is replayed (3 deposits, 5 commits, 5 reveals in all).
        assert view["db"]["snapshot_batch"] is not None
        assert 0 <= view["db"]["replayed_at_start"] < 13
        assert alice.account()["positions"]["BTC-PERP"] == 3 + 5
    finally:
        _kill9(proc)
