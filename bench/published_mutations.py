"""Mutate a published batch folder one value at a time; count what the tools do with it.

Every JSON value of the folder's files (lists: their first and last entries) is
replaced in turn by ``"x"``, ``null``, ``[]``, ``{}``, ``-1``, ``2^70``, ``1.5``,
``true``, ``"0xzz"``, or removed; every cell of orders.csv's first two rows by
``x``, ``-1``, an empty cell, ``10^21``, ``1.5``, ``true``, ``0xzz``. Each folder goes
through ``sealbatch verify --public`` (with a junk proof: the statement is derived
first) and ``sealbatch replay``; the run prints how many mutations each tool met
with each exit code, and every Python exception that escaped the tool (a crash:
the readers should have named the value), grouped by where it was raised.

    sealbatch demo --batches 3 --no-prove --out /tmp/demo
    python bench/published_mutations.py /tmp/demo/batch-3 [--limit N]

Slow: every mutation that passes the readers replays the batch (~0.2 s each).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the edits live under tests/

from sealbatch.crypto.proof import MAGIC
from sealbatch.venue.cli import main
from tests.venue.published_mutation import DELETE, set_csv, set_json

VALUES: tuple[Any, ...] = ("x", None, [], {}, -1, 2**70, 1.5, True, "0xzz", DELETE)
CELLS = ("x", "-1", "", "1" + "0" * 21, "1.5", "true", "0xzz")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i in sorted({0, len(node) - 1} if node else set()):
            yield (*prefix, i)
            yield from _paths(node[i], (*prefix, i))


def mutations(files: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """``(file, what, mutated text)`` for every single-value mutation of ``files``."""
    for name, text in sorted(files.items()):
        if name.endswith(".json"):
            for path in _paths(json.loads(text)):
                for value in VALUES:
                    yield name, f"{path}={value!r}", set_json(text, path, value)
        elif name.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(text)))
            for r in range(1, min(len(rows), 3)):
                for column in rows[0]:
                    for cell in CELLS:
                        yield name, f"row {r} {column}={cell!r}", set_csv(text, r, column, cell)


def run(folder: Path, limit: int | None) -> None:
    files = {p.name: p.read_text() for p in folder.iterdir() if p.suffix in (".json", ".csv")}
    codes: dict[str, Counter[int]] = {"verify": Counter(), "replay": Counter()}
    crashes: Counter[tuple[str, str, str]] = Counter()
    examples: dict[tuple[str, str, str], str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work, proof = Path(tmp) / folder.name, Path(tmp) / "proof.bin"
        work.mkdir()
        proof.write_bytes(MAGIC + b"\0" * 64)
        for n, (name, what, text) in enumerate(mutations(files)):
            if limit is not None and n >= limit:
                break
            for f, t in {**files, name: text}.items():
                (work / f).write_text(t)
            for tool, argv in (
                ("verify", ["verify", str(proof), "--public", str(work)]),
                ("replay", ["replay", str(work)]),
            ):
                try:
                    with (
                        contextlib.redirect_stdout(io.StringIO()),
                        contextlib.redirect_stderr(io.StringIO()),
                    ):
                        codes[tool][main(argv)] += 1
                except Exception as exc:  # a crash is what this run counts
                    frame = traceback.extract_tb(exc.__traceback__)[-1]
                    key = (tool, type(exc).__name__, f"{Path(frame.filename).name}:{frame.lineno}")
                    crashes[key] += 1
                    examples.setdefault(key, f"{name} {what}: {exc}"[:160])
    total = sum(codes["verify"].values()) + sum(k[0] == "verify" for k in crashes.elements())
    print(f"{folder}: {total} mutations")
    for tool, counter in codes.items():
        print(f"  {tool}: exit codes {dict(sorted(counter.items()))}")
    print(f"  crashes: {sum(crashes.values())}")
    for key, count in crashes.most_common():
        print(f"    {count} {key} e.g. {examples[key]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a published batch-<n>/ folder")
    parser.add_argument("--limit", type=int, default=None, help="the first N mutations only")
    args = parser.parse_args()
    run(args.folder, args.limit)
