"""Benchmark: the batch AIR's Poseidon2 service with one permutation per row against two.

A batch of ``--orders`` orders from ``--accounts`` funded accounts in 2 markets (built
as :mod:`bench/batch_proof.py <batch_proof>` builds it) is proved twice from the same
statement in one process: with the one-slot layout on twice the rows (the baseline,
what every batch took before the second slot) and with the layout
:func:`~sealbatch.settlement.batch_air.air.rows_for` picks (two slots, half the rows,
where it applies). Each with the options the verifier pins for its row count
(:func:`~sealbatch.settlement.batch_verify.batch_options`). Printed per layout:
rows, main columns, prove CPU seconds on one core, proof bytes, peak RSS growth, and
the ratios two-slot / one-slot.

Usage::

    python bench/perm_slots.py [--orders 1000] [--accounts 1000] [--json]
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import time
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np

# the batch builder this benchmark shares (loaded by path: it edits sys.path itself)
_spec = importlib.util.spec_from_file_location("batch_proof", os.path.join(_HERE, "batch_proof.py"))
assert _spec is not None and _spec.loader is not None
_batch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_batch)

from sealbatch.crypto.prover import prove
from sealbatch.settlement.batch_air import air as batch_air
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement, statement_from_files
from sealbatch.settlement.batch_verify import batch_options


def _prove(statement: BatchStatement, rows: int) -> dict[str, Any]:
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.process_time()
    air, trace = generate(statement, rows)
    proof = prove(air, trace, batch_options(rows)).to_bytes()
    return {
        "rows": rows,
        "slots": batch_air.perm_slots(rows, statement),
        "main_columns": air.num_main_columns,
        "prove_s": round(time.process_time() - t, 2),
        "proof_bytes": len(proof),
        "peak_rss_growth_mb": round(
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        ),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    config = _batch._config()
    state = _batch.genesis(args.accounts, config)
    files, _ = _batch.next_batch(
        state, args.orders, config, _batch._oracle(), np.random.default_rng(1)
    )
    statement = statement_from_files(files)
    rows = batch_air.rows_for(statement)
    if batch_air.perm_slots(rows, statement) == 1:
        print(
            f"{args.orders} orders, {args.accounts} accounts: one slot at {rows} rows, "
            "nothing to compare",
            file=sys.stderr,
        )
        return 1
    # two slots first: the peak RSS only grows, and the one-slot trace is the larger
    two = _prove(statement, rows)
    one = _prove(statement, 2 * rows)
    ratio = {k: round(two[k] / one[k], 3) for k in ("prove_s", "proof_bytes")}
    doc = {
        "orders": args.orders,
        "accounts": args.accounts,
        "one_slot": one,
        "two_slots": two,
        "ratio": ratio,
    }
    if args.json:
        print(json.dumps(doc))
        return 0
    for name, row in (("one slot (baseline)", one), ("two slots", two)):
        print(
            f"{name:>20}: {row['rows']:>6} rows  {row['main_columns']} main columns  prove "
            f"{row['prove_s']:7.1f} s (one core)  proof {row['proof_bytes']:>7} bytes  "
            f"peak RSS +{row['peak_rss_growth_mb']} MB"
        )
    print(f"{'two / one':>20}: prove {ratio['prove_s']}  proof bytes {ratio['proof_bytes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
