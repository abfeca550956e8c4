"""Fixed (preprocessed) columns: their commitment, computed once per AIR and blowup.

A fixed column is part of the AIR (selectors, constant tables): the prover
cannot choose it. Both sides derive its Merkle root from the AIR's
``fixed_builder`` — the low-degree extension of the columns on the proof's
LDE coset, one binary Keccak Merkle leaf per LDE row, exactly like the main
trace — and the root is absorbed into the transcript before anything else.
A proof carries the fixed columns' rows at the queried positions with their
Merkle opening, checked against this root, so a prover who used other fixed
values fails the opening. An on-chain verifier holds the root as a constant
(its verifying key); :func:`fixed_commitment` caches it per AIR shape.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air
from sealbatch.crypto.merkle import MerkleTree
from sealbatch.crypto.ntt import DEFAULT_SHIFT, coset_evaluate, intt

__all__ = ["FixedCommitment", "fixed_commitment", "fixed_root"]


@dataclass(frozen=True)
class FixedCommitment:
    """The fixed columns' coefficients, LDE, Merkle tree and root."""

    coefficients: fld.Array  # (F, N)
    lde: fld.Array  # (F, B·N)
    tree: MerkleTree

    @property
    def root(self) -> bytes:
        return self.tree.root


_CACHE: dict[tuple[str, int, int, bytes], FixedCommitment] = {}
_CACHE_LIMIT = 8


def fixed_commitment(air: Air, blowup: int) -> FixedCommitment:
    """The commitment to ``air``'s fixed columns at ``blowup`` (cached by content).

    Raises:
        ValueError: the AIR has no fixed columns, or its builder misbehaves.
    """
    if not air.num_fixed_columns:
        raise ValueError(f"AIR {air.name!r} has no fixed columns")
    values = air.fixed_values
    key = (air.name, air.num_rows, blowup, hashlib.sha256(values.tobytes()).digest())
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    coeffs = intt(values)
    lde = coset_evaluate(coeffs, air.num_rows * blowup, DEFAULT_SHIFT)
    commitment = FixedCommitment(coeffs, lde, MerkleTree.from_columns(lde))
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = commitment
    return commitment


def fixed_root(air: Air, blowup: int) -> bytes:
    """The fixed columns' Merkle root (empty bytes without fixed columns)."""
    return fixed_commitment(air, blowup).root if air.num_fixed_columns else b""
