// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ConstraintEvaluator} from "./ConstraintEvaluator.sol";

/// @title An AIR's constraints from a program deployed beforehand, chunk by chunk
/// @notice For AIRs whose program is generated at deployment from their current expressions
///         (the batch AIR, whose shape follows the number of markets and rows) rather than
///         checked in: the operator deploys the program's data contracts (each a STOP byte and
///         up to 24 575 program bytes, one transaction each, so no transaction nears a block's
///         gas), then this evaluator adopts them. `programHash` is the Keccak-256 of what the
///         data contracts hold, so a verifier pinned to it checks exactly that AIR.
contract ProgramConstraints is ConstraintEvaluator {
    /// @param parts The data contracts, in program order.
    /// @param length The program's length in bytes.
    constructor(address[] memory parts, uint256 length) {
        _adoptProgram(parts, length);
    }
}
