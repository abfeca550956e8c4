"""Benchmark: gas to verify one STARK proof on the EVM, in one transaction, calldata included.

For each demonstration AIR (fibonacci, wide, range_check, poseidon2) and each
trace length from ``2^12`` to ``2^16`` rows, a proof is made with the L1
options (:func:`sealbatch.crypto.options.l1_options`), checked by the Python
verifier, and verified on chain by ``StarkVerifier.verify`` in a mined
transaction. ``gas`` is that transaction's ``gasUsed`` (21 000 base,
calldata, execution); ``calldata_gas`` the calldata's intrinsic cost (16 per
non-zero byte, 4 per zero byte, EIP-2028). The table also splits the
execution as measured inside the contract (``verifyWithGasReport``):
transcript and parsing, constraint evaluation at z, Merkle openings (trace,
composition, FRI layers), DEEP composition, FRI folding; ``other`` is the
rest (ABI decoding, the call into the evaluator, memory).

``--batch BATCH_DIR`` measures a real batch proof (the batch AIR) of a
published batch folder (``sealbatch demo --out DIR`` writes them, with
``proof.bin``; without one the folder is proved first): the program's bytes
and its deployment gas (data contracts, evaluator, verifier: in all, and the
largest single transaction, which must fit the 2^24 cap too), then one
``verifyWithTables`` transaction with its split, the public tables' LogUp
sum included, and the per-unit costs (gas per constraint, per instruction,
per frame entry and query, per query).

``--exchange`` measures the exchange contract (``contracts/src/Exchange.sol``: its
deployment, two markets)
instead: each user operation (deposit with its approval: ``deposit`` from an
account that opens one of the exchange's ``accountCapacity``, ``deposit_again`` from
one that deposited before; forced-withdrawal request, withdrawal, freeze, escape at
two tree depths, deposit reclaim) and
anchoring a batch with the test AIR of ``tests/contracts/statement_air.py``
(the batch proof's public inputs and the tables the exchange derives, a tiny
proof): ``anchor`` is the whole transaction, ``anchor_overhead`` that minus
the same proof's verification alone — what the exchange adds to a batch
proof's own verification gas. ``--exchange --batch BATCH_DIR`` anchors the
real batch proof of a published batch instead (one without orders, forfeits
or adjustments: docs/contracts.md, "Limits"): the exchange and its batch verifier
deployed for the batch's shape, the ``anchor`` transaction, and the same
proof's ``verifyWithTables`` alone.

``--venue-shapes DEPTH`` deploys the exchange a new venue deploys (one batch verifier per
shape of its account tree up to ``DEPTH``, ``venue/l1.py`` ``venue_shapes``) and reports
the verifiers' count, the deployment's gas summed over its transactions, the largest of
them, and the wall seconds (program compilation included).

Usage::

    python bench/gas.py                          # table, 2^12 .. 2^16, every AIR
    python bench/gas.py --json   # {"rows": [{"air", "rows", "proof_bytes", "gas", "calldata_gas"}]}
    python bench/gas.py --air poseidon2 --min-log 12 --max-log 12
    python bench/gas.py --url http://127.0.0.1:8545   # any JSON-RPC node (Prague rules)
    python bench/gas.py --exchange [--json]      # {"exchange": {"deposit": gas, ...}}
    python bench/gas.py --batch BATCH_DIR [--json]   # {"batch": {"gas", "calldata_gas", ...}}
    python bench/gas.py --exchange --batch BATCH_DIR [--json]  # {"exchange_batch": {...}}
    python bench/gas.py --venue-shapes 4 [--json]  # {"venue_shapes": {"verifiers", "gas", ...}}

Without ``--url`` the embedded chain (eth-tester on py-evm) runs the
transactions: the same gas, more slowly.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from sealbatch.crypto.airs import get_air
from sealbatch.crypto.options import l1_options
from sealbatch.crypto.prover import prove
from sealbatch.crypto.verifier import verify
from sealbatch.settlement.anchor import Chain, calldata_gas, deploy_verifier

AIRS = ("fibonacci", "wide", "range_check", "poseidon2")
#: EIP-7825's cap on one transaction's gas.
TX_GAS_CAP = 1 << 24


@dataclass(frozen=True)
class GasRow:
    """One measurement: the JSON fields, then the split shown in the table."""

    air: str
    rows: int
    proof_bytes: int
    gas: int
    calldata_gas: int
    transcript_gas: int
    constraints_gas: int
    merkle_gas: int
    deep_gas: int
    fri_gas: int

    @property
    def other_gas(self) -> int:
        inside = (
            self.transcript_gas
            + self.constraints_gas
            + self.merkle_gas
            + self.deep_gas
            + self.fri_gas
        )
        return self.gas - 21_000 - self.calldata_gas - inside

    def public(self) -> dict[str, int | str]:
        """The ``--json`` fields."""
        full = asdict(self)
        return {k: full[k] for k in ("air", "rows", "proof_bytes", "gas", "calldata_gas")}


def measure(chain: Chain, air_name: str, rows: int) -> GasRow:
    """Prove ``air_name`` at ``rows`` rows with the L1 options and verify it on chain."""
    entry = get_air(air_name)
    trace, pubs = entry.generate(rows)
    air = entry.build(rows, pubs)
    options = l1_options(rows)
    data = prove(air, trace, options).to_bytes()
    verify(data)
    verifier = deploy_verifier(chain, air, options)
    split = verifier.gas_report(pubs, data)
    receipt = verifier.verify_transaction(pubs, data)
    return GasRow(
        air=air_name,
        rows=rows,
        proof_bytes=len(data),
        gas=receipt.gas_used,
        calldata_gas=calldata_gas(receipt.input_data),
        transcript_gas=split[0],
        constraints_gas=split[1],
        merkle_gas=split[2],
        deep_gas=split[3],
        fri_gas=split[4],
    )


def measure_batch(chain: Chain, batch_dir: Path) -> dict[str, int]:
    """Deploy the verifier of the batch in ``batch_dir`` and verify its proof in a transaction."""
    from sealbatch.crypto.solidity import compile_constraints
    from sealbatch.settlement.anchor_batch import (
        batch_calldata,
        deploy_batch_verifier,
        verify_batch_transaction,
    )
    from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
    from sealbatch.settlement.batch_air.statement import read_batch_dir, statement_from_files
    from sealbatch.settlement.batch_proof import prove_files, verify_files

    files = read_batch_dir(batch_dir)
    statement = statement_from_files(files)
    path = batch_dir / "proof.bin"
    data = path.read_bytes() if path.exists() else prove_files(files)
    verify_files(data, files)
    rows = rows_for(statement)
    air, _ = build_with_layout(rows, statement)
    program = compile_constraints(air)
    first = chain.w3.eth.block_number
    verifier = deploy_batch_verifier(chain, statement)
    last = chain.w3.eth.block_number
    deploy_txs = [int(chain.w3.eth.get_block(b)["gasUsed"]) for b in range(first + 1, last + 1)]
    call = batch_calldata(statement)
    split = verifier.gas_report(call.public_inputs, data, call.tables)
    receipt = verify_batch_transaction(verifier, data, statement)
    queries = verifier.options.num_queries
    frame = len(program.frame)
    return {
        "rows": rows,
        "main_columns": air.num_main_columns,
        "aux_columns": air.num_aux_columns,
        "constraints": program.num_constraints,
        "instructions": program.num_instructions,
        "frame_entries": frame,
        "queries": queries,
        "program_bytes": len(program.code),
        "deploy_gas": sum(deploy_txs),
        "deploy_max_tx_gas": max(deploy_txs),
        "proof_bytes": len(data),
        "tables_bytes": len(call.tables),
        "gas": receipt.gas_used,
        "calldata_gas": calldata_gas(receipt.input_data),
        "transcript_gas": split[0],
        "constraints_gas": split[1],
        "merkle_gas": split[2],
        "deep_gas": split[3],
        "fri_gas": split[4],
        "tables_gas": split[5],
        "gas_per_constraint": split[1] // program.num_constraints,
        "gas_per_instruction": split[1] // program.num_instructions,
        "deep_gas_per_entry_query": split[3] // (frame * queries),
        "merkle_gas_per_query": split[2] // queries,
    }


def _table(rows: list[GasRow]) -> str:
    head = (
        f"{'air':<12} {'rows':>6} {'proof B':>8} {'gas':>10} {'calldata':>9} {'transcr.':>9} "
        f"{'constr.':>9} {'merkle':>9} {'deep':>9} {'fri':>9} {'other':>8} {'< 2^24':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.air:<12} {'2^' + str(r.rows.bit_length() - 1):>6} {r.proof_bytes:>8} "
            f"{r.gas:>10,} {r.calldata_gas:>9,} {r.transcript_gas:>9,} {r.constraints_gas:>9,} "
            f"{r.merkle_gas:>9,} {r.deep_gas:>9,} {r.fri_gas:>9,} {r.other_gas:>8,} "
            f"{'yes' if r.gas < TX_GAS_CAP else 'NO':>6}"
        )
    return "\n".join(lines)


def measure_exchange(chain: Chain) -> dict[str, int]:
    """Gas of every exchange operation (see the module docstring)."""
    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # the test AIR and harness live under tests/
    from sealbatch.settlement.l1_statement import L1Withdrawal
    from sealbatch.settlement.ledger import AccountKey, open_accounts
    from tests.contracts.exchange_harness import (
        FORCED_DELAY_S,
        Harness,
        with_trade,
    )

    h = Harness.deploy(chain)
    t0, t1, t2, _ = h.traders
    out: dict[str, int] = {"deploy_exchange": _creation_gas(chain, h.ex.address)}
    h.ex.deposit(t0, 5_000_000_000)
    h.chain.transact(h.ex.token, "approve", h.ex.address, 10**9, sender=t1)
    out["deposit"] = h.chain.transact(h.ex.exchange, "deposit", 0, 10**9, sender=t1).gas_used
    h.chain.transact(h.ex.token, "approve", h.ex.address, 10**9, sender=t1)
    again = h.chain.transact(h.ex.exchange, "deposit", 0, 10**9, sender=t1)
    out["deposit_again"] = again.gas_used
    post = h.next_state(h.apply_queue(h.state, h.ex.queue_length()))
    statement = h.statement(post)
    proof = h.prove(statement)
    pi = h.ex.derive_public_inputs(statement)
    verify_gas = h.verifier.verify_transaction(pi, proof, h.ex.tables_for(statement)).gas_used
    out["anchor"] = h.ex.anchor(statement, proof).gas_used
    out["anchor_overhead"] = out["anchor"] - verify_gas
    h.state = post
    # batch 1: a trade, a withdrawal paid, and (to deepen the tree) 1 022 more accounts
    keys = [AccountKey(t0, 0), AccountKey(t1, 0)]
    traded = with_trade(h.state, keys[0], keys[1], 10, 50_000, 50_500)
    many = open_accounts(traded, [AccountKey(t2, s) for s in range(1, 1023)], [1] * 1022)
    collateral = many.collateral.copy()
    collateral[many.row(keys[0])] -= 1_000_000
    h.anchor(many.with_arrays(collateral=collateral), withdrawals=(L1Withdrawal(t0, 0, 10**6),))
    out["withdraw"] = h.ex.withdraw(t0, 10**6).gas_used
    out["request_forced_withdrawal"] = h.ex.request_forced_withdrawal(t1, 1_000).gas_used
    h.ex.deposit(t2, 1_000)
    h.chain.advance_time(FORCED_DELAY_S + 1)
    out["freeze"] = h.ex.freeze(h.ex.queue_length() - 2).gas_used
    from sealbatch.settlement.roots import account_proof

    out["escape_1024_accounts"] = h.ex.escape(account_proof(h.state, keys[0])).gas_used
    out["reclaim_deposit"] = h.ex.reclaim_deposit(h.ex.queue_length() - 1).gas_used
    return out


def _creation_gas(chain: Chain, address: str) -> int:
    """Gas of the transaction that created the contract at ``address`` (searched backwards
    from the latest block)."""
    for number in range(int(chain.w3.eth.block_number), -1, -1):
        for tx in chain.w3.eth.get_block(number)["transactions"]:
            receipt = chain.w3.eth.get_transaction_receipt(tx)
            if receipt["contractAddress"] == address:
                return int(receipt["gasUsed"])
    raise RuntimeError(f"expected a creation transaction for {address}")


def measure_exchange_batch(chain: Chain, batch_dir: Path) -> dict[str, int]:
    """Deploy the exchange for the batch in ``batch_dir`` and anchor its real proof."""
    from sealbatch.settlement.anchor_batch import batch_calldata
    from sealbatch.settlement.anchor_exchange import deploy_exchange
    from sealbatch.settlement.batch_air.statement import read_batch_dir, statement_from_files
    from sealbatch.settlement.batch_proof import prove_files

    files = read_batch_dir(batch_dir)
    path = batch_dir / "proof.bin"
    data = path.read_bytes() if path.exists() else prove_files(files)
    first = chain.w3.eth.block_number
    ex = deploy_exchange(chain, files)  # the oracle rules of the batch's oracle.json
    last = chain.w3.eth.block_number
    deploy_gas = sum(int(chain.w3.eth.get_block(b)["gasUsed"]) for b in range(first + 1, last + 1))
    if ex.verifier is None:
        raise RuntimeError("expected deploy_exchange to deploy the batch verifier")
    call = batch_calldata(statement_from_files(files))
    verify_gas = ex.verifier.verify_transaction(call.public_inputs, data, call.tables).gas_used
    receipt = ex.anchor(files, data)
    return {
        "proof_bytes": len(data),
        "deploy_gas": deploy_gas,
        "verify_gas": verify_gas,
        "anchor": receipt.gas_used,
        "anchor_overhead": receipt.gas_used - verify_gas,
        "anchor_calldata_gas": calldata_gas(receipt.input_data),
    }


def measure_venue_shapes(chain: Chain, depth: int) -> dict[str, int]:
    """Deploy a new venue's exchange with its verifiers up to ``depth`` (see the docstring)."""
    import time

    from sealbatch.settlement.anchor_exchange import deploy_exchange
    from sealbatch.venue.l1 import venue_shapes

    started = time.perf_counter()
    first = int(chain.w3.eth.block_number)
    shapes = venue_shapes(("BTC-PERP", "ETH-PERP"), depth)
    ex = deploy_exchange(chain, shapes[0], shapes=shapes[1:], first_batch_id=0)
    last = int(chain.w3.eth.block_number)
    used = [
        int(chain.w3.eth.get_transaction_receipt(tx)["gasUsed"])
        for n in range(first + 1, last + 1)
        for tx in chain.w3.eth.get_block(n)["transactions"]
    ]
    return {
        "verifiers": len(ex.verifiers),
        "gas": sum(used),
        "transactions": len(used),
        "largest_transaction": max(used),
        "seconds": round(time.perf_counter() - started),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--air", action="append", choices=AIRS, help="AIR(s) to measure")
    parser.add_argument("--min-log", type=int, default=12, help="smallest log2(rows)")
    parser.add_argument("--max-log", type=int, default=16, help="largest log2(rows)")
    parser.add_argument("--url", help="JSON-RPC node (default: the embedded py-evm chain)")
    parser.add_argument("--json", action="store_true", help="print the JSON object only")
    parser.add_argument("--exchange", action="store_true", help="the exchange's operations")
    parser.add_argument("--batch", type=Path, help="a published batch folder: its proof's gas")
    parser.add_argument(
        "--venue-shapes", type=int, metavar="DEPTH", help="a venue's exchange, verifiers to DEPTH"
    )
    args = parser.parse_args(argv)
    if args.venue_shapes is not None:
        figures = measure_venue_shapes(Chain(args.url), args.venue_shapes)
        if args.json:
            print(json.dumps({"venue_shapes": figures}))
        else:
            for name, value in figures.items():
                print(f"{name:<28} {value:>12,}")
        return 0
    if args.batch is not None and args.exchange:
        figures = measure_exchange_batch(Chain(args.url), args.batch)
        if args.json:
            print(json.dumps({"exchange_batch": figures}))
        else:
            for name, value in figures.items():
                print(f"{name:<28} {value:>12,}")
        return 0
    if args.batch is not None:
        figures = measure_batch(Chain(args.url), args.batch)
        if args.json:
            print(json.dumps({"batch": figures}))
        else:
            for name, value in figures.items():
                print(f"{name:<28} {value:>12,}")
        return 0
    if args.exchange:
        ops = measure_exchange(Chain(args.url))
        if args.json:
            print(json.dumps({"exchange": ops}))
        else:
            for name, gas in ops.items():
                print(f"{name:<28} {gas:>12,}")
        return 0
    if not 3 <= args.min_log <= args.max_log <= 20:
        parser.error(f"expected 3 <= min-log <= max-log <= 20, got {args.min_log}, {args.max_log}")
    chain = Chain(args.url)
    results = []
    for name in args.air or AIRS:
        for log_rows in range(args.min_log, args.max_log + 1):
            row = measure(chain, name, 1 << log_rows)
            results.append(row)
            if not args.json:
                print(f"measured {name} 2^{log_rows}: {row.gas:,} gas", file=sys.stderr)
    if args.json:
        print(json.dumps({"rows": [r.public() for r in results]}))
    else:
        print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
