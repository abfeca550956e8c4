"""How long the API stalls while a large batch clears, and what a worker process would cost.

Runs a venue in this process (SQLite in a temporary directory, a manual clock,
the SDK over the ASGI app): ``--traders`` traders commit ``--orders`` sealed
orders in one batch (bulk) and reveal them all. Then, while the batch clears
and settles, a second thread sends ``GET /v1/info`` back to back and records
each answer's latency. Two runs: the venue as it is (clearing on its
clearing thread) and, for comparison, with the clearing run on the event loop
itself (``inline``, as before the clearing thread). Also times what moving
the clearing to a worker process would add per batch: pickling the state
machine there and back (the snapshot's cost).

Prints one line per mode, or with ``--json`` one object: ``{"orders",
"modes": [{"mode", "clear_s", "info_requests", "info_p50_ms", "info_max_ms"}],
"pickle_s", "unpickle_s", "state_mb", "load_average"}``. Run:
``.venv/bin/python bench/loop_stall.py [--orders 2000] [--traders 100] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.keccak import keccak256
from sealbatch.venue.app import create_app
from sealbatch.venue.client import VenueClient
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.service import VenueService
from sealbatch.venue.settings import Settings

#: Start of the manual clock: a whole commit window.
T0 = 1_800_000_000_000

#: Commit and reveal windows: long, the manual clock moves them.
W = 60_000


class _OnTheLoop:
    """An executor that runs the call at once in the caller's thread (the event loop):
    the clearing as it ran before the clearing thread."""

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        fut.set_result(fn(*args))
        return fut

    def shutdown(self, wait: bool = True) -> None:
        pass


def _run(mode: str, orders: int, traders: int) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="sealbatch-stall-")
    settings = Settings(
        db_url=f"sqlite:///{tmp}/venue.db",
        commit_window_ms=W,
        reveal_window_ms=W,
        rate_limit_per_s=100_000,
        rate_limit_burst=100_000,
        bulk_max=10_000,
        prove=False,
    )
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(settings, clock)) as tc:
        service: VenueService = tc.app.state.service  # type: ignore[attr-defined]
        if mode == "inline":
            service._clearer = _OnTheLoop()  # type: ignore[assignment]
        clients = [
            VenueClient(
                "http://testserver",
                keccak256(b"bench-stall", i.to_bytes(4, "big")),
                http=tc,
                clock=clock.now_ms,
            )
            for i in range(traders)
        ]
        for c in clients:
            c.deposit(10**12)
        clock.set(T0 + 2 * W + 5)  # batch 0 credits the deposits
        tc.get("/v1/batches/0").raise_for_status()
        batch = 2
        clock.set(T0 + batch * W + 100)
        per = orders // traders
        pending = []
        for n, c in enumerate(clients):
            side = Side.BUY if n % 2 else Side.SELL
            pending += [
                (c, p)
                for p in c.commit_many(
                    [Order("BTC-PERP", side, 100 + (k % 7) - 3, 1 + k % 3) for k in range(per)]
                )
            ]
        clock.set(T0 + (batch + 1) * W + 10)
        for c, p in pending:
            c.reveal(p)
        latencies: list[float] = []
        done = threading.Event()

        def probe() -> None:
            while not done.is_set():
                t0 = time.perf_counter()
                tc.get("/v1/info").raise_for_status()
                latencies.append(time.perf_counter() - t0)

        th = threading.Thread(target=probe, daemon=True)
        th.start()
        time.sleep(0.2)
        before = len(latencies)
        t0 = time.perf_counter()
        clock.set(T0 + (batch + 2) * W + 5)
        while service.core.last_cleared < batch:
            time.sleep(0.001)
        clear_s = time.perf_counter() - t0
        done.set()
        th.join()
        during = latencies[before:] or [0.0]
        state = None
        if mode == "thread":
            with service.core_lock:
                t1 = time.perf_counter()
                state = pickle.dumps(service.core, protocol=pickle.HIGHEST_PROTOCOL)
                pickle_s = time.perf_counter() - t1
            t1 = time.perf_counter()
            pickle.loads(state)
            unpickle_s = time.perf_counter() - t1
    out: dict[str, Any] = {
        "mode": mode,
        "clear_s": round(clear_s, 3),
        "info_requests": len(during),
        "info_p50_ms": round(statistics.median(during) * 1000, 1),
        "info_max_ms": round(max(during) * 1000, 1),
    }
    if state is not None:
        out["pickle"] = {
            "pickle_s": round(pickle_s, 3),
            "unpickle_s": round(unpickle_s, 3),
            "state_mb": round(len(state) / 1e6, 2),
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=2_000)
    ap.add_argument("--traders", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.traders < 2 or args.orders < args.traders:
        ap.error("expected at least 2 traders and at least one order per trader")
    modes = [_run(m, args.orders, args.traders) for m in ("thread", "inline")]
    pickled = modes[0].pop("pickle")
    doc = {
        "orders": args.orders,
        "modes": modes,
        **pickled,
        "load_average": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(doc))
        return 0
    print(f"{args.orders} orders in one batch (load average {doc['load_average']})")
    for m in modes:
        print(
            f"{m['mode']:<7} clear {m['clear_s']:.3f} s; GET /v1/info meanwhile: "
            f"{m['info_requests']} answered, p50 {m['info_p50_ms']} ms, max {m['info_max_ms']} ms"
        )
    print(
        f"a worker process would move the state machine ({doc['state_mb']} MB pickled) there "
        f"and back: {doc['pickle_s']:.3f} s + {doc['unpickle_s']:.3f} s each way per batch"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
