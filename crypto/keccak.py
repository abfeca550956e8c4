"""Keccak-256 (the EVM's hash) and a Keccak Merkle root over 32-byte leaves.

Keccak-256 is the original Keccak padding used by Ethereum, not NIST SHA3-256.
"""

from __future__ import annotations

from collections.abc import Sequence

import sha3  # safe-pysha3: the original Keccak padding, in C

__all__ = ["LEAF_TAG", "NODE_TAG", "keccak256", "keccak_merkle_root"]

#: Prefixes that separate leaves from inner nodes, so that no inner node can
#: be passed off as a leaf (second-preimage attacks on unbalanced trees).
LEAF_TAG = b"\x00"
NODE_TAG = b"\x01"


def keccak256(*parts: bytes) -> bytes:
    """Return Keccak-256 of the concatenation of ``parts``."""
    return sha3.keccak_256(b"".join(parts)).digest()


def keccak_merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Merkle root of ``leaves`` in the given order, Keccak-256, domain-separated.

    Leaves are hashed as ``keccak(0x00 || leaf)``, nodes as
    ``keccak(0x01 || left || right)``. A level of odd length carries its last
    node up unchanged. The root of no leaves is 32 zero bytes.
    """
    if not leaves:
        return bytes(32)
    level = [keccak256(LEAF_TAG, leaf) for leaf in leaves]
    while len(level) > 1:
        nxt = [keccak256(NODE_TAG, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
