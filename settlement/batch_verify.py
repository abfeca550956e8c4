"""Verify a batch proof against a published batch (the verifier's side).

The verifier derives the whole statement from the published files
(:func:`~sealbatch.settlement.batch_air.statement.statement_from_files`):
public inputs, public tables and the trace length. It pins the AIR
(``sealbatch_batch``), the row count and the proof options
(:func:`batch_options`), so a proof cannot choose its own statement, shape or
security. Never imports the prover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.options import ProofOptions, l1_options
from sealbatch.crypto.proof import StarkProof
from sealbatch.crypto.security import SecurityReport
from sealbatch.crypto.verifier import verify_proof
from sealbatch.settlement.batch_air.air import NAME, build, rows_for
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
    read_batch_dir,
    statement_from_files,
)
from sealbatch.settlement.errors import BatchStatementError
from sealbatch.settlement.oracle import OracleConfig
from sealbatch.settlement.params import SettlementConfig
from sealbatch.settlement.publication import BatchPublication

__all__ = [
    "BATCH_AIR_NAME",
    "batch_options",
    "describe_public_input",
    "verify_batch_dir",
    "verify_files",
    "verify_publication",
    "verify_statement",
]

#: The batch AIR's name in proofs.
BATCH_AIR_NAME = NAME


def batch_options(num_rows: int) -> ProofOptions:
    """The options every batch proof uses: the L1 options for its row count."""
    return l1_options(num_rows)


def verify_statement(proof: bytes, statement: BatchStatement) -> SecurityReport:
    """Verify ``proof`` for a derived statement.

    Raises:
        VerificationError: the proof is malformed, for another AIR, shape,
            options or statement, or any check fails; the message says which.
    """
    parsed = StarkProof.from_bytes(proof)
    if parsed.air_name != BATCH_AIR_NAME:
        raise VerificationError(
            f"expected a proof for AIR {BATCH_AIR_NAME!r}, got {parsed.air_name!r}"
        )
    rows = rows_for(statement)
    if parsed.num_rows != rows:
        raise VerificationError(f"expected a trace of {rows} rows, got {parsed.num_rows}")
    if parsed.options != batch_options(rows):
        raise VerificationError(
            f"expected the batch options {batch_options(rows)}, got {parsed.options}"
        )
    if parsed.public_inputs != statement.public_inputs:
        diff = next(
            (
                i
                for i, (a, b) in enumerate(
                    zip(parsed.public_inputs, statement.public_inputs, strict=False)
                )
                if a != b
            ),
            min(len(parsed.public_inputs), len(statement.public_inputs)),
        )
        raise VerificationError(
            f"the proof's public inputs differ from the published batch's (first at index "
            f"{diff}: {describe_public_input(diff, statement.markets)})"
        )
    return verify_proof(build(rows, statement), parsed)


#: The batch statement's header, ``(first index, end, what)`` (docs/stark.md, "Public inputs").
_HEADER_INPUTS = (
    (0, 3, "the batch id"),
    (3, 11, "the pre-state root (pre_state.json)"),
    (11, 19, "the post-state root (post_state.json)"),
    (19, 27, "the commitment root (result.json seed)"),
    (27, 35, "the inputs digest (oracle.json, transfers.json)"),
    (35, 43, "the outputs digest (result.json)"),
    (43, 44, "the number of markets"),
    (44, 45, "the number of commitments (revealed or forfeited)"),
)
#: Each market's 12 public inputs from index 45, by offset.
_MARKET_INPUTS = (
    "clearing price",
    *["funding index"] * 4,
    "mark price",
    "order count",
    "reference price",
    "index price",
    *["index time"] * 2,
    "oracle flag",
)


def describe_public_input(index: int, markets: Sequence[str]) -> str:
    """What public input ``index`` of a batch statement with ``markets`` (id order) is,
    in words, for an error message (docs/stark.md, "Public inputs")."""
    for start, end, what in _HEADER_INPUTS:
        if start <= index < end:
            return what
    j, k = divmod(index - PUBLIC_HEADER, PUBLIC_PER_MARKET)
    if j < len(markets):
        return f"{markets[j]} {_MARKET_INPUTS[k]}"
    first = PUBLIC_HEADER + PUBLIC_PER_MARKET * len(markets)
    return f"the settlement statement (pre_state.json, post_state.json; element {index - first})"


def verify_files(proof: bytes, files: Mapping[str, str]) -> SecurityReport:
    """Verify ``proof`` against a batch folder's file texts.

    Raises:
        VerificationError: the files give no statement (a missing, malformed or
            inconsistent file, naming it: the readers check every value where they read
            it), or the proof fails.
    """
    try:
        statement = statement_from_files(files)
    except BatchStatementError as exc:
        raise VerificationError(f"the published batch gives no statement: {exc}") from exc
    return verify_statement(proof, statement)


def verify_publication(
    proof: bytes, pub: BatchPublication, config: SettlementConfig, oracle: OracleConfig
) -> SecurityReport:
    """Verify ``proof`` against a batch as it would be published.

    Raises:
        VerificationError: see :func:`verify_files`.
    """
    return verify_files(proof, pub.files(config, oracle))


def verify_batch_dir(proof: bytes, batch_dir: Path) -> SecurityReport:
    """Verify ``proof`` against the published folder ``batch_dir``.

    Raises:
        VerificationError: a missing file, no statement, or a failed proof.
    """
    try:
        files = read_batch_dir(batch_dir)
    except BatchStatementError as exc:
        raise VerificationError(str(exc)) from exc
    return verify_files(proof, files)
