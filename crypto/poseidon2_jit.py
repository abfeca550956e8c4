"""The Poseidon2 permutation compiled to machine code (numba): the values of :mod:`.poseidon2`.

:func:`permute_columns` returns exactly what the numpy ``_permute_columns`` of
:mod:`sealbatch.crypto.poseidon2` returns for a ``(16, n)`` array of reduced
field elements, and :func:`permute_list` what ``poseidon2_ints`` returns for
one state (field arithmetic is exact: only the order of the work differs).
The numpy and Python-int code stay the reference, and what the verifier and
the venue use by default: importing this module imports numba (a large import
and, in the first process, a JIT compilation of a few seconds; the compiled
code is cached on disk with numba's ``cache=True``).
:func:`use_compiled` routes :mod:`.poseidon2`'s vectorised and
Python-int permutations through here (the MEV lab does, for its commit-reveal
runs: every commitment hash, leaf, root and reveal check is then one compiled
permutation per state instead of ~40 numpy passes per call or ~0.1 ms of
Python-int arithmetic).

Notes:
    Each state is permuted in a local 16-element array: the external layer by
    the HorizenLabs M4 addition chain and the sum of the four blocks, the
    internal layer by one sum and the diagonal; every value is reduced after
    each layer, so no intermediate exceeds 2^63 (a product of two reduced
    values is below 2^62, a linear layer adds at most 2^5 of them) except the
    S-box's first square, of a reduced value plus a round constant: below
    ``4p² < 2^64``, exact in the unsigned 64-bit arithmetic used throughout.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numba
import numpy as np
import numpy.typing as npt

from sealbatch.crypto import poseidon2 as _poseidon2
from sealbatch.crypto.poseidon2 import (
    EXTERNAL_ROUND_CONSTANTS,
    INTERNAL_DIAG_M_1,
    INTERNAL_ROUND_CONSTANTS,
    ROUNDS_F,
    ROUNDS_P,
    WIDTH,
    P,
)

__all__ = ["permute_columns", "permute_list", "use_compiled"]

_P = np.uint64(P)
_ERC = np.array(EXTERNAL_ROUND_CONSTANTS, dtype=np.uint64)  # (8, 16)
_IRC = np.array(INTERNAL_ROUND_CONSTANTS, dtype=np.uint64)  # (13,)
_DIAG = np.array(INTERNAL_DIAG_M_1, dtype=np.uint64)  # (16,)
_HALF = ROUNDS_F // 2


@numba.njit(cache=True, nogil=True, inline="always")
def _sbox(a: np.uint64) -> np.uint64:  # pragma: no cover
    """a^7 mod p for ``a < 2p`` (a reduced value plus a round constant), so ``a``
    needs no reduction first: ``a·a < 4p² < 2^64`` fits the unsigned 64-bit
    arithmetic, and each later product, a reduced value times ``a``, is below
    ``2p² < 2^63``."""
    a2 = (a * a) % _P
    a3 = (a2 * a) % _P
    a6 = (a3 * a3) % _P
    return (a6 * a) % _P


@numba.njit(cache=True, nogil=True, inline="always")
def _external(x: np.ndarray) -> None:  # pragma: no cover
    """x <- M_E · x (reduced in, reduced out)."""
    for b in range(4):
        x0 = x[4 * b]
        x1 = x[4 * b + 1]
        x2 = x[4 * b + 2]
        x3 = x[4 * b + 3]
        t0 = x0 + x1
        t1 = x2 + x3
        t2 = x1 + x1 + t1
        t3 = x3 + x3 + t0
        t4 = np.uint64(4) * t1 + t3
        t5 = np.uint64(4) * t0 + t2
        x[4 * b] = t3 + t5
        x[4 * b + 1] = t5
        x[4 * b + 2] = t2 + t4
        x[4 * b + 3] = t4
    for j in range(4):
        s = x[j] + x[4 + j] + x[8 + j] + x[12 + j]
        for b in range(4):
            x[4 * b + j] = (x[4 * b + j] + s) % _P


@numba.njit(cache=True, nogil=True)
def _permute_into(
    x: np.ndarray, erc: np.ndarray, irc: np.ndarray, diag: np.ndarray
) -> None:  # pragma: no cover
    """The permutation of one reduced state ``x`` (16,), in place."""
    _external(x)
    for r in range(_HALF):
        for i in range(16):
            x[i] = _sbox(x[i] + erc[r, i])
        _external(x)
    for r in range(ROUNDS_P):
        x[0] = _sbox(x[0] + irc[r])
        total = np.uint64(0)
        for i in range(16):
            total += x[i]
        for i in range(16):
            x[i] = (x[i] * diag[i] + total) % _P
    for r in range(_HALF, ROUNDS_F):
        for i in range(16):
            x[i] = _sbox(x[i] + erc[r, i])
        _external(x)


@numba.njit(cache=True, nogil=True)
def _permute_all(
    s: np.ndarray, erc: np.ndarray, irc: np.ndarray, diag: np.ndarray
) -> np.ndarray:  # pragma: no cover
    """The permutation of every column of a (16, n) array of reduced values (a new array)."""
    n = s.shape[1]
    out = np.empty((16, n), dtype=np.uint64)
    x = np.empty(16, dtype=np.uint64)
    for k in range(n):
        for i in range(16):
            x[i] = s[i, k]
        _permute_into(x, erc, irc, diag)
        for i in range(16):
            out[i, k] = x[i]
    return out


def permute_columns(states: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The permutation of each column of a ``(16, n)`` uint64 array of values in ``[0, p)``
    (a new array; the input is not changed). Equal to ``poseidon2._permute_columns``."""
    return _permute_all(np.ascontiguousarray(states, dtype=np.uint64), _ERC, _IRC, _DIAG)


def permute_list(state: Sequence[int]) -> list[int]:
    """The permutation of one state of 16 ints in ``[0, p)``, as a list of ints.
    Equal to ``poseidon2_ints.permute_ints`` (the caller checks the state)."""
    x = np.array(state, dtype=np.uint64)
    if x.shape != (WIDTH,):
        raise ValueError(f"state: expected {WIDTH} field elements, got {x.shape}")
    _permute_into(x, _ERC, _IRC, _DIAG)
    return x.tolist()


def use_compiled() -> None:
    """Route this process's Poseidon2 permutations (:mod:`.poseidon2`'s vectorised
    ones and :mod:`.poseidon2_ints`' Python-int ones) through this module's
    kernel: the same values (tested), about a hundred times less time per call.
    Compiles the kernel now (or loads it from numba's cache), not inside the
    caller's first hash; calling it again does nothing. The MEV lab calls it."""
    if _poseidon2._COMPILED is None:
        permute_list([0] * WIDTH)
        permute_columns(np.zeros((WIDTH, 1), dtype=np.uint64))
        _poseidon2._COMPILED = sys.modules[__name__]
