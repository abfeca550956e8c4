// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title BabyBear and its quartic extension, packed one element per word
/// @notice Base field p = 15·2^27 + 1; extension F_p[x]/(x^4 − 11), the same
///         fields as crypto/field_scalar.py. An extension element c0 + c1·x +
///         c2·x² + c3·x³ is packed into one word as c0 | c1 << 64 | c2 << 128 |
///         c3 << 192, every coefficient canonical (< p). A base element is an
///         extension element with c1 = c2 = c3 = 0, so base values pack as
///         themselves.
/// @dev Every function assumes canonical inputs (each lane < p) and returns
///      canonical outputs; callers check calldata with `isCanonical`.
library BabyBear {
    /// @notice The base field modulus, 15·2^27 + 1.
    uint256 internal constant P = 2013265921;
    /// @notice The extension's non-residue: x^4 = W.
    uint256 internal constant W = 11;
    /// @notice The multiplicative generator of the base field.
    uint256 internal constant GENERATOR = 31;
    /// @notice The two-adicity of p − 1.
    uint256 internal constant TWO_ADICITY = 27;
    uint256 private constant LANE = 0xffffffffffffffff;
    /// @dev p in each of the four lanes.
    uint256 private constant P4 =
        0x0000000078000001000000007800000100000000780000010000000078000001;

    /// @notice Whether every lane of `a` is below p and nothing lies above the four lanes.
    function isCanonical(uint256 a) internal pure returns (bool ok) {
        assembly ("memory-safe") {
            ok := and(
                and(lt(and(a, LANE), P), lt(and(shr(64, a), LANE), P)),
                and(lt(and(shr(128, a), LANE), P), lt(shr(192, a), P))
            )
        }
    }

    /// @notice The packed extension element with coefficients (c0, c1, c2, c3), each < p.
    function pack(uint256 c0, uint256 c1, uint256 c2, uint256 c3) internal pure returns (uint256) {
        return c0 | (c1 << 64) | (c2 << 128) | (c3 << 192);
    }

    /// @notice a + b.
    function add(uint256 a, uint256 b) internal pure returns (uint256 r) {
        assembly ("memory-safe") {
            // Lanes hold < 2^32 after the sum: no carry crosses a lane.
            let s := add(a, b)
            r := or(
                or(mod(and(s, LANE), P), shl(64, mod(and(shr(64, s), LANE), P))),
                or(shl(128, mod(and(shr(128, s), LANE), P)), shl(192, mod(shr(192, s), P)))
            )
        }
    }

    /// @notice a − b.
    function sub(uint256 a, uint256 b) internal pure returns (uint256 r) {
        assembly ("memory-safe") {
            // p − b_i lies in [1, p]: no lane borrows.
            let s := add(a, sub(P4, b))
            r := or(
                or(mod(and(s, LANE), P), shl(64, mod(and(shr(64, s), LANE), P))),
                or(shl(128, mod(and(shr(128, s), LANE), P)), shl(192, mod(shr(192, s), P)))
            )
        }
    }

    /// @notice −a.
    function neg(uint256 a) internal pure returns (uint256) {
        return sub(0, a);
    }

    /// @notice a · b in the extension.
    function mul(uint256 a, uint256 b) internal pure returns (uint256 r) {
        assembly ("memory-safe") {
            let a0 := and(a, LANE)
            let a1 := and(shr(64, a), LANE)
            let a2 := and(shr(128, a), LANE)
            let a3 := shr(192, a)
            let b0 := and(b, LANE)
            let b1 := and(shr(64, b), LANE)
            let b2 := and(shr(128, b), LANE)
            let b3 := shr(192, b)
            // Products are < 2^62; sums of four, times 11, stay far below 2^256.
            let c0 := mod(add(mul(a0, b0), mul(W, add(add(mul(a1, b3), mul(a2, b2)), mul(a3, b1)))), P)
            let c1 := mod(add(add(mul(a0, b1), mul(a1, b0)), mul(W, add(mul(a2, b3), mul(a3, b2)))), P)
            let c2 := mod(add(add(add(mul(a0, b2), mul(a1, b1)), mul(a2, b0)), mul(W, mul(a3, b3))), P)
            let c3 := mod(add(add(mul(a0, b3), mul(a1, b2)), add(mul(a2, b1), mul(a3, b0))), P)
            r := or(or(c0, shl(64, c1)), or(shl(128, c2), shl(192, c3)))
        }
    }

    /// @notice a · s for an extension element a and a base element s (< p).
    function mulBase(uint256 a, uint256 s) internal pure returns (uint256 r) {
        assembly ("memory-safe") {
            r := or(
                or(mulmod(and(a, LANE), s, P), shl(64, mulmod(and(shr(64, a), LANE), s, P))),
                or(shl(128, mulmod(and(shr(128, a), LANE), s, P)), shl(192, mulmod(shr(192, a), s, P)))
            )
        }
    }

    /// @notice a^e in the extension (square and multiply).
    function pow(uint256 a, uint256 e) internal pure returns (uint256 r) {
        r = 1;
        while (e != 0) {
            if (e & 1 == 1) r = mul(r, a);
            a = mul(a, a);
            e >>= 1;
        }
    }

    /// @notice b^e in the base field.
    function powBase(uint256 b, uint256 e) internal pure returns (uint256 r) {
        assembly ("memory-safe") {
            r := 1
            for {} e {} {
                if and(e, 1) { r := mulmod(r, b, P) }
                b := mulmod(b, b, P)
                e := shr(1, e)
            }
        }
    }

    /// @notice 1/b in the base field (0 for 0; callers refuse a zero divisor first).
    function invBase(uint256 b) internal pure returns (uint256) {
        return powBase(b, P - 2);
    }

    /// @notice 1/a in the extension (0 for 0).
    /// @dev With a = A + x·B (A, B in F_p[y]/(y² − 11), y = x²): a·(A − x·B) = A² − y·B² =: c,
    ///      and c·conj(c) = c0² − 11·c2² lies in F_p. So 1/a = (A − x·B)·conj(c) / N(a).
    function inv(uint256 a) internal pure returns (uint256) {
        uint256 aConj = a ^ (a & (LANE << 64 | LANE << 192)) | (neg(a) & (LANE << 64 | LANE << 192));
        uint256 c = mul(a, aConj); // lanes 1 and 3 are zero
        uint256 c0 = c & LANE;
        uint256 c2 = (c >> 128) & LANE;
        uint256 cConj = c0 | (((P - c2) % P) << 128);
        uint256 norm = addmod(mulmod(c0, c0, P), P - mulmod(W, mulmod(c2, c2, P), P), P);
        return mulBase(mul(aConj, cConj), invBase(norm));
    }

    /// @notice A primitive 2^logN-th root of unity, GENERATOR^((p − 1) / 2^logN).
    function rootOfUnity(uint256 logN) internal pure returns (uint256) {
        return powBase(GENERATOR, (P - 1) >> logN);
    }
}
