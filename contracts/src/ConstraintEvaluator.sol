// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BabyBear} from "./BabyBear.sol";

/// @title An AIR's constraints at the out-of-domain point, interpreted from their expression graph
/// @notice The constraints are written once, as expressions (crypto/expr.py); crypto/solidity.py
///         encodes an AIR's expression graph as a straight-line register program, and a
///         generated contract (src/generated/) deploys it through this base. The program is
///         kept as the code of data contracts (EIP-170 caps each at 24 KB; the poseidon2 AIR
///         alone has 4 000 nodes), read with EXTCODECOPY, and pinned by its Keccak hash.
/// @dev Program layout (big-endian), as written by crypto/solidity.py:
///      header  numRegs u16, numFrame u16, numPubs u16, numChallenges u16, numPeriodic u16,
///              numConstraints u16, numInstructions u16
///      frame   numOffsets u8, offsets u8 each; per frame entry: segment u8 (0 fixed, 1 main,
///              2 aux), column index u16, offset slot u8
///      periodic, per column: log2(period) u8, then period coefficients u32 (of Q, with
///              periodic(i) at z = Q(z^(N / period)))
///      code    numInstructions × 7 bytes: op u8, dst u16, a u16, b u16 (CONST: value u32
///              in place of a, b; POW: exponent u16 in place of b)
///      groups  numGroups u16; per group: kind u8 (0 transition, 1 boundary), param i32
///              (exempted rows, or the boundary row; negative counts from the end),
///              count u16, then count × (constraint index u16, register u16)
///      Registers 0.. hold the frame, then public inputs, challenges, periodic values, then
///      temporaries. Each register is one packed extension element (see BabyBear).
abstract contract ConstraintEvaluator {
    /// @notice An input array has the wrong length.
    error InputLength(uint256 which, uint256 expected, uint256 got);
    /// @notice The out-of-domain point is a root of a constraint divisor.
    error DivisorVanishes();
    /// @notice The program does not fit the data contracts this evaluator can hold.
    error ProgramTooLarge(uint256 length);
    /// @notice The program holds an unknown instruction.
    error BadInstruction(uint256 op);
    /// @notice A data contract could not be created.
    error ChunkDeployFailed();

    uint256 private constant OP_ADD = 1;
    uint256 private constant OP_SUB = 2;
    uint256 private constant OP_MUL = 3;
    uint256 private constant OP_NEG = 4;
    uint256 private constant OP_POW = 5;
    uint256 private constant OP_CONST = 6;
    uint256 private constant OP_MULBASE = 7;
    uint256 private constant CHUNK = 24575;
    /// @dev At most this many data contracts (1.5 MB of program).
    uint256 private constant MAX_CHUNKS = 64;

    /// @notice Keccak-256 of the program: which AIR this evaluator evaluates.
    bytes32 public programHash;
    uint256 private programLength;
    /// @dev The data contracts holding the program, CHUNK bytes each (the last one less).
    address[] private chunks;

    /// @dev Deploy `code` into data contracts (one transaction: fits programs of a few
    ///      chunks; a larger one is deployed chunk by chunk and adopted by `_adoptProgram`).
    function _storeProgram(bytes memory code) internal {
        uint256 length = code.length;
        if (length == 0 || length > MAX_CHUNKS * CHUNK) revert ProgramTooLarge(length);
        address[] memory made = new address[]((length + CHUNK - 1) / CHUNK);
        for (uint256 i = 0; i < made.length; ++i) {
            uint256 lo = i * CHUNK;
            uint256 hi = lo + CHUNK < length ? lo + CHUNK : length;
            made[i] = _deployData(code, lo, hi - lo);
        }
        chunks = made;
        programLength = length;
        programHash = keccak256(code);
    }

    /// @dev Take data contracts deployed beforehand (each: a STOP byte, then CHUNK program
    ///      bytes, the last one fewer) as the program; pinned by the hash of what they hold.
    function _adoptProgram(address[] memory parts, uint256 length) internal {
        if (length == 0 || length > MAX_CHUNKS * CHUNK || parts.length != (length + CHUNK - 1) / CHUNK) {
            revert ProgramTooLarge(length);
        }
        for (uint256 i = 0; i < parts.length; ++i) {
            uint256 size = length - i * CHUNK < CHUNK ? length - i * CHUNK : CHUNK;
            if (parts[i].code.length != size + 1) revert ChunkDeployFailed();
        }
        chunks = parts;
        programLength = length;
        uint256 buf = _alloc(length);
        _load(buf, 0, length);
        bytes32 h;
        assembly ("memory-safe") {
            h := keccak256(buf, length)
        }
        programHash = h;
    }

    /// @notice Σ_k α_k·C_k(z)/Z_k(z): the composition polynomial claimed at z, from the frame.
    /// @param z The out-of-domain point (packed extension element).
    /// @param logN log2 of the trace length.
    /// @param inputs The frame (column values at z·g^offset, in the program's frame order),
    ///        then the public inputs (base elements), then the aux-trace challenges.
    /// @param alphas One composition coefficient per constraint (transitions, then boundaries).
    function compositionAt(uint256 z, uint256 logN, uint256[] calldata inputs, uint256[] calldata alphas)
        external
        view
        returns (uint256)
    {
        (uint256 prog, uint256 regs, uint256 groups) = _run(z, logN, inputs);
        uint256 numConstraints = _u16(prog, 10);
        if (alphas.length != numConstraints) revert InputLength(1, numConstraints, alphas.length);
        return _combine(groups, regs, alphas, z, logN);
    }

    /// @notice Every constraint's value at z (transitions, then boundaries), for testing.
    function constraintsAt(uint256 z, uint256 logN, uint256[] calldata inputs)
        external
        view
        returns (uint256[] memory values)
    {
        (uint256 prog, uint256 regs, uint256 groups) = _run(z, logN, inputs);
        values = new uint256[](_u16(prog, 10));
        uint256 numGroups = _u16(groups, 0);
        uint256 ptr = groups + 2;
        for (uint256 i = 0; i < numGroups; ++i) {
            uint256 count = _u16(ptr, 5);
            ptr += 7;
            for (uint256 j = 0; j < count; ++j) {
                uint256 slot = regs + 32 * _u16(ptr, 2);
                uint256 value;
                assembly ("memory-safe") {
                    value := mload(slot)
                }
                values[_u16(ptr, 0)] = value;
                ptr += 4;
            }
        }
    }

    /// @notice The frame section of the program: offsets, then each entry's segment, column
    ///         and offset slot (see the layout above). The verifier reads its openings by it.
    function frameSpec() external view returns (bytes memory spec) {
        uint256 head = _alloc(15);
        _load(head, 0, 15);
        uint256 length = 1 + _u8(head, 14) + 4 * _u16(head, 2);
        spec = new bytes(length);
        uint256 dst;
        assembly ("memory-safe") {
            dst := add(spec, 32)
        }
        _load(dst, 14, length);
    }

    /// @notice How many input values `inputs` must hold: frame, public inputs, challenges.
    function numInputs() external view returns (uint256 frame, uint256 pubs, uint256 challenges) {
        uint256 prog = _alloc(14);
        _load(prog, 0, 14);
        return (_u16(prog, 2), _u16(prog, 4), _u16(prog, 6));
    }

    /// @notice The program bytes, read back from the data contracts.
    function program() external view returns (bytes memory out) {
        out = new bytes(programLength);
        uint256 dst;
        assembly ("memory-safe") {
            dst := add(out, 32)
        }
        _load(dst, 0, programLength);
    }

    // ------------------------------------------------------------------ internals

    function _run(uint256 z, uint256 logN, uint256[] calldata inputs)
        private
        view
        returns (uint256 prog, uint256 regs, uint256 groups)
    {
        prog = _alloc(programLength);
        _load(prog, 0, programLength);
        uint256 expected = _u16(prog, 2) + _u16(prog, 4) + _u16(prog, 6);
        if (inputs.length != expected) revert InputLength(0, expected, inputs.length);
        regs = _alloc(32 * _u16(prog, 0));
        uint256 r = regs + 32 * expected;
        assembly ("memory-safe") {
            calldatacopy(regs, inputs.offset, mul(32, inputs.length))
        }
        uint256 ptr = prog + 15 + _u8(prog, 14) + 4 * _u16(prog, 2);
        uint256 numPeriodic = _u16(prog, 8);
        for (uint256 i = 0; i < numPeriodic; ++i) {
            uint256 logPeriod = _u8(ptr, 0);
            uint256 y = BabyBear.pow(z, 1 << (logN - logPeriod));
            uint256 acc = 0;
            for (uint256 j = 1 << logPeriod; j > 0; --j) {
                acc = BabyBear.add(BabyBear.mul(acc, y), _u32(ptr, 1 + 4 * (j - 1)));
            }
            ptr += 1 + 4 * (1 << logPeriod);
            assembly ("memory-safe") {
                mstore(r, acc)
                r := add(r, 32)
            }
        }
        groups = _execute(ptr, _u16(prog, 12), regs);
    }

    /// @dev Runs `count` instructions from `code` on the registers; returns the end of the code.
    ///      One Yul block: the field operations are those of BabyBear.sol, inlined.
    function _execute(uint256 code, uint256 count, uint256 regs) private pure returns (uint256 end) {
        end = code + 7 * count;
        uint256 bad;
        assembly ("memory-safe") {
            function reduce(s) -> r {
                let p := 2013265921
                let m := 0xffffffffffffffff
                r := or(
                    or(mod(and(s, m), p), shl(64, mod(and(shr(64, s), m), p))),
                    or(shl(128, mod(and(shr(128, s), m), p)), shl(192, mod(shr(192, s), p)))
                )
            }
            function fmul(a, b) -> r {
                let p := 2013265921
                let m := 0xffffffffffffffff
                let a0 := and(a, m)
                let a1 := and(shr(64, a), m)
                let a2 := and(shr(128, a), m)
                let a3 := shr(192, a)
                let b0 := and(b, m)
                let b1 := and(shr(64, b), m)
                let b2 := and(shr(128, b), m)
                let b3 := shr(192, b)
                r := or(
                    or(
                        mod(add(mul(a0, b0), mul(11, add(add(mul(a1, b3), mul(a2, b2)), mul(a3, b1)))), p),
                        shl(64, mod(add(add(mul(a0, b1), mul(a1, b0)), mul(11, add(mul(a2, b3), mul(a3, b2)))), p))
                    ),
                    or(
                        shl(128, mod(add(add(add(mul(a0, b2), mul(a1, b1)), mul(a2, b0)), mul(11, mul(a3, b3))), p)),
                        shl(192, mod(add(add(mul(a0, b3), mul(a1, b2)), add(mul(a2, b1), mul(a3, b0))), p))
                    )
                )
            }
            // p in every lane: a − b = a + (p − b) lane by lane, no borrow.
            let p4 := 0x0000000078000001000000007800000100000000780000010000000078000001
            for { let ptr := code } lt(ptr, end) { ptr := add(ptr, 7) } {
                let word := mload(ptr)
                let op := shr(248, word)
                let dst := add(regs, shl(5, and(shr(232, word), 0xffff)))
                // CONST keeps its value where the operands go: never read it as a register.
                let va := 0
                if iszero(eq(op, 6)) { va := mload(add(regs, shl(5, and(shr(216, word), 0xffff)))) }
                let bField := and(shr(200, word), 0xffff)
                let result := 0
                switch op
                case 1 { result := reduce(add(va, mload(add(regs, shl(5, bField))))) }
                case 2 { result := reduce(add(va, sub(p4, mload(add(regs, shl(5, bField)))))) }
                case 3 { result := fmul(va, mload(add(regs, shl(5, bField)))) }
                case 4 { result := reduce(sub(p4, va)) }
                case 5 {
                    result := 1
                    for { let e := bField } e { e := shr(1, e) } {
                        if and(e, 1) { result := fmul(result, va) }
                        va := fmul(va, va)
                    }
                }
                case 6 { result := and(shr(200, word), 0xffffffff) }
                case 7 {
                    let sc := mload(add(regs, shl(5, bField)))
                    let p := 2013265921
                    let m := 0xffffffffffffffff
                    result := or(
                        or(mulmod(and(va, m), sc, p), shl(64, mulmod(and(shr(64, va), m), sc, p))),
                        or(shl(128, mulmod(and(shr(128, va), m), sc, p)), shl(192, mulmod(shr(192, va), sc, p)))
                    )
                }
                default { bad := op }
                mstore(dst, result)
            }
        }
        if (bad != 0) revert BadInstruction(bad);
    }

    /// @dev Σ over divisor groups of (Σ_k α_k·C_k) / Z_group(z).
    function _combine(uint256 groups, uint256 regs, uint256[] calldata alphas, uint256 z, uint256 logN)
        private
        pure
        returns (uint256 total)
    {
        uint256 numGroups = _u16(groups, 0);
        uint256 ptr = groups + 2;
        for (uint256 i = 0; i < numGroups; ++i) {
            uint256 acc = _groupSum(ptr, regs, alphas);
            int256 param = int256(int32(uint32(_u32(ptr, 1))));
            total = BabyBear.add(total, BabyBear.mul(acc, _inverseDivisor(_u8(ptr, 0), param, z, logN)));
            ptr += 7 + 4 * _u16(ptr, 5);
        }
    }

    /// @dev Σ_k α_k·C_k over one divisor group's constraints.
    function _groupSum(uint256 group, uint256 regs, uint256[] calldata alphas)
        private
        pure
        returns (uint256 acc)
    {
        uint256 end = group + 7 + 4 * _u16(group, 5);
        for (uint256 at = group + 7; at < end; at += 4) {
            uint256 slot = regs + 32 * _u16(at, 2);
            uint256 value;
            assembly ("memory-safe") {
                value := mload(slot)
            }
            acc = BabyBear.add(acc, BabyBear.mul(alphas[_u16(at, 0)], value));
        }
    }

    function _inverseDivisor(uint256 kind, int256 param, uint256 z, uint256 logN)
        private
        pure
        returns (uint256)
    {
        uint256 n = 1 << logN;
        uint256 g = BabyBear.rootOfUnity(logN);
        if (kind == 1) {
            uint256 row = uint256(param < 0 ? int256(n) + param : param);
            uint256 d = BabyBear.sub(z, BabyBear.powBase(g, row));
            if (d == 0) revert DivisorVanishes();
            return BabyBear.inv(d);
        }
        uint256 den = BabyBear.sub(BabyBear.pow(z, n), 1);
        if (den == 0) revert DivisorVanishes();
        uint256 num = 1;
        uint256 exempt = uint256(param);
        for (uint256 k = 1; k <= exempt; ++k) {
            num = BabyBear.mul(num, BabyBear.sub(z, BabyBear.powBase(g, n - k)));
        }
        return BabyBear.mul(num, BabyBear.inv(den));
    }

    /// @dev Copy program bytes [from, from + size) to memory at `dst`, across data contracts.
    function _load(uint256 dst, uint256 from, uint256 size) private view {
        uint256 end = from + size;
        while (from < end) {
            uint256 i = from / CHUNK;
            uint256 inChunk = from - i * CHUNK;
            uint256 take = CHUNK - inChunk < end - from ? CHUNK - inChunk : end - from;
            address chunk = chunks[i];
            assembly ("memory-safe") {
                // Skip the leading STOP byte that keeps the data from being called as code.
                extcodecopy(chunk, dst, add(1, inChunk), take)
            }
            dst += take;
            from += take;
        }
    }

    function _deployData(bytes memory data, uint256 lo, uint256 size) private returns (address addr) {
        // Init code: PUSH2 size+1, DUP1, PUSH1 10, RETURNDATASIZE, CODECOPY, RETURNDATASIZE,
        // RETURN, then the runtime code: STOP and the data.
        bytes memory init = new bytes(11 + size);
        uint256 runtime = size + 1;
        init[0] = 0x61;
        init[1] = bytes1(uint8(runtime >> 8));
        init[2] = bytes1(uint8(runtime));
        init[3] = 0x80;
        init[4] = 0x60;
        init[5] = 0x0a;
        init[6] = 0x3d;
        init[7] = 0x39;
        init[8] = 0x3d;
        init[9] = 0xf3;
        init[10] = 0x00;
        assembly ("memory-safe") {
            mcopy(add(init, 43), add(add(data, 32), lo), size)
            addr := create(0, add(init, 32), mload(init))
        }
        if (addr == address(0)) revert ChunkDeployFailed();
    }

    function _alloc(uint256 size) private pure returns (uint256 ptr) {
        assembly ("memory-safe") {
            ptr := mload(0x40)
            // Round up and leave a word of slack: instructions are read a word at a time.
            mstore(0x40, add(ptr, and(add(size, 63), not(31))))
        }
    }

    function _u8(uint256 ptr, uint256 at) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(248, mload(add(ptr, at)))
        }
    }

    function _u16(uint256 ptr, uint256 at) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(240, mload(add(ptr, at)))
        }
    }

    function _u32(uint256 ptr, uint256 at) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(224, mload(add(ptr, at)))
        }
    }
}
