"""Benchmark: lab events per second on one core, per mechanism, against a bare heap loop.

Runs one seed of a scenario (default: research/scenarios/default.yaml, the
lab's default scenario: a busy market with every agent and adversary) for
every mechanism it lists, in this process
(one core), and divides the events the loop processed by the loop's time.
"Market events" leave out the fixed-grid price samples (one every
``metrics.sample_ms``). The baseline, measured in the same run, is a bare
``heapq`` loop over the same number of events: push ``(time, seq, fn, arg)``,
pop, call a no-op — the floor any event loop built on heapq pays; the ratio
says how many bare heap events one lab event costs. Target (issue 6):
>= 100,000 events/s; commit-reveal >= 50,000 (issue 18). Under commit-reveal
every order is a real signed commitment through
``sealbatch.auction.commit_reveal``: the trader's EIP-712 signature, the
book's signature recovery and its signed receipt, and two Poseidon2
commitment hashes (the trader's and the book's reveal check), each batch's
hashed in one vectorised call. The time spent in that code is reported
separately, and a second yardstick is measured in the same run: the three
libsecp256k1 calls every commitment needs (sign, recover, sign), timed alone
for as many commitments — the events/s commit-reveal could reach if nothing
else cost anything.

Usage::

    python bench/lab.py [--scenario FILE] [--horizon S] [--seed N] [--json]
"""

from __future__ import annotations

import argparse
import heapq
import json
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
    rng = random.Random(0)
    gaps = [rng.randrange(1, 1_000_000) for _ in range(n)]
    heap: list[tuple[int, int, object, object]] = []
    for i in range(64):  # a few events in flight, as in the lab
        heapq.heappush(heap, (gaps[i], i, _noop, None))
    seq = 64
    start = time.perf_counter()
    done = 0
    while heap and done < n:
        t, _, fn, arg = heapq.heappop(heap)
        fn(arg)  # type: ignore[operator]
        done += 1
        seq += 1
        heapq.heappush(heap, (t + gaps[done % n], seq, _noop, None))
    return done / (time.perf_counter() - start)


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(DEFAULT))
    ap.add_argument("--horizon", type=float, default=60.0, help="seconds of market time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    scenario = load_scenario(args.scenario).with_override("horizon_s", args.horizon)
    rows: list[dict[str, Any]] = []
    for spec in scenario.mechanisms:
        r = run_simulation(scenario, spec, args.seed).metrics
        events, loop = int(r["events"]), float(r["loop_s"])
        market = events - int(r["sample_events"])
        baseline = bare_heap_events_per_s(events)
        commits = int(r.get("commits", 0))
        floor = signature_floor_s(commits) if commits else 0.0
        rows.append(
            {
                "mechanism": spec.label,
                "events": events,
                "loop_s": loop,
                "events_per_s": events / loop,
                "market_events_per_s": market / loop,
                "heap_events_per_s": baseline,
                "ratio": baseline / (events / loop),
                "commits": commits,
                "venue_code_s": float(r.get("venue_code_s", 0.0)),
                "signature_floor_s": floor,
            }
        )
    total_events = sum(r["events"] for r in rows)
    total_loop = sum(r["loop_s"] for r in rows)
    summary = {"scenario": scenario.name, "horizon_s": args.horizon, "seed": args.seed,
               "rows": rows, "all_events_per_s": total_events / total_loop}  # fmt: skip
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"scenario {scenario.name}, {args.horizon:g} s of market time, seed {args.seed}, one core"
    )
    print()
    print(
        "| mechanism | events | loop s | events/s | market events/s | bare heap events/s | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            r["mechanism"],
            f"{r['events']:,}",
            f"{r['loop_s']:.3f}",
            f"{r['events_per_s']:,.0f}",
            f"{r['market_events_per_s']:,.0f}",
            f"{r['heap_events_per_s']:,.0f}",
            f"{r['ratio']:.1f}",
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    print(f"all mechanisms together: {summary['all_events_per_s']:,.0f} events/s")
    for r in rows:
        if r["venue_code_s"]:
            rest = r["loop_s"] - r["venue_code_s"]
            print(
                f"{r['mechanism']}: {r['commits']:,} signed commitments; "
                f"{r['venue_code_s'] / r['loop_s']:.0%} of the loop is the venue's commit-reveal "
                f"code (EIP-712, secp256k1 sign + recover, Keccak, clearing); the rest of the "
                f"lab runs at {r['events'] / rest:,.0f} events/s"
            )
            floor = r["signature_floor_s"]
            print(
                f"{r['mechanism']}: the commitments' secp256k1 calls alone (sign, recover, sign) "
                f"take {floor:.3f} s here ({floor / r['commits'] * 1e6:,.0f} us per commitment): "
                f"at most {r['events'] / floor:,.0f} events/s if nothing else cost anything; "
                f"venue code per commitment {r['venue_code_s'] / r['commits'] * 1e6:,.0f} us"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
