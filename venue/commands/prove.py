"""``sealbatch prove BATCH_DIR -o PROOF.bin`` and ``sealbatch prove --air NAME --rows N``.

The first proves a published batch folder (docs/formats.md) with the batch
AIR, from the folder alone; the second proves a registered demonstration AIR
on an honest trace. Exit status: 0 written; 1 the prover refuses the batch
(it does not satisfy the batch statement; the reason on stderr); 2 bad
usage, or a missing or malformed file.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sealbatch.venue.commands.output_dirs import parent_folder_problem

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "prove",
        help="prove a published batch (or a registered AIR on an honest trace)",
        description="Prove BATCH_DIR (a batch-<n>/ folder of sealbatch demo --out or serve "
        "--publish) with the batch AIR and write the proof; or, with --air NAME --rows N, "
        "generate an honest trace of N rows for a registered AIR (fibonacci, wide, "
        "range_check, poseidon2, ...; an unknown name lists them) and prove it.",
    )
    p.add_argument(
        "batch", metavar="BATCH_DIR", nargs="?", help="a published batch folder to prove"
    )
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
        help=(
            "start from the L1 options for N rows (blowup 32, 16 queries up to 2^13 rows; "
            "blowup 16, 20 queries up to 2^18)"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"sealbatch prove: error: {message}", file=sys.stderr)
    return 2


def _output_problem(output: str) -> str | None:
    """Why the proof cannot be written to ``output``, found before minutes of proving."""
    path = Path(output)
    if path.is_dir():
        return f"-o: expected a file, got the directory {path}"
    problem = parent_folder_problem(path, makes_parents=False)
    return None if problem is None else f"-o: {problem}"


def _write_proof(output: str, data: bytes) -> str | None:
    """Write ``data`` to ``output`` whole or not at all; what went wrong, or None.

    The bytes go to a temporary file beside ``output``, flushed to disk, then renamed
    over it: an interrupted write never leaves a truncated proof under the name (nor
    destroys the proof that was there).
    """
    path = Path(output)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        return f"cannot write {output}: {exc.strerror or exc}"
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        return f"cannot write {output}: {exc.strerror or exc}"
    return None


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sealbatch.crypto.air import ConstraintViolation
    from sealbatch.crypto.airs import UnknownAir, get_air
    from sealbatch.crypto.options import DEFAULT_OPTIONS, l1_options
    from sealbatch.crypto.prover import prove
    from sealbatch.crypto.security import estimate_security

    if args.batch is not None:
        return _prove_batch(args)
    if args.air is None or args.rows is None:
        return _fail("expected --air NAME and --rows N")
    if args.output is None:
        return _fail("expected -o PROOF.bin")
    problem = _output_problem(args.output)
    if problem:
        return _fail(problem)
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
    problem = _write_proof(args.output, data)
    if problem:
        return _fail(problem)
    report = estimate_security(options, rows, air.max_degree(), air.num_constraints)
    print(
        f"wrote {args.output}: AIR {air.name}, {rows} rows × {air.num_main_columns} columns, "
        f"{len(data)} bytes, {report.conjectured} conjectured bits ({report.proven} proven), "
        f"{time.perf_counter() - started:.2f} s"
    )
    return 0


def _prove_batch(args: argparse.Namespace) -> int:
    """``prove BATCH_DIR -o PROOF.bin``: the batch AIR's options are fixed (the verifier
    pins them), so the option flags and --air/--rows do not apply."""
    from sealbatch.crypto.exceptions import CryptoError
    from sealbatch.settlement.batch_proof import prove_files
    from sealbatch.settlement.errors import SettlementError
    from sealbatch.venue.commands.verify import UnreadableBatch, read_batch_folder

    if args.output is None:
        return _fail("expected -o PROOF.bin")
    given = [
        f"--{name}"
        for name in ("air", "rows", "columns", "blowup", "queries", "grinding", "folding")
        if getattr(args, name) is not None
    ] + (["--l1"] if args.l1 else [])
    if given:
        return _fail(f"a batch is proved with the batch AIR's own options: drop {given[0]}")
    problem = _output_problem(args.output)
    if problem:
        return _fail(problem)
    folder = Path(args.batch)
    try:
        files = read_batch_folder(folder)
    except UnreadableBatch as exc:
        return _fail(str(exc))
    started = time.perf_counter()

    def progress(stage: str) -> None:
        if not args.quiet:
            elapsed = time.perf_counter() - started
            print(f"proving {folder.name}: {stage} ({elapsed:.1f} s)", file=sys.stderr, flush=True)

    try:
        data = prove_files(files, progress=progress)
    except (SettlementError, CryptoError) as exc:
        # The files are malformed or do not satisfy the batch statement: nothing to prove.
        print(f"sealbatch prove: batch rejected: {exc}", file=sys.stderr)
        return 1
    problem = _write_proof(args.output, data)
    if problem:
        return _fail(problem)
    print(
        f"wrote {args.output}: batch proof of {folder}, {len(data)} bytes, "
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
