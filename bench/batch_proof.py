"""Benchmark: prove and verify one batch with the batch AIR; prove 4 consecutive batches on Dask.

For 100, 1 000 and 10 000 orders from 1 000 funded accounts in 2 markets
(BTC-PERP, ETH-PERP), the batch is built as the venue builds it — sealed
orders with Poseidon2 commitments under a commitment root that seeds the
tie-breaks, cleared by :func:`sealbatch.auction.batch.clear_batch`, settled by
:func:`sealbatch.settlement.transition.apply_batch` against a signed oracle
round — and published as the files of docs/formats.md. Timed: proving from
the files on one core (:func:`sealbatch.settlement.batch_proof.prove_files`;
CPU seconds of the single-threaded process), the Python verifier
(:func:`~sealbatch.settlement.batch_proof.verify_files`, which derives the
statement from the files), the proof's bytes and its L1
calldata gas (:func:`sealbatch.crypto.size.bytes_gas`: EIP-7623's floor of the
proof bytes as calldata, the transaction base included, no execution).

Then 4 consecutive batches (each one's pre-state the previous one's
post-state; 1 000 orders each, 100 with ``--quick``) go through the venue's
own proving pipeline (:class:`sealbatch.venue.proving.ProvingPipeline`: jobs
on a Dask cluster, verified and recorded in order) on a ``LocalCluster``
bound to 127.0.0.1 with 1 and then 2 single-threaded worker processes; the
wall time from the first submission to the fourth recorded proof is reported.

Usage::

    python bench/batch_proof.py [--json] [--quick] [--sizes 100,1000,10000] [--accounts 1000]

``--json`` prints ``{"rows": [{"orders", "accounts", "rows", "prove_s", "proof_bytes",
"verify_s", "calldata_gas", "peak_rss_mb", "lde64_mb"}], "dask": {"workers_1_s",
"workers_2_s"}}``. ``peak_rss_mb`` is this process's peak resident memory so far (the
sizes run in the order given, so list them ascending), ``lde64_mb`` the baseline it is
compared with: the main trace's low-degree extension alone held as 8-byte words
(rows × blowup × main columns × 8), which is what the prover held before it stored its
extensions as 4-byte words and evaluated its constraints on views of them.
``--dask-orders 0`` skips the Dask part (``"dask": null``). ``--quick`` proves 20 and
100 orders from 50 accounts and runs the Dask part on 100-order batches (a test runs it).
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

# Run as a script, this file's directory comes first on sys.path, and its name would
# shadow the ``settlement`` package: drop that entry before importing the project.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

# One core per prover: numpy's BLAS threads would blur "prove seconds on one core".
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np

from sealbatch.auction.batch import clear_batch
from sealbatch.auction.commit_reveal import RevealedOrder, SealedBatch
from sealbatch.auction.commitment import commitment_root, compute_commitments
from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address, address_of, checksum_address
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.proof import StarkProof
from sealbatch.crypto.size import bytes_gas
from sealbatch.settlement.batch_proof import prove_files, verify_files
from sealbatch.settlement.ledger import AccountKey, LedgerState, empty_state, open_accounts
from sealbatch.settlement.oracle import (
    OracleConfig,
    OracleRound,
    OracleSource,
    PriceReport,
    SignedReport,
)
from sealbatch.settlement.params import SettlementConfig, default_config
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch, reference_prices

PRICES = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}
COLLATERAL = 10**12  # 1 000 000 USDC per account: nobody near maintenance


def _config() -> SettlementConfig:
    return default_config({m: DEFAULT_MARKETS[m] for m in PRICES})


def _oracle() -> tuple[OracleConfig, list[bytes]]:
    keys = [keccak256(b"bench batch proof oracle", bytes([i])) for i in range(4)]
    cfg = OracleConfig(
        tuple(OracleSource(address_of(k), ("a", "b")[i // 2]) for i, k in enumerate(keys))
    )
    return cfg, keys


def _round(keys: list[bytes], batch_id: int, ts: int) -> OracleRound:
    reports = tuple(
        SignedReport.sign(PriceReport(m, p, ts - 100, address_of(k)), k)
        for m, p in sorted(PRICES.items())
        for k in keys
    )
    return OracleRound(batch_id, ts, reports)


def _addresses(n: int) -> list[Address]:
    # distinct addresses without n key derivations, in the EIP-55 form the venue
    # publishes (so `sealbatch verify --public` takes a folder of these files)
    return [checksum_address(keccak256(b"bench", i.to_bytes(8, "big"))[:20]) for i in range(n)]


def genesis(accounts: int, config: SettlementConfig) -> LedgerState:
    """``accounts`` funded accounts, no positions yet."""
    keys = [AccountKey(a, 0) for a in _addresses(accounts)]
    state = open_accounts(empty_state(config), keys, [COLLATERAL] * accounts)
    return state.with_arrays(batch_id=0, timestamp_ms=1_000)


def next_batch(
    state: LedgerState,
    orders: int,
    config: SettlementConfig,
    oracle: tuple[OracleConfig, list[bytes]],
    rng: np.random.Generator,
) -> tuple[dict[str, str], LedgerState]:
    """Build, clear and settle the batch after ``state``: its folder's files, the post-state."""
    batch_id = state.batch_id + 1
    markets = sorted(PRICES)
    n = state.size
    flow: list[tuple[Address, Order]] = []
    for i in range(orders):
        market = markets[i % len(markets)]
        side = Side.BUY if rng.integers(2) else Side.SELL
        # limits around the price, so each market crosses and rations at the margin
        limit = PRICES[market] + int(rng.integers(-40, 41)) * (1 if side is Side.BUY else -1)
        flow.append(
            (
                state.accounts[int(rng.integers(n))].address,
                Order(market, side, limit, 1 + int(rng.integers(20))),
            )
        )
    salts = [rng.bytes(32) for _ in flow]
    commitments = compute_commitments([o for _, o in flow], salts, [t for t, _ in flow], batch_id)
    revealed = tuple(
        RevealedOrder(c, t, o, seq, seq, 0, 0, salt)
        for seq, (c, salt, (t, o)) in enumerate(zip(commitments, salts, flow, strict=True))
    )
    seed = commitment_root(
        commitments, [o.market for _, o in flow], [t for t, _ in flow], [r.bond for r in revealed]
    )
    sealed = SealedBatch(batch_id, seed, (), revealed, (), ())
    # the pre-state's marks, none before a first mark (the only references that settle)
    result = clear_batch(sealed, config.auction_markets, reference_prices(state))
    oracle_cfg, keys = oracle
    rnd = _round(keys, batch_id, state.timestamp_ms + 1_000)
    post, _ = apply_batch(state, result, rnd, config, oracle_cfg)
    files = BatchPublication(result, rnd, state, post).files(config, oracle_cfg)
    return files, post


def measure(files: Mapping[str, str], orders: int, accounts: int) -> dict[str, Any]:
    """Prove once on this process (one core) and verify (best of 3).

    ``prove_s`` is the CPU time of this single-threaded process (BLAS threads are
    pinned to 1 above), so a shared, loaded machine does not inflate it."""
    t = time.process_time()
    proof = prove_files(files)
    prove_s = time.process_time() - t
    # ru_maxrss is in KiB on Linux
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shape = StarkProof.from_bytes(proof)
    verify_s = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        verify_files(proof, files)
        verify_s = min(verify_s, time.perf_counter() - t)
    return {
        "orders": orders,
        "accounts": accounts,
        "rows": shape.num_rows,
        "prove_s": round(prove_s, 2),
        "proof_bytes": len(proof),
        "verify_s": round(verify_s, 4),
        "calldata_gas": bytes_gas(proof),
        "peak_rss_mb": round(peak_mb),
        "lde64_mb": round(shape.num_rows * shape.options.blowup * shape.num_main * 8 / 2**20),
    }


def dask_throughput(batches: list[dict[str, str]], workers: int) -> float:
    """Seconds for the venue's pipeline to prove and record ``batches`` on ``workers``
    single-threaded Dask workers (a LocalCluster on 127.0.0.1)."""
    from distributed import LocalCluster

    from sealbatch.venue.proving import ProofFailure, ProvingPipeline, dask_executor

    recorded: list[int] = []
    failures: list[ProofFailure] = []
    done = threading.Event()

    def proven(batch_id: int, _proof: bytes, _summary: dict[str, Any]) -> None:
        recorded.append(batch_id)
        if len(recorded) == len(batches):
            done.set()

    def failed(failure: ProofFailure) -> None:
        failures.append(failure)
        done.set()

    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        executor, shutdown = dask_executor(cluster.scheduler_address)
        pipeline = ProvingPipeline(
            executor,
            on_proven=proven,
            on_failed=failed,
            clock_ms=lambda: int(time.time() * 1000),
            shutdown=shutdown,
        )
        t = time.perf_counter()
        for i, files in enumerate(batches, 1):
            pipeline.submit(i, functools.partial(dict, files), 0)
        done.wait()
        elapsed = time.perf_counter() - t
        pipeline.close()
    if failures:
        raise RuntimeError(f"batch {failures[0].batch_id} failed: {failures[0].reason}")
    if recorded != list(range(1, len(batches) + 1)):
        raise RuntimeError(f"expected batches recorded in order, got {recorded}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="small sizes (a test runs this)")
    p.add_argument("--sizes", help="orders per batch, comma-separated (default 100,1000,10000)")
    p.add_argument("--accounts", type=int, help="accounts (default 1000)")
    p.add_argument("--dask-orders", type=int, help="orders per batch of the Dask part (0: skip it)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    sizes = [
        int(s) for s in (args.sizes or ("20,100" if args.quick else "100,1000,10000")).split(",")
    ]
    accounts = args.accounts or (50 if args.quick else 1_000)
    if args.dask_orders is not None and args.dask_orders < 0:
        p.error(f"--dask-orders: expected 0 or more, got {args.dask_orders}")
    dask_orders = (100 if args.quick else 1_000) if args.dask_orders is None else args.dask_orders
    config = _config()
    oracle = _oracle()
    rows = []
    for orders in sizes:
        rng = np.random.default_rng(args.seed)
        files, _ = next_batch(genesis(accounts, config), orders, config, oracle, rng)
        row = measure(files, orders, accounts)
        rows.append(row)
        if not args.json:
            print(
                f"{orders:>6} orders {accounts:>5} accounts: prove {row['prove_s']:7.2f} s (one "
                f"core)  proof {row['proof_bytes']:>7} bytes  verify "
                f"{row['verify_s'] * 1000:6.1f} ms  calldata {row['calldata_gas']:>9} gas  "
                f"{row['rows']} rows  peak RSS {row['peak_rss_mb']} MB "
                f"({row['peak_rss_mb'] / row['lde64_mb']:.2f}x the 8-byte main LDE)",
                flush=True,
            )
    if dask_orders == 0:
        if args.json:
            json.dump({"rows": rows, "dask": None}, sys.stdout)
            sys.stdout.write("\n")
        return 0
    rng = np.random.default_rng(args.seed)
    state = genesis(accounts, config)
    chain = []
    for _ in range(4):
        files, state = next_batch(state, dask_orders, config, oracle, rng)
        chain.append(files)
    dask = {
        "workers_1_s": round(dask_throughput(chain, 1), 2),
        "workers_2_s": round(dask_throughput(chain, 2), 2),
    }
    if args.json:
        json.dump({"rows": rows, "dask": dask}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(
            f"4 consecutive batches of {dask_orders} orders on Dask: 1 worker "
            f"{dask['workers_1_s']:.2f} s, 2 workers {dask['workers_2_s']:.2f} s "
            f"(speed-up {dask['workers_1_s'] / dask['workers_2_s']:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
