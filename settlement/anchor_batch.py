"""The batch proof on L1: deploy a StarkVerifier for a batch's AIR, hand it the public tables.

The batch AIR (:mod:`sealbatch.settlement.batch_air`) has no checked-in
evaluator: its program is compiled from the AIR's expressions at deployment
(:func:`deploy_batch_verifier`, through
:func:`~sealbatch.settlement.anchor.deploy_program`), so it never goes stale as
the AIR changes. The bus's public tables (docs/stark.md, "The batch AIR") are
passed as calldata (:func:`batch_tables`) and the contract computes their
LogUp sum itself; the caller derives them from the published batch, exactly as
the Python verifier does (:func:`~sealbatch.settlement.batch_air.statement.statement_from_files`).

What one deployment covers (docs/contracts.md, "The batch verifier"): the
program depends on the trace length, the number of markets and, today, on
values of the settlement statement that the AIR writes as constants (the
state trees' depths and headers, the roots, the conservation target), so a
deployment verifies the batches whose AIR compiles to the same program
(``programHash``); :func:`deploy_batch_verifier` refuses nothing, the hash
check in :func:`verify_batch_on_chain` tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak

from sealbatch.crypto.solidity import compile_constraints, encode_tables
from sealbatch.settlement.anchor import (
    AnchorError,
    Chain,
    DeployedVerifier,
    Receipt,
    deploy_verifier,
)
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.batch_verify import batch_options

__all__ = [
    "BatchCalldata",
    "batch_calldata",
    "batch_program_hash",
    "batch_tables",
    "deploy_batch_verifier",
    "verify_batch_on_chain",
    "verify_batch_transaction",
]


@dataclass(frozen=True)
class BatchCalldata:
    """What ``verifyWithTables`` takes for one batch: public inputs and packed tables."""

    public_inputs: tuple[int, ...]
    tables: bytes
    program_hash: bytes


def batch_tables(statement: BatchStatement) -> bytes:
    """The batch AIR's public tables for ``statement``, packed for the contract."""
    _, layout = build_with_layout(rows_for(statement), statement)
    return encode_tables(layout.public_tables)


def batch_program_hash(statement: BatchStatement) -> bytes:
    """Keccak-256 of the constraint program of ``statement``'s batch AIR."""
    air, _ = build_with_layout(rows_for(statement), statement)
    return keccak(compile_constraints(air).code)


def batch_calldata(statement: BatchStatement) -> BatchCalldata:
    """Public inputs, packed public tables and program hash of ``statement``."""
    air, layout = build_with_layout(rows_for(statement), statement)
    return BatchCalldata(
        statement.public_inputs,
        encode_tables(layout.public_tables),
        keccak(compile_constraints(air).code),
    )


def deploy_batch_verifier(chain: Chain, statement: BatchStatement) -> DeployedVerifier:
    """Deploy the batch AIR's program (compiled now) and a StarkVerifier for its shape.

    The options are the batch options for its row count (:func:`batch_options`).

    Raises:
        AnchorError: a deployment failed.
    """
    rows = rows_for(statement)
    air, _ = build_with_layout(rows, statement)
    return deploy_verifier(chain, air, batch_options(rows), from_program=True)


def _check_program(verifier: DeployedVerifier, data: BatchCalldata) -> None:
    on_chain = bytes(verifier.chain.call(verifier.evaluator, "programHash"))
    if on_chain != data.program_hash:
        raise AnchorError(
            f"expected a verifier for this batch's AIR program 0x{data.program_hash.hex()}, "
            f"got one for 0x{on_chain.hex()}"
        )


def verify_batch_on_chain(
    verifier: DeployedVerifier, proof: bytes, statement: BatchStatement
) -> bool:
    """``verifyWithTables`` for ``statement`` (no transaction): True, or raises.

    Raises:
        AnchorError: the verifier is for another AIR program.
        ContractReverted: the contract refused the proof (its custom error).
    """
    data = batch_calldata(statement)
    _check_program(verifier, data)
    return verifier.verify(data.public_inputs, proof, data.tables)


def verify_batch_transaction(
    verifier: DeployedVerifier, proof: bytes, statement: BatchStatement
) -> Receipt:
    """Verify ``proof`` for ``statement`` in a mined transaction (its gas, its calldata).

    Raises:
        AnchorError: see :func:`verify_batch_on_chain`.
    """
    data = batch_calldata(statement)
    _check_program(verifier, data)
    return verifier.verify_transaction(data.public_inputs, proof, data.tables)
