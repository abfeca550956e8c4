// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title What the exchange calls of Poseidon2Hasher
interface IPoseidon2Hasher {
    /// @notice The sponge digest of `elements`.
    function hash(uint256[] calldata elements) external pure returns (uint256[8] memory);

    /// @notice compress(l, r) = P(l || r)[0:8] + l.
    function compress(uint256[8] calldata l, uint256[8] calldata r) external pure returns (uint256[8] memory);

    /// @notice The root `leaf` at `index` reaches through `path`.
    function pathRoot(uint256[8] calldata leaf, uint256 index, uint256[8][] calldata path)
        external
        pure
        returns (uint256[8] memory);
}
