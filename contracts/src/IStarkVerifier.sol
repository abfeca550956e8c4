// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title What the exchange needs of a STARK verifier
/// @notice `StarkVerifier.verify`: true, or a revert naming the failed check.
interface IStarkVerifier {
    /// @notice Check `proof` for exactly `publicInputs` (each below p).
    function verify(uint256[] calldata publicInputs, bytes calldata proof) external view returns (bool);

    /// @notice Check `proof` for `publicInputs` and the bus's public `tables` (packed as
    ///         crypto/solidity.py `encode_tables`; the verifier computes their LogUp sum).
    function verifyWithTables(uint256[] calldata publicInputs, bytes calldata tables, bytes calldata proof)
        external
        view
        returns (bool);
}
