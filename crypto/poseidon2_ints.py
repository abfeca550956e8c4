"""Poseidon2 on Python ints: the fast path for hashing one short message at a time.

The same permutation, sponge and 2-to-1 compression as
:mod:`sealbatch.crypto.poseidon2` (whose docstring gives the construction and
the source of the constants), written for a single state of 16 Python ints.
numpy pays about a microsecond per operation whatever the array size, so one
permutation through the vectorised code costs ~0.4 ms; here the external
layer uses the M4 addition chain and the internal layer one sum, all in one
straight-line function, and a permutation costs ~0.07 ms (``poseidon2.permute_list``
and ``poseidon2.sponge``, which ``hash_elements`` uses too; this module checks the
inputs around them).
Use :mod:`~sealbatch.crypto.poseidon2`'s arrays for many
messages at once (Merkle trees, thousands of commitments); use this module
for one commitment, as a trader's client or a reveal check does. The tests
check both against each other and against the HorizenLabs vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

from sealbatch.crypto.poseidon2 import DIGEST_SIZE, WIDTH, P, sponge
from sealbatch.crypto.poseidon2 import permute_list as _permute

__all__ = ["compress_ints", "hash_ints", "permute_ints", "sponge"]


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
