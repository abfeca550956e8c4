"""The real batch proof on chain: StarkVerifier.sol with the batch AIR's program and tables.

The program is compiled from the batch AIR at deployment (never a checked-in
copy), deployed in data contracts and adopted by ``ProgramConstraints``; the
bus's public tables go in as calldata and the contract computes their LogUp
sum itself. The small-program tests run in the suite; the batch proof itself
(a minute to prove, about a minute per call on py-evm) is behind ``slow``.
"""

from __future__ import annotations

import pytest

from sealbatch.crypto.airs import get_air
from sealbatch.crypto.bus import PublicTable
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.prover import prove
from sealbatch.crypto.solidity import (
    CHUNK_BYTES,
    compile_constraints,
    data_chunk_init_code,
    encode_tables,
)
from sealbatch.crypto.verifier import verify
from sealbatch.settlement.anchor import AnchorError, Chain, ContractReverted, deploy_verifier
from sealbatch.settlement.anchor_batch import (
    batch_calldata,
    batch_program_hash,
    deploy_batch_verifier,
    verify_batch_on_chain,
    verify_batch_transaction,
)
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.batch_proof import prove_files
from sealbatch.settlement.batch_verify import verify_files, verify_statement
from tests.crypto.helpers import FAST
from tests.settlement.batch_air_helpers import (
    small_batch_files,
    statement_of,
    transfer_batch_files,
)
from tests.settlement.conftest import key

ROWS = 64


def test_a_program_of_several_chunks_is_adopted_and_verifies(chain: Chain) -> None:
    entry = get_air("poseidon2")
    trace, pubs = entry.generate(ROWS)
    air = entry.build(ROWS, pubs)
    program = compile_constraints(air)
    assert len(program.code) > CHUNK_BYTES  # more than one data contract
    data = prove(air, trace, FAST).to_bytes()
    verify(data, min_security_bits=0)
    verifier = deploy_verifier(chain, air, FAST, min_security_bits=0, from_program=True)
    assert bytes(chain.call(verifier.evaluator, "program")) == program.code
    assert verifier.verify(pubs, data)
    with pytest.raises(ContractReverted) as info:
        verifier.verify((pubs[0] + 1, *pubs[1:]), data)
    assert info.value.error == "HeaderMismatch"


def test_an_air_without_tables_refuses_tables(chain: Chain) -> None:
    entry = get_air("fibonacci")
    trace, pubs = entry.generate(ROWS)
    air = entry.build(ROWS, pubs)
    data = prove(air, trace, FAST).to_bytes()
    verifier = deploy_verifier(chain, air, FAST, min_security_bits=0, from_program=True)
    table = encode_tables([PublicTable(3, ((1, 2),), (1,))])
    with pytest.raises(ContractReverted) as info:
        verifier.verify(pubs, data, table)
    assert info.value.error == "BadTables"


def test_table_encoding() -> None:
    tables = [
        PublicTable(3, ((1, 2), (3, 4)), (5, 6), receive=True),
        PublicTable(7, (), (), receive=False),
        PublicTable(9, ((8,),), (1,), receive=False),
    ]
    raw = encode_tables(tables)
    # count, then (tag, receive, width, rows) and rows of (m, values) per non-empty table
    assert raw[:2] == b"\x00\x02"
    assert raw[2:12] == bytes.fromhex("00000003010200000002")
    assert raw[12:24] == bytes.fromhex("000000050000000100000002")
    assert len(raw) == 2 + 10 + 2 * 12 + 10 + 8


def test_data_chunks_are_bounded() -> None:
    assert data_chunk_init_code(b"\x01")[-2:] == b"\x00\x01"
    with pytest.raises(ValueError, match="expected 1 to"):
        data_chunk_init_code(bytes(CHUNK_BYTES + 1))


# ---------------------------------------------------------------- the batch proof (slow)


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return small_batch_files()


@pytest.fixture(scope="module")
def statement(files: dict[str, str]) -> BatchStatement:
    return statement_of(files)


@pytest.fixture(scope="module")
def proof(files: dict[str, str]) -> bytes:
    return prove_files(files)


def _python_accepts(proof: bytes, statement: BatchStatement) -> bool:
    try:
        verify_statement(proof, statement)
    except VerificationError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_batch_proof_verifies_on_chain_as_in_python(
    chain: Chain, files: dict[str, str], statement: BatchStatement, proof: bytes
) -> None:
    verify_files(proof, files)
    verifier = deploy_batch_verifier(chain, statement)
    assert verify_batch_on_chain(verifier, proof, statement)
    receipt = verify_batch_transaction(verifier, proof, statement)
    assert proof in receipt.input_data
    assert receipt.gas_used > 21_000

    data = batch_calldata(statement)
    # a changed proof byte (in the queried rows): refused by both
    bad = bytearray(proof)
    bad[len(bad) // 2] ^= 1
    assert not _python_accepts(bytes(bad), statement)
    with pytest.raises(ContractReverted):
        verifier.verify(data.public_inputs, bytes(bad), data.tables)
    # a changed public input: refused by both, before any work
    wrong = (data.public_inputs[0] + 1, *data.public_inputs[1:])
    with pytest.raises(ContractReverted) as info:
        verifier.verify(wrong, proof, data.tables)
    assert info.value.error == "HeaderMismatch"
    # a changed public table (an order's published fill): the LogUp sum no longer closes
    tampered = bytearray(data.tables)
    tampered[-1] ^= 1
    with pytest.raises(ContractReverted) as info:
        verifier.verify(data.public_inputs, proof, bytes(tampered))
    assert info.value.error == "OodMismatch"
    # tables cut short, or without the tables: refused
    with pytest.raises(ContractReverted) as info:
        verifier.verify(data.public_inputs, proof, data.tables[:-4])
    assert info.value.error == "BadTables"
    with pytest.raises(ContractReverted):
        verifier.verify(data.public_inputs, proof, b"")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_another_batch_is_refused_by_program_hash(
    chain: Chain, files: dict[str, str], statement: BatchStatement, proof: bytes
) -> None:
    # a batch of the same shape (another forfeit, other fills) shares the program ...
    same_shape = statement_of(small_batch_files(forfeit_at=(2,)))
    assert batch_program_hash(same_shape) == batch_program_hash(statement)
    # ... one that opens accounts past the state tree's depth does not: another verifier
    other = statement_of(transfer_batch_files([(key(i), 10**9) for i in range(8, 12)]))
    assert other.settle.depth_post != statement.settle.depth_post
    verifier = deploy_batch_verifier(chain, other)
    with pytest.raises(AnchorError, match="AIR program"):
        verify_batch_on_chain(verifier, proof, statement)
