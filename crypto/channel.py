"""The Fiat–Shamir transcript on Keccak-256 (the prover's and verifier's shared random coin).

State is one 32-byte digest. ``absorb(data)`` sets ``state = keccak(state ||
data)`` and restarts the draw counter; draws read
``keccak(state || counter)`` words (``counter`` 8 bytes big-endian, one word
per 8 draws of 4 bytes). All of this replays cheaply on the EVM.

* The transcript starts from the statement (:meth:`Channel.for_statement`):
  a version tag, the AIR name, the trace length, every proof option and every
  public input are absorbed before the first challenge.
* An extension element takes one fresh ``keccak(state || counter)`` of its
  own: its four 8-byte big-endian words, each mod ``p``, are ``c0 … c3``. A
  64-bit word mod ``p`` hits every residue with probability within a factor
  ``1 ± 2^-33`` of ``1/p``, so any event's probability grows by at most that
  factor per lane (over a proof's few thousand draws, a relative
  ``2^-19``): no rejection, and an L1 verifier spends one hash and four
  ``MOD``s a draw.
* Query positions in a domain of ``2^k`` points take the low ``k`` bits of a
  word (uniform, since the domain size divides ``2^32``).
* Proof of work: the prover finds a nonce such that
  ``keccak(state || nonce)`` (nonce 8 bytes big-endian) starts with
  ``bits`` zero bits; the nonce is then absorbed, so the query positions
  depend on it.

Reference: the same shape as winterfell's ``RandomCoin`` and StarkEx's
``KeccakChannel``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sealbatch.crypto.field_scalar import Fp4, P
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.keccak_rows import hash_rows

__all__ = ["VERSION_TAG", "Channel", "leading_zero_bits"]

VERSION_TAG = b"sealbatch-stark-v2"
"""Absorbed first: a proof of another version (or system) can never share a transcript."""


def leading_zero_bits(digest: bytes) -> int:
    """How many leading bits of ``digest`` are zero (big-endian)."""
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


class Channel:
    """A Fiat–Shamir transcript; prover and verifier make the same calls in the same order."""

    def __init__(self, seed: bytes) -> None:
        self.state = keccak256(seed)
        self._counter = 0
        self._pool: list[int] = []

    @classmethod
    def for_statement(
        cls,
        air_name: str,
        num_rows: int,
        options: bytes,
        public_inputs: Sequence[int],
    ) -> Channel:
        """The transcript of one statement: version, AIR, trace length, options, public inputs."""
        name = air_name.encode()
        parts = [
            VERSION_TAG,
            len(name).to_bytes(2, "big"),
            name,
            num_rows.to_bytes(8, "big"),
            len(options).to_bytes(2, "big"),
            options,
            len(public_inputs).to_bytes(4, "big"),
            b"".join(int(v).to_bytes(4, "big") for v in public_inputs),
        ]
        return cls(b"".join(parts))

    def absorb(self, data: bytes) -> None:
        """Mix ``data`` into the state (commitments, OOD values, the final polynomial, ...)."""
        self.state = keccak256(self.state, data)
        self._counter = 0
        self._pool = []

    def _word(self) -> int:
        if not self._pool:
            digest = keccak256(self.state, self._counter.to_bytes(8, "big"))
            self._counter += 1
            self._pool = [int.from_bytes(digest[i : i + 4], "big") for i in range(28, -1, -4)]
        return self._pool.pop()

    def draw_ext(self) -> Fp4:
        """An extension-field element (module docstring): one hash, four 64-bit words mod p.

        Uses the next counter value and empties the word pool, so a word draw that
        follows starts on a fresh hash.
        """
        digest = keccak256(self.state, self._counter.to_bytes(8, "big"))
        self._counter += 1
        self._pool = []
        c = tuple(int.from_bytes(digest[8 * k : 8 * k + 8], "big") % P for k in range(4))
        return Fp4((c[0], c[1], c[2], c[3]))

    def draw_exts(self, count: int) -> list[Fp4]:
        return [self.draw_ext() for _ in range(count)]

    def draw_powers(self, count: int) -> list[Fp4]:
        """``[1, α, α², …, α^(count−1)]`` for one drawn extension element ``α``.

        The constraints are batched with these powers (docs/stark.md, step 4): one
        draw instead of one per constraint, at a soundness cost of ``log2(count)``
        bits on the batching term, which stays far below the query term's error.
        """
        alpha = self.draw_ext()
        out: list[Fp4] = []
        power = Fp4.one()
        for _ in range(count):
            out.append(power)
            power = power * alpha
        return out

    def draw_positions(self, count: int, domain_size: int) -> list[int]:
        """``count`` uniform positions in ``[0, domain_size)`` (a power of two), with repeats."""
        if domain_size < 1 or domain_size & (domain_size - 1) or domain_size > 1 << 32:
            raise ValueError(f"expected a power-of-two domain size <= 2^32, got {domain_size}")
        mask = domain_size - 1
        return [self._word() & mask for _ in range(count)]

    # ---- proof of work

    def pow_digest(self, nonce: int) -> bytes:
        return keccak256(self.state, nonce.to_bytes(8, "big"))

    def grind(self, bits: int) -> int:
        """Find the smallest nonce whose proof-of-work digest has ``bits`` leading zeros.

        Hashes candidate nonces in batches of 4096 rows (:func:`hash_rows`).
        """
        if not 0 <= bits <= 64:
            raise ValueError(f"expected 0 <= grinding bits <= 64, got {bits}")
        if bits == 0:
            return 0
        batch = 4096
        buf = np.empty((batch, 40), np.uint8)
        buf[:, :32] = np.frombuffer(self.state, np.uint8)
        full, rest = divmod(bits, 8)
        for start in range(0, 1 << 64, batch):
            nonces = np.arange(start, start + batch, dtype=np.uint64)
            buf[:, 32:] = nonces.astype(">u8").view(np.uint8).reshape(batch, 8)
            digests = hash_rows(buf)
            ok = np.all(digests[:, :full] == 0, axis=1)
            if rest:
                ok &= digests[:, full] < (1 << (8 - rest))
            hits = np.flatnonzero(ok)
            if hits.size:
                return start + int(hits[0])
        raise RuntimeError("no proof-of-work nonce found")  # unreachable for bits <= 64

    def check_pow(self, nonce: int, bits: int) -> bool:
        return bits == 0 or leading_zero_bits(self.pow_digest(nonce)) >= bits

    def absorb_nonce(self, nonce: int) -> None:
        self.absorb(nonce.to_bytes(8, "big"))
