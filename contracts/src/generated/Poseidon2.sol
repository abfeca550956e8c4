// SPDX-License-Identifier: Apache-2.0
// GENERATED FILE: DO NOT EDIT. `make contracts` writes it from the constants of
// crypto/poseidon2.py through crypto/poseidon2_solidity.py.
pragma solidity 0.8.30;

/// @title Poseidon2 over BabyBear, width 16: permutation, sponge, compression, digests
/// @notice The instance of crypto/poseidon2.py (HorizenLabs constants; S-box x^7, 8 full and
///         13 partial rounds). `hash` is its sponge (rate 8, the length in the first capacity
///         element, overwrite mode), `compress(l, r) = P(l || r)[0:8] + l`, and a digest is
///         8 elements encoded as 32 bytes, 4 bytes little-endian each (`digest_to_bytes`).
library Poseidon2 {
    /// @notice The BabyBear prime 15 * 2^27 + 1.
    uint256 internal constant P = 2013265921;

    /// @notice The permutation, in place, on 16 elements below p (straight-line Yul over the
    ///         array's memory words: each layer reads and writes them in place).
    function permute(uint256[16] memory x) internal pure {
        assembly ("memory-safe") {
            let p := 2013265921
            // initial linear layer
            {
                let t0 := add(mload(x), mload(add(x, 0x20)))
                let t1 := add(mload(add(x, 0x40)), mload(add(x, 0x60)))
                let t2 := add(mul(2, mload(add(x, 0x20))), t1)
                let t3 := add(mul(2, mload(add(x, 0x60))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(x, add(t3, t5))
                mstore(add(x, 0x20), t5)
                mstore(add(x, 0x40), add(t2, t4))
                mstore(add(x, 0x60), t4)
            }
            {
                let t0 := add(mload(add(x, 0x80)), mload(add(x, 0xa0)))
                let t1 := add(mload(add(x, 0xc0)), mload(add(x, 0xe0)))
                let t2 := add(mul(2, mload(add(x, 0xa0))), t1)
                let t3 := add(mul(2, mload(add(x, 0xe0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x80), add(t3, t5))
                mstore(add(x, 0xa0), t5)
                mstore(add(x, 0xc0), add(t2, t4))
                mstore(add(x, 0xe0), t4)
            }
            {
                let t0 := add(mload(add(x, 0x100)), mload(add(x, 0x120)))
                let t1 := add(mload(add(x, 0x140)), mload(add(x, 0x160)))
                let t2 := add(mul(2, mload(add(x, 0x120))), t1)
                let t3 := add(mul(2, mload(add(x, 0x160))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x100), add(t3, t5))
                mstore(add(x, 0x120), t5)
                mstore(add(x, 0x140), add(t2, t4))
                mstore(add(x, 0x160), t4)
            }
            {
                let t0 := add(mload(add(x, 0x180)), mload(add(x, 0x1a0)))
                let t1 := add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0)))
                let t2 := add(mul(2, mload(add(x, 0x1a0))), t1)
                let t3 := add(mul(2, mload(add(x, 0x1e0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x180), add(t3, t5))
                mstore(add(x, 0x1a0), t5)
                mstore(add(x, 0x1c0), add(t2, t4))
                mstore(add(x, 0x1e0), t4)
            }
            {
                let s0 := add(add(mload(x), mload(add(x, 0x80))), add(mload(add(x, 0x100)), mload(add(x, 0x180))))
                let s1 := add(add(mload(add(x, 0x20)), mload(add(x, 0xa0))), add(mload(add(x, 0x120)), mload(add(x, 0x1a0))))
                let s2 := add(add(mload(add(x, 0x40)), mload(add(x, 0xc0))), add(mload(add(x, 0x140)), mload(add(x, 0x1c0))))
                let s3 := add(add(mload(add(x, 0x60)), mload(add(x, 0xe0))), add(mload(add(x, 0x160)), mload(add(x, 0x1e0))))
                mstore(x, mod(add(mload(x), s0), p))
                mstore(add(x, 0x20), mod(add(mload(add(x, 0x20)), s1), p))
                mstore(add(x, 0x40), mod(add(mload(add(x, 0x40)), s2), p))
                mstore(add(x, 0x60), mod(add(mload(add(x, 0x60)), s3), p))
                mstore(add(x, 0x80), mod(add(mload(add(x, 0x80)), s0), p))
                mstore(add(x, 0xa0), mod(add(mload(add(x, 0xa0)), s1), p))
                mstore(add(x, 0xc0), mod(add(mload(add(x, 0xc0)), s2), p))
                mstore(add(x, 0xe0), mod(add(mload(add(x, 0xe0)), s3), p))
                mstore(add(x, 0x100), mod(add(mload(add(x, 0x100)), s0), p))
                mstore(add(x, 0x120), mod(add(mload(add(x, 0x120)), s1), p))
                mstore(add(x, 0x140), mod(add(mload(add(x, 0x140)), s2), p))
                mstore(add(x, 0x160), mod(add(mload(add(x, 0x160)), s3), p))
                mstore(add(x, 0x180), mod(add(mload(add(x, 0x180)), s0), p))
                mstore(add(x, 0x1a0), mod(add(mload(add(x, 0x1a0)), s1), p))
                mstore(add(x, 0x1c0), mod(add(mload(add(x, 0x1c0)), s2), p))
                mstore(add(x, 0x1e0), mod(add(mload(add(x, 0x1e0)), s3), p))
            }
            // full round 0
            {
                let a := addmod(mload(x), 0x69cbb6af, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x20)), 0x46ad93f9, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x20), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x40)), 0x60a00f4e, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x40), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x60)), 0x6b1297cd, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x60), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x80)), 0x23189afe, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x80), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xa0)), 0x732e7bef, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xa0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xc0)), 0x72c246de, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xc0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xe0)), 0x2c941900, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xe0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x100)), 0x0557eede, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x100), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x120)), 0x1580496f, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x120), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x140)), 0x3a3ea77b, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x140), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x160)), 0x54f3f271, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x160), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x180)), 0x0f49b029, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x180), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1a0)), 0x47872fe1, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1a0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1c0)), 0x221e2e36, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1c0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1e0)), 0x1ab7202e, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1e0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let t0 := add(mload(x), mload(add(x, 0x20)))
                let t1 := add(mload(add(x, 0x40)), mload(add(x, 0x60)))
                let t2 := add(mul(2, mload(add(x, 0x20))), t1)
                let t3 := add(mul(2, mload(add(x, 0x60))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(x, add(t3, t5))
                mstore(add(x, 0x20), t5)
                mstore(add(x, 0x40), add(t2, t4))
                mstore(add(x, 0x60), t4)
            }
            {
                let t0 := add(mload(add(x, 0x80)), mload(add(x, 0xa0)))
                let t1 := add(mload(add(x, 0xc0)), mload(add(x, 0xe0)))
                let t2 := add(mul(2, mload(add(x, 0xa0))), t1)
                let t3 := add(mul(2, mload(add(x, 0xe0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x80), add(t3, t5))
                mstore(add(x, 0xa0), t5)
                mstore(add(x, 0xc0), add(t2, t4))
                mstore(add(x, 0xe0), t4)
            }
            {
                let t0 := add(mload(add(x, 0x100)), mload(add(x, 0x120)))
                let t1 := add(mload(add(x, 0x140)), mload(add(x, 0x160)))
                let t2 := add(mul(2, mload(add(x, 0x120))), t1)
                let t3 := add(mul(2, mload(add(x, 0x160))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x100), add(t3, t5))
                mstore(add(x, 0x120), t5)
                mstore(add(x, 0x140), add(t2, t4))
                mstore(add(x, 0x160), t4)
            }
            {
                let t0 := add(mload(add(x, 0x180)), mload(add(x, 0x1a0)))
                let t1 := add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0)))
                let t2 := add(mul(2, mload(add(x, 0x1a0))), t1)
                let t3 := add(mul(2, mload(add(x, 0x1e0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x180), add(t3, t5))
                mstore(add(x, 0x1a0), t5)
                mstore(add(x, 0x1c0), add(t2, t4))
                mstore(add(x, 0x1e0), t4)
            }
            {
                let s0 := add(add(mload(x), mload(add(x, 0x80))), add(mload(add(x, 0x100)), mload(add(x, 0x180))))
                let s1 := add(add(mload(add(x, 0x20)), mload(add(x, 0xa0))), add(mload(add(x, 0x120)), mload(add(x, 0x1a0))))
                let s2 := add(add(mload(add(x, 0x40)), mload(add(x, 0xc0))), add(mload(add(x, 0x140)), mload(add(x, 0x1c0))))
                let s3 := add(add(mload(add(x, 0x60)), mload(add(x, 0xe0))), add(mload(add(x, 0x160)), mload(add(x, 0x1e0))))
                mstore(x, mod(add(mload(x), s0), p))
                mstore(add(x, 0x20), mod(add(mload(add(x, 0x20)), s1), p))
                mstore(add(x, 0x40), mod(add(mload(add(x, 0x40)), s2), p))
                mstore(add(x, 0x60), mod(add(mload(add(x, 0x60)), s3), p))
                mstore(add(x, 0x80), mod(add(mload(add(x, 0x80)), s0), p))
                mstore(add(x, 0xa0), mod(add(mload(add(x, 0xa0)), s1), p))
                mstore(add(x, 0xc0), mod(add(mload(add(x, 0xc0)), s2), p))
                mstore(add(x, 0xe0), mod(add(mload(add(x, 0xe0)), s3), p))
                mstore(add(x, 0x100), mod(add(mload(add(x, 0x100)), s0), p))
                mstore(add(x, 0x120), mod(add(mload(add(x, 0x120)), s1), p))
                mstore(add(x, 0x140), mod(add(mload(add(x, 0x140)), s2), p))
                mstore(add(x, 0x160), mod(add(mload(add(x, 0x160)), s3), p))
                mstore(add(x, 0x180), mod(add(mload(add(x, 0x180)), s0), p))
                mstore(add(x, 0x1a0), mod(add(mload(add(x, 0x1a0)), s1), p))
                mstore(add(x, 0x1c0), mod(add(mload(add(x, 0x1c0)), s2), p))
                mstore(add(x, 0x1e0), mod(add(mload(add(x, 0x1e0)), s3), p))
            }
            // full round 1
            {
                let a := addmod(mload(x), 0x487779a6, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x20)), 0x3851c9d8, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x20), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x40)), 0x38dc17c0, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x40), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x60)), 0x209f8849, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x60), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x80)), 0x268dcee8, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x80), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xa0)), 0x350c48da, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xa0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xc0)), 0x5b9ad32e, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xc0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xe0)), 0x0523272b, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xe0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x100)), 0x3f89055b, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x100), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x120)), 0x01e894b2, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x120), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x140)), 0x13ddedde, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x140), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x160)), 0x1b2ef334, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x160), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x180)), 0x7507d8b4, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x180), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1a0)), 0x6ceeb94e, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1a0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1c0)), 0x52eb6ba2, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1c0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1e0)), 0x50642905, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1e0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let t0 := add(mload(x), mload(add(x, 0x20)))
                let t1 := add(mload(add(x, 0x40)), mload(add(x, 0x60)))
                let t2 := add(mul(2, mload(add(x, 0x20))), t1)
                let t3 := add(mul(2, mload(add(x, 0x60))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(x, add(t3, t5))
                mstore(add(x, 0x20), t5)
                mstore(add(x, 0x40), add(t2, t4))
                mstore(add(x, 0x60), t4)
            }
            {
                let t0 := add(mload(add(x, 0x80)), mload(add(x, 0xa0)))
                let t1 := add(mload(add(x, 0xc0)), mload(add(x, 0xe0)))
                let t2 := add(mul(2, mload(add(x, 0xa0))), t1)
                let t3 := add(mul(2, mload(add(x, 0xe0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x80), add(t3, t5))
                mstore(add(x, 0xa0), t5)
                mstore(add(x, 0xc0), add(t2, t4))
                mstore(add(x, 0xe0), t4)
            }
            {
                let t0 := add(mload(add(x, 0x100)), mload(add(x, 0x120)))
                let t1 := add(mload(add(x, 0x140)), mload(add(x, 0x160)))
                let t2 := add(mul(2, mload(add(x, 0x120))), t1)
                let t3 := add(mul(2, mload(add(x, 0x160))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x100), add(t3, t5))
                mstore(add(x, 0x120), t5)
                mstore(add(x, 0x140), add(t2, t4))
                mstore(add(x, 0x160), t4)
            }
            {
                let t0 := add(mload(add(x, 0x180)), mload(add(x, 0x1a0)))
                let t1 := add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0)))
                let t2 := add(mul(2, mload(add(x, 0x1a0))), t1)
                let t3 := add(mul(2, mload(add(x, 0x1e0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x180), add(t3, t5))
                mstore(add(x, 0x1a0), t5)
                mstore(add(x, 0x1c0), add(t2, t4))
                mstore(add(x, 0x1e0), t4)
            }
            {
                let s0 := add(add(mload(x), mload(add(x, 0x80))), add(mload(add(x, 0x100)), mload(add(x, 0x180))))
                let s1 := add(add(mload(add(x, 0x20)), mload(add(x, 0xa0))), add(mload(add(x, 0x120)), mload(add(x, 0x1a0))))
                let s2 := add(add(mload(add(x, 0x40)), mload(add(x, 0xc0))), add(mload(add(x, 0x140)), mload(add(x, 0x1c0))))
                let s3 := add(add(mload(add(x, 0x60)), mload(add(x, 0xe0))), add(mload(add(x, 0x160)), mload(add(x, 0x1e0))))
                mstore(x, mod(add(mload(x), s0), p))
                mstore(add(x, 0x20), mod(add(mload(add(x, 0x20)), s1), p))
                mstore(add(x, 0x40), mod(add(mload(add(x, 0x40)), s2), p))
                mstore(add(x, 0x60), mod(add(mload(add(x, 0x60)), s3), p))
                mstore(add(x, 0x80), mod(add(mload(add(x, 0x80)), s0), p))
                mstore(add(x, 0xa0), mod(add(mload(add(x, 0xa0)), s1), p))
                mstore(add(x, 0xc0), mod(add(mload(add(x, 0xc0)), s2), p))
                mstore(add(x, 0xe0), mod(add(mload(add(x, 0xe0)), s3), p))
                mstore(add(x, 0x100), mod(add(mload(add(x, 0x100)), s0), p))
                mstore(add(x, 0x120), mod(add(mload(add(x, 0x120)), s1), p))
                mstore(add(x, 0x140), mod(add(mload(add(x, 0x140)), s2), p))
                mstore(add(x, 0x160), mod(add(mload(add(x, 0x160)), s3), p))
                mstore(add(x, 0x180), mod(add(mload(add(x, 0x180)), s0), p))
                mstore(add(x, 0x1a0), mod(add(mload(add(x, 0x1a0)), s1), p))
                mstore(add(x, 0x1c0), mod(add(mload(add(x, 0x1c0)), s2), p))
                mstore(add(x, 0x1e0), mod(add(mload(add(x, 0x1e0)), s3), p))
            }
            // full round 2
            {
                let a := addmod(mload(x), 0x05453f3f, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x20)), 0x06349efc, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x20), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x40)), 0x6922787c, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x40), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x60)), 0x04bfff9c, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x60), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x80)), 0x768c714a, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x80), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xa0)), 0x3e9ff21a, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xa0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xc0)), 0x15737c9c, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xc0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xe0)), 0x2229c807, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xe0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x100)), 0x0d47f88c, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x100), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x120)), 0x097e0ecc, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x120), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x140)), 0x27eadba0, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x140), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x160)), 0x2d7d29e4, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x160), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x180)), 0x3502aaa0, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x180), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1a0)), 0x0f475fd7, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1a0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1c0)), 0x29fbda49, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1c0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1e0)), 0x018afffd, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1e0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let t0 := add(mload(x), mload(add(x, 0x20)))
                let t1 := add(mload(add(x, 0x40)), mload(add(x, 0x60)))
                let t2 := add(mul(2, mload(add(x, 0x20))), t1)
                let t3 := add(mul(2, mload(add(x, 0x60))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(x, add(t3, t5))
                mstore(add(x, 0x20), t5)
                mstore(add(x, 0x40), add(t2, t4))
                mstore(add(x, 0x60), t4)
            }
            {
                let t0 := add(mload(add(x, 0x80)), mload(add(x, 0xa0)))
                let t1 := add(mload(add(x, 0xc0)), mload(add(x, 0xe0)))
                let t2 := add(mul(2, mload(add(x, 0xa0))), t1)
                let t3 := add(mul(2, mload(add(x, 0xe0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x80), add(t3, t5))
                mstore(add(x, 0xa0), t5)
                mstore(add(x, 0xc0), add(t2, t4))
                mstore(add(x, 0xe0), t4)
            }
            {
                let t0 := add(mload(add(x, 0x100)), mload(add(x, 0x120)))
                let t1 := add(mload(add(x, 0x140)), mload(add(x, 0x160)))
                let t2 := add(mul(2, mload(add(x, 0x120))), t1)
                let t3 := add(mul(2, mload(add(x, 0x160))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x100), add(t3, t5))
                mstore(add(x, 0x120), t5)
                mstore(add(x, 0x140), add(t2, t4))
                mstore(add(x, 0x160), t4)
            }
            {
                let t0 := add(mload(add(x, 0x180)), mload(add(x, 0x1a0)))
                let t1 := add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0)))
                let t2 := add(mul(2, mload(add(x, 0x1a0))), t1)
                let t3 := add(mul(2, mload(add(x, 0x1e0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x180), add(t3, t5))
                mstore(add(x, 0x1a0), t5)
                mstore(add(x, 0x1c0), add(t2, t4))
                mstore(add(x, 0x1e0), t4)
            }
            {
                let s0 := add(add(mload(x), mload(add(x, 0x80))), add(mload(add(x, 0x100)), mload(add(x, 0x180))))
                let s1 := add(add(mload(add(x, 0x20)), mload(add(x, 0xa0))), add(mload(add(x, 0x120)), mload(add(x, 0x1a0))))
                let s2 := add(add(mload(add(x, 0x40)), mload(add(x, 0xc0))), add(mload(add(x, 0x140)), mload(add(x, 0x1c0))))
                let s3 := add(add(mload(add(x, 0x60)), mload(add(x, 0xe0))), add(mload(add(x, 0x160)), mload(add(x, 0x1e0))))
                mstore(x, mod(add(mload(x), s0), p))
                mstore(add(x, 0x20), mod(add(mload(add(x, 0x20)), s1), p))
                mstore(add(x, 0x40), mod(add(mload(add(x, 0x40)), s2), p))
                mstore(add(x, 0x60), mod(add(mload(add(x, 0x60)), s3), p))
                mstore(add(x, 0x80), mod(add(mload(add(x, 0x80)), s0), p))
                mstore(add(x, 0xa0), mod(add(mload(add(x, 0xa0)), s1), p))
                mstore(add(x, 0xc0), mod(add(mload(add(x, 0xc0)), s2), p))
                mstore(add(x, 0xe0), mod(add(mload(add(x, 0xe0)), s3), p))
                mstore(add(x, 0x100), mod(add(mload(add(x, 0x100)), s0), p))
                mstore(add(x, 0x120), mod(add(mload(add(x, 0x120)), s1), p))
                mstore(add(x, 0x140), mod(add(mload(add(x, 0x140)), s2), p))
                mstore(add(x, 0x160), mod(add(mload(add(x, 0x160)), s3), p))
                mstore(add(x, 0x180), mod(add(mload(add(x, 0x180)), s0), p))
                mstore(add(x, 0x1a0), mod(add(mload(add(x, 0x1a0)), s1), p))
                mstore(add(x, 0x1c0), mod(add(mload(add(x, 0x1c0)), s2), p))
                mstore(add(x, 0x1e0), mod(add(mload(add(x, 0x1e0)), s3), p))
            }
            // full round 3
            {
                let a := addmod(mload(x), 0x0315b618, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x20)), 0x6d4497d1, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x20), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x40)), 0x1b171d9e, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x40), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x60)), 0x52861abd, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x60), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x80)), 0x2e5d0501, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x80), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xa0)), 0x3ec8646c, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xa0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xc0)), 0x6e5f250a, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xc0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xe0)), 0x148ae8e6, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xe0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x100)), 0x17f5fa4a, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x100), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x120)), 0x3e66d284, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x120), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x140)), 0x0051aa3b, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x140), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x160)), 0x483f7913, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x160), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x180)), 0x2cfe5f15, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x180), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1a0)), 0x023427ca, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1a0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1c0)), 0x2cc78315, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1c0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1e0)), 0x1e36ea47, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1e0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let t0 := add(mload(x), mload(add(x, 0x20)))
                let t1 := add(mload(add(x, 0x40)), mload(add(x, 0x60)))
                let t2 := add(mul(2, mload(add(x, 0x20))), t1)
                let t3 := add(mul(2, mload(add(x, 0x60))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(x, add(t3, t5))
                mstore(add(x, 0x20), t5)
                mstore(add(x, 0x40), add(t2, t4))
                mstore(add(x, 0x60), t4)
            }
            {
                let t0 := add(mload(add(x, 0x80)), mload(add(x, 0xa0)))
                let t1 := add(mload(add(x, 0xc0)), mload(add(x, 0xe0)))
                let t2 := add(mul(2, mload(add(x, 0xa0))), t1)
                let t3 := add(mul(2, mload(add(x, 0xe0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x80), add(t3, t5))
                mstore(add(x, 0xa0), t5)
                mstore(add(x, 0xc0), add(t2, t4))
                mstore(add(x, 0xe0), t4)
            }
            {
                let t0 := add(mload(add(x, 0x100)), mload(add(x, 0x120)))
                let t1 := add(mload(add(x, 0x140)), mload(add(x, 0x160)))
                let t2 := add(mul(2, mload(add(x, 0x120))), t1)
                let t3 := add(mul(2, mload(add(x, 0x160))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x100), add(t3, t5))
                mstore(add(x, 0x120), t5)
                mstore(add(x, 0x140), add(t2, t4))
                mstore(add(x, 0x160), t4)
            }
            {
                let t0 := add(mload(add(x, 0x180)), mload(add(x, 0x1a0)))
                let t1 := add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0)))
                let t2 := add(mul(2, mload(add(x, 0x1a0))), t1)
                let t3 := add(mul(2, mload(add(x, 0x1e0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x180), add(t3, t5))
                mstore(add(x, 0x1a0), t5)
                mstore(add(x, 0x1c0), add(t2, t4))
                mstore(add(x, 0x1e0), t4)
            }
            {
                let s0 := add(add(mload(x), mload(add(x, 0x80))), add(mload(add(x, 0x100)), mload(add(x, 0x180))))
                let s1 := add(add(mload(add(x, 0x20)), mload(add(x, 0xa0))), add(mload(add(x, 0x120)), mload(add(x, 0x1a0))))
                let s2 := add(add(mload(add(x, 0x40)), mload(add(x, 0xc0))), add(mload(add(x, 0x140)), mload(add(x, 0x1c0))))
                let s3 := add(add(mload(add(x, 0x60)), mload(add(x, 0xe0))), add(mload(add(x, 0x160)), mload(add(x, 0x1e0))))
                mstore(x, mod(add(mload(x), s0), p))
                mstore(add(x, 0x20), mod(add(mload(add(x, 0x20)), s1), p))
                mstore(add(x, 0x40), mod(add(mload(add(x, 0x40)), s2), p))
                mstore(add(x, 0x60), mod(add(mload(add(x, 0x60)), s3), p))
                mstore(add(x, 0x80), mod(add(mload(add(x, 0x80)), s0), p))
                mstore(add(x, 0xa0), mod(add(mload(add(x, 0xa0)), s1), p))
                mstore(add(x, 0xc0), mod(add(mload(add(x, 0xc0)), s2), p))
                mstore(add(x, 0xe0), mod(add(mload(add(x, 0xe0)), s3), p))
                mstore(add(x, 0x100), mod(add(mload(add(x, 0x100)), s0), p))
                mstore(add(x, 0x120), mod(add(mload(add(x, 0x120)), s1), p))
                mstore(add(x, 0x140), mod(add(mload(add(x, 0x140)), s2), p))
                mstore(add(x, 0x160), mod(add(mload(add(x, 0x160)), s3), p))
                mstore(add(x, 0x180), mod(add(mload(add(x, 0x180)), s0), p))
                mstore(add(x, 0x1a0), mod(add(mload(add(x, 0x1a0)), s1), p))
                mstore(add(x, 0x1c0), mod(add(mload(add(x, 0x1c0)), s2), p))
                mstore(add(x, 0x1e0), mod(add(mload(add(x, 0x1e0)), s3), p))
            }
            // partial round 0
            {
                let a := addmod(mload(x), 0x5a8053c0, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 1
            {
                let a := addmod(mload(x), 0x693be639, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 2
            {
                let a := addmod(mload(x), 0x3858867d, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 3
            {
                let a := addmod(mload(x), 0x19334f6b, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 4
            {
                let a := addmod(mload(x), 0x128f0fd8, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 5
            {
                let a := addmod(mload(x), 0x4e2b1ccb, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 6
            {
                let a := addmod(mload(x), 0x61210ce0, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 7
            {
                let a := addmod(mload(x), 0x3c318939, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 8
            {
                let a := addmod(mload(x), 0x0b5b2f22, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 9
            {
                let a := addmod(mload(x), 0x2edb11d5, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 10
            {
                let a := addmod(mload(x), 0x213effdf, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 11
            {
                let a := addmod(mload(x), 0x0cac4606, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // partial round 12
            {
                let a := addmod(mload(x), 0x241af16d, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let s := add(add(add(add(mload(x), mload(add(x, 0x20))), add(mload(add(x, 0x40)), mload(add(x, 0x60)))), add(add(mload(add(x, 0x80)), mload(add(x, 0xa0))), add(mload(add(x, 0xc0)), mload(add(x, 0xe0))))),
                    add(add(add(mload(add(x, 0x100)), mload(add(x, 0x120))), add(mload(add(x, 0x140)), mload(add(x, 0x160)))), add(add(mload(add(x, 0x180)), mload(add(x, 0x1a0))), add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0))))))
                mstore(x, mod(add(mul(mload(x), 0x0a632d94), s), p))
                mstore(add(x, 0x20), mod(add(mul(mload(add(x, 0x20)), 0x6db657b7), s), p))
                mstore(add(x, 0x40), mod(add(mul(mload(add(x, 0x40)), 0x56fbdc9e), s), p))
                mstore(add(x, 0x60), mod(add(mul(mload(add(x, 0x60)), 0x052b3d8a), s), p))
                mstore(add(x, 0x80), mod(add(mul(mload(add(x, 0x80)), 0x33745201), s), p))
                mstore(add(x, 0xa0), mod(add(mul(mload(add(x, 0xa0)), 0x5c03108c), s), p))
                mstore(add(x, 0xc0), mod(add(mul(mload(add(x, 0xc0)), 0x0beba37b), s), p))
                mstore(add(x, 0xe0), mod(add(mul(mload(add(x, 0xe0)), 0x258c2e8b), s), p))
                mstore(add(x, 0x100), mod(add(mul(mload(add(x, 0x100)), 0x12029f39), s), p))
                mstore(add(x, 0x120), mod(add(mul(mload(add(x, 0x120)), 0x694909ce), s), p))
                mstore(add(x, 0x140), mod(add(mul(mload(add(x, 0x140)), 0x6d231724), s), p))
                mstore(add(x, 0x160), mod(add(mul(mload(add(x, 0x160)), 0x21c3b222), s), p))
                mstore(add(x, 0x180), mod(add(mul(mload(add(x, 0x180)), 0x3c0904a5), s), p))
                mstore(add(x, 0x1a0), mod(add(mul(mload(add(x, 0x1a0)), 0x01d6acda), s), p))
                mstore(add(x, 0x1c0), mod(add(mul(mload(add(x, 0x1c0)), 0x27705c83), s), p))
                mstore(add(x, 0x1e0), mod(add(mul(mload(add(x, 0x1e0)), 0x5231c802), s), p))
            }
            // full round 4
            {
                let a := addmod(mload(x), 0x7290a80d, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x20)), 0x6f7e5329, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x20), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x40)), 0x598ec8a8, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x40), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x60)), 0x76a859a0, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x60), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x80)), 0x6559e868, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x80), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xa0)), 0x657b83af, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xa0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xc0)), 0x13271d3f, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xc0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xe0)), 0x1f876063, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xe0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x100)), 0x0aeeae37, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x100), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x120)), 0x706e9ca6, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x120), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x140)), 0x46400cee, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x140), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x160)), 0x72a05c26, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x160), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x180)), 0x2c589c9e, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x180), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1a0)), 0x20bd37a7, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1a0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1c0)), 0x6a2d3d10, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1c0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1e0)), 0x20523767, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1e0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let t0 := add(mload(x), mload(add(x, 0x20)))
                let t1 := add(mload(add(x, 0x40)), mload(add(x, 0x60)))
                let t2 := add(mul(2, mload(add(x, 0x20))), t1)
                let t3 := add(mul(2, mload(add(x, 0x60))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(x, add(t3, t5))
                mstore(add(x, 0x20), t5)
                mstore(add(x, 0x40), add(t2, t4))
                mstore(add(x, 0x60), t4)
            }
            {
                let t0 := add(mload(add(x, 0x80)), mload(add(x, 0xa0)))
                let t1 := add(mload(add(x, 0xc0)), mload(add(x, 0xe0)))
                let t2 := add(mul(2, mload(add(x, 0xa0))), t1)
                let t3 := add(mul(2, mload(add(x, 0xe0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x80), add(t3, t5))
                mstore(add(x, 0xa0), t5)
                mstore(add(x, 0xc0), add(t2, t4))
                mstore(add(x, 0xe0), t4)
            }
            {
                let t0 := add(mload(add(x, 0x100)), mload(add(x, 0x120)))
                let t1 := add(mload(add(x, 0x140)), mload(add(x, 0x160)))
                let t2 := add(mul(2, mload(add(x, 0x120))), t1)
                let t3 := add(mul(2, mload(add(x, 0x160))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x100), add(t3, t5))
                mstore(add(x, 0x120), t5)
                mstore(add(x, 0x140), add(t2, t4))
                mstore(add(x, 0x160), t4)
            }
            {
                let t0 := add(mload(add(x, 0x180)), mload(add(x, 0x1a0)))
                let t1 := add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0)))
                let t2 := add(mul(2, mload(add(x, 0x1a0))), t1)
                let t3 := add(mul(2, mload(add(x, 0x1e0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x180), add(t3, t5))
                mstore(add(x, 0x1a0), t5)
                mstore(add(x, 0x1c0), add(t2, t4))
                mstore(add(x, 0x1e0), t4)
            }
            {
                let s0 := add(add(mload(x), mload(add(x, 0x80))), add(mload(add(x, 0x100)), mload(add(x, 0x180))))
                let s1 := add(add(mload(add(x, 0x20)), mload(add(x, 0xa0))), add(mload(add(x, 0x120)), mload(add(x, 0x1a0))))
                let s2 := add(add(mload(add(x, 0x40)), mload(add(x, 0xc0))), add(mload(add(x, 0x140)), mload(add(x, 0x1c0))))
                let s3 := add(add(mload(add(x, 0x60)), mload(add(x, 0xe0))), add(mload(add(x, 0x160)), mload(add(x, 0x1e0))))
                mstore(x, mod(add(mload(x), s0), p))
                mstore(add(x, 0x20), mod(add(mload(add(x, 0x20)), s1), p))
                mstore(add(x, 0x40), mod(add(mload(add(x, 0x40)), s2), p))
                mstore(add(x, 0x60), mod(add(mload(add(x, 0x60)), s3), p))
                mstore(add(x, 0x80), mod(add(mload(add(x, 0x80)), s0), p))
                mstore(add(x, 0xa0), mod(add(mload(add(x, 0xa0)), s1), p))
                mstore(add(x, 0xc0), mod(add(mload(add(x, 0xc0)), s2), p))
                mstore(add(x, 0xe0), mod(add(mload(add(x, 0xe0)), s3), p))
                mstore(add(x, 0x100), mod(add(mload(add(x, 0x100)), s0), p))
                mstore(add(x, 0x120), mod(add(mload(add(x, 0x120)), s1), p))
                mstore(add(x, 0x140), mod(add(mload(add(x, 0x140)), s2), p))
                mstore(add(x, 0x160), mod(add(mload(add(x, 0x160)), s3), p))
                mstore(add(x, 0x180), mod(add(mload(add(x, 0x180)), s0), p))
                mstore(add(x, 0x1a0), mod(add(mload(add(x, 0x1a0)), s1), p))
                mstore(add(x, 0x1c0), mod(add(mload(add(x, 0x1c0)), s2), p))
                mstore(add(x, 0x1e0), mod(add(mload(add(x, 0x1e0)), s3), p))
            }
            // full round 5
            {
                let a := addmod(mload(x), 0x5b8fe9c4, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x20)), 0x2aa501d6, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x20), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x40)), 0x1e01ac3e, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x40), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x60)), 0x1448bc54, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x60), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x80)), 0x5ce5ad1c, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x80), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xa0)), 0x4918a14d, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xa0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xc0)), 0x2c46a83f, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xc0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xe0)), 0x4fcf6876, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xe0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x100)), 0x61d8d5c8, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x100), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x120)), 0x6ddf4ff9, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x120), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x140)), 0x11fda4d3, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x140), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x160)), 0x02933a8f, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x160), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x180)), 0x170eaf81, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x180), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1a0)), 0x5a9c314f, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1a0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1c0)), 0x49a12590, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1c0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1e0)), 0x35ec52a1, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1e0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let t0 := add(mload(x), mload(add(x, 0x20)))
                let t1 := add(mload(add(x, 0x40)), mload(add(x, 0x60)))
                let t2 := add(mul(2, mload(add(x, 0x20))), t1)
                let t3 := add(mul(2, mload(add(x, 0x60))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(x, add(t3, t5))
                mstore(add(x, 0x20), t5)
                mstore(add(x, 0x40), add(t2, t4))
                mstore(add(x, 0x60), t4)
            }
            {
                let t0 := add(mload(add(x, 0x80)), mload(add(x, 0xa0)))
                let t1 := add(mload(add(x, 0xc0)), mload(add(x, 0xe0)))
                let t2 := add(mul(2, mload(add(x, 0xa0))), t1)
                let t3 := add(mul(2, mload(add(x, 0xe0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x80), add(t3, t5))
                mstore(add(x, 0xa0), t5)
                mstore(add(x, 0xc0), add(t2, t4))
                mstore(add(x, 0xe0), t4)
            }
            {
                let t0 := add(mload(add(x, 0x100)), mload(add(x, 0x120)))
                let t1 := add(mload(add(x, 0x140)), mload(add(x, 0x160)))
                let t2 := add(mul(2, mload(add(x, 0x120))), t1)
                let t3 := add(mul(2, mload(add(x, 0x160))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x100), add(t3, t5))
                mstore(add(x, 0x120), t5)
                mstore(add(x, 0x140), add(t2, t4))
                mstore(add(x, 0x160), t4)
            }
            {
                let t0 := add(mload(add(x, 0x180)), mload(add(x, 0x1a0)))
                let t1 := add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0)))
                let t2 := add(mul(2, mload(add(x, 0x1a0))), t1)
                let t3 := add(mul(2, mload(add(x, 0x1e0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x180), add(t3, t5))
                mstore(add(x, 0x1a0), t5)
                mstore(add(x, 0x1c0), add(t2, t4))
                mstore(add(x, 0x1e0), t4)
            }
            {
                let s0 := add(add(mload(x), mload(add(x, 0x80))), add(mload(add(x, 0x100)), mload(add(x, 0x180))))
                let s1 := add(add(mload(add(x, 0x20)), mload(add(x, 0xa0))), add(mload(add(x, 0x120)), mload(add(x, 0x1a0))))
                let s2 := add(add(mload(add(x, 0x40)), mload(add(x, 0xc0))), add(mload(add(x, 0x140)), mload(add(x, 0x1c0))))
                let s3 := add(add(mload(add(x, 0x60)), mload(add(x, 0xe0))), add(mload(add(x, 0x160)), mload(add(x, 0x1e0))))
                mstore(x, mod(add(mload(x), s0), p))
                mstore(add(x, 0x20), mod(add(mload(add(x, 0x20)), s1), p))
                mstore(add(x, 0x40), mod(add(mload(add(x, 0x40)), s2), p))
                mstore(add(x, 0x60), mod(add(mload(add(x, 0x60)), s3), p))
                mstore(add(x, 0x80), mod(add(mload(add(x, 0x80)), s0), p))
                mstore(add(x, 0xa0), mod(add(mload(add(x, 0xa0)), s1), p))
                mstore(add(x, 0xc0), mod(add(mload(add(x, 0xc0)), s2), p))
                mstore(add(x, 0xe0), mod(add(mload(add(x, 0xe0)), s3), p))
                mstore(add(x, 0x100), mod(add(mload(add(x, 0x100)), s0), p))
                mstore(add(x, 0x120), mod(add(mload(add(x, 0x120)), s1), p))
                mstore(add(x, 0x140), mod(add(mload(add(x, 0x140)), s2), p))
                mstore(add(x, 0x160), mod(add(mload(add(x, 0x160)), s3), p))
                mstore(add(x, 0x180), mod(add(mload(add(x, 0x180)), s0), p))
                mstore(add(x, 0x1a0), mod(add(mload(add(x, 0x1a0)), s1), p))
                mstore(add(x, 0x1c0), mod(add(mload(add(x, 0x1c0)), s2), p))
                mstore(add(x, 0x1e0), mod(add(mload(add(x, 0x1e0)), s3), p))
            }
            // full round 6
            {
                let a := addmod(mload(x), 0x58eb1611, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x20)), 0x5e481e65, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x20), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x40)), 0x367125c9, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x40), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x60)), 0x0eba33ba, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x60), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x80)), 0x1fc28ded, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x80), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xa0)), 0x066399ad, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xa0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xc0)), 0x0cbec0ea, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xc0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xe0)), 0x75fd1af0, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xe0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x100)), 0x50f5bf4e, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x100), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x120)), 0x643d5f41, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x120), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x140)), 0x6f4fe718, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x140), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x160)), 0x5b3cbbde, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x160), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x180)), 0x1e3afb3e, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x180), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1a0)), 0x296fb027, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1a0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1c0)), 0x45e1547b, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1c0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1e0)), 0x4a8db2ab, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1e0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let t0 := add(mload(x), mload(add(x, 0x20)))
                let t1 := add(mload(add(x, 0x40)), mload(add(x, 0x60)))
                let t2 := add(mul(2, mload(add(x, 0x20))), t1)
                let t3 := add(mul(2, mload(add(x, 0x60))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(x, add(t3, t5))
                mstore(add(x, 0x20), t5)
                mstore(add(x, 0x40), add(t2, t4))
                mstore(add(x, 0x60), t4)
            }
            {
                let t0 := add(mload(add(x, 0x80)), mload(add(x, 0xa0)))
                let t1 := add(mload(add(x, 0xc0)), mload(add(x, 0xe0)))
                let t2 := add(mul(2, mload(add(x, 0xa0))), t1)
                let t3 := add(mul(2, mload(add(x, 0xe0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x80), add(t3, t5))
                mstore(add(x, 0xa0), t5)
                mstore(add(x, 0xc0), add(t2, t4))
                mstore(add(x, 0xe0), t4)
            }
            {
                let t0 := add(mload(add(x, 0x100)), mload(add(x, 0x120)))
                let t1 := add(mload(add(x, 0x140)), mload(add(x, 0x160)))
                let t2 := add(mul(2, mload(add(x, 0x120))), t1)
                let t3 := add(mul(2, mload(add(x, 0x160))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x100), add(t3, t5))
                mstore(add(x, 0x120), t5)
                mstore(add(x, 0x140), add(t2, t4))
                mstore(add(x, 0x160), t4)
            }
            {
                let t0 := add(mload(add(x, 0x180)), mload(add(x, 0x1a0)))
                let t1 := add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0)))
                let t2 := add(mul(2, mload(add(x, 0x1a0))), t1)
                let t3 := add(mul(2, mload(add(x, 0x1e0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x180), add(t3, t5))
                mstore(add(x, 0x1a0), t5)
                mstore(add(x, 0x1c0), add(t2, t4))
                mstore(add(x, 0x1e0), t4)
            }
            {
                let s0 := add(add(mload(x), mload(add(x, 0x80))), add(mload(add(x, 0x100)), mload(add(x, 0x180))))
                let s1 := add(add(mload(add(x, 0x20)), mload(add(x, 0xa0))), add(mload(add(x, 0x120)), mload(add(x, 0x1a0))))
                let s2 := add(add(mload(add(x, 0x40)), mload(add(x, 0xc0))), add(mload(add(x, 0x140)), mload(add(x, 0x1c0))))
                let s3 := add(add(mload(add(x, 0x60)), mload(add(x, 0xe0))), add(mload(add(x, 0x160)), mload(add(x, 0x1e0))))
                mstore(x, mod(add(mload(x), s0), p))
                mstore(add(x, 0x20), mod(add(mload(add(x, 0x20)), s1), p))
                mstore(add(x, 0x40), mod(add(mload(add(x, 0x40)), s2), p))
                mstore(add(x, 0x60), mod(add(mload(add(x, 0x60)), s3), p))
                mstore(add(x, 0x80), mod(add(mload(add(x, 0x80)), s0), p))
                mstore(add(x, 0xa0), mod(add(mload(add(x, 0xa0)), s1), p))
                mstore(add(x, 0xc0), mod(add(mload(add(x, 0xc0)), s2), p))
                mstore(add(x, 0xe0), mod(add(mload(add(x, 0xe0)), s3), p))
                mstore(add(x, 0x100), mod(add(mload(add(x, 0x100)), s0), p))
                mstore(add(x, 0x120), mod(add(mload(add(x, 0x120)), s1), p))
                mstore(add(x, 0x140), mod(add(mload(add(x, 0x140)), s2), p))
                mstore(add(x, 0x160), mod(add(mload(add(x, 0x160)), s3), p))
                mstore(add(x, 0x180), mod(add(mload(add(x, 0x180)), s0), p))
                mstore(add(x, 0x1a0), mod(add(mload(add(x, 0x1a0)), s1), p))
                mstore(add(x, 0x1c0), mod(add(mload(add(x, 0x1c0)), s2), p))
                mstore(add(x, 0x1e0), mod(add(mload(add(x, 0x1e0)), s3), p))
            }
            // full round 7
            {
                let a := addmod(mload(x), 0x59986d19, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(x, mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x20)), 0x30bcdfa3, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x20), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x40)), 0x1db63932, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x40), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x60)), 0x1d7c2824, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x60), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x80)), 0x53b33681, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x80), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xa0)), 0x0673b747, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xa0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xc0)), 0x038a98a3, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xc0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0xe0)), 0x2c5bce60, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0xe0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x100)), 0x351979cd, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x100), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x120)), 0x5008fb73, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x120), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x140)), 0x547bca78, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x140), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x160)), 0x711af481, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x160), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x180)), 0x3f93bf64, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x180), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1a0)), 0x644d987b, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1a0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1c0)), 0x3c8bcd87, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1c0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let a := addmod(mload(add(x, 0x1e0)), 0x608758b8, p)
                let a3 := mulmod(mulmod(a, a, p), a, p)
                mstore(add(x, 0x1e0), mulmod(mulmod(a3, a3, p), a, p))
            }
            {
                let t0 := add(mload(x), mload(add(x, 0x20)))
                let t1 := add(mload(add(x, 0x40)), mload(add(x, 0x60)))
                let t2 := add(mul(2, mload(add(x, 0x20))), t1)
                let t3 := add(mul(2, mload(add(x, 0x60))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(x, add(t3, t5))
                mstore(add(x, 0x20), t5)
                mstore(add(x, 0x40), add(t2, t4))
                mstore(add(x, 0x60), t4)
            }
            {
                let t0 := add(mload(add(x, 0x80)), mload(add(x, 0xa0)))
                let t1 := add(mload(add(x, 0xc0)), mload(add(x, 0xe0)))
                let t2 := add(mul(2, mload(add(x, 0xa0))), t1)
                let t3 := add(mul(2, mload(add(x, 0xe0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x80), add(t3, t5))
                mstore(add(x, 0xa0), t5)
                mstore(add(x, 0xc0), add(t2, t4))
                mstore(add(x, 0xe0), t4)
            }
            {
                let t0 := add(mload(add(x, 0x100)), mload(add(x, 0x120)))
                let t1 := add(mload(add(x, 0x140)), mload(add(x, 0x160)))
                let t2 := add(mul(2, mload(add(x, 0x120))), t1)
                let t3 := add(mul(2, mload(add(x, 0x160))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x100), add(t3, t5))
                mstore(add(x, 0x120), t5)
                mstore(add(x, 0x140), add(t2, t4))
                mstore(add(x, 0x160), t4)
            }
            {
                let t0 := add(mload(add(x, 0x180)), mload(add(x, 0x1a0)))
                let t1 := add(mload(add(x, 0x1c0)), mload(add(x, 0x1e0)))
                let t2 := add(mul(2, mload(add(x, 0x1a0))), t1)
                let t3 := add(mul(2, mload(add(x, 0x1e0))), t0)
                let t4 := add(mul(4, t1), t3)
                let t5 := add(mul(4, t0), t2)
                mstore(add(x, 0x180), add(t3, t5))
                mstore(add(x, 0x1a0), t5)
                mstore(add(x, 0x1c0), add(t2, t4))
                mstore(add(x, 0x1e0), t4)
            }
            {
                let s0 := add(add(mload(x), mload(add(x, 0x80))), add(mload(add(x, 0x100)), mload(add(x, 0x180))))
                let s1 := add(add(mload(add(x, 0x20)), mload(add(x, 0xa0))), add(mload(add(x, 0x120)), mload(add(x, 0x1a0))))
                let s2 := add(add(mload(add(x, 0x40)), mload(add(x, 0xc0))), add(mload(add(x, 0x140)), mload(add(x, 0x1c0))))
                let s3 := add(add(mload(add(x, 0x60)), mload(add(x, 0xe0))), add(mload(add(x, 0x160)), mload(add(x, 0x1e0))))
                mstore(x, mod(add(mload(x), s0), p))
                mstore(add(x, 0x20), mod(add(mload(add(x, 0x20)), s1), p))
                mstore(add(x, 0x40), mod(add(mload(add(x, 0x40)), s2), p))
                mstore(add(x, 0x60), mod(add(mload(add(x, 0x60)), s3), p))
                mstore(add(x, 0x80), mod(add(mload(add(x, 0x80)), s0), p))
                mstore(add(x, 0xa0), mod(add(mload(add(x, 0xa0)), s1), p))
                mstore(add(x, 0xc0), mod(add(mload(add(x, 0xc0)), s2), p))
                mstore(add(x, 0xe0), mod(add(mload(add(x, 0xe0)), s3), p))
                mstore(add(x, 0x100), mod(add(mload(add(x, 0x100)), s0), p))
                mstore(add(x, 0x120), mod(add(mload(add(x, 0x120)), s1), p))
                mstore(add(x, 0x140), mod(add(mload(add(x, 0x140)), s2), p))
                mstore(add(x, 0x160), mod(add(mload(add(x, 0x160)), s3), p))
                mstore(add(x, 0x180), mod(add(mload(add(x, 0x180)), s0), p))
                mstore(add(x, 0x1a0), mod(add(mload(add(x, 0x1a0)), s1), p))
                mstore(add(x, 0x1c0), mod(add(mload(add(x, 0x1c0)), s2), p))
                mstore(add(x, 0x1e0), mod(add(mload(add(x, 0x1e0)), s3), p))
            }
        }
    }

    /// @notice The sponge digest of `elements` (each below p; the caller checks).
    function hash(uint256[] memory elements) internal pure returns (uint256[8] memory digest) {
        uint256[16] memory x;
        uint256 k = elements.length;
        x[8] = k;
        uint256 blocks = k == 0 ? 1 : (k + 7) / 8;
        for (uint256 b = 0; b < blocks; ++b) {
            for (uint256 i = 0; i < 8; ++i) {
                uint256 at = 8 * b + i;
                x[i] = at < k ? elements[at] : 0;
            }
            permute(x);
        }
        for (uint256 i = 0; i < 8; ++i) {
            digest[i] = x[i];
        }
    }

    /// @notice The 2-to-1 compression P(l || r)[0:8] + l.
    function compress(uint256[8] memory l, uint256[8] memory r)
        internal
        pure
        returns (uint256[8] memory out)
    {
        uint256[16] memory x;
        for (uint256 i = 0; i < 8; ++i) {
            x[i] = l[i];
            x[8 + i] = r[i];
        }
        permute(x);
        for (uint256 i = 0; i < 8; ++i) {
            out[i] = addmod(x[i], l[i], P);
        }
    }

    /// @notice The root that `leaf` at `index` reaches through `path` (siblings, bottom up).
    function pathRoot(uint256[8] memory leaf, uint256 index, uint256[8][] memory path)
        internal
        pure
        returns (uint256[8] memory node)
    {
        node = leaf;
        for (uint256 level = 0; level < path.length; ++level) {
            node = (index >> level) & 1 == 1
                ? compress(path[level], node)
                : compress(node, path[level]);
        }
    }

    /// @notice A digest as 32 bytes: element i in bytes 4i..4i+3, little-endian.
    function toBytes32(uint256[8] memory digest) internal pure returns (bytes32 out) {
        uint256 acc;
        for (uint256 i = 0; i < 8; ++i) {
            acc |= _swap32(digest[i]) << (224 - 32 * i);
        }
        out = bytes32(acc);
    }

    /// @notice The 8 elements of a 32-byte digest (not checked below p; see `isCanonical`).
    function fromBytes32(bytes32 data) internal pure returns (uint256[8] memory digest) {
        uint256 word = uint256(data);
        for (uint256 i = 0; i < 8; ++i) {
            digest[i] = _swap32((word >> (224 - 32 * i)) & 0xffffffff);
        }
    }

    /// @notice The 4 low bytes of `v` in the reverse order.
    function _swap32(uint256 v) private pure returns (uint256) {
        return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >> 8) & 0xff00) | ((v >> 24) & 0xff);
    }

    /// @notice Whether every element of the 32-byte digest is below p.
    function isCanonical(bytes32 data) internal pure returns (bool) {
        uint256[8] memory d = fromBytes32(data);
        for (uint256 i = 0; i < 8; ++i) {
            if (d[i] >= P) return false;
        }
        return true;
    }
}
