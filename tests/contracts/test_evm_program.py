"""Constraint programs compiled to EVM code (crypto/evm_program.py), run on py-evm.

Each instruction against the field arithmetic of ``Fp4`` (registers read and
written by one instruction too), a long program split into several code
contracts under EIP-170, malformed programs refused, and the evaluator's code
binding: code compiled from another program (one that zeroes every
constraint, say) is refused by its hash, and a code contract that returns
nothing reverts the evaluation.
"""

from __future__ import annotations

import random
import struct

import pytest
from web3.types import TxParams

from sealbatch.crypto.evm_program import (
    MAX_CODE_BYTES,
    code_hash,
    compile_code,
    deploy_init_code,
    program_instructions,
)
from sealbatch.crypto.field_scalar import Fp4, P
from sealbatch.crypto.solidity import (
    OP_ADD,
    OP_CONST,
    OP_MUL,
    OP_MULBASE,
    OP_NEG,
    OP_POW,
    OP_SUB,
    compile_constraints,
    data_chunk_init_code,
)
from sealbatch.settlement.anchor import (
    AnchorError,
    Chain,
    ContractReverted,
    check_program_evaluator,
    deploy_program,
)

from .test_constraints import GENERATOR
from .test_field import EDGES, pack, rand, unpack

Ins = tuple[int, int, int, int]


def program_bytes(num_regs: int, instructions: list[Ins]) -> bytes:
    """A program with a frame of no entries, one offset and ``instructions``, no groups."""
    out = bytearray(struct.pack(">7H", num_regs, 0, 0, 0, 0, 0, len(instructions)))
    out += bytes([1, 0])
    for op, dst, a, b in instructions:
        if op == OP_CONST:
            out += struct.pack(">BHI", op, dst, a)
        else:
            out += struct.pack(">BHHH", op, dst, a, b)
    return bytes(out + struct.pack(">H", 0))


def reference(regs: list[Fp4], instructions: list[Ins]) -> list[Fp4]:
    """The instructions on ``regs`` in Python (the interpreter's semantics)."""
    regs = list(regs)
    for op, dst, a, b in instructions:
        if op == OP_ADD:
            regs[dst] = regs[a] + regs[b]
        elif op == OP_SUB:
            regs[dst] = regs[a] - regs[b]
        elif op in (OP_MUL, OP_MULBASE):
            regs[dst] = regs[a] * regs[b]
        elif op == OP_NEG:
            regs[dst] = -regs[a]
        elif op == OP_POW:
            regs[dst] = regs[a] ** b
        else:
            regs[dst] = Fp4.of(a)
    return regs


def create(chain: Chain, init: bytes) -> str:
    tx: TxParams = {"from": chain.account, "data": init, "gas": 30_000_000}
    receipt = chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_transaction(tx))
    assert receipt["status"] == 1
    return str(receipt["contractAddress"])


def run(chain: Chain, program: bytes, regs: list[Fp4]) -> list[Fp4]:
    """Each code contract of ``program`` in turn on the register file, as the evaluator does:
    the window it returns (``lo``, then its registers) copied back at register ``lo``."""
    data = bytearray(b"".join(pack(r).to_bytes(32, "big") for r in regs))
    for part in compile_code(program):
        address = create(chain, deploy_init_code(part))
        out = bytes(chain.w3.eth.call({"to": address, "data": bytes(data), "gas": 30_000_000}))
        lo = int.from_bytes(out[:32], "big")
        assert len(out) % 32 == 0 and 32 * lo + len(out) - 32 <= len(data)
        data[32 * lo : 32 * lo + len(out) - 32] = out[32:]
    return [unpack(int.from_bytes(data[i : i + 32], "big")) for i in range(0, len(data), 32)]


def test_each_instruction_matches_the_field() -> None:
    chain = Chain()
    rng = random.Random(7)
    base = Fp4.of(rng.randrange(P))
    regs = [rand(rng) for _ in range(4)] + [base, *EDGES] + [Fp4.zero()] * 16
    instructions: list[Ins] = [
        (OP_ADD, 9, 0, 1),
        (OP_SUB, 10, 0, 1),
        (OP_MUL, 11, 0, 1),
        (OP_NEG, 12, 2, 0),
        (OP_MULBASE, 13, 3, 4),
        (OP_CONST, 14, P - 1, 0),
        (OP_POW, 15, 0, 0),
        (OP_POW, 16, 0, 1),
        (OP_POW, 17, 1, 2),
        (OP_POW, 18, 2, 7),
        (OP_POW, 19, 3, 11),
        (OP_SUB, 20, 5, 8),  # 0 − (p−1, …): every lane wraps
        (OP_ADD, 21, 8, 8),  # lanes of 2p − 2
        (OP_NEG, 22, 5, 0),  # −0 is 0, not p
        (OP_MUL, 23, 8, 8),
        (OP_MUL, 0, 0, 0),  # read and overwritten by one instruction
        (OP_ADD, 1, 1, 2),
        (OP_POW, 2, 2, 5),
        (OP_MULBASE, 3, 3, 4),  # MULBASE's second operand is a base element
    ]
    program = program_bytes(len(regs), instructions)
    got = run(chain, program, regs)
    assert got == reference(regs, instructions)
    # canonical lanes: below p, so the interpreter and the code agree bit for bit
    assert all(c < P for r in got for c in r.c)


def test_a_long_program_is_split_under_eip_170() -> None:
    rng = random.Random(3)
    num_regs = 40
    instructions: list[Ins] = []
    for i in range(6000):
        op = [OP_ADD, OP_SUB, OP_MUL, OP_NEG][i % 4]
        instructions.append((op, 8 + rng.randrange(32), rng.randrange(40), rng.randrange(40)))
    program = program_bytes(num_regs, instructions)
    parts = compile_code(program)
    assert len(parts) >= 3
    assert all(0 < len(part) <= MAX_CODE_BYTES for part in parts)
    regs = [rand(rng) for _ in range(num_regs)]
    assert run(Chain(), program, regs) == reference(regs, instructions)


def test_malformed_programs_are_refused() -> None:
    good = program_bytes(4, [(OP_ADD, 3, 1, 2)])
    assert program_instructions(good) == (4, [(OP_ADD, 3, 1, 2)])
    bad_op = program_bytes(4, [(9, 3, 1, 2)])
    with pytest.raises(ValueError, match=r"instruction code 1\.\.7, got 9"):
        compile_code(bad_op)
    truncated = good[:16]
    with pytest.raises(ValueError, match="expected 1 instructions"):
        compile_code(truncated)
    with pytest.raises(ValueError, match="at least 15 bytes"):
        compile_code(b"\0" * 3)
    with pytest.raises(ValueError, match="1 to 24576 bytes"):
        deploy_init_code(b"")


def zeroing_program(code: bytes) -> bytes:
    """``code`` with every instruction replaced by CONST 0 into its destination."""
    num_regs, instructions = program_instructions(code)
    return program_bytes(num_regs, [(OP_CONST, dst, 0, 0) for _, dst, _, _ in instructions])


def test_code_compiled_from_another_program_is_refused() -> None:
    """The attack: honest program data (so programHash matches) with code contracts that
    leave every constraint at zero, which would accept any proof. The code hash refuses it."""
    chain = Chain()
    air = GENERATOR.build_default("fibonacci", 64)
    program = compile_constraints(air)
    honest = deploy_program(chain, program)
    check_program_evaluator(chain, honest, program)
    data = create(chain, data_chunk_init_code(program.code))
    forged_code = [
        create(chain, deploy_init_code(p)) for p in compile_code(zeroing_program(program.code))
    ]
    forged = chain.deploy("ProgramConstraints", [data], len(program.code), forged_code)
    assert bytes(chain.call(forged, "programHash")) == bytes(chain.call(honest, "programHash"))
    assert bytes(chain.call(forged, "codeHash")) == code_hash(
        compile_code(zeroing_program(program.code))
    )
    with pytest.raises(AnchorError, match="code hash"):
        check_program_evaluator(chain, forged, program)
    # and what the check prevents: the forged evaluator finds no constraint violated
    rng = random.Random(1)
    inputs = [pack(rand(rng)) for _ in program.frame] + [
        rng.randrange(P) for _ in air.public_inputs
    ]
    assert set(chain.call(forged, "constraintsAt", pack(rand(rng)), 6, inputs)) == {0}
    assert set(chain.call(honest, "constraintsAt", pack(rand(rng)), 6, inputs)) != {0}


def test_a_code_contract_that_returns_nothing_reverts() -> None:
    chain = Chain()
    air = GENERATOR.build_default("fibonacci", 64)
    program = compile_constraints(air)
    data = create(chain, data_chunk_init_code(program.code))
    # a data contract (a STOP byte first) returns no register file
    evaluator = chain.deploy("ProgramConstraints", [data], len(program.code), [data])
    inputs = [0] * (len(program.frame) + len(air.public_inputs))
    with pytest.raises(ContractReverted) as info:
        chain.call(evaluator, "constraintsAt", 5, 6, inputs)
    assert info.value.error == "CodeFailed"
    assert info.value.error_args == (0,)
    empty = "0x" + "11" * 20
    with pytest.raises(ContractReverted) as info:
        chain.deploy("ProgramConstraints", [data], len(program.code), [empty])
    assert info.value.error == "CodeFailed"


@pytest.mark.parametrize(
    "runtime",
    [
        # lo = 65 535 and one register: past the end of the file
        bytes([0x61, 0xFF, 0xFF, 0x5F, 0x52, 0x60, 0x40, 0x5F, 0xF3]),
        # lo = 0 and 33 bytes: not a whole number of registers
        bytes([0x5F, 0x5F, 0x52, 0x60, 0x41, 0x5F, 0xF3]),
        # 31 bytes: not even the window's start
        bytes([0x60, 0x1F, 0x5F, 0xF3]),
    ],
)
def test_a_window_outside_the_register_file_reverts(runtime: bytes) -> None:
    """A code contract answering with a window the evaluator cannot place is refused, not
    copied over memory past the register file (honest code never does: its hash is pinned)."""
    chain = Chain()
    air = GENERATOR.build_default("fibonacci", 64)
    program = compile_constraints(air)
    data = create(chain, data_chunk_init_code(program.code))
    evaluator = chain.deploy(
        "ProgramConstraints", [data], len(program.code), [create(chain, deploy_init_code(runtime))]
    )
    inputs = [0] * (len(program.frame) + len(air.public_inputs))
    with pytest.raises(ContractReverted) as info:
        chain.call(evaluator, "constraintsAt", 5, 6, inputs)
    assert info.value.error == "CodeFailed"
    assert info.value.error_args == (0,)


def test_products_match_the_field_at_every_lane_bound() -> None:
    """``MUL`` reads the low four convolution lanes of ``a·b`` as integers and c4, c5 from
    ``(a >> 64)·(b >> 64)``: exact only while every lane sum stays below 2^64. Products of
    the edge elements (lanes at p − 1, 0, 1, mixed) with each other and with random ones,
    squares included, against ``Fp4``."""
    chain = Chain()
    rng = random.Random(11)
    regs = [*EDGES, *(rand(rng) for _ in range(8))]
    n = len(regs)
    pairs = [(a, b) for a in range(n) for b in range(a, n)]
    instructions: list[Ins] = [(OP_MUL, n + i, a, b) for i, (a, b) in enumerate(pairs)]
    regs += [Fp4.zero()] * len(pairs)
    program = program_bytes(len(regs), instructions)
    got = run(chain, program, regs)
    assert got == reference(regs, instructions)
    assert all(c < P for r in got for c in r.c)
