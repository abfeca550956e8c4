"""Emit the Poseidon2 (BabyBear, width 16) permutation as a Solidity library.

The permutation is straight-line Yul (in place on the state's 16 memory
words, every constant a literal) written from the constants of
:mod:`sealbatch.crypto.poseidon2` (so the two cannot drift: ``contracts/generate.py
--check`` compares the committed file with what this module writes now), plus the
sponge, the 2-to-1 compression and the digest encoding of that module, so a
contract recomputes exactly the hashes the ledger's state roots are made of
(``settlement/roots.py``). ``tests/contracts/test_poseidon2.py`` checks the
contract against the Python code on many vectors.

Each full round adds the 16 round constants, raises every element to the 7th
power and applies ``M_E``; each partial round does so for element 0 only and
applies ``M_I``. Values stay below ``p`` between layers; sums inside a linear
layer are taken unreduced (each term is below 2^34, far inside a word).
"""

from __future__ import annotations

from sealbatch.crypto import poseidon2 as p2
from sealbatch.crypto.solidity import SOLIDITY_VERSION

__all__ = ["LIBRARY_NAME", "render_library"]

LIBRARY_NAME = "Poseidon2"


def _at(i: int) -> str:
    """The memory address of state element ``i`` (the array ``x`` starts at ``x``)."""
    return "x" if i == 0 else f"add(x, {32 * i:#x})"


def _load(i: int) -> str:
    return f"mload({_at(i)})"


def _external_layer(indent: str) -> list[str]:
    """``M_E`` on ``x``: ``M4`` on each block of four, then add the four blocks' column sums."""
    out: list[str] = []
    for b in range(4):
        i0, i1, i2, i3 = (4 * b + k for k in range(4))
        out += [
            f"{indent}{{",
            f"{indent}    let t0 := add({_load(i0)}, {_load(i1)})",
            f"{indent}    let t1 := add({_load(i2)}, {_load(i3)})",
            f"{indent}    let t2 := add(mul(2, {_load(i1)}), t1)",
            f"{indent}    let t3 := add(mul(2, {_load(i3)}), t0)",
            f"{indent}    let t4 := add(mul(4, t1), t3)",
            f"{indent}    let t5 := add(mul(4, t0), t2)",
            f"{indent}    mstore({_at(i0)}, add(t3, t5))",
            f"{indent}    mstore({_at(i1)}, t5)",
            f"{indent}    mstore({_at(i2)}, add(t2, t4))",
            f"{indent}    mstore({_at(i3)}, t4)",
            f"{indent}}}",
        ]
    out.append(f"{indent}{{")
    for k in range(4):
        terms = f"add(add({_load(k)}, {_load(4 + k)}), add({_load(8 + k)}, {_load(12 + k)}))"
        out.append(f"{indent}    let s{k} := {terms}")
    for i in range(16):
        out.append(f"{indent}    mstore({_at(i)}, mod(add({_load(i)}, s{i % 4}), p))")
    out.append(f"{indent}}}")
    return out


def _sbox(i: int, constant: int, indent: str) -> list[str]:
    """``x_i ← (x_i + c)^7``."""
    return [
        f"{indent}{{",
        f"{indent}    let a := addmod({_load(i)}, {constant:#010x}, p)",
        f"{indent}    let a3 := mulmod(mulmod(a, a, p), a, p)",
        f"{indent}    mstore({_at(i)}, mulmod(mulmod(a3, a3, p), a, p))",
        f"{indent}}}",
    ]


def _full_round(constants: tuple[int, ...], indent: str) -> list[str]:
    out: list[str] = []
    for i, c in enumerate(constants):
        out += _sbox(i, c, indent)
    return out + _external_layer(indent)


def _partial_round(constant: int, indent: str) -> list[str]:
    quads = [
        f"add(add({_load(4 * q)}, {_load(4 * q + 1)}), add({_load(4 * q + 2)}, {_load(4 * q + 3)}))"
        for q in range(4)
    ]
    out = [
        *_sbox(0, constant, indent),
        f"{indent}{{",
        f"{indent}    let s := add(add({quads[0]}, {quads[1]}),",
        f"{indent}        add({quads[2]}, {quads[3]}))",
    ]
    out += [
        f"{indent}    mstore({_at(i)}, mod(add(mul({_load(i)}, {d:#010x}), s), p))"
        for i, d in enumerate(p2.INTERNAL_DIAG_M_1)
    ]
    return [*out, f"{indent}}}"]


def render_library() -> str:
    """The generated ``Poseidon2.sol``."""
    ind = "            "
    body: list[str] = [f"{ind}// initial linear layer", *_external_layer(ind)]
    half = p2.ROUNDS_F // 2
    for r in range(half):
        body += [f"{ind}// full round {r}", *_full_round(p2.EXTERNAL_ROUND_CONSTANTS[r], ind)]
    for r, c in enumerate(p2.INTERNAL_ROUND_CONSTANTS):
        body += [f"{ind}// partial round {r}", *_partial_round(c, ind)]
    for r in range(half, p2.ROUNDS_F):
        body += [f"{ind}// full round {r}", *_full_round(p2.EXTERNAL_ROUND_CONSTANTS[r], ind)]
    head = f"""// SPDX-License-Identifier: Apache-2.0
// GENERATED FILE: DO NOT EDIT. `make contracts` writes it from the constants of
// crypto/poseidon2.py through crypto/poseidon2_solidity.py.
pragma solidity {SOLIDITY_VERSION};

/// @title Poseidon2 over BabyBear, width 16: permutation, sponge, compression, digests
/// @notice The instance of crypto/poseidon2.py (HorizenLabs constants; S-box x^7, 8 full and
///         13 partial rounds). `hash` is its sponge (rate 8, the length in the first capacity
///         element, overwrite mode), `compress(l, r) = P(l || r)[0:8] + l`, and a digest is
///         8 elements encoded as 32 bytes, 4 bytes little-endian each (`digest_to_bytes`).
library {LIBRARY_NAME} {{
    /// @notice The BabyBear prime 15 * 2^27 + 1.
    uint256 internal constant P = {p2.P};

    /// @notice The permutation, in place, on 16 elements below p (straight-line Yul over the
    ///         array's memory words: each layer reads and writes them in place).
    function permute(uint256[16] memory x) internal pure {{
        assembly ("memory-safe") {{
            let p := {p2.P}
"""
    tail = """        }
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
"""
    return head + "\n".join(body) + "\n" + tail
