"""``sealbatch demo``: the whole pipeline on the embedded defaults."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sealbatch.crypto.eip712 import Address
    from sealbatch.settlement.oracle import OracleConfig
    from sealbatch.settlement.params import SettlementConfig
    from sealbatch.settlement.publication import BatchPublication
    from sealbatch.venue.demo import DemoBatch
    from sealbatch.venue.demo_anchor import DemoChain

__all__ = ["MAX_BATCHES", "MAX_SEED", "register"]

#: The most batches one demo runs: settling them takes about 2.5 CPU minutes
#: (``--no-prove``), proving them (about 30 s of CPU a batch) most of a working day.
MAX_BATCHES = 1_000

#: The largest demo seed: keys and oracle sources are derived from its 8-byte encoding.
MAX_SEED = 2**64 - 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on the embedded defaults",
        description="Seeded traders sign, commit and reveal sealed orders over several batches "
        "in two markets; each batch clears at one uniform price per market and is settled: "
        "fees, funding, marks, margin, liquidations, insurance fund and the state root; then "
        "proved with the batch STARK, and the proof verified.",
    )
    p.add_argument(
        "--seed", type=int, default=2026, help=f"demo seed, 0 to {MAX_SEED} (default 2026)"
    )
    p.add_argument(
        "--batches",
        type=int,
        default=4,
        help=f"number of batches, 1 to {MAX_BATCHES} (default 4)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write each batch to DIR/batch-<n>/ (orders.csv, result.json, oracle.json, "
        "transfers.json, pre_state.json, post_state.json, proof.bin and anchor.json; see "
        "docs/formats.md)",
    )
    p.add_argument(
        "--no-prove",
        action="store_true",
        help="settle the batches without proving them (no proof.bin with --out)",
    )
    p.add_argument(
        "--no-anchor",
        action="store_true",
        help="do not anchor the proven batches on the embedded chain (no anchor.json with --out)",
    )
    p.add_argument(
        "--serve",
        action="store_true",
        help="instead: run a live venue on 127.0.0.1 with seeded traders and keep the batch "
        "explorer open at http://127.0.0.1:PORT/ until Ctrl-C",
    )
    p.add_argument("--port", type=int, default=8000, help="with --serve: port (default 8000)")
    p.add_argument(
        "--commit-ms", type=int, default=1_000, help="with --serve: commit window (default 1000)"
    )
    p.add_argument(
        "--reveal-ms", type=int, default=300, help="with --serve: reveal window (default 300)"
    )
    p.set_defaults(func=run)


def _short(b: bytes) -> str:
    return "0x" + b.hex()[:10] + "…"


def _publication(b: DemoBatch) -> BatchPublication:
    from sealbatch.settlement.publication import BatchPublication

    return BatchPublication(b.result, b.oracle_round, b.pre_state, b.post_state)


#: What ``--out`` writes beside the published files when a batch is anchored.
ANCHOR_FILE = "anchor.json"


def _write_batch(
    out: Path,
    b: DemoBatch,
    settle_cfg: SettlementConfig,
    oracle_cfg: OracleConfig,
    proof: bytes | None,
) -> None:
    from sealbatch.venue.publisher import PROOF_FILE

    folder = out / f"batch-{b.result.batch_id}"
    folder.mkdir(parents=True, exist_ok=True)
    # A folder of an earlier run: its proof and anchoring are of that run's batch, not of
    # this one (replay would check the stale proof.bin against the new files).
    for stale in (PROOF_FILE, ANCHOR_FILE):
        (folder / stale).unlink(missing_ok=True)
    for name, text in _publication(b).files(settle_cfg, oracle_cfg).items():
        (folder / name).write_text(text, encoding="utf-8")
    if proof is not None:
        (folder / PROOF_FILE).write_bytes(proof)


def _prove(b: DemoBatch, settle_cfg: SettlementConfig, oracle_cfg: OracleConfig) -> bytes:
    """Prove the batch, verify the proof against the batch, print both.

    Raises:
        SealbatchError: the prover refuses the batch, or the proof does not verify.
    """
    from sealbatch.settlement.batch_proof import prove_publication, verify_publication

    publication = _publication(b)
    started = time.perf_counter()
    proof = prove_publication(publication, settle_cfg, oracle_cfg)
    proved = time.perf_counter() - started
    started = time.perf_counter()
    report = verify_publication(proof, publication, settle_cfg, oracle_cfg)
    checked = time.perf_counter() - started
    print(
        f"  proof {len(proof)} bytes, proved in {proved:.1f} s, verified in "
        f"{checked * 1000:.0f} ms: valid ({report.conjectured} conjectured bits)"
    )
    return proof


def _print_settlement(b: DemoBatch, names: dict[Address, str]) -> None:
    w = b.witness
    for market_id in sorted(w.funding):
        f = w.funding[market_id]
        ms = b.post_state.market_state(market_id)
        r = w.readings[market_id]
        flag = f"  FLAGGED: {r.reason}" if r.flagged else ""
        mode = "  protective mode" if ms.protective else ""
        print(
            f"  {market_id:<9} index {ms.index_price:>8}  mark {ms.mark_price:>8}  funding rate "
            f"{f.rate_ppm:>+5} ppm  Δindex {f.delta_index:>+6}  index {f.funding_index:>+7}"
            f"{flag}{mode}"
        )
    fees = sum(sf.fee for sf in w.fills)
    print(
        f"  settled: fees {fees}  fee pool {b.post_state.fee_pool}  insurance fund "
        f"{b.post_state.insurance_fund}  socialised loss {b.post_state.socialised_loss}"
    )
    for key, amount in w.penalties:
        print(f"  liquidation penalty  {names.get(key.address, key.address)}: {amount}")
    for d in w.deficits:
        print(
            f"  deficit  {names.get(d.account.address, d.account.address)}: {d.deficit} "
            f"(insurance {d.insurance}, deleveraged {len(d.deleveraged)})"
        )
    if w.liquidations:
        for lo in w.liquidations:
            o = lo.resting.order
            print(
                f"  liquidation order for batch {lo.resting.origin_batch}: "
                f"{names.get(lo.account.address, lo.account.address)} {o.side.value} "
                f"{o.quantity} {o.market} at {o.limit_price} or better"
            )
    else:
        print("  new liquidation orders: none")
    print(f"  state root 0x{w.post_root.hex()}")


def _serve(args: argparse.Namespace) -> int:
    from sealbatch.crypto.exceptions import SealbatchError
    from sealbatch.venue.live_demo import LiveDemoConfig, serve_live_demo

    if not 0 < args.port < 65536:
        print(
            f"sealbatch demo: error: --port: expected 1 to 65535, got {args.port}", file=sys.stderr
        )
        return 2
    if not 10 <= args.reveal_ms <= args.commit_ms <= 3_600_000:
        print(
            "sealbatch demo: error: --commit-ms/--reveal-ms: expected 10 <= reveal <= commit "
            f"<= 3600000, got commit {args.commit_ms} and reveal {args.reveal_ms}",
            file=sys.stderr,
        )
        return 2
    try:
        config = LiveDemoConfig(seed=args.seed)
        return serve_live_demo(args.port, config, args.commit_ms, args.reveal_ms)
    except (SealbatchError, OSError) as exc:
        print(f"sealbatch demo: error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    from sealbatch.crypto.exceptions import SealbatchError
    from sealbatch.settlement.anchor import ContractReverted, TransactionTooLarge
    from sealbatch.venue.commands.output_dirs import output_dir_problem
    from sealbatch.venue.demo import (
        DemoConfig,
        demo_oracle,
        demo_settlement_config,
        run_demo,
    )

    if not 0 <= args.seed <= MAX_SEED:
        print(
            f"sealbatch demo: error: --seed: expected 0 to {MAX_SEED}, got {args.seed}",
            file=sys.stderr,
        )
        return 2
    if args.serve:
        return _serve(args)
    if not 1 <= args.batches <= MAX_BATCHES:
        print(
            f"sealbatch demo: error: --batches: expected 1 to {MAX_BATCHES}, got {args.batches}",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out) if args.out else None
    problem = output_dir_problem(out) if out is not None else None
    if problem:
        print(f"sealbatch demo: error: --out: {problem}", file=sys.stderr)
        return 2
    taken = [
        out / f"batch-{n}"
        for n in range(1, args.batches + 1)
        if out is not None and (out / f"batch-{n}").exists() and not (out / f"batch-{n}").is_dir()
    ]
    if taken:  # found now, not after minutes of proving
        print(
            f"sealbatch demo: error: --out: expected a folder at {taken[0]}, got a file",
            file=sys.stderr,
        )
        return 2
    config = DemoConfig(seed=args.seed, batches=args.batches)
    settle_cfg = demo_settlement_config(config)
    oracle_cfg, _ = demo_oracle(config.seed)
    names = {t.address: t.name for t in config.all_traders()}
    l1: DemoChain | None = None
    print(
        f"sealbatch demo: {len(names)} traders, {len(config.markets)} markets, "
        f"{config.batches} batches, seed {config.seed}"
    )
    for b in run_demo(config):
        r = b.result
        print()
        print(f"batch {r.batch_id}  seed 0x{r.seed.hex()}")
        print(
            f"  commitments {b.commitments}  orders {len(r.orders)}  "
            f"forfeited {len(r.forfeited)}  GTC carried into the next batch {len(r.carried)}"
        )
        for market_id in sorted(r.markets):
            m = r.markets[market_id]
            price = "no trade" if m.price is None else f"{m.price}"
            print(
                f"  {market_id:<9} price {price:>8}  volume {m.volume:>4}  demand "
                f"{m.buy_volume:>4}  supply {m.sell_volume:>4}  imbalance {m.imbalance:>4}  "
                f"fills {len(m.fills)} (reference {m.reference_price})"
            )
            for f in m.fills:
                print(
                    f"      {names.get(f.trader, f.trader):<6} {f.side.value:<4} "
                    f"{f.quantity:>3} @ {f.price}  order {_short(f.order_id)}"
                )
        for who, why in b.rejected_commits:
            print(f"  rejected commit  {who}: {why}")
        for who, why in b.rejected_reveals:
            print(f"  rejected reveal  {who}: {why}")
        for lost in r.forfeited:
            print(
                f"  forfeited        {names.get(lost.trader, lost.trader)}: commitment "
                f"{_short(lost.commitment)} in {lost.market}, "
                f"bond {lost.bond} to the insurance fund"
            )
        _print_settlement(b, names)
        proof = None
        if not args.no_prove:
            try:
                proof = _prove(b, settle_cfg, oracle_cfg)
            except SealbatchError as exc:
                print(
                    f"sealbatch demo: error: batch {r.batch_id} could not be proved: {exc}",
                    file=sys.stderr,
                )
                return 1
        anchored = None
        if proof is not None and not args.no_anchor:
            if l1 is None:
                from sealbatch.venue.demo_anchor import DemoChain

                # the batches' shapes, known before they run (the same seed settles the same
                # batches): the exchange's verifiers are fixed when it is deployed
                shapes = [_publication(x).files(settle_cfg, oracle_cfg) for x in run_demo(config)]
                l1 = DemoChain(oracle_cfg, shapes)
            files = _publication(b).files(settle_cfg, oracle_cfg)
            try:
                anchored = l1.anchor(r.batch_id, files, proof)
            except ContractReverted as exc:
                # A real proof of a real batch refused: the contract and the prover disagree.
                print(
                    f"sealbatch demo: error: batch {r.batch_id}: the exchange refused it: {exc}",
                    file=sys.stderr,
                )
                return 1
            except TransactionTooLarge as exc:
                # An anchor no chain enforcing EIP-7825 would take is a failure, not a result.
                print(f"sealbatch demo: error: batch {r.batch_id} cannot be anchored: {exc}")
                return 1
            except SealbatchError as exc:
                # Checked before any transaction (e.g. a public table the contract cannot
                # derive yet): this batch and the later ones stay unanchored.
                print(f"  not anchored on L1: {exc}")
                args.no_anchor = True
            if l1.exchange is not None and not l1.announced:
                l1.announced = True
                print(
                    f"  exchange deployed at {l1.exchange.address} with "
                    f"{len(l1.exchange.verifiers)} batch verifier(s), one per batch shape, in "
                    f"{l1.deploy_s:.1f} s"
                )
            if anchored is not None:
                print(
                    f"  anchored on L1: tx {anchored.tx[:18]}… block {anchored.block}, "
                    f"{anchored.gas_used} gas, {anchored.seconds:.1f} s; root "
                    f"0x{anchored.post_root.hex()}"
                )
        if out is not None:
            try:
                _write_batch(out, b, settle_cfg, oracle_cfg, proof)
                if anchored is not None:
                    folder = out / f"batch-{r.batch_id}"
                    text = json.dumps(anchored.to_json(), indent=1, sort_keys=True) + "\n"
                    (folder / ANCHOR_FILE).write_text(text, encoding="utf-8")
            except OSError as exc:
                print(f"sealbatch demo: error: --out: cannot write {out}: {exc}", file=sys.stderr)
                return 2
    if out is not None:
        print(f"\nwrote {config.batches} batch folders to {out}")
    return 0
