// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Poseidon2} from "./generated/Poseidon2.sol";

/// @title Poseidon2 (BabyBear, width 16) as a deployed contract
/// @notice The hashes of crypto/poseidon2.py on chain: the permutation, the sponge, the 2-to-1
///         compression and a Merkle path's root. The exchange calls it (the permutation is
///         straight-line code, too large to inline beside the exchange's own logic under the
///         24 KB code limit); tests compare it with the Python code.
contract Poseidon2Hasher {
    /// @notice An input element is not below p.
    error NotFieldElement(uint256 value);

    /// @notice The permutation of 16 elements below p.
    function permute(uint256[16] calldata state) external pure returns (uint256[16] memory x) {
        for (uint256 i = 0; i < 16; ++i) {
            _check(state[i]);
            x[i] = state[i];
        }
        Poseidon2.permute(x);
    }

    /// @notice The sponge digest of `elements` (any length, each below p).
    function hash(uint256[] calldata elements) external pure returns (uint256[8] memory) {
        uint256[] memory copy = new uint256[](elements.length);
        for (uint256 i = 0; i < elements.length; ++i) {
            _check(elements[i]);
            copy[i] = elements[i];
        }
        return Poseidon2.hash(copy);
    }

    /// @notice compress(l, r) = P(l || r)[0:8] + l.
    function compress(uint256[8] calldata l, uint256[8] calldata r) external pure returns (uint256[8] memory) {
        for (uint256 i = 0; i < 8; ++i) {
            _check(l[i]);
            _check(r[i]);
        }
        return Poseidon2.compress(l, r);
    }

    /// @notice The root `leaf` at `index` reaches through `path` (siblings, bottom up).
    function pathRoot(uint256[8] calldata leaf, uint256 index, uint256[8][] calldata path)
        external
        pure
        returns (uint256[8] memory)
    {
        for (uint256 i = 0; i < 8; ++i) {
            _check(leaf[i]);
        }
        for (uint256 l = 0; l < path.length; ++l) {
            for (uint256 i = 0; i < 8; ++i) {
                _check(path[l][i]);
            }
        }
        return Poseidon2.pathRoot(leaf, index, path);
    }

    /// @notice The 32-byte encoding of a digest (crypto/poseidon2.py `digest_to_bytes`).
    function toBytes32(uint256[8] calldata digest) external pure returns (bytes32) {
        return Poseidon2.toBytes32(digest);
    }

    /// @notice The digest a 32-byte encoding holds.
    function fromBytes32(bytes32 data) external pure returns (uint256[8] memory) {
        return Poseidon2.fromBytes32(data);
    }

    function _check(uint256 v) private pure {
        if (v >= Poseidon2.P) revert NotFieldElement(v);
    }
}
