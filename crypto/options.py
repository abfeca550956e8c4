"""Proof options: blowup, queries, FRI folding, grinding, remainder size — and their encoding.

Every option is absorbed by the channel before the first challenge and
written into the proof (:meth:`ProofOptions.to_bytes`, 6 bytes). Merkle trees
are always binary (proof format v2). :data:`DEFAULT_OPTIONS` give 103
conjectured bits at ``2^16`` rows; :func:`l1_options` picks the options for
proofs checked on L1, where proof bytes set the gas (see
:mod:`sealbatch.crypto.security`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "DEFAULT_OPTIONS",
    "L1_GRINDING_BITS",
    "L1_MAX_ROWS",
    "L1_WIDE_BLOWUP_MAX_ROWS",
    "ProofOptions",
    "l1_options",
]

_ENCODED_SIZE = 6


def _is_pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


@dataclass(frozen=True)
class ProofOptions:
    """Parameters of one proof (all validated on construction).

    Attributes:
        blowup: LDE blowup factor ``B`` (power of two, 2..64); ``log2 B``
            conjectured bits per query.
        num_queries: FRI queries (1..255).
        folding_factor: FRI folding factor (2, 4, 8 or 16).
        grinding_bits: proof-of-work bits before the queries (0..32).
        fri_max_remainder: FRI stops folding once the polynomial has at most
            this many coefficients and sends them (power of two, 1..256).

    Raises:
        ValueError: a value out of range (the message names it).
    """

    blowup: int = 8
    num_queries: int = 30
    folding_factor: int = 8
    grinding_bits: int = 16
    fri_max_remainder: int = 16

    def __post_init__(self) -> None:
        if not _is_pow2(self.blowup) or not 2 <= self.blowup <= 64:
            raise ValueError(f"expected a power-of-two blowup in [2, 64], got {self.blowup}")
        if not 1 <= self.num_queries <= 255:
            raise ValueError(f"expected 1 <= num_queries <= 255, got {self.num_queries}")
        if self.folding_factor not in (2, 4, 8, 16):
            raise ValueError(
                f"expected a folding factor of 2, 4, 8 or 16, got {self.folding_factor}"
            )
        if not 0 <= self.grinding_bits <= 32:
            raise ValueError(f"expected 0 <= grinding_bits <= 32, got {self.grinding_bits}")
        if not _is_pow2(self.fri_max_remainder) or self.fri_max_remainder > 256:
            raise ValueError(
                f"expected a power-of-two fri_max_remainder <= 256, got {self.fri_max_remainder}"
            )

    def to_bytes(self) -> bytes:
        """``log2 blowup, num_queries (u16), log2 folding, grinding, log2 remainder``."""
        return bytes(
            [
                self.blowup.bit_length() - 1,
                *self.num_queries.to_bytes(2, "big"),
                self.folding_factor.bit_length() - 1,
                self.grinding_bits,
                self.fri_max_remainder.bit_length() - 1,
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ProofOptions:
        """Inverse of :meth:`to_bytes`; raises ValueError on a bad length or value."""
        if len(data) != _ENCODED_SIZE:
            raise ValueError(f"expected {_ENCODED_SIZE} option bytes, got {len(data)}")
        if data[0] > 6 or data[3] > 4 or data[5] > 8:
            raise ValueError(f"option exponent out of range in {data.hex()}")
        return cls(
            blowup=1 << data[0],
            num_queries=int.from_bytes(data[1:3], "big"),
            folding_factor=1 << data[3],
            grinding_bits=data[4],
            fri_max_remainder=1 << data[5],
        )


DEFAULT_OPTIONS = ProofOptions()

L1_GRINDING_BITS = 22
L1_MAX_ROWS = 1 << 20
"""Largest trace :func:`l1_options` serves at >= 100 conjectured bits (the field term caps it)."""
L1_WIDE_BLOWUP_MAX_ROWS = 1 << 13
"""Largest trace :func:`l1_options` proves at blowup 32 (larger ones at 16: the memory)."""
_L1_MAX_LDE_LOG = 22  # floor(4·log2 p) − 1 − 100: the largest log2(B·N) giving 100 field bits


def l1_options(num_rows: int) -> ProofOptions:
    """Options for proofs verified on L1: the least verification gas at >= 100 conjectured bits.

    Up to ``2^13`` rows (:data:`L1_WIDE_BLOWUP_MAX_ROWS`): blowup 32 with 16
    queries, folding 8, 22 grinding bits and a remainder of 64 coefficients
    (101 bits). A query is what an on-chain verification pays for (its
    openings' calldata, Merkle paths, DEEP terms and FRI folds: about 0.35 M
    gas at the batch AIR's width), so four queries fewer than blowup 16's 20
    take 1.39 M gas off a demo batch's verification (14.16 M → 12.77 M), for a
    prover that extends the trace to twice the domain (about 1.4× the CPU and
    the memory at 2^12 rows: BENCHMARKS.md). Larger traces keep blowup 16 with
    20 queries (101 bits up to ``2^17`` rows), where the doubled extension
    would need several GB; then the field term ``123 − log2(B·N)`` caps the
    blowup: ``2^19`` rows take blowup 8 (27 queries), ``2^20`` blowup 4 (40
    queries); each keeps enough queries for 100 bits.

    Raises:
        ValueError: ``num_rows`` not a power of two in ``[8, 2^20]``.
    """
    if not _is_pow2(num_rows) or not 8 <= num_rows <= L1_MAX_ROWS:
        raise ValueError(f"expected a power-of-two row count in [8, {L1_MAX_ROWS}], got {num_rows}")
    log_rows = num_rows.bit_length() - 1
    wide = num_rows <= L1_WIDE_BLOWUP_MAX_ROWS
    log_blowup = 5 if wide else min(4, _L1_MAX_LDE_LOG - log_rows)
    # query bits q·log2 B (>= 80, so grinding counts) + grinding − 1 >= 100
    queries = max(math.ceil(80 / log_blowup), math.ceil((101 - L1_GRINDING_BITS) / log_blowup))
    return ProofOptions(
        blowup=1 << log_blowup,
        num_queries=queries,
        folding_factor=8,
        grinding_bits=L1_GRINDING_BITS,
        fri_max_remainder=64,
    )
