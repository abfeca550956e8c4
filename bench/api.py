"""API load generator: signed commitments against a real venue on 127.0.0.1.

Starts ``sealbatch serve`` in its own process (SQLite in WAL mode, a fresh
database in a temporary directory), pre-signs every request, then drives
the server from this process over keep-alive HTTP/1.1 connections:

1. single-commitment requests (one ``POST /v1/commitments`` per commitment)
   from ``--connections`` concurrent connections: ``--single`` timed requests
   after 500 warm-up ones, requests/s, p50 and p99 latency (send to full
   response);
2. bulk requests of ``--bulk-size`` commitments: signed commitments/s.

Every receipt is durable (group commit) before it is answered. Run:
``.venv/bin/python bench/api.py [--single N] [--bulk N] [--connections C] [--json]``;
``--json`` prints one object instead of lines: ``single_rps``, ``single_p50_ms``,
``single_p99_ms``, ``bulk_per_s``, ``load_average``, and the CPU time one request
or commitment costs (µs, from ``/proc``), which depends far less on what else runs
on the machine than the rates do: ``single_server_cpu_us`` per single request in
the server process (single requests never reach the signer workers),
``bulk_server_cpu_us`` per bulk commitment in the server process (the event loop,
the writer and clearing threads) and ``bulk_workers_cpu_us`` in its child
processes (the signer workers; the multiprocessing resource tracker idles).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sealbatch.auction.commit_reveal import COMMIT_TYPE
from sealbatch.crypto.eip712 import Eip712Domain, address_of, sign_digest, signing_digest
from sealbatch.crypto.keccak import keccak256
from sealbatch.venue.auth import DEPOSIT_TYPE

#: The BabyBear prime: every element of a sealed-order digest is below it.
BABYBEAR_P = 15 * 2**27 + 1

#: Collateral each bench trader deposits: 1 000 000 USDC (6 decimals).
DEPOSIT = 10**12


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _digest(seed: bytes) -> bytes:
    """A well-formed sealed-order digest (8 little-endian BabyBear elements, none zero)
    from 32 random bytes: the venue checks the form, the reveal would check the hash."""
    words = [int.from_bytes(seed[4 * k : 4 * k + 4], "little") for k in range(8)]
    return b"".join((w % (BABYBEAR_P - 1) + 1).to_bytes(4, "little") for w in words)


def _bodies(n: int, traders: int, batch_id: int, domain: Eip712Domain, tag: bytes) -> list[bytes]:
    keys = [keccak256(b"bench-trader", tag, i.to_bytes(4, "big")) for i in range(traders)]
    addrs = [address_of(k) for k in keys]
    out = []
    for i in range(n):
        t = i % traders
        commitment = _digest(keccak256(b"bench-order", tag, i.to_bytes(8, "big")))
        values = {
            "trader": addrs[t],
            "batchId": batch_id,
            "market": "BTC-PERP",
            "commitment": commitment,
            "nonce": i,
            "marginLock": 0,
            "bond": 0,
            "expiry": 2**63,
        }
        sig = sign_digest(keys[t], signing_digest(domain, COMMIT_TYPE, values))
        out.append(
            {
                "trader": addrs[t],
                "batch_id": batch_id,
                "market": "BTC-PERP",
                "commitment": "0x" + commitment.hex(),
                "nonce": i,
                "margin_lock": 0,
                "bond": 0,
                "expiry_ms": 2**63,
                "signature": "0x" + sig.hex(),
            }
        )
    return [json.dumps(b).encode() for b in out]


def _fund(port: int, traders: int, domain: Eip712Domain, tag: bytes) -> None:
    """Deposit collateral for every trader of ``tag`` (not timed): the venue takes a
    commitment only when the trader's free collateral covers the bonds at stake."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for i in range(traders):
            key = keccak256(b"bench-trader", tag, i.to_bytes(4, "big"))
            trader = address_of(key)
            values = {"trader": trader, "amount": DEPOSIT, "nonce": 1 << 62, "expiry": 2**63}
            sig = sign_digest(key, signing_digest(domain, DEPOSIT_TYPE, values))
            body = {
                "trader": trader,
                "amount": DEPOSIT,
                "nonce": 1 << 62,
                "expiry_ms": 2**63,
                "signature": "0x" + sig.hex(),
            }
            r = client.post("/v1/deposits", json=body)
            if r.status_code != 200:
                raise RuntimeError(f"deposit: expected 200, got {r.status_code}: {r.text[:300]}")


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bytes:
    writer.write(
        b"POST /v1/commitments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12]
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    payload = await reader.readexactly(length)
    if status != b"200":
        raise RuntimeError(f"expected 200, got {status!r}: {payload[:300]!r}")
    return payload


async def _single(port: int, bodies: list[bytes], connections: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    it = iter(bodies)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for body in it:
            t0 = time.perf_counter()
            await _post(reader, writer, body)
            latencies.append(time.perf_counter() - t0)
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - t0, latencies


async def _bulk(port: int, bodies: list[bytes], size: int, connections: int) -> float:
    chunks = [b"[" + b",".join(bodies[i : i + size]) + b"]" for i in range(0, len(bodies), size)]
    it = iter(chunks)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for chunk in it:
            items = json.loads(await _post(reader, writer, chunk))
            bad = [i for i in items if not i["ok"]]
            if bad:
                raise RuntimeError(f"bulk: expected every commitment taken, got {bad[0]}")
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - t0


#: Single requests sent before the timed ones (not counted): connections open, caches warm.
SINGLE_WARMUP = 500


def commit_window_ms(now_ms: int, room_ms: int = 15 * 60_000) -> int:
    """A commit window (whole minutes, 20 to 60: the venue takes at most an hour)
    whose batch collecting at ``now_ms`` still has ``room_ms`` left: the venue starts
    its schedule at ``now`` rounded down to the window, so a fixed hour would roll to
    batch 1 mid-run near the top of the hour and refuse the commitments signed for
    batch 0 (``wrong_batch``)."""
    for minutes in range(20, 61):
        window = minutes * 60_000
        if window - now_ms % window >= room_ms:
            return window
    raise RuntimeError("no commit window of 20 to 60 minutes leaves room")  # not reached


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-quantile (0 <= q < 1) of ascending ``sorted_values``: the value at
    index floor(q * n), the nearest rank rounded down.

    Raises:
        ValueError: no values, or ``q`` outside [0, 1).
    """
    if not sorted_values:
        raise ValueError("percentile: expected at least one value, got none")
    if not 0 <= q < 1:
        raise ValueError(f"percentile: expected 0 <= q < 1, got {q}")
    return sorted_values[int(len(sorted_values) * q)]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (the server's signer workers)."""
    out: list[int] = []
    for f in Path(f"/proc/{pid}/task").glob("*/children"):
        out += [int(x) for x in f.read_text().split()]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--single",
        type=int,
        default=20_000,
        help=f"single-commitment requests timed (after {SINGLE_WARMUP} warm-up ones)",
    )
    ap.add_argument("--bulk", type=int, default=50_000, help="commitments sent in bulk")
    ap.add_argument("--bulk-size", type=int, default=1_000)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--traders", type=int, default=2_000)
    ap.add_argument("--db", help="database URL (default: SQLite in a temporary directory)")
    ap.add_argument("--json", action="store_true", help="print one JSON object of figures")
    args = ap.parse_args()
    for name in ("single", "bulk", "bulk_size", "connections", "traders"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}: expected at least 1, got {getattr(args, name)}")
    say = (lambda *_a: None) if args.json else print

    tmp = tempfile.mkdtemp(prefix="sealbatch-bench-")
    db = args.db or f"sqlite:///{tmp}/bench.db"
    port = _free_port()
    env = {**os.environ, "SEALBATCH_RATE_LIMIT_PER_S": "1000", "SEALBATCH_RATE_LIMIT_BURST": "1000"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sealbatch.venue.cli",
            "serve",
            "--port",
            str(port),
            "--db",
            db,
            "--commit-ms",
            str(commit_window_ms(int(time.time() * 1000))),
            "--reveal-ms",
            "1000",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/v1/info", timeout=1).json()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        d = info["domain"]
        domain = Eip712Domain(d["name"], d["version"], d["chainId"], d["verifyingContract"])
        batch = info["schedule"]["collecting"]
        print(f"funding {2 * args.traders} traders ...", file=sys.stderr)
        _fund(port, args.traders, domain, b"single")
        _fund(port, args.traders, domain, b"bulk")
        print(f"signing {args.single + args.bulk} commitments ...", file=sys.stderr)
        load_before = os.getloadavg()[0]
        say(f"load average before: {load_before:.2f} on {os.cpu_count()} cores")
        # The warm-up requests come on top of the --single timed ones.
        single = _bodies(SINGLE_WARMUP + args.single, args.traders, batch, domain, b"single")
        bulk = _bodies(args.bulk + args.bulk_size, args.traders, batch, domain, b"bulk")
        warm, bulk = bulk[: args.bulk_size], bulk[args.bulk_size :]
        asyncio.run(_single(port, single[:SINGLE_WARMUP], 8))  # warm-up (not counted)
        single_cpu0 = _cpu_s(server.pid)
        elapsed, lat = asyncio.run(_single(port, single[SINGLE_WARMUP:], args.connections))
        # Single requests never reach the signer workers (too few each): the server's CPU.
        single_us = (_cpu_s(server.pid) - single_cpu0) / args.single * 1e6
        lat.sort()
        n = len(lat)
        single_rps = n / elapsed
        p50, p99 = percentile(lat, 0.5) * 1e3, percentile(lat, 0.99) * 1e3
        say(
            f"single: {n} requests, {args.connections} connections: {single_rps:,.0f} req/s, "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; CPU per request: {single_us:.1f} us in the "
            f"server process"
        )
        asyncio.run(_bulk(port, warm, args.bulk_size, 1))  # warm-up: the workers start
        workers = _children(server.pid)
        cpu0 = _cpu_s(server.pid), sum(_cpu_s(w) for w in workers)
        elapsed = asyncio.run(_bulk(port, bulk, args.bulk_size, 2))
        cpu1 = _cpu_s(server.pid), sum(_cpu_s(w) for w in workers)
        bulk_per_s = args.bulk / elapsed
        server_us = (cpu1[0] - cpu0[0]) / args.bulk * 1e6
        workers_us = (cpu1[1] - cpu0[1]) / args.bulk * 1e6
        say(
            f"bulk: {args.bulk} commitments in requests of {args.bulk_size}: "
            f"{bulk_per_s:,.0f} commitments/s; CPU per commitment: {server_us:.1f} us in the "
            f"server process, {workers_us:.1f} us in its {len(workers)} child processes"
        )
        view = httpx.get(f"http://127.0.0.1:{port}/v1/operator").json()
        say(
            f"db: {view['db']['events_written']} events in {view['db']['transactions']} "
            f"group commits"
        )
        if args.json:
            print(
                json.dumps(
                    {
                        "single_rps": round(single_rps, 1),
                        "single_p50_ms": round(p50, 1),
                        "single_p99_ms": round(p99, 1),
                        "single_server_cpu_us": round(single_us, 1),
                        "bulk_per_s": round(bulk_per_s, 1),
                        "bulk_server_cpu_us": round(server_us, 1),
                        "bulk_workers_cpu_us": round(workers_us, 1),
                        "single_requests": n,
                        "bulk_commitments": args.bulk,
                        "load_average": round(load_before, 2),
                    }
                )
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
