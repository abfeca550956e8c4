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
        uint256 groupsAt;
        (prog, groupsAt) = _loadProgram();
        uint256 expected = _u16(prog, 2) + _u16(prog, 4) + _u16(prog, 6);
        if (inputs.length != expected) revert InputLength(0, expected, inputs.length);
        regs = _alloc(32 * _u16(prog, 0));
        uint256 r = regs + 32 * expected;
        assembly ("memory-safe") {
            calldatacopy(regs, inputs.offset, mul(32, inputs.length))
        }
        uint256 ptr = _periodic(prog + 15 + _u8(prog, 14) + 4 * _u16(prog, 2), _u16(prog, 8), r, z, logN);
        groups = _execute(ptr, _u16(prog, 12), regs, _u16(prog, 0));
        if (groupsAt != 0) {
            uint256 size = programLength - groupsAt;
            groups = _alloc(size);
            _load(groups, groupsAt, size);
        }
    }

    /// @dev The `count` periodic columns at `ptr` evaluated at z into the registers from `r`;
    ///      returns the end of their section (the instructions).
    function _periodic(uint256 ptr, uint256 count, uint256 r, uint256 z, uint256 logN)
        private
        pure
        returns (uint256)
    {
        for (uint256 i = 0; i < count; ++i) {
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
        return ptr;
    }

    /// @dev The program into memory: all of it if `_execute` reads the instructions
    ///      (`groupsAt` 0), else only the header, frame and periodic columns, and the groups'
    ///      byte offset in the program, to load after the run (the instructions, most of the
    ///      program, would only cost their memory).
    function _loadProgram() private view returns (uint256 prog, uint256 groupsAt) {
        uint256 length = programLength;
        if (_readsCode()) {
            prog = _alloc(length);
            _load(prog, 0, length);
        } else {
            uint256 codeAt = _codeOffset();
            prog = _alloc(codeAt);
            _load(prog, 0, codeAt);
            groupsAt = codeAt + 7 * _u16(prog, 12);
            if (groupsAt > length) revert ProgramTooLarge(groupsAt);
        }
    }

    /// @dev Whether `_execute` reads the instructions from the loaded program (the
    ///      interpreter); an evaluator running compiled code instead returns false, and only
    ///      the rest of the program is loaded.
    function _readsCode() internal pure virtual returns (bool) {
        return true;
    }

    /// @dev The instructions' byte offset in the program: past the header, the frame and the
    ///      periodic columns (each read from the data contracts as far as its length byte).
    function _codeOffset() private view returns (uint256 at) {
        uint256 head = _alloc(15);
        _load(head, 0, 15);
        at = 15 + _u8(head, 14) + 4 * _u16(head, 2);
        uint256 numPeriodic = _u16(head, 8);
        for (uint256 i = 0; i < numPeriodic; ++i) {
            _load(head, at, 1);
            at += 1 + 4 * (1 << _u8(head, 0));
        }
    }

    /// @dev Runs `count` instructions from `code` on the `numRegs` registers at `regs`; returns
    ///      the end of the code. Here an interpreter (an evaluator may run compiled code
    ///      instead, as ProgramConstraints does). One Yul block: the field operations are
    ///      those of BabyBear.sol, inlined. Lanes are taken as shr(192, shl(192 − 64k, a)),
    ///      which needs no 64-bit mask constant; the dispatch tests the two-operand operations
    ///      (ADD, SUB, MUL) first, then the rest by how often programs use them.
    function _execute(uint256 code, uint256 count, uint256 regs, uint256 numRegs)
        internal
        view
        virtual
        returns (uint256 end)
    {
        numRegs; // the interpreter writes only registers the program names
        end = code + 7 * count;
        uint256 bad;
        assembly ("memory-safe") {
            function reduce(s) -> r {
                r := or(
                    or(mod(shr(192, shl(192, s)), 2013265921), shl(64, mod(shr(192, shl(128, s)), 2013265921))),
                    or(shl(128, mod(shr(192, shl(64, s)), 2013265921)), shl(192, mod(shr(192, s), 2013265921)))
                )
            }
            // a·b = Σ_j b_j·(a·X^j): a·X moves the lanes up one and brings the top one back
            // times 11 (reduced), so every lane of every a·X^j is below p; one MUL multiplies
            // all four lanes by b_j (products below 2^62, four of them below 2^64 per lane).
            // Lanes below 2p (a sum, a difference, a negation of canonical lanes): subtract p
            // from each lane at or above p. In each 64-bit lane, adding 2^32 − p sets bit 32
            // exactly then; that bit, shifted down to bit 0 and times p, is what to subtract.
            function reduce2p(s) -> r {
                r := sub(
                    s,
                    mul(
                        shr(32, and(add(s, 0x0000000087ffffff0000000087ffffff0000000087ffffff0000000087ffffff), 0x0000000100000000000000010000000000000001000000000000000100000000)),
                        2013265921
                    )
                )
            }
            function fmul(a, b) -> r {
                let s := mul(a, shr(192, shl(192, b)))
                a := or(shl(64, a), mulmod(11, shr(192, a), 2013265921))
                s := add(s, mul(a, shr(192, shl(128, b))))
                a := or(shl(64, a), mulmod(11, shr(192, a), 2013265921))
                s := add(s, mul(a, shr(192, shl(64, b))))
                a := or(shl(64, a), mulmod(11, shr(192, a), 2013265921))
                r := reduce(add(s, mul(a, shr(192, b))))
            }
            for { let ptr := code } lt(ptr, end) { ptr := add(ptr, 7) } {
                let word := mload(ptr)
                let op := shr(248, word)
                let result := 0
                switch lt(op, 4)
                case 1 {
                    // ADD, SUB, MUL: two registers
                    let va := mload(add(regs, shl(5, shr(240, shl(24, word)))))
                    let vb := mload(add(regs, shl(5, shr(240, shl(40, word)))))
                    switch op
                    case 1 { result := reduce2p(add(va, vb)) }
                    case 3 { result := fmul(va, vb) }
                    case 2 {
                        // p in every lane: a − b = a + (p − b) lane by lane, no borrow
                        result := reduce2p(add(va, sub(0x0000000078000001000000007800000100000000780000010000000078000001, vb)))
                    }
                    default { bad := op }
                }
                default {
                    switch op
                    case 7 {
                        // a base factor: one MUL multiplies the four lanes (products below 2^62)
                        let va := mload(add(regs, shl(5, shr(240, shl(24, word)))))
                        result := reduce(mul(va, mload(add(regs, shl(5, shr(240, shl(40, word)))))))
                    }
                    // CONST keeps its value where the operands go: never read it as a register.
                    case 6 { result := shr(224, shl(24, word)) }
                    case 4 {
                        let va := mload(add(regs, shl(5, shr(240, shl(24, word)))))
                        result := reduce2p(sub(0x0000000078000001000000007800000100000000780000010000000078000001, va))
                    }
                    case 5 {
                        let va := mload(add(regs, shl(5, shr(240, shl(24, word)))))
                        result := 1
                        for { let e := shr(240, shl(40, word)) } e { e := shr(1, e) } {
                            if and(e, 1) { result := fmul(result, va) }
                            va := fmul(va, va)
                        }
                    }
                    default { bad := op }
                }
                mstore(add(regs, shl(5, shr(240, shl(8, word)))), result)
            }
        }
        if (bad != 0) revert BadInstruction(bad);
    }

    /// @dev Σ over divisor groups of (Σ_k α_k·C_k) / Z_group(z), added as one fraction
    ///      `num / den` and inverted once (an inversion per group cost about 25 000 gas; the
    ///      fraction costs three extension products a group).
    function _combine(uint256 groups, uint256 regs, uint256[] calldata alphas, uint256 z, uint256 logN)
        private
        pure
        returns (uint256 total)
    {
        uint256[4] memory at = [z, BabyBear.rootOfUnity(logN), BabyBear.sub(BabyBear.pow(z, 1 << logN), 1), logN];
        (uint256 num, uint256 den) = _fractions(groups, regs, alphas, at);
        // den is a product of nonzero elements of a field: nonzero
        total = BabyBear.mul(num, BabyBear.inv(den));
    }

    /// @dev `num / den` = Σ_groups acc·f / d, `at` = [z, g, z^n − 1, log n].
    function _fractions(uint256 groups, uint256 regs, uint256[] calldata alphas, uint256[4] memory at)
        private
        pure
        returns (uint256 num, uint256 den)
    {
        den = 1;
        uint256 numGroups = _u16(groups, 0);
        uint256 ptr = groups + 2;
        for (uint256 i = 0; i < numGroups; ++i) {
            (uint256 d, uint256 f) = _divisor(ptr, at[0], at[1], at[2], at[3]);
            uint256 acc = _groupSum(ptr, regs, alphas);
            if (f != 1) acc = BabyBear.mul(acc, f);
            num = BabyBear.add(BabyBear.mul(num, d), BabyBear.mul(acc, den));
            den = BabyBear.mul(den, d);
            ptr += 7 + 4 * _u16(ptr, 5);
        }
    }

    /// @dev The group's divisor as `f / d`: a boundary at `row` (negative: from the end) is
    ///      `1 / (z − g^row)`; a transition exempt on its last `e` rows is
    ///      `Π_{k ≤ e} (z − g^(n−k)) / (z^n − 1)`.
    function _divisor(uint256 group, uint256 z, uint256 g, uint256 zN1, uint256 logN)
        private
        pure
        returns (uint256 d, uint256 f)
    {
        uint256 n = 1 << logN;
        int256 param = int256(int32(uint32(_u32(group, 1))));
        f = 1;
        if (_u8(group, 0) == 1) {
            d = BabyBear.sub(z, BabyBear.powBase(g, uint256(param < 0 ? int256(n) + param : param)));
        } else {
            d = zN1;
            for (uint256 k = 1; k <= uint256(param); ++k) {
                f = BabyBear.mul(f, BabyBear.sub(z, BabyBear.powBase(g, n - k)));
            }
        }
        if (d == 0) revert DivisorVanishes();
    }

    /// @dev Σ_k α_k·C_k over the group's constraints. Each product is left unreduced as its
    ///      convolution c_0 … c_6 (c_i = Σ_{j+l=i} α_j·C_l, each below 4p² < 2^64), in three
    ///      MULs as the compiled code multiplies (crypto/evm_program.py): α·C as 256-bit integers
    ///      holds c_0 … c_3 in its lanes, (α >> 64)·(C >> 64) holds c_4, c_5 in its lanes 2 and
    ///      3, c_6 = α_3·C_3. The c_i are summed over the group (c_0 … c_3 in 128-bit
    ///      accumulators, lanes 0, 2 and 1, 3; c_4, c_5, c_6 in 85-bit lanes of one word: each
    ///      term is below 2^64, so no lane fills before 2^21 constraints) and reduced once,
    ///      lane k = (c_k + 11·c_(k+4)) mod p since X⁴ = 11.
    function _groupSum(uint256 group, uint256 regs, uint256[] calldata alphas)
        private
        pure
        returns (uint256 acc)
    {
        uint256 end = group + 7 + 4 * _u16(group, 5);
        uint256 n = alphas.length;
        bool outOfRange;
        assembly ("memory-safe") {
            let lo := 0
            let hi := 0
            let c := 0
            for { let at := add(group, 7) } lt(at, end) { at := add(at, 4) } {
                let word := mload(at)
                let k := shr(240, word)
                if iszero(lt(k, n)) {
                    outOfRange := 1
                    at := end
                }
                let a := calldataload(add(alphas.offset, shl(5, k)))
                let v := mload(add(regs, shl(5, and(shr(224, word), 0xffff))))
                let m := mul(a, v)
                lo := add(lo, and(m, 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff))
                hi := add(hi, and(shr(64, m), 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff))
                m := shr(128, mul(shr(64, a), shr(64, v)))
                c := add(add(c, and(m, 0xffffffffffffffff)), shl(85, shr(64, m)))
                c := add(c, shl(170, mul(shr(192, a), shr(192, v))))
            }
            let q := 2013265921
            let m := 0xffffffffffffffffffffffffffffffff
            let l := 0x1fffffffffffffffffffff
            acc := or(
                or(addmod(and(lo, m), mulmod(11, and(c, l), q), q), shl(64, addmod(and(hi, m), mulmod(11, and(shr(85, c), l), q), q))),
                or(shl(128, addmod(shr(128, lo), mulmod(11, shr(170, c), q), q)), shl(192, mod(shr(128, hi), q)))
            )
        }
        if (outOfRange) revert InputLength(1, n, n + 1);
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
