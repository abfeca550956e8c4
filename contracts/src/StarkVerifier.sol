// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BabyBear} from "./BabyBear.sol";
import {ConstraintEvaluator} from "./ConstraintEvaluator.sol";

/// @title Verifier of sealbatch STARK proofs (format version 2) for one AIR and one option set
/// @notice Replays the Keccak Fiat–Shamir transcript of crypto/channel.py, checks the batched
///         Merkle openings, the out-of-domain constraint check (through the AIR's generated
///         ConstraintEvaluator), the DEEP composition at the queries, FRI folding and the
///         proof of work, exactly as crypto/verifier.py does (docs/stark.md, "Protocol").
///         The AIR, its row count, the options and the fixed-column root are fixed at
///         deployment; the caller supplies the public inputs, and the proof's header must
///         repeat them and everything else byte for byte. `verify` returns true or reverts
///         with a custom error naming the failed check.
contract StarkVerifier {
    /// @notice The proof ends before a field it must hold.
    error Truncated(uint256 at);
    /// @notice Bytes follow the last field.
    error TrailingBytes(uint256 extra);
    /// @notice The header (magic, version, AIR, rows, options, public inputs, shape) differs.
    error HeaderMismatch();
    /// @notice A field element in the proof or the public inputs is not below p.
    error NotCanonical(uint256 at);
    /// @notice A count in the proof differs from what the AIR and the transcript give.
    error CountMismatch(uint256 which, uint256 expected, uint256 got);
    /// @notice The out-of-domain point lies in the trace domain or the LDE coset.
    error OodPointInDomain();
    /// @notice Σ α_k C_k(z)/Z_k(z) differs from Σ z^(iN) H_i(z).
    error OodMismatch();
    /// @notice The proof-of-work nonce does not give enough leading zero bits.
    error ProofOfWork();
    /// @notice A Merkle opening does not lead to its root (`tree`: 0 fixed, 1 main, 2 aux,
    ///         3 composition, 4 + ℓ FRI layer ℓ).
    error MerkleMismatch(uint256 tree);
    /// @notice A Merkle opening has too few or too many nodes.
    error MerkleNodeCount(uint256 tree);
    /// @notice A FRI layer's opened value differs from the DEEP or folded value.
    error FriValueMismatch(uint256 layer);
    /// @notice The remainder polynomial does not match the last folded layer.
    error FriRemainderMismatch();
    /// @notice A DEEP denominator x − z·g^o vanishes at a queried point.
    error DeepPointCollision();
    /// @notice The public tables are malformed (`at`: their byte offset), or given to an AIR
    ///         without derived challenges.
    error BadTables(uint256 at);
    /// @notice β equals a public table entry's compression (a LogUp denominator is zero).
    error TableDenominatorZero();
    /// @notice The DEEP table's layout could not be stored (constructor: a value past 16 bits,
    ///         an element twice in the frame, or more than EIP-170 allows).
    error LayoutDeployFailed();

    /// @notice How the verifier is configured: fixed at deployment.
    struct Config {
        bytes32 airName; // ASCII, left-aligned
        uint8 airNameLength;
        uint8 logRows;
        uint8 logBlowup;
        uint16 numQueries;
        uint8 logFolding;
        uint8 grindingBits;
        uint8 logRemainder;
        uint16 numFixed;
        uint16 numMain;
        uint16 numAux;
        uint8 numComposition;
        uint16 numChallenges;
        uint16 numConstraints;
        uint16 numPublicInputs;
        uint8 friLayers;
        uint16 remainderSize;
        bytes32 fixedRoot;
        uint8 numDerived; // 0, or 1: the LogUp sum of the public tables (crypto/bus.py)
        uint16 busBeta; // the challenge index of the bus's β (γ is the next one)
    }

    uint256 private constant P = BabyBear.P;
    uint256 private constant SHIFT = 31;
    bytes18 private constant VERSION_TAG = "sealbatch-stark-v2";
    bytes8 private constant MAGIC = 0x5342535441524b02; // "SBSTARK" ‖ version 2

    ConstraintEvaluator public immutable evaluator;
    bytes32 private immutable airName;
    uint256 private immutable airNameLength;
    uint256 private immutable logRows;
    uint256 private immutable logBlowup;
    uint256 private immutable numQueries;
    uint256 private immutable logFolding;
    uint256 private immutable grindingBits;
    uint256 private immutable logRemainder;
    uint256 private immutable numFixed;
    uint256 private immutable numMain;
    uint256 private immutable numAux;
    uint256 private immutable numComposition;
    uint256 private immutable numChallenges;
    uint256 private immutable numConstraints;
    uint256 private immutable numPublicInputs;
    uint256 private immutable friLayers;
    uint256 private immutable remainderSize;
    bytes32 private immutable fixedRoot;
    uint256 private immutable numDerived;
    uint256 private immutable busBeta;
    /// @notice The DEEP table's layout (`_deepLayout`), worked out from the frame at deployment
    ///         and kept as the code of a data contract (after a STOP byte), and its length.
    address public immutable deepLayout;
    uint256 private immutable deepLayoutSize;

    /// @dev Everything one verification carries between its steps (memory, not stack).
    struct Ctx {
        uint256 cur; // calldata cursor
        uint256 end;
        bytes32 state; // transcript
        uint256 counter;
        uint256 pool;
        uint256 left;
        bytes32 mainRoot;
        bytes32 auxRoot;
        bytes32 compRoot;
        uint256 z;
        uint256 frameAt; // calldata offset of the frame values
        uint256 frameLen;
        uint256[] challenges;
        uint256 alpha; // the constraints' coefficients are its powers (`_compositionAt`)
        uint256[] gammas;
        bytes32[] friRoots;
        uint256[] betas;
        uint256 remainderAt;
        uint256[] positions;
        uint256[4] rowsAt; // calldata offsets of fixed, main, aux, composition rows
        uint256[] deep;
        uint256[] sums; // Σ_e γ_e·v_e per offset slot (DEEP's z side)
        bytes spec;
        uint256[7] gas; // transcript+parse, constraints, merkle, deep, fri, FRI-layer merkle, tables
    }

    /// @param evaluator_ The AIR's generated constraint evaluator.
    /// @param config The AIR's shape and the options (see `Config`).
    constructor(ConstraintEvaluator evaluator_, Config memory config) {
        evaluator = evaluator_;
        airName = config.airName;
        airNameLength = config.airNameLength;
        logRows = config.logRows;
        logBlowup = config.logBlowup;
        numQueries = config.numQueries;
        logFolding = config.logFolding;
        grindingBits = config.grindingBits;
        logRemainder = config.logRemainder;
        numFixed = config.numFixed;
        numMain = config.numMain;
        numAux = config.numAux;
        numComposition = config.numComposition;
        numChallenges = config.numChallenges;
        numConstraints = config.numConstraints;
        numPublicInputs = config.numPublicInputs;
        friLayers = config.friLayers;
        remainderSize = config.remainderSize;
        fixedRoot = config.fixedRoot;
        numDerived = config.numDerived;
        busBeta = config.busBeta;
        bytes memory layout = _deepLayout(evaluator_.frameSpec(), config.numComposition);
        deepLayout = _deployData(layout);
        deepLayoutSize = layout.length;
    }

    /// @notice Verify `proof` for the statement `publicInputs` (no public tables); returns true
    ///         or reverts.
    function verify(uint256[] calldata publicInputs, bytes calldata proof) external view returns (bool) {
        _verify(publicInputs, proof[0:0], proof);
        return true;
    }

    /// @notice Verify `proof` for `publicInputs` and the bus's public `tables`, whose LogUp sum
    ///         this contract computes itself (the AIR's derived challenge, crypto/bus.py). The
    ///         caller binds the tables to its statement (`tables` is hashed by `tablesHash`).
    /// @param tables count u16; per table: tag u32, receive u8 (1: the verifier receives, so
    ///        the trace sends), width u8, rows u32, then per row its multiplicity u32 and its
    ///        `width` values u32 (each below p).
    function verifyWithTables(uint256[] calldata publicInputs, bytes calldata tables, bytes calldata proof)
        external
        view
        returns (bool)
    {
        _verify(publicInputs, tables, proof);
        return true;
    }

    /// @notice `verifyWithTables`, returning the gas spent per step: transcript and parsing,
    ///         constraint evaluation, Merkle openings, DEEP composition, FRI folding, (FRI
    ///         layers' Merkle, counted in Merkle), public tables' LogUp sum.
    function verifyWithGasReport(uint256[] calldata publicInputs, bytes calldata tables, bytes calldata proof)
        external
        view
        returns (uint256[7] memory gasUsed)
    {
        return _verify(publicInputs, tables, proof).gas;
    }

    /// @notice The Keccak-256 of `tables`, as a caller binds them (e.g. in an event).
    function tablesHash(bytes calldata tables) external pure returns (bytes32) {
        return keccak256(tables);
    }

    // ---------------------------------------------------------------- protocol

    function _verify(uint256[] calldata pubs, bytes calldata tables, bytes calldata proof)
        private
        view
        returns (Ctx memory ctx)
    {
        uint256 g0 = gasleft();
        ctx.cur = _offset(proof);
        ctx.end = ctx.cur + proof.length;
        ctx.spec = evaluator.frameSpec();
        _header(ctx, pubs);
        // 1–3: fixed root, main root, challenges, aux root
        if (numFixed != 0) _absorb32(ctx, fixedRoot);
        ctx.mainRoot = _read32(ctx);
        _absorb32(ctx, ctx.mainRoot);
        ctx.challenges = _drawExts(ctx, numChallenges);
        {
            uint256 gt = gasleft();
            ctx.challenges = _derive(ctx.challenges, tables);
            ctx.gas[6] = gt - gasleft();
        }
        if (numAux != 0) {
            ctx.auxRoot = _read32(ctx);
            _absorb32(ctx, ctx.auxRoot);
        }
        // 4–6: composition coefficients, composition root, z
        ctx.alpha = _drawExt(ctx);
        ctx.compRoot = _read32(ctx);
        _absorb32(ctx, ctx.compRoot);
        ctx.z = _drawExt(ctx);
        // 7–8: the out-of-domain values, then the DEEP coefficients
        uint256 frameLen = _u16(ctx);
        _expect(ctx, 0, _specFrameLength(ctx.spec), frameLen);
        ctx.frameLen = frameLen;
        ctx.frameAt = _take(ctx, 16 * (frameLen + numComposition));
        _checkElements(ctx.frameAt, 4 * (frameLen + numComposition));
        _absorbCalldata(ctx, ctx.frameAt, 16 * (frameLen + numComposition));
        ctx.gammas = _drawExts(ctx, frameLen + numComposition);
        // 9–10: FRI roots and betas, remainder
        _expect(ctx, 1, friLayers, _u8(ctx));
        ctx.friRoots = new bytes32[](friLayers);
        ctx.betas = new uint256[](friLayers);
        for (uint256 l = 0; l < friLayers; ++l) {
            ctx.friRoots[l] = _read32(ctx);
            _absorb32(ctx, ctx.friRoots[l]);
            ctx.betas[l] = _drawExt(ctx);
        }
        _expect(ctx, 2, remainderSize, _u16(ctx));
        ctx.remainderAt = _take(ctx, 16 * remainderSize);
        _checkElements(ctx.remainderAt, 4 * remainderSize);
        _absorbCalldata(ctx, ctx.remainderAt, 16 * remainderSize);
        // 11–12: proof of work, query positions
        _proofOfWork(ctx);
        ctx.positions = _drawPositions(ctx);
        ctx.gas[0] = g0 - gasleft() - ctx.gas[6];

        uint256 g1 = gasleft();
        _outOfDomain(ctx, pubs);
        ctx.gas[1] = g1 - gasleft() - ctx.gas[3];

        g1 = gasleft();
        _expect(ctx, 3, ctx.positions.length, _u16(ctx));
        _openRows(ctx);
        ctx.gas[2] = g1 - gasleft();

        g1 = gasleft();
        _deep(ctx);
        ctx.gas[3] += g1 - gasleft();

        g1 = gasleft();
        _fri(ctx);
        // The FRI layers' Merkle openings are counted under Merkle (gas[2]), not twice.
        ctx.gas[4] = g1 - gasleft() - ctx.gas[5];
        if (ctx.cur != ctx.end) revert TrailingBytes(ctx.end - ctx.cur);
    }

    /// @dev The header must be the one this contract would write for `pubs`.
    function _header(Ctx memory ctx, uint256[] calldata pubs) private view {
        if (pubs.length != numPublicInputs) revert CountMismatch(4, numPublicInputs, pubs.length);
        bytes memory packedPubs = new bytes(4 * pubs.length);
        for (uint256 i = 0; i < pubs.length; ++i) {
            uint256 v = pubs[i];
            if (v >= P) revert NotCanonical(i);
            assembly ("memory-safe") {
                mstore(add(add(packedPubs, 32), mul(4, i)), shl(224, v))
            }
        }
        bytes memory name = new bytes(airNameLength);
        bytes32 nameWord = airName;
        assembly ("memory-safe") {
            mstore(add(name, 32), nameWord)
        }
        bytes memory options = abi.encodePacked(
            uint8(logBlowup), uint16(numQueries), uint8(logFolding), uint8(grindingBits), uint8(logRemainder)
        );
        bytes memory header = abi.encodePacked(
            MAGIC,
            uint8(airNameLength),
            name,
            uint8(logRows),
            options,
            uint16(pubs.length),
            packedPubs,
            abi.encodePacked(uint16(numFixed), uint16(numMain), uint16(numAux), uint8(numComposition))
        );
        uint256 at = _take(ctx, header.length);
        bytes32 got;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, at, mload(header))
            got := keccak256(ptr, mload(header))
        }
        if (got != keccak256(header)) revert HeaderMismatch();
        ctx.state = keccak256(
            abi.encodePacked(
                VERSION_TAG,
                uint16(airNameLength),
                name,
                uint64(1 << logRows),
                uint16(6),
                options,
                uint32(pubs.length),
                packedPubs
            )
        );
    }

    /// @dev Steps 6 and the OOD check: z outside both domains, constraints vs composition.
    function _outOfDomain(Ctx memory ctx, uint256[] calldata pubs) private view {
        uint256 n = 1 << logRows;
        uint256 size = n << logBlowup;
        uint256 zN = BabyBear.pow(ctx.z, n);
        if (zN == 1 || BabyBear.pow(zN, 1 << logBlowup) == BabyBear.powBase(SHIFT, size)) {
            revert OodPointInDomain();
        }
        uint256 expected = _compositionAndSums(ctx, pubs);
        uint256 claimed = 0;
        for (uint256 i = numComposition; i > 0; --i) {
            claimed = BabyBear.add(BabyBear.mul(claimed, zN), _ext(ctx.frameAt + 16 * (ctx.frameLen + i - 1)));
        }
        if (claimed != expected) revert OodMismatch();
    }

    /// @dev `_compositionAt`, then DEEP's sums (`ctx.sums`, gas counted under DEEP) from the
    ///      frame values its call packed in scratch memory, so their accumulators are
    ///      allocated first.
    function _compositionAndSums(Ctx memory ctx, uint256[] calldata pubs) private view returns (uint256 expected) {
        uint256 numOffsets = uint8(ctx.spec[0]);
        uint256[] memory acc = new uint256[](3 * numOffsets);
        uint256 packed;
        (expected, packed) = _compositionAt(ctx, pubs);
        uint256 g = gasleft();
        ctx.sums = _deepSums(ctx, acc, numOffsets, packed);
        ctx.gas[3] = g - gasleft();
    }

    /// @dev `evaluator.compositionAt(z, logRows, inputs, alphas)` with `inputs` = the frame
    ///      values, `pubs` and the challenges, ABI-encoded straight into scratch memory past
    ///      the free pointer (no array built first and copied again: about 0.7 M gas at the
    ///      batch AIR's width). A revert in the evaluator is passed on as it is.
    ///      Returns also where the packed frame values are (scratch: valid until the next
    ///      allocation), then the composition values (`numComposition` of them, from calldata).
    function _compositionAt(Ctx memory ctx, uint256[] calldata pubs)
        private
        view
        returns (uint256 expected, uint256 packed)
    {
        uint256 buf;
        uint256 powersAt;
        {
            uint256 frameLen = ctx.frameLen;
            uint256 frameAt = ctx.frameAt;
            uint256[] memory challenges = ctx.challenges;
            bytes4 selector = ConstraintEvaluator.compositionAt.selector;
            uint256 z = ctx.z;
            uint256 logN = logRows;
            uint256 numA = numConstraints;
            assembly ("memory-safe") {
                let numIn := add(add(frameLen, pubs.length), mload(challenges))
                buf := mload(0x40)
                // selector, z, logN, the two arrays' offsets (from the arguments' start), inputs
                mstore(buf, selector)
                mstore(add(buf, 4), z)
                mstore(add(buf, 36), logN)
                mstore(add(buf, 68), 128)
                mstore(add(buf, 100), add(160, shl(5, numIn)))
                mstore(add(buf, 132), numIn)
                let dst := add(buf, 164)
                packed := dst
                // each frame value: four u32 lanes (big-endian in the proof) packed low lane first
                for { let end := add(frameAt, shl(4, frameLen)) } lt(frameAt, end) { frameAt := add(frameAt, 16) } {
                    let w := calldataload(frameAt)
                    mstore(
                        dst,
                        or(
                            or(shr(224, w), shl(64, and(shr(192, w), 0xffffffff))),
                            or(shl(128, and(shr(160, w), 0xffffffff)), shl(192, and(shr(128, w), 0xffffffff)))
                        )
                    )
                    dst := add(dst, 32)
                }
                calldatacopy(dst, pubs.offset, shl(5, pubs.length))
                dst := add(dst, shl(5, pubs.length))
                mcopy(dst, add(challenges, 32), shl(5, mload(challenges)))
                dst := add(dst, shl(5, mload(challenges)))
                mstore(dst, numA)
                powersAt := add(dst, 32)
            }
        }
        // the alphas, 1, α, α², …, written where the call's last array goes (no allocation)
        _powersInto(powersAt, ctx.alpha, numConstraints);
        address target = address(evaluator);
        uint256 size = powersAt + 32 * numConstraints - buf;
        assembly ("memory-safe") {
            let ok := staticcall(gas(), target, buf, size, 0, 32)
            if iszero(ok) {
                returndatacopy(buf, 0, returndatasize())
                revert(buf, returndatasize())
            }
            if iszero(eq(returndatasize(), 32)) { revert(0, 0) }
            expected := mload(0)
        }
    }

    /// @dev The fixed, main, aux and composition rows at the positions, against their roots.
    function _openRows(Ctx memory ctx) private view {
        uint256 q = ctx.positions.length;
        uint256 logSize = logRows + logBlowup;
        if (numFixed != 0) {
            ctx.rowsAt[0] = _rows(ctx, numFixed, q, fixedRoot, logSize, 0);
        }
        ctx.rowsAt[1] = _rows(ctx, numMain, q, ctx.mainRoot, logSize, 1);
        if (numAux != 0) {
            ctx.rowsAt[2] = _rows(ctx, 4 * numAux, q, ctx.auxRoot, logSize, 2);
        }
        ctx.rowsAt[3] = _rows(ctx, 4 * numComposition, q, ctx.compRoot, logSize, 3);
    }

    function _rows(Ctx memory ctx, uint256 width, uint256 q, bytes32 root, uint256 logLeaves, uint256 tree)
        private
        pure
        returns (uint256 at)
    {
        uint256 rowBytes = 4 * width;
        at = _take(ctx, rowBytes * q);
        _checkElements(at, width * q);
        bytes32[] memory digests = _leafDigests(at, rowBytes, q);
        _merkle(ctx, root, logLeaves, _copy(ctx.positions), digests, tree);
    }

    /// @dev DEEP(x) at every query position (docs/stark.md, "DEEP composition and FRI").
    ///      Σ_e γ_e·v_e per offset slot is computed once (`_deepSums`); per query, each slot's
    ///      Σ_e γ_e·c_e(x) runs over a table of blocks of opened base elements (`_deepTable`)
    ///      and the slots' terms are added as one fraction, inverted once.
    function _deep(Ctx memory ctx) private view {
        bytes memory spec = ctx.spec;
        uint256 numOffsets = uint8(spec[0]);
        // z·g^o per offset slot
        uint256[] memory zPoints = new uint256[](numOffsets);
        {
            uint256 g = BabyBear.rootOfUnity(logRows);
            for (uint256 s = 0; s < numOffsets; ++s) {
                zPoints[s] = BabyBear.mulBase(ctx.z, BabyBear.powBase(g, uint8(spec[1 + s])));
            }
        }
        uint256[] memory sums = ctx.sums;
        (uint256[] memory table, uint256[] memory bounds) = _deepTable(ctx, spec, numOffsets);
        uint256 q = ctx.positions.length;
        ctx.deep = new uint256[](q);
        uint256 w = BabyBear.rootOfUnity(logRows + logBlowup);
        uint256[4] memory rows;
        for (uint256 j = 0; j < q; ++j) {
            rows[0] = ctx.rowsAt[0] + 4 * numFixed * j;
            rows[1] = ctx.rowsAt[1] + 4 * numMain * j;
            rows[2] = ctx.rowsAt[2] + 16 * numAux * j;
            rows[3] = ctx.rowsAt[3] + 16 * numComposition * j;
            uint256 x = mulmod(SHIFT, BabyBear.powBase(w, ctx.positions[j]), P);
            // Σ_s (n_s − sums_s)/(x − z·g^(o_s)) as one fraction num/den
            uint256 num = 0;
            uint256 den = 1;
            for (uint256 s = 0; s < numOffsets; ++s) {
                uint256 d = BabyBear.sub(x, zPoints[s]);
                uint256 n = BabyBear.sub(_deepSlot(table, bounds, s, rows), sums[s]);
                num = BabyBear.add(BabyBear.mul(num, d), BabyBear.mul(n, den));
                den = BabyBear.mul(den, d);
            }
            // den is a product of field elements: zero exactly when one x − z·g^o is
            if (den == 0) revert DeepPointCollision();
            ctx.deep[j] = BabyBear.mul(num, _invExt(den));
        }
    }

    /// @dev Σ_e γ_e·v_e per offset slot over the frame values (composition values at slot 0),
    ///      the frame values read packed from memory at `packed` (`_compositionAt`'s scratch:
    ///      nothing is allocated before they are read; `acc`, three zero words a slot, was).
    ///      Each product is left unreduced as its convolution c_0 … c_6 (c_i = Σ_{j+k=i} γ_j·v_k,
    ///      each below 4p² < 2^64), taken in three MULs as in the compiled constraint code
    ///      (crypto/evm_program.py): γ·v as 256-bit integers holds c_0 … c_3 in its lanes (none
    ///      carries; the higher ones fall off), (γ >> 64)·(v >> 64) holds c_4, c_5 in its lanes
    ///      2 and 3, and c_6 = γ_3·v_3. The c_i are summed over a slot's entries (`_deepSumsRun`)
    ///      and reduced once: lane k is (c_k + 11·c_(k+4)) mod p, since X⁴ = 11.
    function _deepSums(Ctx memory ctx, uint256[] memory acc, uint256 numOffsets, uint256 packed)
        private
        view
        returns (uint256[] memory sums)
    {
        uint256 frameLen = ctx.frameLen;
        bytes memory spec = ctx.spec;
        uint256[] memory gammas = ctx.gammas;
        uint256 entry;
        uint256 g;
        assembly ("memory-safe") {
            entry := add(add(spec, 33), numOffsets)
            g := add(gammas, 32)
        }
        _deepSumsRun(acc, entry, g, packed, packed + 32 * frameLen);
        _deepSumsComposition(acc, g + 32 * frameLen, ctx.frameAt + 16 * frameLen, numComposition);
        sums = new uint256[](numOffsets);
        uint256 l = type(uint128).max;
        uint256 l85 = (1 << 85) - 1;
        for (uint256 s = 0; s < numOffsets; ++s) {
            uint256 lo = acc[3 * s];
            uint256 hi = acc[3 * s + 1];
            uint256 c = acc[3 * s + 2];
            sums[s] = BabyBear.pack(
                addmod(lo & l, mulmod(11, c & l85, P), P),
                addmod(hi & l, mulmod(11, (c >> 85) & l85, P), P),
                addmod(lo >> 128, mulmod(11, c >> 170, P), P),
                (hi >> 128) % P
            );
        }
    }

    /// @dev The sums of `_deepSums` over the frame entries, three words per slot in `acc`:
    ///      c_0 and c_2 (128-bit lanes), c_1 and c_3, then c_4, c_5, c_6 in 85-bit lanes (each
    ///      term is below 2^64: no lane fills before 2^21 entries). The current slot's sums stay
    ///      on the stack and are added to its words when the slot changes (the frame is ordered
    ///      by offset: once). `entry`: the spec's first frame entry; `g`: the first DEEP
    ///      coefficient; `v`: the first packed frame value in memory, `end` past the last.
    function _deepSumsRun(uint256[] memory acc, uint256 entry, uint256 g, uint256 v, uint256 end) private pure {
        assembly ("memory-safe") {
            let slot := 0
            let lo := 0
            let hi := 0
            let c := 0
            for {} lt(v, end) {
                v := add(v, 32)
                g := add(g, 32)
                entry := add(entry, 4)
            } {
                {
                    let next := and(shr(224, mload(entry)), 0xff)
                    if iszero(eq(next, slot)) {
                        let at := add(add(acc, 32), mul(96, slot))
                        mstore(at, add(mload(at), lo))
                        mstore(add(at, 32), add(mload(add(at, 32)), hi))
                        mstore(add(at, 64), add(mload(add(at, 64)), c))
                        slot := next
                        lo := 0
                        hi := 0
                        c := 0
                    }
                }
                let gamma := mload(g)
                let value := mload(v)
                let m := mul(gamma, value)
                lo := add(lo, and(m, 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff))
                hi := add(hi, and(shr(64, m), 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff))
                m := shr(128, mul(shr(64, gamma), shr(64, value)))
                c := add(add(c, and(m, 0xffffffffffffffff)), shl(85, shr(64, m)))
                c := add(c, shl(170, mul(shr(192, gamma), shr(192, value))))
            }
            let at := add(add(acc, 32), mul(96, slot))
            mstore(at, add(mload(at), lo))
            mstore(add(at, 32), add(mload(add(at, 32)), hi))
            mstore(add(at, 64), add(mload(add(at, 64)), c))
        }
    }

    /// @dev The composition values' terms of `_deepSums` (slot 0), read from calldata at `f`
    ///      (four big-endian u32 lanes each), their coefficients from `g`.
    function _deepSumsComposition(uint256[] memory acc, uint256 g, uint256 f, uint256 count) private pure {
        assembly ("memory-safe") {
            let lo := 0
            let hi := 0
            let c := 0
            for { let end := add(f, shl(4, count)) } lt(f, end) {
                f := add(f, 16)
                g := add(g, 32)
            } {
                let gamma := mload(g)
                let v := calldataload(f)
                v := or(
                    or(shr(224, v), shl(64, and(shr(192, v), 0xffffffff))),
                    or(shl(128, and(shr(160, v), 0xffffffff)), shl(192, and(shr(128, v), 0xffffffff)))
                )
                let m := mul(gamma, v)
                lo := add(lo, and(m, 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff))
                hi := add(hi, and(shr(64, m), 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff))
                m := shr(128, mul(shr(64, gamma), shr(64, v)))
                c := add(add(c, and(m, 0xffffffffffffffff)), shl(85, shr(64, m)))
                c := add(c, shl(170, mul(shr(192, gamma), shr(192, v))))
            }
            let at := add(acc, 32)
            mstore(at, add(mload(at), lo))
            mstore(add(at, 32), add(mload(add(at, 32)), hi))
            mstore(add(at, 64), add(mload(add(at, 64)), c))
        }
    }

    /// @dev DEEP's opened base elements, in blocks of eight consecutive elements of one
    ///      segment's row (0 fixed, 1 main, 2 aux, 3 composition) at one offset slot.
    ///      `table`: per block nine words, the block's byte offset in its row, then each
    ///      element's coefficient (a packed extension element; 0 for an element not in the
    ///      frame). A fixed or main entry is one element with coefficient γ_e; an aux entry (and
    ///      a composition column) is four, its coefficients c_k with γ·X^k, since
    ///      γ·Σ_k c_k·X^k = Σ_k c_k·(γ·X^k). Blocks are grouped by key 4·slot + segment:
    ///      `bounds[key]` is the group's first block, `bounds[4·slots]` the end.
    ///      Which block and lane each element takes depends only on the frame, so it was
    ///      worked out once, at deployment (`_deepLayout`, which also checks that no two
    ///      elements share a word); here only the coefficients are written.
    function _deepTable(Ctx memory ctx, bytes memory spec, uint256 numOffsets)
        private
        view
        returns (uint256[] memory table, uint256[] memory bounds)
    {
        uint256 keys = 4 * numOffsets;
        address layoutAt = deepLayout;
        uint256 size = deepLayoutSize;
        bytes memory layout = new bytes(size);
        uint256 numBlocks;
        assembly ("memory-safe") {
            // skip the leading STOP byte that keeps the data from being called as code
            extcodecopy(layoutAt, add(layout, 32), 1, size)
            numBlocks := shr(240, mload(add(layout, 32)))
        }
        bounds = new uint256[](keys + 1);
        table = new uint256[](9 * numBlocks);
        uint256 frameLen = ctx.frameLen;
        uint256 comp = numComposition;
        uint256[] memory gammas = ctx.gammas;
        assembly ("memory-safe") {
            let src := add(layout, 34)
            for { let k := 0 } lt(k, add(keys, 1)) { k := add(k, 1) } {
                mstore(add(bounds, shl(5, add(k, 1))), shr(240, mload(src)))
                src := add(src, 2)
            }
            let tbl := add(table, 32)
            for { let b := 0 } lt(b, numBlocks) { b := add(b, 1) } {
                mstore(add(tbl, mul(288, b)), shr(240, mload(src)))
                src := add(src, 2)
            }
            // g into the table word at the layout's next index (each word takes one element:
            // the constructor checked it)
            function put(s, t, g) -> next {
                mstore(add(t, shl(5, shr(240, mload(s)))), g)
                next := add(s, 2)
            }
            // g·X in F_p[X]/(X⁴ − 11): the lanes move up one, the top one returns times 11
            function put4(s, t, g) -> next {
                s := put(s, t, g)
                g := or(shl(64, g), mulmod(11, shr(192, g), 2013265921))
                s := put(s, t, g)
                g := or(shl(64, g), mulmod(11, shr(192, g), 2013265921))
                s := put(s, t, g)
                g := or(shl(64, g), mulmod(11, shr(192, g), 2013265921))
                next := put(s, t, g)
            }
            let entries := add(add(spec, 33), numOffsets)
            let gs := add(gammas, 32)
            for { let e := 0 } lt(e, frameLen) { e := add(e, 1) } {
                let g := mload(add(gs, shl(5, e)))
                // segment 0 or 1 (fixed, main): one element; 2 (aux): four
                switch lt(shr(248, mload(add(entries, shl(2, e)))), 2)
                case 1 { src := put(src, tbl, g) }
                default { src := put4(src, tbl, g) }
            }
            for { let i := 0 } lt(i, comp) { i := add(i, 1) } {
                src := put4(src, tbl, mload(add(gs, shl(5, add(frameLen, i)))))
            }
        }
    }

    /// @dev The DEEP table's layout for the frame `spec` (see `_deepTable`), as u16 words:
    ///      the block count B, `bounds` (4·slots + 1 of them), the B blocks' byte offsets in
    ///      their rows, then each element's word index in the table, in frame order (one for a
    ///      fixed or main entry, four for an aux entry), then four per composition column.
    ///      Each element starts a new block of its key unless it falls within the key's
    ///      current one (byte offsets start … start + 28). Run once, by the constructor.
    function _deepLayout(bytes memory spec, uint256 comp) private pure returns (bytes memory out) {
        uint256 numOffsets = uint8(spec[0]);
        uint256 frameLen = _specFrameLength(spec);
        uint256 keys = 4 * numOffsets;
        uint256 count = 4 * comp;
        for (uint256 e = 0; e < frameLen; ++e) {
            count += (_specEntry(spec, numOffsets, e) >> 24) < 2 ? 1 : 4;
        }
        // per element: key | block within its key << 16 | byte offset in the block << 32 |
        // the block's start << 48; per key: its current block's start, its block count
        uint256[] memory rec = new uint256[](count);
        uint256[] memory state = new uint256[](2 * keys);
        uint256[] memory bounds = new uint256[](keys + 1);
        assembly ("memory-safe") {
            function place(r, st, key, offset) -> next {
                let sAt := add(st, shl(6, key))
                let start := mload(sAt)
                let n := mload(add(sAt, 32))
                if or(iszero(n), or(lt(offset, start), iszero(lt(offset, add(start, 32))))) {
                    start := offset
                    mstore(sAt, offset)
                    n := add(n, 1)
                    mstore(add(sAt, 32), n)
                }
                mstore(r, or(or(key, shl(16, sub(n, 1))), or(shl(32, sub(offset, start)), shl(48, start))))
                next := add(r, 32)
            }
            let r := add(rec, 32)
            let st := add(state, 32)
            let entries := add(add(spec, 33), numOffsets)
            for { let e := 0 } lt(e, frameLen) { e := add(e, 1) } {
                let word := shr(224, mload(add(entries, shl(2, e))))
                let segment := shr(24, word)
                let key := add(shl(2, and(word, 0xff)), segment)
                let column := and(shr(8, word), 0xffff)
                switch lt(segment, 2)
                case 1 { r := place(r, st, key, shl(2, column)) }
                default {
                    for { let k := 0 } lt(k, 4) { k := add(k, 1) } {
                        r := place(r, st, key, add(shl(4, column), shl(2, k)))
                    }
                }
            }
            for { let i := 0 } lt(i, comp) { i := add(i, 1) } {
                for { let k := 0 } lt(k, 4) { k := add(k, 1) } {
                    r := place(r, st, 3, add(shl(4, i), shl(2, k)))
                }
            }
            for { let k := 0 } lt(k, keys) { k := add(k, 1) } {
                let at := add(bounds, shl(5, add(k, 1)))
                mstore(add(at, 32), add(mload(at), mload(add(st, add(shl(6, k), 32)))))
            }
        }
        out = _deepEncode(rec, bounds);
    }

    /// @dev The layout's bytes from the elements' records and the keys' bounds (`_deepLayout`).
    function _deepEncode(uint256[] memory rec, uint256[] memory bounds) private pure returns (bytes memory out) {
        uint256 keys = bounds.length - 1;
        uint256 numBlocks = bounds[keys];
        out = new bytes(2 * (2 + keys + numBlocks + rec.length));
        uint256 at = _putU16(out, 0, numBlocks);
        for (uint256 k = 0; k <= keys; ++k) {
            at = _putU16(out, at, bounds[k]);
        }
        uint256 big;
        bytes memory taken = new bytes(9 * numBlocks);
        assembly ("memory-safe") {
            // u16 big-endian at byte `i` of `out`; the flag marks a value past 16 bits
            function put(o, i, v) -> flag {
                let p := add(add(o, 32), i)
                mstore8(p, shr(8, v))
                mstore8(add(p, 1), v)
                flag := gt(v, 0xffff)
            }
            let idx := add(at, shl(1, numBlocks))
            let end := add(rec, shl(5, add(mload(rec), 1)))
            for { let r := add(rec, 32) } lt(r, end) { r := add(r, 32) } {
                let x := mload(r)
                let b := add(mload(add(bounds, shl(5, add(and(x, 0xffff), 1)))), and(shr(16, x), 0xffff))
                // the block's start, the same for each of its elements
                big := or(big, put(out, add(at, shl(1, b)), shr(48, x)))
                let word := add(add(mul(9, b), 1), shr(2, and(shr(32, x), 0xffff)))
                big := or(big, put(out, idx, word))
                // a word taken twice (an element twice in the frame) is refused too
                let seen := add(add(taken, 32), word)
                big := or(big, byte(0, mload(seen)))
                mstore8(seen, 1)
                idx := add(idx, 2)
            }
        }
        if (big != 0) revert LayoutDeployFailed();
    }

    /// @dev Write `v` as a big-endian u16 at byte `at` of `out`; returns `at + 2`.
    function _putU16(bytes memory out, uint256 at, uint256 v) private pure returns (uint256) {
        if (v > 0xffff) revert LayoutDeployFailed();
        assembly ("memory-safe") {
            let ptr := add(add(out, 32), at)
            mstore8(ptr, shr(8, v))
            mstore8(add(ptr, 1), v)
        }
        return at + 2;
    }

    /// @dev Deploy `data` as the code of a new contract, after a STOP byte (never callable).
    function _deployData(bytes memory data) private returns (address addr) {
        // PUSH2 size+1, DUP1, PUSH1 10, RETURNDATASIZE, CODECOPY, RETURNDATASIZE, RETURN, STOP
        uint256 runtime = data.length + 1;
        bytes memory init = abi.encodePacked(
            bytes3(uint24(0x610000 | runtime)), bytes7(0x80600a3d393df3), bytes1(0x00), data
        );
        assembly ("memory-safe") {
            addr := create(0, add(init, 32), mload(init))
        }
        if (addr == address(0)) revert LayoutDeployFailed();
    }

    /// @dev Σ coefficient·element over slot `s`'s blocks, the elements read from the query's
    ///      rows (`rows[segment]`: calldata offset of that segment's row), eight per calldata
    ///      word. A base element times a packed coefficient is four lane products below 2^62,
    ///      so four of them sum below 2^64 without crossing lanes; each such sum is split into
    ///      128-bit accumulators (lanes 0, 2 and 1, 3), which take 2^64 of them, and reduced
    ///      once at the end. An element not in the frame has coefficient 0 (whatever the word
    ///      holds there, even bytes past the row, adds nothing).
    function _deepSlot(uint256[] memory table, uint256[] memory bounds, uint256 s, uint256[4] memory rows)
        private
        pure
        returns (uint256 v)
    {
        assembly ("memory-safe") {
            let lo := 0
            let hi := 0
            let t := add(table, 32)
            let u := 0xffffffff
            let even := 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff
            for { let segment := 0 } lt(segment, 4) { segment := add(segment, 1) } {
                let key := add(shl(2, s), segment)
                let at := add(t, mul(288, mload(add(bounds, shl(5, add(key, 1))))))
                let end := add(t, mul(288, mload(add(bounds, shl(5, add(key, 2))))))
                let row := mload(add(rows, shl(5, segment)))
                for {} lt(at, end) { at := add(at, 288) } {
                    let w := calldataload(add(row, mload(at)))
                    let acc := add(
                        add(mul(shr(224, w), mload(add(at, 32))), mul(and(shr(192, w), u), mload(add(at, 64)))),
                        add(mul(and(shr(160, w), u), mload(add(at, 96))), mul(and(shr(128, w), u), mload(add(at, 128))))
                    )
                    lo := add(lo, and(acc, even))
                    hi := add(hi, and(shr(64, acc), even))
                    acc := add(
                        add(mul(and(shr(96, w), u), mload(add(at, 160))), mul(and(shr(64, w), u), mload(add(at, 192)))),
                        add(mul(and(shr(32, w), u), mload(add(at, 224))), mul(and(w, u), mload(add(at, 256))))
                    )
                    lo := add(lo, and(acc, even))
                    hi := add(hi, and(shr(64, acc), even))
                }
            }
            let q := 2013265921
            let m := 0xffffffffffffffffffffffffffffffff
            v := or(
                or(mod(and(lo, m), q), shl(64, mod(and(hi, m), q))),
                or(shl(128, mod(shr(128, lo), q)), shl(192, mod(shr(128, hi), q)))
            )
        }
    }

    function _specEntry(bytes memory spec, uint256 numOffsets, uint256 e) private pure returns (uint256 word) {
        assembly ("memory-safe") {
            word := shr(224, mload(add(add(spec, 33), add(numOffsets, shl(2, e)))))
        }
    }

    /// @dev FRI query phase: per layer open the leaves, match the expected values, fold.
    function _fri(Ctx memory ctx) private view {
        uint256[] memory cur = ctx.positions;
        uint256[] memory expected = ctx.deep;
        uint256 logN = logRows + logBlowup;
        uint256 shift = SHIFT;
        for (uint256 l = 0; l < friLayers; ++l) {
            uint256 logM = logN - logFolding;
            uint256[] memory leaves = _sortedDistinct(cur, (1 << logM) - 1);
            _expect(ctx, 5 + l, leaves.length, _u16(ctx));
            uint256 leafBytes = 16 << logFolding;
            uint256 at = _take(ctx, leafBytes * leaves.length);
            _checkElements(at, (4 << logFolding) * leaves.length);
            uint256 gm = gasleft();
            _merkle(ctx, ctx.friRoots[l], logM, _copy(leaves), _leafDigests(at, leafBytes, leaves.length), 4 + l);
            gm -= gasleft();
            ctx.gas[2] += gm;
            ctx.gas[5] += gm;
            _matchLayer(cur, expected, leaves, at, logM, l);
            expected = _foldLayer(at, leaves, shift, logN, ctx.betas[l]);
            cur = leaves;
            logN = logM;
            shift = BabyBear.powBase(shift, 1 << logFolding);
        }
        uint256 w = BabyBear.rootOfUnity(logN);
        uint256[] memory coefficients = new uint256[](remainderSize);
        for (uint256 i = 0; i < remainderSize; ++i) {
            coefficients[i] = _ext(ctx.remainderAt + 16 * i);
        }
        for (uint256 j = 0; j < cur.length; ++j) {
            uint256 x = mulmod(shift, BabyBear.powBase(w, cur[j]), P);
            if (_horner(coefficients, x) != expected[j]) revert FriRemainderMismatch();
        }
    }

    /// @dev Σ_i c_i·x^i for the packed extension coefficients `c` (lowest first) at base x.
    ///      One MUL multiplies the accumulator's four lanes by x (products below 2^62, plus a
    ///      coefficient lane below 2^31, within 64 bits), then each lane is reduced.
    function _horner(uint256[] memory c, uint256 x) private pure returns (uint256 acc) {
        assembly ("memory-safe") {
            let q := 2013265921
            for { let at := add(c, shl(5, mload(c))) } gt(at, c) { at := sub(at, 32) } {
                let s := add(mul(acc, x), mload(at))
                acc := or(
                    or(mod(and(s, 0xffffffffffffffff), q), shl(64, mod(and(shr(64, s), 0xffffffffffffffff), q))),
                    or(shl(128, mod(and(shr(128, s), 0xffffffffffffffff), q)), shl(192, mod(shr(192, s), q)))
                )
            }
        }
    }

    /// @dev Member p / m of leaf p mod m must equal the expected value at every position p.
    function _matchLayer(
        uint256[] memory cur,
        uint256[] memory expected,
        uint256[] memory leaves,
        uint256 at,
        uint256 logM,
        uint256 layer
    ) private view {
        uint256 leafBytes = 16 << logFolding;
        uint256 k = 0;
        for (uint256 j = 0; j < cur.length; ++j) {
            uint256 leaf = cur[j] & ((1 << logM) - 1);
            // leaves are sorted: find the index by search from the start (q is small)
            k = 0;
            while (leaves[k] != leaf) ++k;
            uint256 member = cur[j] >> logM;
            if (_ext(at + k * leafBytes + 16 * member) != expected[j]) revert FriValueMismatch(layer);
        }
    }

    /// @dev Fold each opened leaf (f values at x·ω_f^k) into one value of the next layer.
    function _foldLayer(uint256 at, uint256[] memory leaves, uint256 shift, uint256 logN, uint256 beta)
        private
        view
        returns (uint256[] memory out)
    {
        uint256 f = 1 << logFolding;
        uint256 w = BabyBear.rootOfUnity(logN);
        out = new uint256[](leaves.length);
        uint256[] memory v = new uint256[](f);
        uint256[] memory invRoots = new uint256[](logFolding);
        for (uint256 i = 0; i < logFolding; ++i) {
            // ω_size^(−1) = ω_size^(size − 1) for size = 2^(i+1)
            invRoots[i] = BabyBear.powBase(BabyBear.rootOfUnity(i + 1), (2 << i) - 1);
        }
        for (uint256 j = 0; j < leaves.length; ++j) {
            uint256 base = at + j * 16 * f;
            for (uint256 k = 0; k < f; ++k) {
                v[k] = _ext(base + 16 * k);
            }
            uint256 x = mulmod(shift, BabyBear.powBase(w, leaves[j]), P);
            out[j] = _fold(v, f, x, beta, invRoots);
        }
    }

    /// @dev v'[k] = (v[k] + v[k+h])/2 + β·(v[k] − v[k+h])/(2·x·ω_(2h)^k), repeated log2 f times.
    ///      `invRoots[i]` is ω_(2^(i+1))^(−1).
    function _fold(uint256[] memory v, uint256 f, uint256 x, uint256 beta, uint256[] memory invRoots)
        private
        view
        returns (uint256)
    {
        uint256 invX = _invBase(x);
        uint256 step = invRoots.length;
        for (uint256 size = f; size > 1; size >>= 1) {
            --step;
            _foldStep(v, size >> 1, beta, invX, invRoots[step]);
            invX = mulmod(invX, invX, P);
            beta = BabyBear.mul(beta, beta);
        }
        return v[0];
    }

    function _foldStep(uint256[] memory v, uint256 h, uint256 beta, uint256 invX, uint256 invW) private pure {
        assembly ("memory-safe") {
            // Packed extension product, as BabyBear.mul.
            function fmul(a, b) -> r {
                let a0 := and(a, 0xffffffffffffffff)
                let a1 := and(shr(64, a), 0xffffffffffffffff)
                let a2 := and(shr(128, a), 0xffffffffffffffff)
                let a3 := shr(192, a)
                let b0 := and(b, 0xffffffffffffffff)
                let b1 := and(shr(64, b), 0xffffffffffffffff)
                let b2 := and(shr(128, b), 0xffffffffffffffff)
                let b3 := shr(192, b)
                r := or(
                    or(
                        mod(add(mul(a0, b0), mul(11, add(add(mul(a1, b3), mul(a2, b2)), mul(a3, b1)))), 2013265921),
                        shl(64, mod(add(add(mul(a0, b1), mul(a1, b0)), mul(11, add(mul(a2, b3), mul(a3, b2)))), 2013265921))
                    ),
                    or(
                        shl(128, mod(add(add(add(mul(a0, b2), mul(a1, b1)), mul(a2, b0)), mul(11, mul(a3, b3))), 2013265921)),
                        shl(192, mod(add(add(mul(a0, b3), mul(a1, b2)), add(mul(a2, b1), mul(a3, b0))), 2013265921))
                    )
                )
            }
            // s·x + d·y lane by lane, for base x, y (lanes of s, d below 2^32).
            function combine(s, x, d, y) -> r {
                let m := 0xffffffffffffffff
                let q := 2013265921
                r := or(
                    or(
                        addmod(mulmod(and(s, m), x, q), mulmod(and(d, m), y, q), q),
                        shl(64, addmod(mulmod(and(shr(64, s), m), x, q), mulmod(and(shr(64, d), m), y, q), q))
                    ),
                    or(
                        shl(128, addmod(mulmod(and(shr(128, s), m), x, q), mulmod(and(shr(128, d), m), y, q), q)),
                        shl(192, addmod(mulmod(shr(192, s), x, q), mulmod(shr(192, d), y, q), q))
                    )
                )
            }
            // 1/2 = 1006632961; t = 1 / (2·x·ω^k), starting at k = 0
            let t := mulmod(1006632961, invX, 2013265921)
            let base := add(v, 32)
            for { let k := 0 } lt(k, h) { k := add(k, 1) } {
                let at := add(base, shl(5, k))
                let a := mload(at)
                let b := mload(add(base, shl(5, add(k, h))))
                // β·(a − b): a − b lane by lane as a + (p − b) (no borrow), then reduced by fmul
                let e := fmul(beta, add(a, sub(0x0000000078000001000000007800000100000000780000010000000078000001, b)))
                mstore(at, combine(add(a, b), 1006632961, e, t))
                t := mulmod(t, invW, 2013265921)
            }
        }
    }

    // ---------------------------------------------------------------- public tables

    /// @dev A running LogUp fraction num/den over the public tables, and the cursor.
    struct TableSum {
        uint256 num;
        uint256 den;
        uint256 at;
        uint256 start;
        uint256 end;
        uint256 beta;
    }

    /// @dev The drawn challenges, then the derived one: the public tables' LogUp sum
    ///      Σ ±m/(β − φ), φ = tag + Σ_j γ^j·v_j (+ where the verifier receives), as
    ///      Bus.public_table_sum. One running fraction, one inversion at the end.
    function _derive(uint256[] memory drawn, bytes calldata tables) private view returns (uint256[] memory out) {
        if (numDerived == 0) {
            if (tables.length != 0) revert BadTables(0);
            return drawn;
        }
        out = new uint256[](drawn.length + 1);
        for (uint256 i = 0; i < drawn.length; ++i) {
            out[i] = drawn[i];
        }
        if (tables.length == 0) return out; // no tables: the sum is 0
        if (tables.length < 2) revert BadTables(0);
        TableSum memory st;
        st.start = _offset(tables);
        st.end = st.start + tables.length;
        st.den = 1;
        st.beta = drawn[busBeta];
        uint256 gamma = drawn[busBeta + 1];
        uint256 count = _u16At(st.start);
        st.at = st.start + 2;
        for (uint256 t = 0; t < count; ++t) {
            _table(st, gamma);
        }
        if (st.at != st.end) revert BadTables(st.at - st.start);
        if (st.den == 0) revert TableDenominatorZero();
        out[drawn.length] = BabyBear.mul(st.num, _invExt(st.den));
    }

    /// @dev One table: its header, then ±m/(β − φ) for each of its rows added to the fraction.
    function _table(TableSum memory st, uint256 gamma) private pure {
        uint256 at = st.at;
        if (at + 10 > st.end) revert BadTables(at - st.start);
        uint256 tag = _u32At(at);
        bool receive_ = _u8At(at + 4) == 1;
        uint256 width = _u8At(at + 5);
        uint256 rows = _u32At(at + 6);
        if (tag >= P || _u8At(at + 4) > 1 || width == 0 || at + 10 + rows * 4 * (width + 1) > st.end) {
            revert BadTables(at - st.start);
        }
        at += 10;
        uint256[] memory powers = new uint256[](width);
        uint256 pw = 1;
        for (uint256 j = 0; j < width; ++j) {
            pw = BabyBear.mul(pw, gamma);
            powers[j] = pw;
        }
        for (uint256 r = 0; r < rows; ++r) {
            uint256 m = _u32At(at);
            if (m >= P) revert NotCanonical(at);
            uint256 phi = tag;
            for (uint256 j = 0; j < width; ++j) {
                uint256 v = _u32At(at + 4 + 4 * j);
                if (v >= P) revert NotCanonical(at + 4 + 4 * j);
                phi = BabyBear.add(phi, BabyBear.mulBase(powers[j], v));
            }
            at += 4 * (width + 1);
            uint256 d = BabyBear.sub(st.beta, phi);
            if (d == 0) revert TableDenominatorZero();
            uint256 term = BabyBear.mulBase(st.den, m);
            st.num = BabyBear.add(BabyBear.mul(st.num, d), receive_ ? term : BabyBear.neg(term));
            st.den = BabyBear.mul(st.den, d);
        }
        st.at = at;
    }

    // ---------------------------------------------------------------- Merkle

    /// @dev Batched opening (docs/stark.md): known (index, digest) pairs, sorted by index, are
    ///      hashed up level by level; a missing sibling is the next node of the opening.
    function _merkle(
        Ctx memory ctx,
        bytes32 root,
        uint256 logLeaves,
        uint256[] memory idx,
        bytes32[] memory dig,
        uint256 tree
    ) private pure {
        uint256 count = _u16(ctx);
        uint256 nodes = _take(ctx, 32 * count);
        uint256 used;
        bytes32 top;
        assembly ("memory-safe") {
            let scratch := mload(0x40)
            let ix := add(idx, 32)
            let dg := add(dig, 32)
            let k := mload(idx)
            for { let level := 0 } lt(level, logLeaves) { level := add(level, 1) } {
                let m := 0
                let i := 0
                for {} lt(i, k) {} {
                    let index := mload(add(ix, shl(5, i)))
                    let d := mload(add(dg, shl(5, i)))
                    mstore8(scratch, 1)
                    switch and(index, 1)
                    case 0 {
                        let j := add(i, 1)
                        switch and(lt(j, k), eq(mload(add(ix, shl(5, j))), add(index, 1)))
                        case 1 {
                            mstore(add(scratch, 1), d)
                            mstore(add(scratch, 33), mload(add(dg, shl(5, j))))
                            i := add(i, 2)
                        }
                        default {
                            // used == count is caught below: the read past the nodes is never trusted
                            mstore(add(scratch, 1), d)
                            mstore(add(scratch, 33), calldataload(add(nodes, shl(5, used))))
                            used := add(used, 1)
                            i := add(i, 1)
                        }
                    }
                    default {
                        mstore(add(scratch, 1), calldataload(add(nodes, shl(5, used))))
                        mstore(add(scratch, 33), d)
                        used := add(used, 1)
                        i := add(i, 1)
                    }
                    mstore(add(ix, shl(5, m)), shr(1, index))
                    mstore(add(dg, shl(5, m)), keccak256(scratch, 65))
                    m := add(m, 1)
                }
                k := m
            }
            top := mload(dg)
        }
        // More siblings read than sent means nodes past the opening were used: refuse.
        if (used != count) revert MerkleNodeCount(tree);
        if (top != root) revert MerkleMismatch(tree);
    }

    function _node(bytes32 left, bytes32 right) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 1)
            mstore(add(ptr, 1), left)
            mstore(add(ptr, 33), right)
            h := keccak256(ptr, 65)
        }
    }

    /// @dev keccak(0x00 ‖ row) for `count` rows of `rowBytes` bytes from calldata offset `at`.
    function _leafDigests(uint256 at, uint256 rowBytes, uint256 count) private pure returns (bytes32[] memory out) {
        out = new bytes32[](count);
        for (uint256 i = 0; i < count; ++i) {
            bytes32 h;
            assembly ("memory-safe") {
                let ptr := mload(0x40)
                mstore8(ptr, 0)
                calldatacopy(add(ptr, 1), add(at, mul(i, rowBytes)), rowBytes)
                h := keccak256(ptr, add(rowBytes, 1))
            }
            out[i] = h;
        }
    }

    // ---------------------------------------------------------------- transcript

    function _absorb32(Ctx memory ctx, bytes32 data) private pure {
        ctx.state = keccak256(abi.encodePacked(ctx.state, data));
        ctx.counter = 0;
        ctx.left = 0;
    }

    function _absorbCalldata(Ctx memory ctx, uint256 at, uint256 length) private pure {
        bytes32 state = ctx.state;
        bytes32 h;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, state)
            calldatacopy(add(ptr, 32), at, length)
            h := keccak256(ptr, add(32, length))
        }
        ctx.state = h;
        ctx.counter = 0;
        ctx.left = 0;
    }

    function _word(Ctx memory ctx) private pure returns (uint256 w) {
        if (ctx.left == 0) {
            ctx.pool = uint256(keccak256(abi.encodePacked(ctx.state, uint64(ctx.counter))));
            ctx.counter += 1;
            ctx.left = 8;
        }
        ctx.left -= 1;
        w = (ctx.pool >> (32 * ctx.left)) & 0xffffffff;
    }

    function _drawExt(Ctx memory ctx) private pure returns (uint256) {
        return _drawExts(ctx, 1)[0];
    }

    /// @dev `count` extension elements, as docs/stark.md's "draw extension element": each
    ///      `keccak(state ‖ u64 counter)` of its own, its four 8-byte big-endian words mod p
    ///      (c0 from the first); the word pool is left empty.
    function _drawExts(Ctx memory ctx, uint256 count) private pure returns (uint256[] memory out) {
        out = new uint256[](count);
        bytes32 state = ctx.state;
        uint256 counter = ctx.counter;
        assembly ("memory-safe") {
            // state ‖ u64 counter at scratch (above the free pointer, not kept)
            let scratch := mload(0x40)
            mstore(scratch, state)
            let p := 2013265921
            let m := 0xffffffffffffffff
            let dst := add(out, 32)
            for { let end := add(dst, shl(5, count)) } lt(dst, end) { dst := add(dst, 32) } {
                mstore(add(scratch, 32), shl(192, counter))
                let h := keccak256(scratch, 40)
                counter := add(counter, 1)
                mstore(
                    dst,
                    or(
                        or(mod(shr(192, h), p), shl(64, mod(and(shr(128, h), m), p))),
                        or(shl(128, mod(and(shr(64, h), m), p)), shl(192, mod(and(h, m), p)))
                    )
                )
            }
        }
        ctx.counter = counter;
        ctx.pool = 0;
        ctx.left = 0;
    }

    /// @dev `1, α, α², …, α^(count−1)`, the constraints' coefficients (docs/stark.md, step 4),
    ///      as `count` words at memory `dst` (nothing allocated: `_compositionAt`'s scratch).
    ///      Each product as three 256-bit MULs (crypto/evm_program.py's `fmul`): with canonical
    ///      lanes, `a·b` holds c0…c3, `(a >> 64)·(b >> 64)` holds c4, c5 in lanes 2, 3, and
    ///      c6 = a3·b3; then r_k = (c_k + 11·c_(k+4)) mod p.
    function _powersInto(uint256 dst, uint256 alpha, uint256 count) private pure {
        assembly ("memory-safe") {
            let p := 2013265921
            let lane := 0xffffffffffffffff
            let ah := shr(64, alpha)
            let a3 := shr(192, alpha)
            let x := 1
            for { let end := add(dst, shl(5, count)) } lt(dst, end) { dst := add(dst, 32) } {
                mstore(dst, x)
                let low := mul(x, alpha)
                let hi := mul(shr(64, x), ah)
                let c6 := mul(shr(192, x), a3)
                x := or(
                    or(
                        mod(add(and(low, lane), mul(11, and(shr(128, hi), lane))), p),
                        shl(64, mod(add(and(shr(64, low), lane), mul(11, shr(192, hi))), p))
                    ),
                    or(
                        shl(128, mod(add(and(shr(128, low), lane), mul(11, c6)), p)),
                        shl(192, mod(shr(192, low), p))
                    )
                )
            }
        }
    }

    function _proofOfWork(Ctx memory ctx) private view {
        uint256 at = _take(ctx, 8);
        uint256 nonce;
        assembly ("memory-safe") {
            nonce := shr(192, calldataload(at))
        }
        uint256 bits = grindingBits;
        if (bits != 0) {
            uint256 digest = uint256(keccak256(abi.encodePacked(ctx.state, uint64(nonce))));
            if (digest >> (256 - bits) != 0) revert ProofOfWork();
        }
        _absorbCalldata(ctx, at, 8);
    }

    function _drawPositions(Ctx memory ctx) private view returns (uint256[] memory) {
        uint256[] memory raw = new uint256[](numQueries);
        uint256 mask = (1 << (logRows + logBlowup)) - 1;
        for (uint256 i = 0; i < raw.length; ++i) {
            raw[i] = _word(ctx) & mask;
        }
        return _sortedDistinct(raw, mask);
    }

    // ---------------------------------------------------------------- helpers

    /// @dev The distinct values of `values[i] & mask`, sorted ascending (insertion sort: q is small).
    function _sortedDistinct(uint256[] memory values, uint256 mask) private pure returns (uint256[] memory out) {
        out = new uint256[](values.length);
        uint256 n = 0;
        for (uint256 i = 0; i < values.length; ++i) {
            uint256 v = values[i] & mask;
            uint256 j = n;
            while (j > 0 && out[j - 1] > v) {
                --j;
            }
            if (j > 0 && out[j - 1] == v) continue;
            for (uint256 k = n; k > j; --k) {
                out[k] = out[k - 1];
            }
            out[j] = v;
            ++n;
        }
        assembly ("memory-safe") {
            mstore(out, n)
        }
    }

    function _copy(uint256[] memory a) private pure returns (uint256[] memory b) {
        b = new uint256[](a.length);
        for (uint256 i = 0; i < a.length; ++i) {
            b[i] = a[i];
        }
    }

    function _specFrameLength(bytes memory spec) private pure returns (uint256) {
        return (spec.length - 1 - uint8(spec[0])) / 4;
    }

    function _expect(Ctx memory, uint256 which, uint256 expected, uint256 got) private pure {
        if (expected != got) revert CountMismatch(which, expected, got);
    }

    function _offset(bytes calldata data) private pure returns (uint256 at) {
        assembly ("memory-safe") {
            at := data.offset
        }
    }

    function _take(Ctx memory ctx, uint256 length) private pure returns (uint256 at) {
        at = ctx.cur;
        if (at + length > ctx.end) revert Truncated(at);
        ctx.cur = at + length;
    }

    function _read32(Ctx memory ctx) private pure returns (bytes32 v) {
        uint256 at = _take(ctx, 32);
        assembly ("memory-safe") {
            v := calldataload(at)
        }
    }

    function _u8(Ctx memory ctx) private pure returns (uint256 v) {
        uint256 at = _take(ctx, 1);
        assembly ("memory-safe") {
            v := shr(248, calldataload(at))
        }
    }

    function _u16(Ctx memory ctx) private pure returns (uint256 v) {
        uint256 at = _take(ctx, 2);
        assembly ("memory-safe") {
            v := shr(240, calldataload(at))
        }
    }

    function _u8At(uint256 at) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(248, calldataload(at))
        }
    }

    function _u16At(uint256 at) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(240, calldataload(at))
        }
    }

    function _u32At(uint256 at) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(224, calldataload(at))
        }
    }

    /// @dev The packed extension element at calldata offset `at` (four u32, c0 first).
    function _ext(uint256 at) private pure returns (uint256 r) {
        assembly ("memory-safe") {
            let w := calldataload(at)
            r := or(
                or(shr(224, w), shl(64, and(shr(192, w), 0xffffffff))),
                or(shl(128, and(shr(160, w), 0xffffffff)), shl(192, and(shr(128, w), 0xffffffff)))
            )
        }
    }

    /// @dev Every one of `count` u32 elements from calldata offset `at` is below p. Eight at a
    ///      time: the even and the odd lanes of a word go into 64-bit slots, 2^32 − p is added
    ///      to each, and bit 32 of a slot is set exactly when its element is ≥ p; a word with
    ///      one is scanned element by element for the offset the error names.
    function _checkElements(uint256 at, uint256 count) private pure {
        uint256 bad = type(uint256).max;
        assembly ("memory-safe") {
            let lanes := 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff
            let k := 0x0000000087ffffff0000000087ffffff0000000087ffffff0000000087ffffff
            let carry := 0x0000000100000000000000010000000000000001000000000000000100000000
            let full := shr(3, count)
            for { let i := 0 } lt(i, add(full, 1)) { i := add(i, 1) } {
                let w := calldataload(add(at, shl(5, i)))
                if eq(i, full) {
                    // the last, partial word: keep its first count mod 8 elements
                    let r := and(count, 7)
                    w := and(w, not(sub(shl(sub(256, shl(5, r)), 1), 1)))
                }
                if and(or(add(and(w, lanes), k), add(and(shr(32, w), lanes), k)), carry) {
                    for { let j := 0 } lt(j, 8) { j := add(j, 1) } {
                        if iszero(lt(shr(224, shl(shl(5, j), w)), 2013265921)) {
                            bad := add(at, add(shl(5, i), shl(2, j)))
                            j := 8
                        }
                    }
                    i := full
                }
            }
        }
        if (bad != type(uint256).max) revert NotCanonical(bad);
    }

    /// @dev 1/b in the base field by the modexp precompile (EIP-198): b^(p−2) mod p.
    function _invBase(uint256 b) private view returns (uint256 r) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, 32)
            mstore(add(ptr, 32), 32)
            mstore(add(ptr, 64), 32)
            mstore(add(ptr, 96), b)
            mstore(add(ptr, 128), 2013265919)
            mstore(add(ptr, 160), 2013265921)
            if iszero(staticcall(gas(), 0x05, ptr, 192, ptr, 32)) { revert(0, 0) }
            r := mload(ptr)
        }
    }

    /// @dev 1/a in the extension, as BabyBear.inv but with the precompile's base inverse.
    function _invExt(uint256 a) private view returns (uint256) {
        uint256 m = 0xffffffffffffffff;
        uint256 odd = (m << 64) | (m << 192);
        uint256 aConj = (a & ~odd) | (BabyBear.neg(a) & odd);
        uint256 c = BabyBear.mul(a, aConj); // lanes 1 and 3 are zero
        uint256 c0 = c & m;
        uint256 c2 = (c >> 128) & m;
        uint256 cConj = c0 | (((P - c2) % P) << 128);
        uint256 norm = addmod(mulmod(c0, c0, P), P - mulmod(11, mulmod(c2, c2, P), P), P);
        return BabyBear.mulBase(BabyBear.mul(aConj, cConj), _invBase(norm));
    }

    function _log2(uint256 x) private pure returns (uint256 r) {
        while (x > 1) {
            x >>= 1;
            ++r;
        }
    }
}
