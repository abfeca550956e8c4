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

Batch proofs (the batch AIR, ``orders`` 100 / 1 000 / 10 000) do not exist yet:
there is no row for them.

Usage::

    python bench/gas.py                          # table, 2^12 .. 2^16, every AIR
    python bench/gas.py --json   # {"rows": [{"air", "rows", "proof_bytes", "gas", "calldata_gas"}]}
    python bench/gas.py --air poseidon2 --min-log 12 --max-log 12
    python bench/gas.py --url http://127.0.0.1:8545   # any JSON-RPC node (Prague rules)

Without ``--url`` the embedded chain (eth-tester on py-evm) runs the
transactions: the same gas, more slowly.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--air", action="append", choices=AIRS, help="AIR(s) to measure")
    parser.add_argument("--min-log", type=int, default=12, help="smallest log2(rows)")
    parser.add_argument("--max-log", type=int, default=16, help="largest log2(rows)")
    parser.add_argument("--url", help="JSON-RPC node (default: the embedded py-evm chain)")
    parser.add_argument("--json", action="store_true", help="print the JSON object only")
    args = parser.parse_args(argv)
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
