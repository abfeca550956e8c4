"""Keypers as real processes: ``sealbatch serve --committee`` and ``sealbatch keyper run``.

A 2-of-3 committee, a venue and three keyper processes on 127.0.0.1, all
started here. Traders send encrypted orders only (nothing is revealed by
hand); the batch decrypts and clears once the keypers release their shares.
Then one keyper (n - t) is killed with SIGKILL in the middle of a batch, and
the next batch still decrypts with the two left. Waits are generous and never
asserted on: the venue is told to wait up to 60 s for the keypers' shares.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.cli import main
from sealbatch.venue.client import PendingOrder, VenueClient
from sealbatch.venue.errors import ApiError
from tests.venue.conftest import FUNDING, KEYS
from tests.venue.server import free_port, start_server, stop_server

pytestmark = pytest.mark.timeout(300)

BOND = 1_000_000


def _start_keyper(
    folder: Path, index: int, venue_url: str, bad_victim: int | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start keyper ``index`` (``sealbatch keyper run``; with ``bad_victim``, the
    bad dealer of tests/venue/bad_dealer.py, which deals that keyper a bad share
    and never answers a complaint)."""
    port = free_port()
    program = (
        ["-m", "sealbatch.venue.cli", "keyper", "run"]
        if bad_victim is None
        else [str(Path(__file__).with_name("bad_dealer.py")), "--victim", str(bad_victim)]
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            *program,
            "--key",
            str(folder / f"keyper-{index}.json"),
            "--committee",
            str(folder / "committee.json"),
            "--venue",
            venue_url,
            "--port",
            str(port),
            "--lifetime",
            "240",  # stops by itself even if this test dies
            # Deal far ahead: on a loaded machine a keyper's round of dealings can
            # take longer than a batch, and a batch without a key takes no orders.
            "--lead",
            "16",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"keyper {index} exited with {proc.returncode}: {err[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"keyper {index} did not answer within 30 s")


@pytest.fixture(params=[None], ids=["honest"])
def network(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A venue and three keyper processes; ``request.param`` (when set) is the victim
    keyper 1 deals a bad share to."""
    bad_victim: int | None = request.param
    folder = tmp_path / "committee"
    assert main(["keyper", "init", "--threshold", "2", "--size", "3", "--out", str(folder)]) == 0
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    venue = start_server(
        f"sqlite:///{tmp_path / 'venue.db'}",
        port,
        1_500,
        300,
        SEALBATCH_COMMITTEE=str(folder / "committee.json"),
        SEALBATCH_KEY_WAIT_MS="60000",
        SEALBATCH_PUBLISH_DIR=str(tmp_path / "published"),
    )
    keypers: dict[int, subprocess.Popen[bytes]] = {}
    ports: dict[int, int] = {}
    try:
        for i in (1, 2, 3):
            keypers[i], ports[i] = _start_keyper(folder, i, url, bad_victim if i == 1 else None)
        yield {
            "url": url,
            "keypers": keypers,
            "ports": ports,
            "publish": tmp_path / "published",
        }
    finally:
        for p in keypers.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        stop_server(venue)


_RETRY = ("no_batch_key", "wrong_batch", "outside_window")


def _crossing_pair(alice: VenueClient, bob: VenueClient) -> tuple[PendingOrder, PendingOrder]:
    """Alice's encrypted buy and Bob's encrypted sell in one batch with a key. A
    batch without a key yet (the keypers deal ahead), or one whose commit window
    closed before Bob's order got in (a loaded machine), is tried again with the
    next batch (Alice's lone order there simply does not trade)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            buy = alice.commit(Order("BTC-PERP", Side.BUY, 650_000, 2), bond=BOND, encrypted=True)
            sell = bob.commit(
                Order("BTC-PERP", Side.SELL, 649_000, 2),
                bond=BOND,
                encrypted=True,
                batch_id=buy.batch_id,
            )
            return buy, sell
        except ApiError as exc:
            if exc.code not in _RETRY or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _outcomes(record: dict[str, Any]) -> list[str]:
    return [o["outcome"] for o in record["threshold"]["outcomes"]]


def test_keyper_processes_decrypt_and_survive_a_kill(network: dict[str, Any]) -> None:
    url = network["url"]
    alice = VenueClient(url, KEYS["alice"])
    bob = VenueClient(url, KEYS["bob"])
    for c in (alice, bob):
        c.deposit(FUNDING)
    committee = httpx.get(f"{url}/v1/keypers").json()
    assert committee["threshold"] == 2 and len(committee["keypers"]) == 3

    # 1. every keyper alive: the batch decrypts with no reveal by hand
    buy, sell = _crossing_pair(alice, bob)
    rec = alice.wait_cleared(buy.batch_id, timeout=90)
    assert rec["status"] == "settled", rec
    assert _outcomes(rec) == ["decrypted", "decrypted"]
    assert rec["markets"]["BTC-PERP"]["volume"] == 2
    assert alice.order(buy.commitment)["status"] == "filled"
    assert bob.order(sell.commitment)["status"] == "filled"
    shares = {s["index"] for s in rec["threshold"]["shares"]}
    assert len(shares) >= 2 and rec["threshold"]["faults"] == []
    # a keyper that released serves its share on its own endpoint
    index = min(shares)
    own = httpx.get(f"http://127.0.0.1:{network['ports'][index]}/v1/shares/{buy.batch_id}").json()
    published = {s["index"]: s["share"] for s in rec["threshold"]["shares"]}
    assert own["share"] == published[index]

    # 2. kill -9 of n - t = 1 keyper in the middle of a batch: it still decrypts
    buy2, sell2 = _crossing_pair(alice, bob)
    victim = network["keypers"][3]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    rec2 = alice.wait_cleared(buy2.batch_id, timeout=90)
    assert rec2["status"] == "settled", rec2
    assert _outcomes(rec2) == ["decrypted", "decrypted"]
    assert {s["index"] for s in rec2["threshold"]["shares"]} == {1, 2}
    assert rec2["markets"]["BTC-PERP"]["volume"] == 2
    assert bob.order(sell2.commitment)["status"] == "filled"

    # 3. the published folders replay, threshold.json included
    deadline = time.monotonic() + 60
    folder = network["publish"] / f"batch-{buy2.batch_id}" / "threshold.json"
    while not folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert main(["replay", str(folder.parent)]) == 0


@pytest.mark.parametrize("network", [2], ids=["bad_dealer"], indirect=True)
def test_a_keyper_process_dealing_a_bad_share_is_disqualified(network: dict[str, Any]) -> None:
    """Keyper process 1 deals keyper 2 a bad share and never answers: keyper 2 complains,
    dealer 1 is left out of the batch key, and the batch still decrypts with the
    shares of keypers 2 and 3 over dealers 2 and 3 (t = 2 remain); replay agrees."""
    url = network["url"]
    alice = VenueClient(url, KEYS["alice"])
    bob = VenueClient(url, KEYS["bob"])
    for c in (alice, bob):
        c.deposit(FUNDING)
    # wait until keyper 2's complaint is in the round of the next batch to open (it
    # complains about every batch ahead: dealer 1 deals it a bad share in each)
    deadline = time.monotonic() + 120
    while True:
        nxt = httpx.get(f"{url}/v1/keypers").json()["collecting"] + 1
        rnd = httpx.get(f"{url}/v1/keypers/rounds/{nxt}").json()
        if [(c["index"], c["dealer"]) for c in rnd["complaints"]] == [(2, 1)]:
            break
        assert time.monotonic() < deadline, rnd
        time.sleep(0.1)
    buy, _ = _crossing_pair(alice, bob)
    assert buy.batch_id >= nxt
    key = httpx.get(f"{url}/v1/batches/{buy.batch_id}/key").json()
    assert key["dealers"] == [2, 3]
    assert key["disqualified"] == [{"dealer": 1, "reason": "unanswered_complaint"}]
    assert [(c["index"], c["dealer"]) for c in key["complaints"]] == [(2, 1)]
    rec = alice.wait_cleared(buy.batch_id, timeout=90)
    assert rec["status"] == "settled", rec
    assert _outcomes(rec) == ["decrypted", "decrypted"]
    assert rec["markets"]["BTC-PERP"]["volume"] == 2
    # keyper 2 says what it did on its own endpoint
    status = httpx.get(f"http://127.0.0.1:{network['ports'][2]}/v1/status").json()
    assert status["complained"] and all(d == [1] for d in status["complained"].values())
    deadline = time.monotonic() + 60
    folder = network["publish"] / f"batch-{buy.batch_id}" / "threshold.json"
    while not folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    doc = json.loads(folder.read_text())
    assert doc["disqualified"] == [{"dealer": 1, "reason": "unanswered_complaint"}]
    assert main(["replay", str(folder.parent)]) == 0
