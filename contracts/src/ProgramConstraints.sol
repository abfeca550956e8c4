// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ConstraintEvaluator} from "./ConstraintEvaluator.sol";

/// @title An AIR's constraints from a program deployed beforehand, run as compiled EVM code
/// @notice For AIRs whose program is generated at deployment from their current expressions
///         (the batch AIR, whose shape follows the number of markets and rows) rather than
///         checked in: the operator deploys the program's data contracts (each a STOP byte and
///         up to 24 575 program bytes, one transaction each, so no transaction nears a block's
///         gas) and its instructions compiled to straight-line EVM code (crypto/evm_program.py:
///         code contracts under EIP-170's 24 576 bytes, each called with the register file and
///         returning the registers it writes), then this evaluator adopts both. `programHash` is the
///         Keccak-256 of what the data contracts hold, so a verifier pinned to it checks
///         exactly that AIR; `codeHash` pins the code contracts, which anyone can recompile
///         from the program and compare.
contract ProgramConstraints is ConstraintEvaluator {
    /// @notice A code contract is missing, or failed, or returned a window outside the register file.
    error CodeFailed(uint256 part);

    /// @notice Keccak-256 of the code contracts' code hashes, in order.
    bytes32 public codeHash;
    /// @dev The code contracts, in program order.
    address[] private codeParts;

    /// @param parts The data contracts, in program order.
    /// @param length The program's length in bytes.
    /// @param code The code contracts running the program's instructions, in order.
    constructor(address[] memory parts, uint256 length, address[] memory code) {
        _adoptProgram(parts, length);
        if (code.length == 0) revert CodeFailed(0);
        bytes32[] memory hashes = new bytes32[](code.length);
        for (uint256 i = 0; i < code.length; ++i) {
            if (code[i].code.length == 0) revert CodeFailed(i);
            hashes[i] = code[i].codehash;
        }
        codeHash = keccak256(abi.encodePacked(hashes));
        codeParts = code;
    }

    /// @dev The compiled code holds the instructions: the evaluator need not load them.
    function _readsCode() internal pure override returns (bool) {
        return false;
    }

    /// @dev Each code contract in turn runs its instructions on the register file: called with
    ///      the registers as calldata, it returns `lo` (one word) and the registers `lo ..` it
    ///      writes (its window), which are copied back into the file at register `lo`.
    function _execute(uint256 code, uint256 count, uint256 regs, uint256 numRegs)
        internal
        view
        override
        returns (uint256 end)
    {
        uint256 size = 32 * numRegs;
        uint256 n = codeParts.length;
        for (uint256 i = 0; i < n; ++i) {
            address part = codeParts[i];
            bool ok;
            assembly ("memory-safe") {
                ok := staticcall(gas(), part, regs, size, 0, 0)
                let got := returndatasize()
                ok := and(ok, iszero(lt(got, 32)))
                if ok {
                    returndatacopy(0, 0, 32)
                    let lo := mload(0)
                    let bytes_ := sub(got, 32)
                    // whole registers, all inside the file (lo below 2^16: 32·lo cannot wrap)
                    ok := and(lt(lo, 0x10000), iszero(and(bytes_, 31)))
                    ok := and(ok, iszero(gt(add(shl(5, lo), bytes_), size)))
                    if ok { returndatacopy(add(regs, shl(5, lo)), 32, bytes_) }
                }
            }
            if (!ok) revert CodeFailed(i);
        }
        end = code + 7 * count;
    }
}
