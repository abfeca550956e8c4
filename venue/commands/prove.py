"""``sealbatch prove --air NAME --rows N -o PROOF.bin`` (and, later, ``prove BATCH.json``)."""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from collections.abc import Callable

__all__ = ["BATCH_NOT_AVAILABLE", "register"]

BATCH_NOT_AVAILABLE = "batch proofs are not available yet: use --air NAME --rows N"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "prove",
        help="prove a registered AIR on an honest trace (a batch, later)",
        description="Generate an honest trace of N rows for a registered AIR (fibonacci, wide, "
        "range_check, poseidon2, ...; an unknown name lists them), prove it with a STARK and "
        "write the proof.",
    )
    p.add_argument("batch", metavar="BATCH.json", nargs="?", help="a batch to prove (not yet)")
    p.add_argument("--air", metavar="NAME", help="registered AIR to prove")
    p.add_argument("--rows", metavar="N", type=int, help="trace length, a power of two >= 8")
    p.add_argument("--columns", metavar="C", type=int, help="column count (the wide AIR only)")
    p.add_argument("-o", "--output", metavar="PROOF.bin", help="where to write the proof")
    p.add_argument("--blowup", type=int, help="LDE blowup factor (default 8)")
    p.add_argument("--queries", type=int, help="FRI queries (default 30)")
    p.add_argument("--grinding", type=int, help="proof-of-work bits (default 16)")
    p.add_argument("--folding", type=int, help="FRI folding factor (default 8)")
    p.add_argument(
        "--l1",
        action="store_true",
        help="start from the L1 options for N rows (blowup 16, 21 queries up to 2^18 rows)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"sealbatch prove: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sealbatch.crypto.air import ConstraintViolation
    from sealbatch.crypto.airs import UnknownAir, get_air
    from sealbatch.crypto.options import DEFAULT_OPTIONS, l1_options
    from sealbatch.crypto.prover import prove
    from sealbatch.crypto.security import estimate_security

    if args.batch is not None:
        return _fail(BATCH_NOT_AVAILABLE)
    if args.air is None or args.rows is None:
        return _fail("expected --air NAME and --rows N")
    if args.output is None:
        return _fail("expected -o PROOF.bin")
    try:
        entry = get_air(args.air)
    except UnknownAir as exc:
        return _fail(str(exc))
    rows = args.rows
    if rows < 8 or rows & (rows - 1) or rows > 1 << 24:
        return _fail(f"--rows: expected a power of two in [8, 2^24], got {rows}")
    overrides = {
        "blowup": args.blowup,
        "num_queries": args.queries,
        "grinding_bits": args.grinding,
        "folding_factor": args.folding,
    }
    try:
        base = l1_options(rows) if args.l1 else DEFAULT_OPTIONS
        options = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        return _fail(str(exc))
    params = {}
    if args.columns is not None:
        if "columns" not in inspect.signature(entry.generate).parameters:
            return _fail(f"--columns: AIR {args.air!r} has a fixed width")
        params["columns"] = args.columns

    started = time.perf_counter()
    try:
        trace, public_inputs = entry.generate(rows, **params)
        air = entry.build(rows, public_inputs)
        with _Progress(args.quiet, 11 + bool(air.num_aux_columns)) as progress:
            proof = prove(air, trace, options, progress=progress)
    except ConstraintViolation as exc:
        print(f"sealbatch prove: trace rejected: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        return _fail(str(exc))
    data = proof.to_bytes()
    try:
        with open(args.output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc}")
    report = estimate_security(options, rows, air.max_degree())
    print(
        f"wrote {args.output}: AIR {air.name}, {rows} rows × {air.num_main_columns} columns, "
        f"{len(data)} bytes, {report.conjectured} conjectured bits ({report.proven} proven), "
        f"{time.perf_counter() - started:.2f} s"
    )
    return 0


class _Progress:
    """A tqdm bar over the prover's stages on stderr, off when not a TTY or with --quiet."""

    def __init__(self, quiet: bool, stages: int) -> None:
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=stages, desc="proving", unit="stage", file=sys.stderr)

    def __enter__(self) -> Callable[[str], None] | None:
        bar = self.bar
        if bar is None:
            return None

        def step(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        return step

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
