"""Restart time after N batches, with and without snapshots.

For each N in ``--batches``, runs a venue in this process (SQLite in a
temporary directory, a manual clock, the SDK over the ASGI app) through N
batches in which three traders commit, reveal and trade IOC orders (and one
withholds a reveal), with snapshots every ``--every`` batches. Then times the restart
(building the venue service: loading the newest snapshot and replaying the
log after it, or replaying the whole log) twice: as written, and with the
snapshots deleted. Prints a table, or with ``--json`` one object per N:
``batches``, ``events``, ``restart_snapshot_s``, ``restart_snapshot_cpu_s``,
``replayed_snapshot``, ``restart_full_s``, ``restart_full_cpu_s``, ``replayed_full``
(``*_cpu_s``: the CPU seconds of this process during the restart, which a loaded
machine inflates far less than the wall time). Run:
``.venv/bin/python bench/restart.py --batches 50 100 200``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from sqlalchemy import delete

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.keccak import keccak256
from sealbatch.venue.app import create_app
from sealbatch.venue.client import VenueClient
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.persistence import make_engine
from sealbatch.venue.service import VenueService
from sealbatch.venue.settings import Settings
from sealbatch.venue.tables import SnapshotRow

#: Start of the manual clock: a whole commit window.
T0 = 1_800_000_000_000


def _settings(db: str, every: int) -> Settings:
    return Settings(
        db_url=db,
        commit_window_ms=1_000,
        reveal_window_ms=300,
        snapshot_every=every,
        rate_limit_per_s=10_000,
        rate_limit_burst=10_000,
        # Proving (on by default) would spend the same cores on proofs meanwhile.
        prove=False,
    )


def _build(db: str, batches: int, every: int) -> int:
    """Trade ``batches`` batches into ``db``; returns the events logged."""
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(_settings(db, every), clock)) as tc:
        names = ("alice", "bob", "carol")
        t = {
            n: VenueClient(
                "http://testserver",
                keccak256(b"bench-restart", n.encode()),
                http=tc,
                clock=clock.now_ms,
            )
            for n in names
        }
        for c in t.values():
            c.deposit(10**11)
        for b in range(batches):
            clock.set(max(clock.now_ms(), T0 + b * 1_000 + 100))
            p = [
                t["alice"].commit(Order("BTC-PERP", Side.BUY, 100 + b % 3, 5)),
                t["bob"].commit(Order("BTC-PERP", Side.SELL, 99, 3)),
                t["carol"].commit(Order("ETH-PERP", Side.SELL, 50, 2)),
            ]
            clock.set(T0 + (b + 1) * 1_000 + 10)
            t["alice"].reveal(p[0])
            t["bob"].reveal(p[1])  # carol withholds: forfeit
            clock.set(T0 + (b + 1) * 1_000 + 305)
            tc.get(f"/v1/batches/{b}").raise_for_status()
        service: VenueService = tc.app.state.service  # type: ignore[attr-defined]
        return service.writer.events_written


def _restart(db: str, every: int, now_ms: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of this process, and events replayed by one restart."""
    t0, c0 = time.perf_counter(), time.process_time()
    service = VenueService(_settings(db, every), ManualClock(now_ms))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    replayed = service.replayed
    service.close()
    return elapsed, cpu, replayed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[50, 100, 200])
    ap.add_argument("--every", type=int, default=25, help="snapshot every this many batches")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if any(n < 1 for n in args.batches) or args.every < 1:
        ap.error("--batches and --every: expected positive integers")
    rows = []
    for n in args.batches:
        tmp = tempfile.mkdtemp(prefix="sealbatch-restart-")
        db = f"sqlite:///{tmp}/venue.db"
        events = _build(db, n, args.every)
        now = T0 + (n + 1) * 1_000 + 400
        snap_s, snap_cpu, snap_replayed = _restart(db, args.every, now)
        engine = make_engine(db)
        with engine.begin() as conn:
            conn.execute(delete(SnapshotRow.__table__))  # type: ignore[arg-type]
        engine.dispose()
        full_s, full_cpu, full_replayed = _restart(db, 0, now)
        rows.append(
            {
                "batches": n,
                "events": events,
                "restart_snapshot_s": round(snap_s, 3),
                "restart_snapshot_cpu_s": round(snap_cpu, 3),
                "replayed_snapshot": snap_replayed,
                "restart_full_s": round(full_s, 3),
                "restart_full_cpu_s": round(full_cpu, 3),
                "replayed_full": full_replayed,
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    if args.json:
        print(json.dumps(rows))
    else:
        print("batches  events  restart (snapshot)  replayed  restart (full log)  replayed  load")
        for r in rows:
            print(
                f"{r['batches']:>7} {r['events']:>7} {r['restart_snapshot_s']:>18.3f} "
                f"{r['replayed_snapshot']:>9} {r['restart_full_s']:>19.3f} "
                f"{r['replayed_full']:>9} {r['load_average']:>5}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
