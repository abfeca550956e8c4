"""Keypers as processes: how long a batch with encrypted orders waits for its secret.

Starts ``sealbatch serve --committee`` and ``--keypers`` ``sealbatch keyper run``
processes on 127.0.0.1 (a fresh ``--threshold``-of-``--keypers`` committee), then
for ``--batches`` batches has two traders send one crossing pair of encrypted
orders each and waits for the batch to clear. From each batch record it reads
the seal time (the end of the reveal window) and the time the venue took the
``t``-th valid share (the batch clears at once then), and prints:

* ``release_ms``: t-th share taken − seal, per batch (median and max): the
  latency keypers add to a batch (stream delivery of the seal, the keyper
  fetching the dealings and decrypting its shares, signing, posting, the
  venue verifying and combining; decrypting the batch's orders is
  bench/threshold.py's).

Run: ``.venv/bin/python bench/keypers.py [--batches N] [--keypers N]
[--threshold T] [--commit-ms MS] [--reveal-ms MS] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import VenueClient
from sealbatch.venue.errors import ApiError

_TRADERS = ("0x" + "01" * 32, "0x" + "02" * 32)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{what} did not answer within 60 s")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sealbatch.venue.cli", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
    )


def _pair(alice: VenueClient, bob: VenueClient) -> int:
    """A crossing pair of encrypted orders in one batch with a key; returns the batch
    (a batch without a key yet, or missed by the second order, is tried again)."""
    deadline = time.monotonic() + 180
    while True:
        try:
            buy = alice.commit(
                Order("BTC-PERP", Side.BUY, 650_000, 2), bond=1_000_000, encrypted=True
            )
            bob.commit(
                Order("BTC-PERP", Side.SELL, 649_000, 2),
                bond=1_000_000,
                encrypted=True,
                batch_id=buy.batch_id,
            )
            return int(buy.batch_id)
        except ApiError as exc:
            retry = exc.code in ("no_batch_key", "wrong_batch", "outside_window")
            if not retry or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run(args: argparse.Namespace) -> dict[str, Any]:
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "committee"
        init = _cli(
            "keyper", "init", "--threshold", str(args.threshold),
            "--size", str(args.keypers), "--out", str(folder),
        )  # fmt: skip
        if init.wait() != 0:
            raise SystemExit("sealbatch keyper init failed")
        port = _port()
        url = f"http://127.0.0.1:{port}"
        try:
            venue = _cli(
                "serve", "--port", str(port), "--db", f"sqlite:///{tmp}/venue.db",
                "--commit-ms", str(args.commit_ms), "--reveal-ms", str(args.reveal_ms),
                "--committee", str(folder / "committee.json"), "--no-prove",
                env={"SEALBATCH_KEY_WAIT_MS": "60000"},
            )  # fmt: skip
            procs.append(venue)
            _wait(f"{url}/healthz", venue, "the venue")
            for i in range(1, args.keypers + 1):
                kport = _port()
                k = _cli(
                    "keyper", "run", "--key", str(folder / f"keyper-{i}.json"),
                    "--committee", str(folder / "committee.json"), "--venue", url,
                    "--port", str(kport), "--lifetime", str(args.batches * 10 + 120),
                )  # fmt: skip
                procs.append(k)
                _wait(f"http://127.0.0.1:{kport}/healthz", k, f"keyper {i}")
            alice, bob = (VenueClient(url, key) for key in _TRADERS)
            for c in (alice, bob):
                c.deposit(100_000_000_000)
            release: list[int] = []
            for _ in range(args.batches):
                rec = alice.wait_cleared(_pair(alice, bob), timeout=120)
                th = rec["threshold"]
                times = sorted(s["at_ms"] for s in th["shares"])
                release.append(times[args.threshold - 1] - th["seal"]["sealed_ms"])
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        p.kill()
    return {
        "batches": args.batches,
        "keypers": args.keypers,
        "threshold": args.threshold,
        "commit_ms": args.commit_ms,
        "reveal_ms": args.reveal_ms,
        "release_ms_median": statistics.median(release),
        "release_ms_max": max(release),
        "release_ms": release,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--keypers", type=int, default=3)
    p.add_argument("--threshold", type=int, default=2)
    p.add_argument("--commit-ms", type=int, default=1000)
    p.add_argument("--reveal-ms", type=int, default=300)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    out = run(args)
    if args.json:
        print(json.dumps(out))
        return
    print(
        f"{out['threshold']}-of-{out['keypers']} keyper processes, {out['batches']} batches: "
        f"t-th share taken {out['release_ms_median']} ms after the seal (median), "
        f"{out['release_ms_max']} ms (max)"
    )


if __name__ == "__main__":
    main()
