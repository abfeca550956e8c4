// SPDX-License-Identifier: Apache-2.0
// GENERATED FILE: DO NOT EDIT. `make contracts` writes it from the constraint
// expressions of crypto/airs/fibonacci.py through crypto/solidity.py.
pragma solidity 0.8.30;

import {ConstraintEvaluator} from "../ConstraintEvaluator.sol";

/// @title The `fibonacci` AIR's constraints at the out-of-domain point
/// @notice 5 constraints, 13 expression nodes, 6 instructions,
///         12 registers, 118 program bytes.
///         Frame (column[offset]): col0[0], col1[0], col0[1], col1[1].
contract FibonacciConstraints is ConstraintEvaluator {
    constructor() {
        _storeProgram(
            hex"000c000400030000000000050006020001010000000100010001000001010001010200070002000101000800"
            hex"000001020008000300080200090000000402000a0001000502000b0001000600030000000001000200000007"
            hex"0001000801ffffffff00010004000b01000000000002000200090003000a"
        );
    }
}
