"""Compile a constraint register program to straight-line EVM code (no interpreter on chain).

``ConstraintEvaluator.sol`` interprets the register program of
:func:`sealbatch.crypto.solidity.compile_constraints` at about 300 gas an
addition and 700 a product, most of it dispatch and operand decoding. For a
program deployed at run time (the batch AIR's, ``ProgramConstraints.sol``) the
instructions are compiled here, once, into EVM bytecode that does only the
field arithmetic, split into code contracts under EIP-170's 24 576 bytes.

Each code contract is called (``STATICCALL``) with the whole register file as
calldata and returns only its *window*: the registers ``lo .. hi`` that its
instructions write (the allocator reuses temporaries, so a contract's writes
span a few hundred registers, not the file's thousands). It copies the window
from the calldata to memory at word 1 (register ``r`` of the window is the
word at ``32·(1 + r − lo)``), reads every other register straight from the
calldata (``CALLDATALOAD 32·r``), runs its instructions in program order and
returns ``lo`` (one word) followed by the window, which the evaluator copies
back into the file at register ``lo``. Copying the whole file in and out of
every contract cost each call the memory of the whole file (about 45 000 gas
at 3 451 registers); a window costs a few thousand. The field operations are those
of the interpreter (packed extension elements, four 64-bit lanes, see
``BabyBear.sol``), so both give the same registers bit for bit:

* the constants ``p``, ``p`` in every lane, ``2^32 − p`` in every lane and
  the bit-32 mask of every lane stay at the bottom of the stack and are read
  with ``DUP``;
* ``ADD``, ``SUB``, ``NEG`` and ``CONST`` are inline (a lane sum below ``2p``
  loses ``p`` where it reached ``p``); ``MUL`` and the reduction of
  ``MULBASE`` jump to one shared subroutine each (at the end of every
  contract), called with the same stack depth from every site;
* ``MUL`` takes three ``MUL`` opcodes: with canonical lanes, ``a·b`` as
  256-bit integers holds ``c_0 … c_3`` (``c_i = Σ_{j+k=i} a_j·b_k``, each
  below ``4p² < 2^64``, so no lane carries and the higher ones fall off),
  ``(a >> 64)·(b >> 64)`` holds ``c_4, c_5`` in its lanes 2 and 3, and
  ``c_6 = a_3·b_3``; then ``r_k = (c_k + 11·c_(k+4)) mod p`` (``X⁴ = 11``):
  about 250 gas, where shifting ``a`` by ``X`` three times (three
  ``MULMOD`` opcodes, four lane products, four lane reductions) took 360;
* ``POW e`` is left-to-right square-and-multiply on a scratch word after the
  window, stored into its register at the end (``e = 0`` stores 1).

The code is a deterministic function of the program's bytes: anyone can
recompute it from the program the evaluator pins (``programHash``) and
compare it with the code contracts' hashes (``codeHash``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.solidity import (
    OP_ADD,
    OP_CONST,
    OP_MUL,
    OP_MULBASE,
    OP_NEG,
    OP_POW,
    OP_SUB,
)

__all__ = [
    "MAX_CODE_BYTES",
    "code_hash",
    "compile_code",
    "deploy_init_code",
    "program_instructions",
]

#: EIP-170's limit on a contract's runtime code.
MAX_CODE_BYTES = 24576

_P4 = sum(P << (64 * k) for k in range(4))
_LANE_ADD = sum((2**32 - P) << (64 * k) for k in range(4))
_LANE_BIT32 = sum(1 << (32 + 64 * k) for k in range(4))
_LANE = (1 << 64) - 1

# opcodes
_ADD, _MUL, _SUB, _MOD, _MULMOD = 0x01, 0x02, 0x03, 0x06, 0x09
_AND, _OR, _SHL, _SHR = 0x16, 0x17, 0x1B, 0x1C
_CALLDATALOAD, _CALLDATASIZE, _CALLDATACOPY = 0x35, 0x36, 0x37
_POP, _MLOAD, _MSTORE, _JUMP, _JUMPDEST = 0x50, 0x51, 0x52, 0x56, 0x5B
_PUSH0, _DUP1, _SWAP1, _RETURN = 0x5F, 0x80, 0x90, 0xF3

# the stack's bottom: positions of the constants (pushed in this order)
_K_P, _K_P4, _K_ADD, _K_BIT = 0, 1, 2, 3
_NUM_K = 4


class _Asm:
    """Bytecode with the stack depth tracked, so constants are reached by ``DUP``."""

    def __init__(self, window: tuple[int, int] | None = (0, -1), scratch: int = -1) -> None:
        self.code = bytearray()
        self.depth = 0
        self.fixups: list[tuple[int, str]] = []
        self.labels: dict[str, int] = {}
        #: the registers ``lo .. hi`` held in memory (from word 1); the rest read from calldata;
        #: ``None``: every register at ``32·r`` (to measure code size only)
        self.absolute = window is None
        self.lo, self.hi = window if window is not None else (0, -1)
        #: POW's accumulator: the memory word after the window
        self.scratch = scratch

    def op(self, opcode: int, pops: int, pushes: int) -> None:
        self.code.append(opcode)
        self.depth += pushes - pops

    def push(self, value: int) -> None:
        if value == 0:
            self.op(_PUSH0, 0, 1)
            return
        size = (value.bit_length() + 7) // 8
        self.code.append(0x5F + size)
        self.code.extend(value.to_bytes(size, "big"))
        self.depth += 1

    def push_label(self, name: str) -> None:
        self.code.append(0x61)  # PUSH2
        self.fixups.append((len(self.code), name))
        self.code.extend(b"\0\0")
        self.depth += 1

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)
        self.code.append(_JUMPDEST)

    def dup(self, n: int) -> None:
        if not 1 <= n <= 16:
            raise ValueError(f"expected a DUP depth in [1, 16], got {n}")
        self.op(_DUP1 + n - 1, 0, 1)

    def const(self, k: int) -> None:
        self.dup(self.depth - k)

    def swap(self, n: int) -> None:
        self.op(_SWAP1 + n - 1, n + 1, n + 1)

    def _slot(self, reg: int) -> int:
        """Memory address of a window register or of the scratch word."""
        if self.absolute:
            return 32 * reg
        if reg == self.scratch:
            return 32 * (2 + self.hi - self.lo)
        if not self.lo <= reg <= self.hi:
            raise AssertionError(f"register {reg} outside the window {self.lo}..{self.hi}")
        return 32 * (1 + reg - self.lo)

    def load(self, reg: int) -> None:
        if not self.absolute and reg != self.scratch and not self.lo <= reg <= self.hi:
            self.push(32 * reg)
            self.op(_CALLDATALOAD, 1, 1)
            return
        self.push(self._slot(reg))
        self.op(_MLOAD, 1, 1)

    def store(self, reg: int) -> None:
        self.push(self._slot(reg))
        self.op(_MSTORE, 2, 0)

    def lane(self, k: int) -> None:
        """Replace the top word by its lane ``k`` (bits 64k .. 64k + 63)."""
        if k < 3:
            self.push(192 - 64 * k)
            self.op(_SHL, 2, 1)
        self.push(192)
        self.op(_SHR, 2, 1)

    def reduce2p(self) -> None:
        """Top word, lanes below 2p: subtract p from each lane at or above p."""
        self.dup(1)
        self.const(_K_ADD)
        self.op(_ADD, 2, 1)
        self.const(_K_BIT)
        self.op(_AND, 2, 1)
        self.push(32)
        self.op(_SHR, 2, 1)
        self.const(_K_P)
        self.op(_MUL, 2, 1)
        self.swap(1)
        self.op(_SUB, 2, 1)

    def resolve(self) -> bytes:
        for at, name in self.fixups:
            self.code[at : at + 2] = self.labels[name].to_bytes(2, "big")
        return bytes(self.code)


def _prologue(asm: _Asm) -> None:
    """Word 0 := ``lo``; words ``1 ..`` := the window's registers, from the calldata."""
    asm.push(asm.lo)
    asm.push(0)
    asm.op(_MSTORE, 2, 0)
    asm.push(32 * (1 + asm.hi - asm.lo))
    asm.push(32 * asm.lo)
    asm.push(32)
    asm.op(_CALLDATACOPY, 3, 0)
    for value in (P, _P4, _LANE_ADD, _LANE_BIT32):
        asm.push(value)


def _epilogue(asm: _Asm) -> None:
    """RETURN ``lo`` and the window, then the subroutines ``fmul`` and ``reduce``."""
    asm.push(32 * (2 + asm.hi - asm.lo))
    asm.push(0)
    asm.op(_RETURN, 2, 0)
    # fmul: [ret, a, b] -> [a·b] (module docstring): c0..c3 = a·b as integers, lanes 2..3
    # of (a >> 64)·(b >> 64) are c4, c5, and c6 = a3·b3; then r_k = (c_k + 11·c_(k+4)) mod p
    asm.depth = _NUM_K + 3
    asm.label("fmul")
    asm.dup(2)
    asm.dup(2)
    asm.op(_MUL, 2, 1)  # [ret, a, b, low]
    asm.dup(3)
    asm.push(192)
    asm.op(_SHR, 2, 1)
    asm.dup(3)
    asm.push(192)
    asm.op(_SHR, 2, 1)
    asm.op(_MUL, 2, 1)  # [ret, a, b, low, c6]
    asm.dup(4)
    asm.push(64)
    asm.op(_SHR, 2, 1)
    asm.dup(4)
    asm.push(64)
    asm.op(_SHR, 2, 1)
    asm.op(_MUL, 2, 1)  # [ret, a, b, low, c6, hi]: hi's lanes 2, 3 are c4, c5
    # r3 = c3 mod p
    asm.const(_K_P)
    asm.dup(4)
    asm.push(192)
    asm.op(_SHR, 2, 1)
    asm.op(_MOD, 2, 1)
    asm.push(192)
    asm.op(_SHL, 2, 1)  # [ret, a, b, low, c6, hi, acc]
    # r2 = (c2 + 11·c6) mod p
    asm.const(_K_P)
    asm.dup(5)
    asm.push(128)
    asm.op(_SHR, 2, 1)
    asm.push(_LANE)
    asm.op(_AND, 2, 1)
    asm.dup(5)
    asm.push(11)
    asm.op(_MUL, 2, 1)
    asm.op(_ADD, 2, 1)
    asm.op(_MOD, 2, 1)
    asm.push(128)
    asm.op(_SHL, 2, 1)
    asm.op(_OR, 2, 1)
    # r1 = (c1 + 11·c5) mod p
    asm.const(_K_P)
    asm.dup(5)
    asm.push(64)
    asm.op(_SHR, 2, 1)
    asm.push(_LANE)
    asm.op(_AND, 2, 1)
    asm.dup(4)
    asm.push(192)
    asm.op(_SHR, 2, 1)
    asm.push(11)
    asm.op(_MUL, 2, 1)
    asm.op(_ADD, 2, 1)
    asm.op(_MOD, 2, 1)
    asm.push(64)
    asm.op(_SHL, 2, 1)
    asm.op(_OR, 2, 1)
    # r0 = (c0 + 11·c4) mod p
    asm.const(_K_P)
    asm.dup(5)
    asm.push(_LANE)
    asm.op(_AND, 2, 1)
    asm.dup(4)
    asm.push(128)
    asm.op(_SHR, 2, 1)
    asm.push(_LANE)
    asm.op(_AND, 2, 1)
    asm.push(11)
    asm.op(_MUL, 2, 1)
    asm.op(_ADD, 2, 1)
    asm.op(_MOD, 2, 1)
    asm.op(_OR, 2, 1)  # [ret, a, b, low, c6, hi, r]
    asm.swap(5)  # [ret, r, b, low, c6, hi, a]
    for _ in range(5):
        asm.op(_POP, 1, 0)
    asm.swap(1)
    asm.op(_JUMP, 1, 0)
    # reduce (MULBASE): [ret, s] -> [r], every lane of s taken mod p
    asm.depth = _NUM_K + 2
    asm.label("reduce")
    for k in range(4):
        asm.const(_K_P)
        asm.dup(3 if k else 2)
        asm.lane(k)
        asm.op(_MOD, 2, 1)
        if k:
            asm.push(64 * k)
            asm.op(_SHL, 2, 1)
            asm.op(_OR, 2, 1)
    asm.swap(1)
    asm.op(_POP, 1, 0)
    asm.swap(1)
    asm.op(_JUMP, 1, 0)


def program_instructions(code: bytes) -> tuple[int, list[tuple[int, int, int, int]]]:
    """The register count and the ``(op, dst, a, b)`` instructions of an encoded program.

    ``CONST`` carries its value in ``a`` (``b`` is 0); layout as in
    :mod:`sealbatch.crypto.solidity`.

    Raises:
        ValueError: the program is truncated or holds an unknown instruction.
    """
    if len(code) < 15:
        raise ValueError(f"expected a program of at least 15 bytes, got {len(code)}")
    num_regs, num_frame, _, _, num_periodic, _, count = struct.unpack(">7H", code[:14])
    at = 15 + code[14] + 4 * num_frame
    for _ in range(num_periodic):
        if at >= len(code):
            raise ValueError("expected the periodic columns, got the end of the program")
        at += 1 + 4 * (1 << code[at])
    if at + 7 * count > len(code):
        raise ValueError(f"expected {count} instructions, got {(len(code) - at) // 7}")
    out = []
    for i in range(count):
        op, dst = struct.unpack(">BH", code[at : at + 3])
        if op == OP_CONST:
            out.append((op, dst, struct.unpack(">I", code[at + 3 : at + 7])[0], 0))
        elif OP_ADD <= op <= OP_MULBASE:
            a, b = struct.unpack(">HH", code[at + 3 : at + 7])
            out.append((op, dst, a, b))
        else:
            raise ValueError(f"expected an instruction code 1..7, got {op} at instruction {i}")
        at += 7
    return num_regs, out


def _emit(asm: _Asm, ins: tuple[int, int, int, int], scratch: int, n: int) -> None:
    op, dst, a, b = ins
    if op == OP_CONST:
        asm.push(a)
    elif op == OP_ADD:
        asm.load(a)
        asm.load(b)
        asm.op(_ADD, 2, 1)
        asm.reduce2p()
    elif op == OP_SUB:
        asm.load(b)
        asm.const(_K_P4)
        asm.op(_SUB, 2, 1)  # p − b lane by lane, no borrow
        asm.load(a)
        asm.op(_ADD, 2, 1)
        asm.reduce2p()
    elif op == OP_NEG:
        asm.load(a)
        asm.const(_K_P4)
        asm.op(_SUB, 2, 1)
        asm.reduce2p()
    elif op == OP_MULBASE:
        asm.push_label(f"r{n}")
        asm.load(a)
        asm.load(b)
        asm.op(_MUL, 2, 1)
        asm.push_label("reduce")
        asm.op(_JUMP, 1, 0)
        asm.depth -= 1  # the subroutine returns one word for [ret, s]
        asm.label(f"r{n}")
    elif op == OP_MUL:
        _call_fmul(asm, a, b, f"r{n}")
    elif op == OP_POW:
        if b == 0:
            asm.push(1)
        else:
            asm.load(a)
            asm.store(scratch)
            for i, bit in enumerate(bin(b)[3:]):
                _call_fmul(asm, scratch, scratch, f"r{n}s{i}")
                asm.store(scratch)
                if bit == "1":
                    _call_fmul(asm, scratch, a, f"r{n}m{i}")
                    asm.store(scratch)
            asm.load(scratch)
    asm.store(dst)


def _call_fmul(asm: _Asm, a: int, b: int, back: str) -> None:
    asm.push_label(back)
    asm.load(a)
    asm.load(b)
    asm.push_label("fmul")
    asm.op(_JUMP, 1, 0)
    asm.depth -= 2  # [ret, a, b] -> [r]
    asm.label(back)


def _tail_bytes() -> int:
    """Bytes of a code contract's closing part: the RETURN and the two subroutines."""
    asm = _Asm((0, 0xFFFF))  # the widest RETURN size
    _epilogue(asm)
    return len(asm.code)


_TAIL_BYTES = _tail_bytes()


def compile_code(program: bytes) -> tuple[bytes, ...]:
    """The runtime code of the contracts that run ``program``'s instructions, in order.

    Each holds whole instructions and stays under :data:`MAX_CODE_BYTES`; each
    returns ``lo`` and the window of registers its instructions write (module
    docstring).

    Raises:
        ValueError: a malformed program (see :func:`program_instructions`).
    """
    num_regs, instructions = program_instructions(program)
    scratch = num_regs  # POW's accumulator: no register has this number
    parts: list[bytes] = []
    start = 0
    while start < len(instructions) or not parts:
        end = _greedy_end(instructions, start, scratch)
        code = _compile_part(instructions, start, end, scratch)
        while len(code) > MAX_CODE_BYTES:  # the window's addresses made it longer
            end -= 1
            if end <= start:
                raise AssertionError(f"instruction {start} does not fit a code contract")
            code = _compile_part(instructions, start, end, scratch)
        step = 64  # the window's addresses are usually shorter: take more while it fits
        while end < len(instructions) and step:
            longer = _compile_part(instructions, start, min(end + step, len(instructions)), scratch)
            if len(longer) <= MAX_CODE_BYTES:
                end, code = min(end + step, len(instructions)), longer
            else:
                step //= 2
        parts.append(code)
        start = end
    return tuple(parts)


def _window(instructions: Sequence[tuple[int, int, int, int]]) -> tuple[int, int]:
    """The registers ``lo .. hi`` that ``instructions`` write (``(0, -1)`` for none)."""
    if not instructions:
        return 0, -1
    dsts = [ins[1] for ins in instructions]
    return min(dsts), max(dsts)


def _greedy_end(instructions: Sequence[tuple[int, int, int, int]], start: int, scratch: int) -> int:
    """The end of the longest run from ``start`` that fits with absolute addresses.

    Every register at ``32·r`` (memory or calldata, the same bytes) and the widest
    prologue: a window's addresses are rarely longer, and :func:`compile_code` shortens
    the run when they are.
    """
    asm = _Asm(None, scratch)
    asm.depth = _NUM_K  # the prologue's constants
    size = _prologue_bytes() + _TAIL_BYTES
    for n in range(start, len(instructions)):
        mark = len(asm.code)
        _emit(asm, instructions[n], scratch, n)
        size += len(asm.code) - mark
        if size > MAX_CODE_BYTES:
            return max(n, start + 1)
    return len(instructions)


def _prologue_bytes() -> int:
    asm = _Asm((0xFFFF, 2 * 0xFFFF))  # the widest pushes
    _prologue(asm)
    return len(asm.code)


def _compile_part(
    instructions: Sequence[tuple[int, int, int, int]], start: int, end: int, scratch: int
) -> bytes:
    """The code of instructions ``start .. end - 1`` in one contract (of any length)."""
    chunk = instructions[start:end]
    asm = _Asm(_window(chunk), scratch)
    _prologue(asm)
    for n, ins in enumerate(chunk, start):
        _emit(asm, ins, scratch, n)
        if asm.depth != _NUM_K:
            raise AssertionError(f"stack depth {asm.depth} after instruction {n}")
    return _finish(asm)


def _finish(asm: _Asm) -> bytes:
    """The contract's code: the instructions so far, the RETURN and the subroutines."""
    _epilogue(asm)
    return asm.resolve()


def deploy_init_code(runtime: bytes) -> bytes:
    """Init code that deploys ``runtime`` as a contract's code.

    Raises:
        ValueError: ``runtime`` empty or above :data:`MAX_CODE_BYTES`.
    """
    if not 0 < len(runtime) <= MAX_CODE_BYTES:
        raise ValueError(f"expected 1 to {MAX_CODE_BYTES} bytes of code, got {len(runtime)}")
    size = len(runtime)
    # PUSH2 size, DUP1, PUSH1 10, PUSH0, CODECOPY, PUSH0, RETURN, then the runtime
    head = bytes([0x61, size >> 8, size & 0xFF, 0x80, 0x60, 0x0A, 0x5F, 0x39, 0x5F, 0xF3])
    return head + runtime


def code_hash(parts: Sequence[bytes]) -> bytes:
    """``keccak256(codehash_0 ‖ codehash_1 ‖ …)``: what ``ProgramConstraints.codeHash`` holds."""
    return keccak256(b"".join(keccak256(part) for part in parts))
