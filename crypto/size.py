"""The proof-size model: predicted proof bytes and L1 calldata gas for an AIR and options.

On L1 the calldata floor of EIP-7623 sets the price of a proof: a
transaction costs ``21000 + max(16·nz + 4·z + exec, 40·nz + 10·z)`` gas,
where ``nz`` and ``z`` count the non-zero and zero calldata bytes and
``exec`` is the execution gas (:func:`calldata_gas`). :func:`predict_size`
gives the *expected* byte count of a format-v2 proof
(:mod:`sealbatch.crypto.proof`) without proving anything:

* the fixed parts (header, public inputs, roots, out-of-domain frame, FRI
  roots and remainder, nonce, counts) are exact;
* the query parts depend on how many of the ``q`` drawn positions are
  distinct and how many Merkle nodes their batched openings need. Positions
  are uniform, so a level of ``M`` nodes holds ``M·(1 − (1 − 1/M)^q)``
  distinct opened nodes on average, and an opening sends
  ``2·K(parent level) − K(level)`` siblings per level (every parent has two
  children, the known ones are not sent). FRI layer ``ℓ`` opens the distinct
  positions modulo its leaf count, uniform again.

Zero bytes: field elements are uniform in ``[0, p)`` (their top byte is zero
with probability ``2^24/p``, each other byte ``1/256``), digests uniform
bytes; the header is counted exactly and the proof-of-work nonce (about
``2^grinding`` tries, 8 bytes) as ``8 − ceil(grinding/8)`` zero bytes.
``tests/crypto/test_size.py`` checks the model against real proofs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sealbatch.crypto.air import Air
from sealbatch.crypto.field_scalar import EXT_DEGREE, P
from sealbatch.crypto.fri import fri_shape
from sealbatch.crypto.options import ProofOptions

__all__ = [
    "TX_BASE_GAS",
    "SizeEstimate",
    "calldata_gas",
    "expected_distinct",
    "expected_opening_nodes",
    "predict_size",
]

TX_BASE_GAS = 21_000
_ZERO_PER_ELEMENT = 2**24 / P + 3 / 256
_ZERO_PER_DIGEST_BYTE = 1 / 256


def calldata_gas(nonzero: int | float, zero: int | float, exec_gas: int = 0) -> float:
    """``21000 + max(16·nz + 4·z + exec, 40·nz + 10·z)`` (EIP-7623's floor)."""
    if nonzero < 0 or zero < 0 or exec_gas < 0:
        raise ValueError(f"expected non-negative counts, got {nonzero}, {zero}, {exec_gas}")
    return TX_BASE_GAS + max(16 * nonzero + 4 * zero + exec_gas, 40 * nonzero + 10 * zero)


def bytes_gas(data: bytes, exec_gas: int = 0) -> int:
    """:func:`calldata_gas` of actual bytes."""
    zero = data.count(0)
    return int(calldata_gas(len(data) - zero, zero, exec_gas))


def expected_distinct(draws: int, size: int) -> float:
    """Expected distinct values among ``draws`` uniform draws from ``size`` values."""
    return size * (1.0 - (1.0 - 1.0 / size) ** draws)


def expected_opening_nodes(num_leaves: int, draws: int) -> float:
    """Expected sibling nodes in a binary batched opening of ``draws`` uniform leaves."""
    total, width = 0.0, num_leaves
    while width > 1:
        total += 2 * expected_distinct(draws, width // 2) - expected_distinct(draws, width)
        width //= 2
    return total


@dataclass(frozen=True)
class SizeEstimate:
    """Predicted proof bytes (expected values) and their L1 calldata cost."""

    proof_bytes: float
    zero_bytes: float
    exec_gas: int

    @property
    def nonzero_bytes(self) -> float:
        return self.proof_bytes - self.zero_bytes

    @property
    def calldata_gas(self) -> float:
        return calldata_gas(self.nonzero_bytes, self.zero_bytes, self.exec_gas)


class _Tally:
    def __init__(self) -> None:
        self.size = 0.0
        self.zero = 0.0

    def exact(self, data: bytes) -> None:
        self.size += len(data)
        self.zero += data.count(0)

    def elements(self, count: float) -> None:
        self.size += 4 * count
        self.zero += _ZERO_PER_ELEMENT * count

    def digests(self, count: float) -> None:
        self.size += 32 * count
        self.zero += 32 * _ZERO_PER_DIGEST_BYTE * count

    def count16(self, value: float) -> None:
        self.size += 2
        self.zero += 1 if value < 256 else 0


def predict_size(air: Air, options: ProofOptions, exec_gas: int = 0) -> SizeEstimate:
    """Expected proof bytes and calldata gas of a format-v2 proof of ``air`` with ``options``.

    Raises:
        ValueError: a negative ``exec_gas``.
    """
    if exec_gas < 0:
        raise ValueError(f"expected non-negative execution gas, got {exec_gas}")
    n, b, f = air.num_rows, options.blowup, options.folding_factor
    lde = n * b
    t = _Tally()
    name = air.name.encode("ascii")
    header = bytearray(b"SBSTARK\x02")
    header += bytes([len(name)]) + name + bytes([n.bit_length() - 1]) + options.to_bytes()
    header += len(air.public_inputs).to_bytes(2, "big")
    header += b"".join(v.to_bytes(4, "big") for v in air.public_inputs)
    header += air.num_fixed_columns.to_bytes(2, "big") + air.num_main_columns.to_bytes(2, "big")
    header += air.num_aux_columns.to_bytes(2, "big")
    width = air.num_composition_columns()
    header.append(width)
    t.exact(bytes(header))
    t.digests(2 + (1 if air.num_aux_columns else 0))
    frame = len(air.frame)
    t.count16(frame)
    t.elements(EXT_DEGREE * (frame + width))
    layers, remainder = fri_shape(n, options)
    t.exact(bytes([layers]))
    t.digests(layers)
    t.count16(remainder)
    t.elements(EXT_DEGREE * remainder)
    pow_bytes = math.ceil(options.grinding_bits / 8)
    t.size += 8
    t.zero += 8 - pow_bytes
    q = expected_distinct(options.num_queries, lde)
    t.count16(q)
    widths = []
    if air.num_fixed_columns:
        widths.append(air.num_fixed_columns)
    widths.append(air.num_main_columns)
    if air.num_aux_columns:
        widths.append(EXT_DEGREE * air.num_aux_columns)
    widths.append(EXT_DEGREE * width)
    nodes = expected_opening_nodes(lde, options.num_queries)
    for w in widths:
        t.elements(q * w)
        t.count16(nodes)
        t.digests(nodes)
    size = lde
    for _ in range(layers):
        leaves = size // f
        opened = expected_distinct(options.num_queries, leaves)
        layer_nodes = expected_opening_nodes(leaves, options.num_queries)
        t.count16(opened)
        t.elements(opened * f * EXT_DEGREE)
        t.count16(layer_nodes)
        t.digests(layer_nodes)
        size = leaves
    return SizeEstimate(t.size, t.zero, exec_gas)
