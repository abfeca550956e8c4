"""Poseidon2 on Python ints: the fast path for hashing one short message at a time.

The same permutation, sponge and 2-to-1 compression as
:mod:`sealbatch.crypto.poseidon2` (whose docstring gives the construction and
the source of the constants), written for a single state of 16 Python ints.
numpy pays about a microsecond per operation whatever the array size, so one
permutation through the vectorised code costs ~0.4 ms; here the external
layer uses the M4 addition chain and the internal layer one sum, and a
permutation costs ~0.1 ms. Use :mod:`~sealbatch.crypto.poseidon2` for many
messages at once (Merkle trees, thousands of commitments); use this module
for one commitment, as a trader's client or a reveal check does. The tests
check both against each other and against the HorizenLabs vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

from sealbatch.crypto import poseidon2 as _poseidon2
from sealbatch.crypto.poseidon2 import (
    ALPHA,
    DIGEST_SIZE,
    EXTERNAL_ROUND_CONSTANTS,
    INTERNAL_DIAG_M_1,
    INTERNAL_ROUND_CONSTANTS,
    RATE,
    ROUNDS_F,
    WIDTH,
    P,
)

__all__ = ["compress_ints", "hash_ints", "permute_ints", "sponge"]

_HALF = ROUNDS_F // 2
_FIRST = EXTERNAL_ROUND_CONSTANTS[:_HALF]
_LAST = EXTERNAL_ROUND_CONSTANTS[_HALF:]
_DIAG = INTERNAL_DIAG_M_1


def _m4(x0: int, x1: int, x2: int, x3: int) -> tuple[int, int, int, int]:
    """The HorizenLabs M4 by its addition chain."""
    t0 = x0 + x1
    t1 = x2 + x3
    t2 = x1 + x1 + t1
    t3 = x3 + x3 + t0
    t4 = 4 * t1 + t3
    t5 = 4 * t0 + t2
    return t3 + t5, t5, t2 + t4, t4


def _external(x: list[int]) -> list[int]:
    """M_E · x, left unreduced (below 2^40 for reduced inputs): the next step is
    an S-box ``pow(v + c, 7, p)`` or a final ``% p``, which reduce anyway."""
    a0, a1, a2, a3 = _m4(x[0], x[1], x[2], x[3])
    b0, b1, b2, b3 = _m4(x[4], x[5], x[6], x[7])
    c0, c1, c2, c3 = _m4(x[8], x[9], x[10], x[11])
    d0, d1, d2, d3 = _m4(x[12], x[13], x[14], x[15])
    s0 = a0 + b0 + c0 + d0
    s1 = a1 + b1 + c1 + d1
    s2 = a2 + b2 + c2 + d2
    s3 = a3 + b3 + c3 + d3
    return [
        a0 + s0, a1 + s1, a2 + s2, a3 + s3, b0 + s0, b1 + s1, b2 + s2, b3 + s3,
        c0 + s0, c1 + s1, c2 + s2, c3 + s3, d0 + s0, d1 + s1, d2 + s2, d3 + s3,
    ]  # fmt: skip


def _permute(x: list[int]) -> list[int]:
    compiled = _poseidon2._COMPILED
    if compiled is not None:
        return compiled.permute_list(x)
    x = _external(x)
    for rc in _FIRST:
        x = _external([pow(v + c, ALPHA, P) for v, c in zip(x, rc, strict=True)])
    x = [v % P for v in x]
    for r, c in enumerate(INTERNAL_ROUND_CONSTANTS):
        x[0] = pow(x[0] + c, ALPHA, P)
        total = sum(x)
        if r & 1:  # reduce every other round: Python ints grow, two rounds stay small
            x = [(d * v + total) % P for d, v in zip(_DIAG, x, strict=True)]
        else:
            x = [d * v + total for d, v in zip(_DIAG, x, strict=True)]
    for rc in _LAST:
        x = _external([pow(v + c, ALPHA, P) for v, c in zip(x, rc, strict=True)])
    return [v % P for v in x]


def _check(values: Sequence[int], name: str) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < P:
            raise ValueError(f"{name}: expected field elements in [0, {P}), got {v!r}")
        out.append(v)
    return out


def permute_ints(state: Sequence[int]) -> list[int]:
    """The Poseidon2 permutation of one state of 16 field elements.

    Raises:
        ValueError: the state is not 16 ints in ``[0, p)``.
    """
    x = _check(state, "state")
    if len(x) != WIDTH:
        raise ValueError(f"state: expected {WIDTH} field elements, got {len(x)}")
    return _permute(x)


def hash_ints(elements: Sequence[int]) -> list[int]:
    """The sponge digest (8 ints) of a message, equal to ``poseidon2.hash_elements``.

    Raises:
        ValueError: an element is not an int in ``[0, p)``.
    """
    return sponge(_check(elements, "elements"))


def sponge(m: list[int]) -> list[int]:
    """The sponge digest (8 ints) of a message of ints already checked to lie in
    ``[0, p)`` (:func:`hash_ints` without the check; ``poseidon2.hash_elements``
    hashes a validated array through here)."""
    k = len(m)
    x = [0] * WIDTH
    x[RATE] = k  # the length in the first capacity element
    for b in range(max(1, -(-k // RATE))):
        chunk = m[b * RATE : (b + 1) * RATE]
        x[:RATE] = chunk + [0] * (RATE - len(chunk))
        x = _permute(x)
    return x[:DIGEST_SIZE]


def compress_ints(left: Sequence[int], right: Sequence[int]) -> list[int]:
    """``P(l ‖ r)[0:8] + l`` for two 8-element digests, equal to ``poseidon2.compress``.

    Raises:
        ValueError: a digest is not 8 ints in ``[0, p)``.
    """
    lhs = _check(left, "left")
    rhs = _check(right, "right")
    if len(lhs) != DIGEST_SIZE or len(rhs) != DIGEST_SIZE:
        raise ValueError(f"expected two digests of {DIGEST_SIZE}, got {len(lhs)} and {len(rhs)}")
    out = _permute(lhs + rhs)
    return [(o + v) % P for o, v in zip(out, lhs, strict=False)]
