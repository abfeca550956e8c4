"""Emit an AIR's constraints for the Solidity verifier: a register program and its contract.

The expression DAG (:mod:`sealbatch.crypto.expr`) becomes a straight-line
program over extension-field registers, interpreted on chain by
``contracts/src/ConstraintEvaluator.sol`` (or compiled to EVM code by
:mod:`sealbatch.crypto.evm_program`, for ``ProgramConstraints.sol``);
:func:`render_contract` wraps it in a generated Solidity file.
Straight-line Solidity with one statement per node would not fit the EVM:
the poseidon2 AIR has over 4 000 nodes, far past both the 16 reachable stack
slots (so values live in memory registers) and the
24 KB code limit of EIP-170 (so the program is data, kept in data contracts
and pinned by its Keccak hash).

Program layout (big-endian; the contract's NatSpec repeats it):

* header: registers, frame values, public inputs, challenges (drawn, then
  derived), periodic columns, constraints, instructions — seven u16;
* the frame: offsets count u8, the row offsets u8; per frame entry segment u8
  (0 fixed, 1 main, 2 aux), column index u16, offset slot u8;
* per periodic column: ``log2(period)`` u8, then the ``period`` coefficients
  (u32) of the polynomial ``Q`` with ``periodic(i)(z) = Q(z^(N/period))``;
* instructions, 7 bytes each: op u8, dst u16, a u16, b u16 (``CONST`` holds a
  u32 value in place of a and b, ``POW`` the exponent in place of b);
* divisor groups: count u16; per group kind u8 (0 transition, 1 boundary),
  param i32 (exempted rows, or the boundary row as written, negative from the
  end), count u16, then (constraint index u16, register u16) pairs.

Registers: the frame (:func:`frame_layout`), public inputs, challenges,
periodic values, then constants (one register per distinct value) and
temporaries, reused once their last reader has run. A node built only from
constants and public inputs is a base element, and a product with one is
emitted as the cheaper ``MULBASE``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, Boundary
from sealbatch.crypto.bus import PublicTable
from sealbatch.crypto.expr import (
    Add,
    Challenge,
    Column,
    Const,
    Mul,
    Neg,
    Periodic,
    Pow,
    PublicInput,
    Sub,
    max_offsets,
)
from sealbatch.crypto.ntt import intt

__all__ = [
    "CHUNK_BYTES",
    "OP_ADD",
    "OP_CONST",
    "OP_MUL",
    "OP_MULBASE",
    "OP_NEG",
    "OP_POW",
    "OP_SUB",
    "SEGMENT_CODES",
    "SOLIDITY_VERSION",
    "ConstraintProgram",
    "compile_constraints",
    "contract_name",
    "data_chunk_init_code",
    "encode_tables",
    "frame_layout",
    "render_contract",
]

#: The one Solidity release the contracts are written for (contracts/package.json pins solc).
SOLIDITY_VERSION = "0.8.30"

OP_ADD = 1
OP_SUB = 2
OP_MUL = 3
OP_NEG = 4
OP_POW = 5
OP_CONST = 6
OP_MULBASE = 7

_MAX_U16 = 0xFFFF
#: Program bytes per data contract (EIP-170's 24 576-byte code limit, less a STOP byte).
CHUNK_BYTES = 24575
#: Segment codes in the frame section: which opened rows a frame entry's column lives in.
SEGMENT_CODES = {"fixed": 0, "main": 1, "aux": 2}


@dataclass(frozen=True)
class ConstraintProgram:
    """An AIR's constraints as a register program (see the module docstring)."""

    air_name: str
    frame: tuple[tuple[str, int, int], ...]
    """The frame's columns, as ``(segment, index, offset)``, in register order."""
    num_registers: int
    num_instructions: int
    num_constraints: int
    num_nodes: int
    code: bytes
    """The encoded program, as deployed."""


def frame_layout(air: Air) -> tuple[tuple[str, int, int], ...]:
    """The ``(segment, index, offset)`` out-of-domain values, in the proof's frame order.

    The AIR's frame (:attr:`Air.frame`, docs/stark.md): by offset, then fixed,
    main, aux, then column index; a column no constraint reads at offset 0.
    """
    return air.frame


def contract_name(air_name: str) -> str:
    """The generated contract's name: ``range_check`` -> ``RangeCheckConstraints``."""
    return "".join(part[:1].upper() + part[1:] for part in air_name.split("_")) + "Constraints"


class _Registers:
    """Temporaries with reuse: a register returns to the pool after its last reader."""

    def __init__(self, first: int) -> None:
        self.next = first
        self.free: list[int] = []

    def take(self) -> int:
        if self.free:
            return self.free.pop()
        reg = self.next
        self.next += 1
        return reg

    def give(self, reg: int) -> None:
        self.free.append(reg)


def compile_constraints(air: Air) -> ConstraintProgram:
    """Encode ``air``'s constraints, their divisors and its periodic columns as a program.

    Raises:
        ValueError: the AIR needs more than 65 535 registers, an exponent
            above 65 535, or a boundary row outside the i32 range.
    """
    frame = frame_layout(air)
    roots = air.constraint_exprs()
    order = air.constraint_order
    num_pubs = len(air.public_inputs)
    inputs: dict[tuple[str, int, int], int] = {c: i for i, c in enumerate(frame)}
    pub_base = len(frame)
    challenge_base = pub_base + num_pubs
    # the drawn challenges, then the derived ones (a public table's LogUp sum, crypto/bus.py)
    periodic_base = challenge_base + air.total_challenges
    const_base = periodic_base + len(air.periodic_columns)

    consts: dict[int, int] = {}
    code = bytearray()
    count = 0

    def emit(op: int, dst: int, a: int, b: int) -> None:
        nonlocal count
        code.extend(struct.pack(">BHHH", op, dst, a, b))
        count += 1

    for node in order:
        if isinstance(node, Const) and node.value not in consts:
            reg = const_base + len(consts)
            consts[node.value] = reg
            code.extend(struct.pack(">BHI", OP_CONST, reg, node.value))
            count += 1
    regs = _Registers(const_base + len(consts))

    uses: dict[int, int] = {}
    for node in order:
        for child in node.children():
            uses[id(child)] = uses.get(id(child), 0) + 1
    keep = {id(r) for r in roots}
    where: dict[int, int] = {}
    is_base: dict[int, bool] = {}
    owned: set[int] = set()

    for node in order:
        kids = node.children()
        if isinstance(node, Column):
            where[id(node)] = inputs[(node.segment, node.index, node.offset)]
            is_base[id(node)] = False
        elif isinstance(node, Const):
            where[id(node)] = consts[node.value]
            is_base[id(node)] = True
        elif isinstance(node, PublicInput):
            where[id(node)] = pub_base + node.index
            is_base[id(node)] = True
        elif isinstance(node, Challenge):
            where[id(node)] = challenge_base + node.index
            is_base[id(node)] = False
        elif isinstance(node, Periodic):
            where[id(node)] = periodic_base + node.index
            is_base[id(node)] = False
        else:
            operands = [where[id(k)] for k in kids]
            bases = [is_base[id(k)] for k in kids]
            # Free the operands first: a register may be read and overwritten by one instruction.
            for kid in kids:
                uses[id(kid)] -= 1
                if uses[id(kid)] == 0 and id(kid) not in keep and id(kid) in owned:
                    regs.give(where[id(kid)])
                    owned.discard(id(kid))
            dst = regs.take()
            where[id(node)] = dst
            owned.add(id(node))
            is_base[id(node)] = all(bases)
            if isinstance(node, Add):
                emit(OP_ADD, dst, operands[0], operands[1])
            elif isinstance(node, Sub):
                emit(OP_SUB, dst, operands[0], operands[1])
            elif isinstance(node, Mul):
                if bases[1]:
                    emit(OP_MULBASE, dst, operands[0], operands[1])
                elif bases[0]:
                    emit(OP_MULBASE, dst, operands[1], operands[0])
                else:
                    emit(OP_MUL, dst, operands[0], operands[1])
            elif isinstance(node, Neg):
                emit(OP_NEG, dst, operands[0], 0)
            elif isinstance(node, Pow):
                if node.exponent > _MAX_U16:
                    raise ValueError(f"expected an exponent <= {_MAX_U16}, got {node.exponent}")
                emit(OP_POW, dst, operands[0], node.exponent)
            else:
                raise TypeError(f"unknown expression node {type(node).__name__}")
    num_registers = regs.next
    if num_registers > _MAX_U16:
        raise ValueError(f"expected at most {_MAX_U16} registers, got {num_registers}")

    out = bytearray(
        struct.pack(
            ">7H",
            num_registers,
            len(frame),
            num_pubs,
            air.total_challenges,
            len(air.periodic_columns),
            len(roots),
            count,
        )
    )
    offsets = list(air.offsets())  # always holds 0: the composition columns' DEEP slot
    if len(offsets) > 255 or offsets[-1] > 255:
        raise ValueError(f"expected at most 255 row offsets below 256, got {offsets}")
    out.append(len(offsets))
    out.extend(offsets)
    for seg, idx, off in frame:
        out.extend(struct.pack(">BHB", SEGMENT_CODES[seg], idx, offsets.index(off)))
    for values in air.periodic_columns:
        period = len(values)
        coeffs = intt(fld.as_field(list(values))).tolist()
        out.append(period.bit_length() - 1)
        out.extend(struct.pack(f">{period}I", *(int(c) for c in coeffs)))
    out.extend(code)
    out.extend(_encode_groups(air, [where[id(r)] for r in roots]))
    return ConstraintProgram(
        air_name=air.name,
        frame=frame,
        num_registers=num_registers,
        num_instructions=count,
        num_constraints=len(roots),
        num_nodes=len(order),
        code=bytes(out),
    )


def _encode_groups(air: Air, root_registers: Sequence[int]) -> bytes:
    """Constraints grouped by divisor, boundary rows kept as written (so independent of N)."""
    t_count = len(air.transition_list)
    exemptions = max_offsets([t.expr for t in air.transition_list])
    groups: dict[tuple[int, int], list[int]] = {}
    for i, e in enumerate(exemptions):
        groups.setdefault((0, e), []).append(i)
    for j, b in enumerate(air.boundaries):
        groups.setdefault((1, _boundary_param(b)), []).append(t_count + j)
    out = bytearray(struct.pack(">H", len(groups)))
    for (kind, param), ids in sorted(groups.items()):
        out.extend(struct.pack(">BiH", kind, param, len(ids)))
        for k in ids:
            out.extend(struct.pack(">HH", k, root_registers[k]))
    return bytes(out)


def _boundary_param(b: Boundary) -> int:
    if not -(2**31) <= b.row < 2**31:
        raise ValueError(f"expected a boundary row in the i32 range, got {b.row}")
    return b.row


def render_contract(program: ConstraintProgram, source: str) -> str:
    """The generated Solidity file holding ``program`` (``source`` names the AIR's module)."""
    hex_code = program.code.hex()
    width = 88
    lines = [f'            hex"{hex_code[i : i + width]}"' for i in range(0, len(hex_code), width)]
    frame = ", ".join(
        f"{'col' if seg == 'main' else 'aux'}{idx}[{off}]" for seg, idx, off in program.frame
    )
    frame_lines = _wrap(f"Frame (column[offset]): {frame}.", 92)
    name = contract_name(program.air_name)
    return "\n".join(
        [
            "// SPDX-License-Identifier: Apache-2.0",
            "// GENERATED FILE: DO NOT EDIT. `make contracts` writes it from the constraint",
            f"// expressions of {source} through crypto/solidity.py.",
            f"pragma solidity {SOLIDITY_VERSION};",
            "",
            'import {ConstraintEvaluator} from "../ConstraintEvaluator.sol";',
            "",
            f"/// @title The `{program.air_name}` AIR's constraints at the out-of-domain point",
            f"/// @notice {program.num_constraints} constraints, {program.num_nodes} expression "
            f"nodes, {program.num_instructions} instructions,",
            f"///         {program.num_registers} registers, {len(program.code)} program bytes.",
            *(f"///         {line}" for line in frame_lines),
            f"contract {name} is ConstraintEvaluator {{",
            "    constructor() {",
            "        _storeProgram(",
            *lines,
            "        );",
            "    }",
            "}",
            "",
        ]
    )


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def data_chunk_init_code(data: bytes) -> bytes:
    """Init code deploying ``data`` behind a STOP byte, as ConstraintEvaluator's data contracts.

    Raises:
        ValueError: more than :data:`CHUNK_BYTES` bytes.
    """
    if not 0 < len(data) <= CHUNK_BYTES:
        raise ValueError(f"expected 1 to {CHUNK_BYTES} bytes, got {len(data)}")
    runtime = len(data) + 1
    # PUSH2 runtime, DUP1, PUSH1 10, RETURNDATASIZE, CODECOPY, RETURNDATASIZE, RETURN; STOP, data
    head = [0x61, runtime >> 8, runtime & 0xFF, 0x80, 0x60, 0x0A, 0x3D, 0x39, 0x3D, 0xF3, 0x00]
    return bytes(head) + data


def encode_tables(tables: Sequence[PublicTable]) -> bytes:
    """The public tables as ``StarkVerifier.verifyWithTables`` reads them (big-endian).

    count u16; per table: tag u32, receive u8, width u8, rows u32, then per row
    its multiplicity u32 and its values u32. A table without rows is left out
    (it adds nothing to the sum).

    Raises:
        ValueError: more than 65 535 tables, or a table wider than 255.
    """
    kept = [t for t in tables if t.rows]
    if len(kept) > _MAX_U16:
        raise ValueError(f"expected at most {_MAX_U16} public tables, got {len(kept)}")
    out = bytearray(struct.pack(">H", len(kept)))
    for t in kept:
        width = len(t.rows[0])
        if not 0 < width <= 255:
            raise ValueError(f"public table {t.tag}: expected 1 to 255 values a row, got {width}")
        out.extend(struct.pack(">IBBI", t.tag, int(t.receive), width, len(t.rows)))
        for row, m in zip(t.rows, t.multiplicities, strict=True):
            out.extend(struct.pack(f">I{width}I", m, *row))
    return bytes(out)
