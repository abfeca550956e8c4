"""Proof options: blowup, queries, FRI folding, grinding, Merkle arity — and their encoding.

Every option is absorbed by the channel before the first challenge and
written into the proof (:meth:`ProofOptions.to_bytes`, 7 bytes). The defaults
give 103 conjectured bits at ``2^16`` rows (see :mod:`sealbatch.crypto.security`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_OPTIONS", "ProofOptions"]

_ENCODED_SIZE = 7


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
        merkle_arity: children per inner Merkle node (2, 4 or 8).
    """

    blowup: int = 8
    num_queries: int = 30
    folding_factor: int = 8
    grinding_bits: int = 16
    fri_max_remainder: int = 16
    merkle_arity: int = 4

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
        if self.merkle_arity not in (2, 4, 8):
            raise ValueError(f"expected a Merkle arity of 2, 4 or 8, got {self.merkle_arity}")

    def to_bytes(self) -> bytes:
        """``log2 blowup, num_queries (u16), log2 folding, grinding, log2 remainder, arity``."""
        return bytes(
            [
                self.blowup.bit_length() - 1,
                *self.num_queries.to_bytes(2, "big"),
                self.folding_factor.bit_length() - 1,
                self.grinding_bits,
                self.fri_max_remainder.bit_length() - 1,
                self.merkle_arity,
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
            merkle_arity=data[6],
        )


DEFAULT_OPTIONS = ProofOptions()
