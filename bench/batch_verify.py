"""Benchmark: where verifying a published batch's proof spends its time.

``verify_batch_dir`` does three things, timed here separately (best of
``--repeat`` runs, CPU seconds of this single-threaded process by default,
``--wall`` for the wall clock):

* ``statement_s`` — the statement derivation
  (:func:`~sealbatch.settlement.batch_air.statement.statement_from_files`):
  parsing the published files and replaying the batch to derive the public
  inputs and tables (an L1 contract gets these from its own state instead);
* ``air_s`` — building the batch AIR for that statement (its constraint DAG);
* ``stark_s`` — the STARK check proper (:func:`sealbatch.crypto.verifier.verify_proof`:
  transcript, out-of-domain check, Merkle openings, FRI).

``check_s = air_s + stark_s`` is what the issue's "verify the proof" target
(≤ 100 ms) is about; ``total_s`` adds the statement.

Usage::

    python bench/batch_verify.py [BATCH_DIR ...] [--repeat 5] [--wall] [--json]

Each ``BATCH_DIR`` is a published batch folder with its ``proof.bin``; with
none, ``sealbatch demo --out`` writes the demo's four proved batches into a
temporary folder first and all four are measured. ``--json`` prints
``{"batches": [{"batch", "rows", "proof_bytes", "statement_s", "air_s",
"stark_s", "check_s", "total_s"}]}``.
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys

# Run as a script, this file's directory comes first on sys.path, and bench/settlement.py
# would shadow the ``settlement`` package: drop that entry before importing the project.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sealbatch.crypto.proof import StarkProof
from sealbatch.crypto.verifier import verify_proof
from sealbatch.settlement.batch_air.air import build, rows_for
from sealbatch.settlement.batch_air.statement import read_batch_dir, statement_from_files


def measure(batch_dir: Path, repeat: int, clock: Callable[[], float]) -> dict[str, Any]:
    """Best-of-``repeat`` seconds of each verification stage for one published batch."""
    proof = (batch_dir / "proof.bin").read_bytes()
    files = read_batch_dir(batch_dir)
    best = {"statement_s": float("inf"), "air_s": float("inf"), "stark_s": float("inf")}
    rows = 0
    for _ in range(repeat):
        t0 = clock()
        statement = statement_from_files(files)
        t1 = clock()
        rows = rows_for(statement)
        air = build(rows, statement)
        t2 = clock()
        verify_proof(air, StarkProof.from_bytes(proof))
        t3 = clock()
        for key, value in zip(best, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            best[key] = min(best[key], value)
    out: dict[str, Any] = {"batch": batch_dir.name, "rows": rows, "proof_bytes": len(proof)}
    out.update({k: round(v, 4) for k, v in best.items()})
    out["check_s"] = round(best["air_s"] + best["stark_s"], 4)
    out["total_s"] = round(best["statement_s"] + best["air_s"] + best["stark_s"], 4)
    return out


def demo_batches(out: Path) -> list[Path]:
    """Run ``sealbatch demo --out`` (which proves every batch) and list its batch folders."""
    exe = shutil.which("sealbatch", path=os.path.dirname(sys.executable)) or "sealbatch"
    subprocess.run([exe, "demo", "--out", str(out)], check=True, capture_output=True)
    return sorted(p for p in out.iterdir() if (p / "proof.bin").exists())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("batch_dirs", nargs="*", type=Path, help="published batch folders")
    p.add_argument("--repeat", type=int, default=5, help="runs per batch (best is kept)")
    p.add_argument("--wall", action="store_true", help="wall-clock instead of CPU seconds")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error(f"expected --repeat of at least 1, got {args.repeat}")
    clock = time.perf_counter if args.wall else time.process_time
    with tempfile.TemporaryDirectory() as tmp:
        dirs = args.batch_dirs or demo_batches(Path(tmp))
        rows = [measure(d, args.repeat, clock) for d in dirs]
    if args.json:
        print(json.dumps({"batches": rows}))
        return 0
    unit = "wall" if args.wall else "CPU"
    print(f"best of {args.repeat}, {unit} ms: statement | AIR | STARK | check (AIR + STARK)")
    for r in rows:
        print(
            f"{r['batch']:>10}  {r['rows']:>6} rows  {r['proof_bytes']:>7} B  "
            f"{1e3 * r['statement_s']:7.1f} | {1e3 * r['air_s']:6.1f} | "
            f"{1e3 * r['stark_s']:6.1f} | {1e3 * r['check_s']:6.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
