"""Benchmark: lab events per second per mechanism, against a bare heap loop.

Runs one seed of a scenario (default: research/scenarios/default.yaml, the
lab's default scenario: a busy market with every agent and adversary) for
every mechanism it lists, in this process, and divides the events the loop
processed by the loop's wall time; "main CPU" is the CPU time this process
spent in the loop (what the loop costs on a core of its own, whatever the
machine's load). "Market events" leave out the fixed-grid price samples (one
every ``metrics.sample_ms``). The baseline, measured in the same run, is a
bare ``heapq`` loop over the same number of events: push
``(time, seq, fn, arg)``, pop, call a no-op — the floor any event loop built
on heapq pays; the ratio says how many bare heap events one lab event costs.
Under load wall time swings with the other processes, so the "CPU ratio"
divides the bare loop's events per CPU second by the lab loop's, both
measured as this process's CPU time: the figure to compare across loads.
Target (issue 6): >= 100,000 events/s; commit-reveal >= 50,000 (issue 18).

Under commit-reveal every order is a real signed commitment through
``sealbatch.auction.commit_reveal``: the trader's Poseidon2 commitment and
EIP-712 secp256k1 signature, the book's signature recovery and its signed
receipt, the batch's commitment root and each reveal's commitment
recomputed. Commit-reveal runs twice: with that cryptography in place, and
with it in ``--crypto-workers`` worker processes, fed each order as it
arrives (``research/mechanisms/commit_crypto.py``; the outcomes are the same).
For the second the workers' CPU time is reported too (and the jobs the loop
took back from the workers' queue and ran itself while it waited for them),
and the cores a rate of 50,000 events/s would need: the loop's own CPU per
event plus the cryptography's. "CPU us per event" is all the CPU a run cost,
the loop's and its workers', over its events: the load-independent figure.
A second yardstick, measured in the same run: the three libsecp256k1 calls
every commitment needs (sign, recover, sign), timed alone — per event, the
bound on events per CPU second that no other speed-up can pass.

Usage::

    python bench/lab.py [--scenario FILE] [--horizon S] [--seed N]
                        [--crypto-workers N] [--json]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sealbatch.research.runner import run_simulation
from sealbatch.research.scenario import load_scenario

DEFAULT = Path(__file__).resolve().parents[1] / "research" / "scenarios" / "default.yaml"


def _noop(_: object) -> None:
    return None


def bare_heap_events_per_s(n: int) -> float:
    """Events/s of a bare heapq loop over ``n`` events (each schedules the next)."""
    wall, _ = _bare_heap_loop(n)
    return n / wall


def bare_heap_events_per_cpu_s(n: int, min_cpu_s: float = 0.2) -> float:
    """Events per CPU second of the same loop, repeated until it has used ``min_cpu_s``
    of this process's CPU (the load-independent yardstick: CPU time, not wall time)."""
    done, cpu = 0, 0.0
    while cpu < min_cpu_s:
        _, c = _bare_heap_loop(n)
        done, cpu = done + n, cpu + c
    return done / cpu


def _bare_heap_loop(n: int) -> tuple[float, float]:
    """Wall and CPU seconds of a bare heapq loop over ``n`` events."""
    rng = random.Random(0)
    gaps = [rng.randrange(1, 1_000_000) for _ in range(n)]
    heap: list[tuple[int, int, object, object]] = []
    for i in range(64):  # a few events in flight, as in the lab
        heapq.heappush(heap, (gaps[i], i, _noop, None))
    seq = 64
    start, start_cpu = time.perf_counter(), time.process_time()
    done = 0
    while heap and done < n:
        t, _, fn, arg = heapq.heappop(heap)
        fn(arg)  # type: ignore[operator]
        done += 1
        seq += 1
        heapq.heappush(heap, (t + gaps[done % n], seq, _noop, None))
    return time.perf_counter() - start, time.process_time() - start_cpu


def signature_floor_s(n: int) -> float:
    """Seconds for ``n`` commitments' three libsecp256k1 calls alone (sign, recover, sign)."""
    import coincurve

    trader = coincurve.PrivateKey(bytes([1]) * 32)
    operator = coincurve.PrivateKey(bytes([2]) * 32)
    digests = [i.to_bytes(32, "big") for i in range(1, n + 1)]
    start = time.perf_counter()
    for d in digests:
        sig = trader.sign_recoverable(d, hasher=None)
        coincurve.PublicKey.from_signature_and_message(sig, d, hasher=None)
        operator.sign_recoverable(d, hasher=None)
    return time.perf_counter() - start


def _row(
    label: str,
    r: dict[str, Any],
    workers: int,
    worker_cpu: float,
    floor: bool,
    stolen: tuple[int, float] = (0, 0.0),
) -> dict[str, Any]:
    events, loop, cpu = int(r["events"]), float(r["loop_s"]), float(r["loop_cpu_s"])
    commits = int(r.get("commits", 0))
    return {
        "mechanism": label,
        "events": events,
        "loop_s": loop,
        "loop_cpu_s": cpu,
        "events_per_s": events / loop,
        "events_per_cpu_s": events / cpu if cpu else 0.0,
        "market_events_per_s": (events - int(r["sample_events"])) / loop,
        "heap_events_per_s": bare_heap_events_per_s(events),
        "heap_events_per_cpu_s": bare_heap_events_per_cpu_s(events),
        "commits": commits,
        "crypto_workers": workers,
        "worker_cpu_s": worker_cpu,
        # all the CPU the run cost, the loop's and its workers': the figure no load moves
        "cpu_us_per_event": (cpu + worker_cpu) / events * 1e6,
        "jobs_taken_back": stolen[0],
        "taken_back_cpu_s": stolen[1],
        "venue_code_s": float(r.get("venue_code_s", 0.0)),
        "signature_floor_s": signature_floor_s(commits) if floor and commits else 0.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(DEFAULT))
    ap.add_argument("--horizon", type=float, default=60.0, help="seconds of market time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--crypto-workers",
        type=int,
        default=max((os.cpu_count() or 2) - 1, 1),
        help="worker processes for commit-reveal's cryptography (default: cores - 1)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    scenario = load_scenario(args.scenario).with_override("horizon_s", args.horizon)
    rows: list[dict[str, Any]] = []
    for spec in scenario.mechanisms:
        r = run_simulation(scenario, spec, args.seed)
        sealed = "commits" in r.metrics
        rows.append(_row(spec.label + (" in place" if sealed else ""), r.metrics, 0, 0.0, sealed))
        if sealed and args.crypto_workers > 0:
            w = args.crypto_workers
            pooled = run_simulation(scenario, spec, args.seed, crypto_workers=w)
            crypto = pooled.mechanism.crypto
            cpu = float(crypto.worker_cpu_s)
            rows.append(
                _row(f"{spec.label} +{w} worker(s)", pooled.metrics, w, cpu, False,
                     (crypto.stolen, crypto.stolen_cpu_s))
            )  # fmt: skip
    for row in rows:
        row["ratio"] = row["heap_events_per_s"] / row["events_per_s"]
        # the bare heap's events per CPU second over the loop's own: no load in it
        cpu_rate = row["events_per_cpu_s"]
        row["cpu_ratio"] = row["heap_events_per_cpu_s"] / cpu_rate if cpu_rate else 0.0
    total_events = sum(r["events"] for r in rows)
    total_loop = sum(r["loop_s"] for r in rows)
    summary = {"scenario": scenario.name, "horizon_s": args.horizon, "seed": args.seed,
               "load_average": os.getloadavg(), "rows": rows,
               "all_events_per_s": total_events / total_loop}  # fmt: skip
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    load = ", ".join(f"{x:.1f}" for x in summary["load_average"])
    print(f"scenario {scenario.name}, {args.horizon:g} s of market time, seed {args.seed}, "
          f"load average {load}")  # fmt: skip
    print()
    print(
        "| mechanism | events | loop s | events/s | main CPU s | events per main CPU s "
        "| bare heap events/s | ratio | bare heap events per CPU s | CPU ratio "
        "| CPU us per event (loop + workers) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            r["mechanism"],
            f"{r['events']:,}",
            f"{r['loop_s']:.3f}",
            f"{r['events_per_s']:,.0f}",
            f"{r['loop_cpu_s']:.3f}",
            f"{r['events_per_cpu_s']:,.0f}",
            f"{r['heap_events_per_s']:,.0f}",
            f"{r['ratio']:.1f}",
            f"{r['heap_events_per_cpu_s']:,.0f}",
            f"{r['cpu_ratio']:.1f}",
            f"{r['cpu_us_per_event']:.1f}",
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    for r in rows:
        if not r["commits"]:
            continue
        name, n = r["mechanism"], r["commits"]
        if r["signature_floor_s"]:
            floor = r["signature_floor_s"]
            print(
                f"{name}: {n:,} signed commitments; {r['venue_code_s'] / r['loop_s']:.0%} of "
                f"the loop is the venue's commit-reveal code; the three secp256k1 calls "
                f"alone take {floor / n * 1e6:,.0f} us per commitment here "
                f"({floor / r['events'] * 1e6:.1f} us per event: at most "
                f"{r['events'] / floor:,.0f} events per CPU second whatever else gets faster)"
            )
        if r["crypto_workers"]:
            own = r["loop_cpu_s"] - r["taken_back_cpu_s"]  # the loop's own work
            crypto = r["worker_cpu_s"] + r["taken_back_cpu_s"]  # signing and hashing
            per_event = (own + crypto) / r["events"]
            print(
                f"{name}: the loop used {r['loop_cpu_s']:.3f} s of CPU "
                f"({r['events_per_cpu_s']:,.0f} events per CPU second), of which "
                f"{r['taken_back_cpu_s']:.3f} s on {r['jobs_taken_back']} jobs it took back "
                f"from the worker's queue while it waited for them; the workers "
                f"{r['worker_cpu_s']:.3f} s; the cryptography {crypto / n * 1e6:,.0f} us per "
                f"commitment wherever it ran. 50,000 events/s would need "
                f"{per_event * 50_000:.1f} free cores (the loop's own "
                f"{own / r['events'] * 50_000:.2f} and the cryptography's "
                f"{crypto / r['events'] * 50_000:.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
