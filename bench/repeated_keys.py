"""The repeated-key check's cost, against the same code without it, in one process.

The commitment route's parse (``_parse``: one commitment, and a bulk of 1 000) and the
depth guard's work on another signed write's body (a reveal's, 339 bytes), each the
minimum of nine repeats, alternated, the garbage collector off (BENCHMARKS.md,
"Repeated keys in request bodies").

    .venv/bin/python bench/repeated_keys.py [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import timeit
from collections.abc import Callable
from typing import Any

from sealbatch.venue.api.middleware import repeated_key, too_deep
from sealbatch.venue.api.routes.commitments import _BULK, _parse
from sealbatch.venue.schemas import CommitIn

_RNG = random.Random(1)


def _commitment() -> dict[str, Any]:
    return {
        "trader": "0x" + _RNG.randbytes(20).hex(),
        "batch_id": _RNG.randrange(1 << 40),
        "market": "BTC-PERP",
        "commitment": "0x" + _RNG.randbytes(32).hex(),
        "nonce": _RNG.randrange(1 << 63),
        "margin_lock": 0,
        "bond": 1000,
        "expiry_ms": 1_900_000_000_000,
        "signature": "0x" + _RNG.randbytes(65).hex(),
    }


BULK = json.dumps([_commitment() for _ in range(1000)]).encode()
ONE = json.dumps(_commitment()).encode()
REVEAL = json.dumps(
    {
        "trader": "0x" + "ab" * 20,
        "commitment": "0x" + "cd" * 32,
        "market": "BTC-PERP",
        "side": "buy",
        "price": 650000,
        "quantity": 5,
        "tif": "gtc",
        "salt": "0x" + "ef" * 32,
        "client_id": 7,
        "reduce_only": False,
    }
).encode()


def _parse_without_check(raw: bytes) -> Any:
    """``_parse`` as it was before the check (the successful parse)."""
    if raw.lstrip()[:1] == b"[":
        return _BULK.validate_json(raw)
    return CommitIn.model_validate_json(raw)


def _guard_with_check(body: bytes) -> Any:
    response = too_deep(body)
    return response if response is not None else repeated_key(body)


def _best_us(f: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(f, number=number, repeat=9)) / number * 1e6


CASES: dict[str, tuple[Callable[[], object], Callable[[], object], int, int]] = {
    # name: (without, with, calls per repeat, commitments per call)
    "bulk of 1000, per commitment": (
        lambda: _parse_without_check(BULK),
        lambda: _parse(BULK),
        5,
        1000,
    ),
    "one commitment": (lambda: _parse_without_check(ONE), lambda: _parse(ONE), 2000, 1),
    "guard, a reveal body": (lambda: too_deep(REVEAL), lambda: _guard_with_check(REVEAL), 5000, 1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    gc.disable()
    for name, (without, with_check, number, per) in CASES.items():
        runs: dict[str, list[float]] = {"without": [], "with": []}
        for i in range(args.rounds):
            order = [("without", without), ("with", with_check)]
            for label, f in order if i % 2 == 0 else order[::-1]:
                runs[label].append(_best_us(f, number) / per)
        a, b = min(runs["without"]), min(runs["with"])
        print(f"{name:30s} without {a:6.2f} us  with {b:6.2f} us  (+{b - a:.2f} us)")


if __name__ == "__main__":
    main()
