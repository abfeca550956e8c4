"""Prove a published batch with the batch AIR (the prover's side; verify in
:mod:`sealbatch.settlement.batch_verify`, re-exported here).

``sealbatch prove BATCH_DIR`` works from the folder alone: the statement and
the witness both come from the published files (docs/formats.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from sealbatch.crypto.options import ProofOptions
from sealbatch.crypto.prover import prove
from sealbatch.settlement.batch_air.air import rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import read_batch_dir, statement_from_files
from sealbatch.settlement.batch_verify import (
    BATCH_AIR_NAME,
    batch_options,
    verify_batch_dir,
    verify_files,
    verify_publication,
)
from sealbatch.settlement.oracle import OracleConfig
from sealbatch.settlement.params import SettlementConfig
from sealbatch.settlement.publication import BatchPublication

__all__ = [
    "BATCH_AIR_NAME",
    "prove_batch_dir",
    "prove_files",
    "prove_publication",
    "verify_batch_dir",
    "verify_files",
    "verify_publication",
]

Progress = Callable[[str], None]


def prove_files(
    files: Mapping[str, str],
    *,
    progress: Progress | None = None,
    options: ProofOptions | None = None,
) -> bytes:
    """Prove a batch from its folder's file texts; returns the proof bytes.

    Args:
        files: file name → text, as :data:`~sealbatch.settlement.publication.BATCH_FILES`.
        progress: called with each proving stage's name as it ends.
        options: proof options; the verifier accepts only :func:`batch_options`
            (other options are for experiments).

    Raises:
        BatchStatementError: the files are malformed or break the batch statement.
    """
    statement = statement_from_files(files)
    rows = rows_for(statement)
    air, trace = generate(statement, rows)
    if progress is not None:
        progress("trace")
    proof = prove(air, trace, options or batch_options(rows), progress=progress)
    return proof.to_bytes()


def prove_publication(
    pub: BatchPublication,
    config: SettlementConfig,
    oracle: OracleConfig,
    *,
    progress: Progress | None = None,
    options: ProofOptions | None = None,
) -> bytes:
    """Prove a settled batch as it is published (see :func:`prove_files`)."""
    return prove_files(pub.files(config, oracle), progress=progress, options=options)


def prove_batch_dir(batch_dir: Path, *, progress: Progress | None = None) -> bytes:
    """Prove the published folder ``batch_dir`` (see :func:`prove_files`).

    Raises:
        BatchStatementError: a missing or malformed file, or a broken statement.
    """
    return prove_files(read_batch_dir(batch_dir), progress=progress)
