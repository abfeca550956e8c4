// SPDX-License-Identifier: Apache-2.0
// GENERATED FILE: DO NOT EDIT. `make contracts` writes it from the constraint
// expressions of crypto/airs/range_check.py through crypto/solidity.py.
pragma solidity 0.8.30;

import {ConstraintEvaluator} from "../ConstraintEvaluator.sol";

/// @title The `range_check` AIR's constraints at the out-of-domain point
/// @notice 9 constraints, 47 expression nodes, 27 instructions,
///         23 registers, 305 program bytes.
///         Frame (column[offset]): col0[0], col1[0], col2[0], col3[0], aux0[0], col0[1], col1[1],
///         col2[1], col3[1], aux0[1].
contract RangeCheckConstraints is ConstraintEvaluator {
    constructor() {
        _storeProgram(
            hex"0017000a0002000100000009001b020001010000000100010001000200010003000200000001000001010001"
            hex"0101000201010003010200000106000d0000000102000e0006000102000f000e000d03000f000e000f01000e"
            hex"0003000502000e0008000e02001000090004020011000c0006020012000c0005030012001100120300120010"
            hex"0012020010000c000503001000070010020011000c00060200110010001102001100120011020012000a000d"
            hex"02001200010012020010000300000200130003000b020014000c0001020015000c0000030016001400150300"
            hex"16000400160300150002001502001400150014020014001600140003000000000100030000000f0001000e00"
            hex"02001101ffffffff000300040012000600130008000401000000000003000300010005001000070014"
        );
    }
}
