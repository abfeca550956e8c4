"""Benchmark: uniform-price clearing against numpy.argsort, and signed commitments per second.

Clearing (price discovery + allocation, from arrays already in memory) of
10^4, 10^5 and 10^6 random orders in one market is timed against
``numpy.argsort`` of the same number of random int64 keys in the same run, so
the ratio says how close clearing comes to the cost of one sort on this
machine. The target (issue 2) is ratio <= 3 at 10^6 orders.

Signed commitments verified per second are measured two ways: through the
commit book (EIP-712 digest, signer recovery, all the book's checks, and the
operator's signed receipt) and bare (digest + ``recover_signer``). The
Poseidon2 order commitments (``auction.commitment``) are timed one at a time
(as a trader's client or a reveal check computes them) and vectorised, and the
commitment root (the batch seed) over the same commitments.

Usage::

    python bench/clearing.py [--json] [--sizes 10000,100000,1000000] [--repeat 5]
                             [--signatures 2000] [--seed 1]

``--json`` prints ``{"rows": [{"orders", "clear_s", "argsort_s", "ratio"}],
"signatures": {...}}``; times are the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sealbatch.auction.allocation import allocate
from sealbatch.auction.batch import TieBreakKeys
from sealbatch.auction.book import MARKET, OrderArrays
from sealbatch.auction.clearing import aggregate_curves, discover_price
from sealbatch.auction.commit_reveal import BatchWindows, Commit, CommitBook, SignedCommit
from sealbatch.auction.commitment import commitment_root, compute_commitment, compute_commitments
from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Eip712Domain, address_of, recover_signer
from sealbatch.crypto.poseidon2 import DIGEST_SIZE, P

MID = 50_000
"""Mid price of the random books, in ticks."""
DEPTH = 3_000
"""Limits spread over this many ticks on each side of the mid."""
CROSS = 100
"""How far the best limits reach across the mid (so the book crosses)."""
MARKET_SHARE = 0.05
"""Fraction of market orders."""


def random_book(n: int, rng: np.random.Generator) -> OrderArrays:
    """A realistic crossed book: limits around MID over a few thousand ticks, some
    market orders, quantities 1–1000 lots."""
    is_buy = rng.random(n) < 0.5
    # buys from MID + CROSS down, sells from MID - CROSS up, denser near the touch
    offset = np.minimum(rng.exponential(DEPTH / 4, n), DEPTH).astype(np.int64)
    limit = np.where(is_buy, MID + CROSS - offset, MID - CROSS + offset).astype(np.int64)
    limit[rng.random(n) < MARKET_SHARE] = MARKET
    quantity = rng.integers(1, 1001, n, dtype=np.int64)
    return OrderArrays(is_buy, limit, quantity)


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


class _OrderIds(Sequence[bytes]):
    """Order ids ``0, 1, …`` as 32-byte strings, made only when asked for."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        return int(i).to_bytes(32, "big")


def clear(book: OrderArrays, seed: bytes) -> np.ndarray:
    """Price discovery and allocation of one book, as auction.batch.clear_market does."""
    curves = aggregate_curves(book)
    discovery = discover_price(book, None, curves)
    ids = _OrderIds(book.quantity.shape[0])
    fills = allocate(book, discovery, TieBreakKeys(seed, ids), curves)
    bought = int(fills[book.is_buy].sum())
    sold = int(fills[~book.is_buy].sum())
    if not bought == sold == discovery.volume:  # cheap sanity check, part of the timing
        raise RuntimeError(f"expected bought == sold == {discovery.volume}, got {bought}/{sold}")
    return fills


@dataclass(frozen=True)
class ClearingRow:
    orders: int
    clear_s: float
    argsort_s: float

    @property
    def ratio(self) -> float:
        return self.clear_s / self.argsort_s

    def to_dict(self) -> dict[str, float | int]:
        return {
            "orders": self.orders,
            "clear_s": round(self.clear_s, 6),
            "argsort_s": round(self.argsort_s, 6),
            "ratio": round(self.ratio, 3),
        }


def bench_clearing(n: int, repeat: int, rng: np.random.Generator) -> ClearingRow:
    book = random_book(n, rng)
    seed = rng.bytes(32)
    keys = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n, dtype=np.int64)
    clear(book, seed)  # warm up (imports, page faults)
    clear_s = best_of(repeat, lambda: clear(book, seed))
    argsort_s = best_of(repeat, lambda: np.argsort(keys))
    return ClearingRow(n, clear_s, argsort_s)


def bench_signatures(count: int, rng: np.random.Generator) -> dict[str, float | int]:
    """Signed commitments verified per second: via the commit book and bare."""
    domain = Eip712Domain()
    keys = [rng.bytes(32) for _ in range(64)]
    windows = BatchWindows(0, 1_000, 2_000)
    signed = []
    for i in range(count):
        key = keys[i % len(keys)]
        digest = rng.integers(1, P, DIGEST_SIZE).astype("<u4").tobytes()  # a Poseidon2 digest
        commit = Commit(address_of(key), 1, "BTC-PERP", digest, i)
        signed.append(SignedCommit.sign(commit, key, domain))
    orders = [
        Order("BTC-PERP", Side.BUY, int(rng.integers(1, 1 << 20)), int(rng.integers(1, 1000)))
        for _ in range(count)
    ]
    salts = [rng.bytes(32) for _ in range(count)]
    traders = [address_of(keys[i % len(keys)]) for i in range(count)]
    commitments = compute_commitments(orders, salts, traders, 1)
    operator = rng.bytes(32)

    def via_book() -> None:
        book = CommitBook(1, DEFAULT_MARKETS, domain, operator, windows)
        for s in signed:
            book.commit(s, 500)

    def bare() -> None:
        for s in signed:
            if recover_signer(s.commit.digest(domain), s.signature) != s.commit.trader:
                raise RuntimeError("expected the trader to recover")

    def one_by_one() -> None:
        for o, s, t in zip(orders, salts, traders, strict=True):
            compute_commitment(o, s, t, 1)

    book_s = best_of(3, via_book)
    bare_s = best_of(3, bare)
    hash_s = best_of(3, one_by_one)
    hash_many_s = best_of(3, lambda: compute_commitments(orders, salts, traders, 1))
    root_s = best_of(
        3,
        lambda: commitment_root(
            commitments, [o.market for o in orders], traders, [1_000_000] * count
        ),
    )
    return {
        "commitments": count,
        "book_commit_per_s": round(count / book_s),
        "recover_per_s": round(count / bare_s),
        "poseidon2_commitment_per_s": round(count / hash_s),
        "poseidon2_commitments_vectorised_per_s": round(count / hash_many_s),
        "commitment_root_s": round(root_s, 5),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    parser.add_argument("--signatures", type=int, default=2000, help="0 to skip")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        print(f"--sizes: expected comma-separated integers, got {args.sizes!r}", file=sys.stderr)
        return 2
    if any(n < 1 for n in sizes) or args.repeat < 1 or args.signatures < 0:
        print("expected sizes >= 1, --repeat >= 1, --signatures >= 0", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    rows = [bench_clearing(n, args.repeat, rng) for n in sizes]
    sigs = bench_signatures(args.signatures, rng) if args.signatures else None
    if args.json:
        out: dict[str, object] = {"rows": [r.to_dict() for r in rows]}
        if sigs is not None:
            out["signatures"] = sigs
        print(json.dumps(out))
        return 0
    print(f"{'orders':>10} {'clear_s':>10} {'argsort_s':>10} {'ratio':>7}")
    for r in rows:
        print(f"{r.orders:>10} {r.clear_s:>10.4f} {r.argsort_s:>10.4f} {r.ratio:>7.2f}")
    if sigs is not None:
        print(
            f"signed commitments: {sigs['book_commit_per_s']}/s through the commit book "
            f"(with receipts), {sigs['recover_per_s']}/s digest + recovery "
            f"({sigs['commitments']} commitments)"
        )
        print(
            f"Poseidon2 commitments: {sigs['poseidon2_commitment_per_s']}/s one at a time, "
            f"{sigs['poseidon2_commitments_vectorised_per_s']}/s vectorised; commitment root of "
            f"{sigs['commitments']}: {sigs['commitment_root_s']} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
