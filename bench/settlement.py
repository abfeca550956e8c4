"""Benchmark: settle one batch for 10^3, 10^4 and 10^5 accounts with positions in 3 markets.

Each run builds a ledger of ``n`` funded accounts holding random positions in
BTC-PERP, ETH-PERP and SOL-PERP (net zero per market, leverage 1x to 24x, so
about a sixth of them are below maintenance and get liquidation orders),
clears one batch of orders from ``min(n, 2 000)`` of them across the markets
(with :func:`sealbatch.auction.batch.clear_batch`, not timed), and times
:func:`sealbatch.settlement.transition.apply_batch`: oracle round (12 signed reports),
funding, fills and fees, marks, margin of every account, liquidation planning,
deficit cover, invariants, and the Poseidon2 state root of the new state (the
pre-state root is the previous batch's post-state root, computed beforehand
as in the running venue). The root alone is also timed. The target (issue 4)
is <= 1 s for 10^4 accounts.

Usage::

    python bench/settlement.py [--json] [--sizes 1000,10000,100000] [--repeat 3] [--seed 1]

``--json`` prints ``{"rows": [{"accounts", "fills", "settle_s", "root_s",
"liquidations"}]}``; times are the best of ``--repeat`` runs.
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace

# Run as a script, this file's directory comes first on sys.path, and its name would
# shadow the ``settlement`` package: drop that entry before importing the project.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np

from sealbatch.auction.batch import BatchResult, clear_batch
from sealbatch.auction.commit_reveal import RevealedOrder, SealedBatch
from sealbatch.auction.markets import DEFAULT_MARKETS, Market
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address, address_of
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.ledger import AccountKey, LedgerState, empty_state, open_accounts
from sealbatch.settlement.oracle import (
    OracleConfig,
    OracleRound,
    OracleSource,
    PriceReport,
    SignedReport,
)
from sealbatch.settlement.params import SettlementConfig, default_config
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.transition import apply_batch

PRICES = {"BTC-PERP": 650_000, "ETH-PERP": 350_000, "SOL-PERP": 150_000}


def _config() -> SettlementConfig:
    markets = dict(DEFAULT_MARKETS)
    markets["SOL-PERP"] = Market(
        "SOL-PERP", tick_size="0.001 USD", lot_size="0.1 SOL", contract_multiplier=100
    )
    return default_config(markets)


def _oracle(ts: int) -> tuple[OracleConfig, OracleRound]:
    keys = [keccak256(b"bench oracle", bytes([i])) for i in range(4)]
    cfg = OracleConfig(
        tuple(OracleSource(address_of(k), ("a", "b")[i // 2]) for i, k in enumerate(keys))
    )
    reports = tuple(
        SignedReport.sign(PriceReport(m, p, ts - 100, address_of(k)), k)
        for m, p in PRICES.items()
        for k in keys
    )
    return cfg, OracleRound(1, ts, reports)


def _addresses(n: int) -> list[Address]:
    # distinct, well-formed addresses without n key derivations
    return [Address("0x" + keccak256(i.to_bytes(8, "big")).hex()[:40]) for i in range(n)]


def build(n: int, config: SettlementConfig, rng: np.random.Generator) -> LedgerState:
    """``n`` accounts with random positions (net zero per market), marks at PRICES."""
    m = len(config.markets)
    pos = rng.integers(-200, 201, size=(n, m), dtype=np.int64)
    pos[-1] -= pos.sum(axis=0)  # the last account takes the other side of the rest
    marks = np.array([PRICES[mid] for mid in config.market_ids], dtype=np.int64)
    notional = np.abs(pos * marks * 100).sum(axis=1)
    # leverage 1x to 24x: those beyond 20x are below maintenance (5 %) and get liquidated
    margin = notional // rng.integers(1, 25, size=n) + 10**6
    state = open_accounts(empty_state(config), [AccountKey(a, 0) for a in _addresses(n)], [1] * n)
    collateral = margin - (pos * marks * 100).sum(axis=1)
    ms = tuple(
        replace(
            s,
            mark_price=PRICES[s.market],
            index_price=PRICES[s.market],
            last_price=PRICES[s.market],
        )
        for s in state.market_states
    )
    return state.with_arrays(
        collateral=collateral, positions=pos, market_states=ms, batch_id=0, timestamp_ms=1_000
    )


def batch_for(
    state: LedgerState, config: SettlementConfig, rng: np.random.Generator
) -> BatchResult:
    traders = min(state.size, 2_000)
    revealed = []
    for i in range(traders):
        mid = config.market_ids[i % len(config.market_ids)]
        side = Side.BUY if rng.integers(2) else Side.SELL
        limit = PRICES[mid] + int(rng.integers(-50, 51))
        order = Order(mid, side, limit, int(rng.integers(1, 20)))
        oid = keccak256(b"bench order", i.to_bytes(8, "big"))
        revealed.append(RevealedOrder(oid, state.accounts[i].address, order, i, 0, 0, 0))
    sealed = SealedBatch(1, keccak256(b"bench seed"), (), tuple(revealed), (), ())
    return clear_batch(sealed, config.auction_markets, dict(PRICES))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    config = _config()
    oracle_cfg, oracle_round = _oracle(2_000)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rng = np.random.default_rng(args.seed)
        state = build(n, config, rng)
        batch = batch_for(state, config, rng)
        best_settle = best_root = float("inf")
        liq = 0
        for _ in range(args.repeat):
            pre = state.with_arrays()  # a fresh instance: no cached root
            t = time.perf_counter()
            state_root(pre)
            best_root = min(best_root, time.perf_counter() - t)
            t = time.perf_counter()
            _, witness = apply_batch(pre, batch, oracle_round, config, oracle_cfg)
            best_settle = min(best_settle, time.perf_counter() - t)
            liq = len(witness.liquidations)
        rows.append(
            {
                "accounts": n,
                "fills": len(batch.fills()),
                "settle_s": round(best_settle, 4),
                "root_s": round(best_root, 4),
                "liquidations": liq,
            }
        )
        if not args.json:
            print(
                f"{n:>7} accounts  {rows[-1]['fills']:>5} fills  settle {best_settle:7.3f} s  "
                f"(state root alone {best_root:6.3f} s)  liquidation orders {liq}",
                flush=True,
            )
    if args.json:
        json.dump({"rows": rows}, sys.stdout)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
