"""Shared by the STARK tests: small fast options, cached small proofs, a cheating prover."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import numpy as np
import pytest

from sealbatch.crypto import prover as prover_module
from sealbatch.crypto.airs import get_air
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.options import ProofOptions
from sealbatch.crypto.proof import StarkProof
from sealbatch.crypto.prover import prove

#: Small, fast options for tamper tests (verified with ``min_security_bits=0``).
FAST = ProofOptions(blowup=4, num_queries=6, folding_factor=4, grinding_bits=4, fri_max_remainder=4)


@functools.cache
def small_proof(name: str, rows: int = 16, **params: int) -> StarkProof:
    """An honest proof of the example AIR ``name`` under :data:`FAST` (cached)."""
    entry = get_air(name)
    trace, pubs = entry.generate(rows, **params)
    return prove(entry.build(rows, pubs), trace, FAST)


def proof_bytes(name: str, rows: int = 16, **params: int) -> bytes:
    """:func:`small_proof` serialised."""
    return small_proof(name, rows, **params).to_bytes()


def truncate_composition(monkeypatch: pytest.MonkeyPatch, keep: int) -> None:
    """A cheating prover: drop the composition coefficients past ``keep`` instead of
    refusing a trace that breaks its constraints."""
    original = prover_module.coset_interpolate

    def truncating(values: np.ndarray, shift: int) -> np.ndarray:
        out = np.array(original(values, shift))
        out[..., keep:] = 0
        return out

    monkeypatch.setattr(prover_module, "coset_interpolate", truncating)


def accepted_flips(
    data: bytes,
    verify: Callable[..., object],
    positions: Iterable[int] | None = None,
    masks: tuple[int, ...] = (0x01, 0x80),
) -> list[tuple[int, int]]:
    """The ``(byte, mask)`` flips of ``data`` that ``verify`` accepts (every byte
    unless ``positions`` says which): a sound verifier accepts none."""
    accepted = []
    for i in range(len(data)) if positions is None else positions:
        for mask in masks:
            mutated = bytearray(data)
            mutated[i] ^= mask
            try:
                verify(bytes(mutated), min_security_bits=0)
            except VerificationError:
                continue
            accepted.append((i, mask))
    return accepted
