// SPDX-License-Identifier: Apache-2.0
// GENERATED FILE: DO NOT EDIT. `make contracts` writes it from the constraint
// expressions of crypto/airs/fibonacci.py through crypto/solidity.py.
pragma solidity 0.8.30;

import {ConstraintEvaluator} from "../ConstraintEvaluator.sol";

/// @title The `fibonacci` AIR's constraints at the out-of-domain point
/// @notice 5 constraints, 13 expression nodes, 6 instructions,
///         12 registers, 99 program bytes.
///         Frame (column[offset]): col0[0], col1[0], col0[1], col1[1].
contract FibonacciConstraints is ConstraintEvaluator {
    constructor()
        ConstraintEvaluator(
            hex"000c000400030000000000050006020007000200010100080000000102000800030008020009000000040200"
            hex"0a0001000502000b00010006000300000000010002000000070001000801ffffffff00010004000b01000000"
            hex"000002000200090003000a"
        )
    {}
}
