// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BabyBear} from "../BabyBear.sol";

/// @title External entry points to the BabyBear library, for differential tests against Python
contract BabyBearHarness {
    function add(uint256 a, uint256 b) external pure returns (uint256) {
        return BabyBear.add(a, b);
    }

    function sub(uint256 a, uint256 b) external pure returns (uint256) {
        return BabyBear.sub(a, b);
    }

    function mul(uint256 a, uint256 b) external pure returns (uint256) {
        return BabyBear.mul(a, b);
    }

    function mulBase(uint256 a, uint256 s) external pure returns (uint256) {
        return BabyBear.mulBase(a, s);
    }

    function pow(uint256 a, uint256 e) external pure returns (uint256) {
        return BabyBear.pow(a, e);
    }

    function inv(uint256 a) external pure returns (uint256) {
        return BabyBear.inv(a);
    }

    function isCanonical(uint256 a) external pure returns (bool) {
        return BabyBear.isCanonical(a);
    }

    function rootOfUnity(uint256 logN) external pure returns (uint256) {
        return BabyBear.rootOfUnity(logN);
    }
}
