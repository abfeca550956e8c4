"""Soak: a real venue on 127.0.0.1 under sustained signed commitments with reveals.

Starts ``sealbatch serve`` in its own process (SQLite, a fresh database in a
temporary directory), funds ``--traders`` traders, and for ``--minutes``
each trader (one thread, the Python SDK) commits ``--per-batch`` sealed
orders in bulk into the batch collecting now, waits for its reveal window and
reveals them one by one, batch after batch. It samples the server's resident
memory every few seconds, then kills it with SIGKILL and times the restart
(until ``/v1/info`` answers: the log replayed). Prints figures, or with
``--json`` one object: ``commitments_per_s``, ``reveals_per_s``, ``p50_ms``,
``p99_ms`` (per request, commits and reveals), ``rss_mb_start``,
``rss_mb_end``, ``rss_mb`` (the samples), ``restart_s``, ``restart_cpu_s`` (the
CPU the restarted process used until it answered), ``replayed_at_start`` (the
events it replayed after the newest snapshot), ``batches``.
Stops itself after ``--minutes``. Run:
``.venv/bin/python bench/soak.py --minutes 2 --json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.keccak import keccak256
from sealbatch.venue.client import ApiError, VenueClient

#: Collateral each soak trader deposits: 1 000 000 USDC (6 decimals).
DEPOSIT = 10**12


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _start(port: int, db: str, commit_ms: int, reveal_ms: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SEALBATCH_RATE_LIMIT_PER_S": "5000", "SEALBATCH_RATE_LIMIT_BURST": "5000"}
    cmd = [sys.executable, "-m", "sealbatch.venue.cli", "serve", "--port", str(port)]
    cmd += ["--db", db, "--commit-ms", str(commit_ms), "--reveal-ms", str(reveal_ms)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_up(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> float:
    """Seconds until ``/v1/info`` answers."""
    t0 = time.perf_counter()
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/info", timeout=1).raise_for_status()
            return time.perf_counter() - t0
        except httpx.HTTPError:
            if time.perf_counter() - t0 > timeout or server.poll() is not None:
                raise RuntimeError("the venue did not start") from None
            time.sleep(0.02)


class _Load:
    """Counters shared by the trader threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.commits = 0
        self.reveals = 0
        self.refused: dict[str, int] = {}
        self.latencies: list[float] = []

    def refuse(self, exc: Exception) -> None:
        code = exc.code if isinstance(exc, ApiError) else type(exc).__name__
        with self.lock:
            self.refused[code] = self.refused.get(code, 0) + 1

    def timed(self, fn: object, *args: object) -> object:
        t0 = time.perf_counter()
        out = fn(*args)  # type: ignore[operator]
        with self.lock:
            self.latencies.append(time.perf_counter() - t0)
        return out


def _trader(port: int, index: int, per_batch: int, stop_at: float, load: _Load) -> None:
    key = keccak256(b"soak-trader", index.to_bytes(4, "big"))
    client = VenueClient(f"http://127.0.0.1:{port}", key, timeout=60)
    client.deposit(DEPOSIT)
    while time.monotonic() < stop_at:
        # Both sides at one price: every batch trades, positions stay small.
        orders = [
            Order("BTC-PERP", Side.BUY if (i + index) % 2 else Side.SELL, 100, 1)
            for i in range(per_batch)
        ]
        try:
            pending = load.timed(client.commit_many, orders)
        except (ApiError, httpx.HTTPError) as exc:
            load.refuse(exc)
            continue
        assert isinstance(pending, list)
        with load.lock:
            load.commits += len(pending)
        client.sleep_until(client.reveal_opens_ms(pending[0].batch_id) + 5)
        for p in pending:
            try:
                load.timed(client.reveal, p)
            except (ApiError, httpx.HTTPError) as exc:
                load.refuse(exc)
                continue
            with load.lock:
                load.reveals += 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--traders", type=int, default=4)
    ap.add_argument("--per-batch", type=int, default=40, help="orders per trader per batch")
    ap.add_argument("--commit-ms", type=int, default=2_000)
    ap.add_argument("--reveal-ms", type=int, default=2_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not 0 < args.minutes <= 24 * 60:
        ap.error(f"--minutes: expected more than 0 and at most 1440, got {args.minutes}")

    tmp = tempfile.mkdtemp(prefix="sealbatch-soak-")
    db = f"sqlite:///{tmp}/soak.db"
    port = _free_port()
    server = _start(port, db, args.commit_ms, args.reveal_ms)
    restarted: subprocess.Popen[bytes] | None = None
    try:
        _wait_up(port, server)
        rss = [_rss_mb(server.pid)]
        load = _Load()
        t0 = time.monotonic()
        stop_at = t0 + args.minutes * 60
        threads = [
            threading.Thread(target=_trader, args=(port, i, args.per_batch, stop_at, load))
            for i in range(args.traders)
        ]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(5)
            rss.append(_rss_mb(server.pid))
        elapsed = time.monotonic() - t0
        view = httpx.get(f"http://127.0.0.1:{port}/v1/operator", timeout=30).json()
        rss.append(_rss_mb(server.pid))
        server.kill()  # SIGKILL: no clean shutdown
        server.wait(timeout=30)
        restarted = _start(port, db, args.commit_ms, args.reveal_ms)
        restart_s = _wait_up(port, restarted)
        # CPU the restarted process spent until it answered (start-up, imports, the
        # snapshot and the replay): on a loaded machine far below the wall time.
        restart_cpu_s = _cpu_s(restarted.pid)
        lat = sorted(load.latencies)
        n = len(lat)
        out = {
            "minutes": args.minutes,
            "traders": args.traders,
            "commitments": load.commits,
            "reveals": load.reveals,
            "refused_requests": load.refused,
            "commitments_per_s": round(load.commits / elapsed, 1),
            "reveals_per_s": round(load.reveals / elapsed, 1),
            "p50_ms": round(lat[n // 2] * 1e3, 1) if n else None,
            "p99_ms": round(lat[min(n - 1, int(n * 0.99))] * 1e3, 1) if n else None,
            "rss_mb_start": round(rss[0], 1),
            "rss_mb_end": round(rss[-1], 1),
            "rss_mb": [round(r, 1) for r in rss],
            "restart_s": round(restart_s, 2),
            "restart_cpu_s": round(restart_cpu_s, 2),
            "replayed_at_start": httpx.get(f"http://127.0.0.1:{port}/v1/operator", timeout=60)
            .json()["db"]
            .get("replayed_at_start"),
            "batches": view["last_cleared_batch"],
            "load_average": round(os.getloadavg()[0], 2),
        }
    finally:
        for proc in (server, restarted):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:<20} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
