"""Poseidon2 over BabyBear (width 16): permutation, sponge hash and Merkle trees.

The permutation is the BabyBear width-16 instance of Poseidon2 (Grassi,
Khovratovich, Schofnegger, "Poseidon2: A Faster Version of the Poseidon Hash
Function", AFRICACRYPT 2023, https://eprint.iacr.org/2023/323) with the
parameters, round constants and matrices of the HorizenLabs reference
implementation:

    https://github.com/HorizenLabs/poseidon2
    plain_implementations/src/poseidon2/poseidon2_instance_babybear.rs
    (commit bb476b9ca38198cf5092487283c8b8c5d4317c4e: ``MAT_DIAG16_M_1``,
    ``RC16``; the same numbers are Plonky3's ``HL_BABYBEAR_16_*`` constants)

and it reproduces that implementation's published outputs (the known-answer
vectors of Plonky3's ``baby-bear/src/poseidon2.rs`` tests
``test_poseidon2_hl_width_16_{zeroes,range,random}``, generated with the
HorizenLabs code; see ``tests/crypto/test_poseidon2.py``).

Permutation (p = 15·2^27 + 1, t = 16, S-box x ↦ x^7, R_F = 8, R_P = 13)::

    x ← M_E · x                                   # initial linear layer
    4 × { x ← M_E · S(x + c_r) }                  # full rounds, S on all 16
    13 × { x_0 ← (x_0 + c_r)^7 ; x ← M_I · x }    # partial rounds, S on x_0
    4 × { x ← M_E · S(x + c_r) }                  # full rounds

* ``M_4 = [[5,7,1,3],[4,6,1,1],[1,3,5,7],[1,1,4,6]]`` (the HorizenLabs 4×4
  MDS matrix) and ``M_E = circ(2·M_4, M_4, M_4, M_4)``: apply ``M_4`` to each
  block of four, then add to every element the sum of the four blocks'
  elements in the same position.
* ``M_I = 1 + diag(INTERNAL_DIAG_M_1)``: ``y_i = d_i·x_i + Σ_j x_j``.

Sponge (:func:`hash_elements`, :func:`hash_rows`): rate 8, capacity 8,
overwrite mode. A message ``m`` of ``k`` field elements is zero-padded to
``max(1, ⌈k/8⌉)`` blocks of 8; the state starts as ``(0,…,0 | k,0,…,0)``
(the length sits in the first capacity element); each block *overwrites*
``x[0:8]`` and is followed by one permutation; the digest is ``x[0:8]``.
Because the length is in the initial state, the padding is injective: two
messages of different lengths (``[]`` and ``[0]``, or ``[a]`` and
``[a, 0]``) start from different states.

2-to-1 compression (:func:`compress`), as in the Poseidon2 paper's
compression mode — a truncated permutation with feed-forward::

    compress(l, r) = (P(l ‖ r) + (l ‖ r))[0:8] = P(l ‖ r)[0:8] + l

Merkle trees (:func:`merkle_root`, :func:`merkle_path`, :func:`verify_path`)
are binary trees over ``n = 2^d`` leaf digests (``(n, 8)`` arrays, usually
rows hashed with :func:`hash_rows`); a parent is ``compress(left, right)``;
a path lists the ``d`` sibling digests from the leaf level up, and bit ``i``
of the leaf index says whether the node at level ``i`` is a right child.
Pad a tree to a fixed capacity with :data:`EMPTY_DIGEST` leaves (all zeros):
the depth is part of the statement, so verifiers must know it. Each tree
level is one vectorised :func:`compress` call.

Field elements are ``numpy.uint64`` values in ``[0, p)``. Digests are
``(8,)`` arrays, batches ``(n, 8)``. Arithmetic never overflows uint64:
inputs are < 2^31, a product is < 2^62, and linear layers add at most 2^7
terms before reducing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.exceptions import VerificationError

__all__ = [
    "ALPHA",
    "CAPACITY",
    "DIGEST_SIZE",
    "EMPTY_DIGEST",
    "EXTERNAL_MATRIX",
    "EXTERNAL_ROUND_CONSTANTS",
    "INTERNAL_DIAG_M_1",
    "INTERNAL_MATRIX",
    "INTERNAL_ROUND_CONSTANTS",
    "M4",
    "RATE",
    "ROUNDS_F",
    "ROUNDS_P",
    "WIDTH",
    "P",
    "compress",
    "digest_from_bytes",
    "digest_to_bytes",
    "hash_elements",
    "hash_rows",
    "merkle_levels",
    "merkle_path",
    "merkle_root",
    "path_root",
    "permute",
    "permute_list",
    "permute_scalar",
    "sponge",
    "verify_path",
]

P = 2013265921  # BabyBear: 15 * 2**27 + 1
WIDTH = 16
RATE = 8
CAPACITY = 8
DIGEST_SIZE = 8
ALPHA = 7
ROUNDS_F = 8  # full rounds, half before and half after the partial rounds
ROUNDS_P = 13

# --- Constants of HorizenLabs/poseidon2, poseidon2_instance_babybear.rs ----
# (commit bb476b9): MAT_DIAG16_M_1, and RC16 rows 0-3 and 17-20 (external
# rounds) and column 0 of rows 4-16 (internal rounds; the other columns of
# those rows are zero).

INTERNAL_DIAG_M_1: tuple[int, ...] = (
    0x0A632D94, 0x6DB657B7, 0x56FBDC9E, 0x052B3D8A, 0x33745201, 0x5C03108C, 0x0BEBA37B, 0x258C2E8B,
    0x12029F39, 0x694909CE, 0x6D231724, 0x21C3B222, 0x3C0904A5, 0x01D6ACDA, 0x27705C83, 0x5231C802,
)  # fmt: skip

_EXTERNAL_RC_FLAT = (
    0x69CBB6AF, 0x46AD93F9, 0x60A00F4E, 0x6B1297CD, 0x23189AFE, 0x732E7BEF, 0x72C246DE, 0x2C941900,
    0x0557EEDE, 0x1580496F, 0x3A3EA77B, 0x54F3F271, 0x0F49B029, 0x47872FE1, 0x221E2E36, 0x1AB7202E,
    0x487779A6, 0x3851C9D8, 0x38DC17C0, 0x209F8849, 0x268DCEE8, 0x350C48DA, 0x5B9AD32E, 0x0523272B,
    0x3F89055B, 0x01E894B2, 0x13DDEDDE, 0x1B2EF334, 0x7507D8B4, 0x6CEEB94E, 0x52EB6BA2, 0x50642905,
    0x05453F3F, 0x06349EFC, 0x6922787C, 0x04BFFF9C, 0x768C714A, 0x3E9FF21A, 0x15737C9C, 0x2229C807,
    0x0D47F88C, 0x097E0ECC, 0x27EADBA0, 0x2D7D29E4, 0x3502AAA0, 0x0F475FD7, 0x29FBDA49, 0x018AFFFD,
    0x0315B618, 0x6D4497D1, 0x1B171D9E, 0x52861ABD, 0x2E5D0501, 0x3EC8646C, 0x6E5F250A, 0x148AE8E6,
    0x17F5FA4A, 0x3E66D284, 0x0051AA3B, 0x483F7913, 0x2CFE5F15, 0x023427CA, 0x2CC78315, 0x1E36EA47,
    0x7290A80D, 0x6F7E5329, 0x598EC8A8, 0x76A859A0, 0x6559E868, 0x657B83AF, 0x13271D3F, 0x1F876063,
    0x0AEEAE37, 0x706E9CA6, 0x46400CEE, 0x72A05C26, 0x2C589C9E, 0x20BD37A7, 0x6A2D3D10, 0x20523767,
    0x5B8FE9C4, 0x2AA501D6, 0x1E01AC3E, 0x1448BC54, 0x5CE5AD1C, 0x4918A14D, 0x2C46A83F, 0x4FCF6876,
    0x61D8D5C8, 0x6DDF4FF9, 0x11FDA4D3, 0x02933A8F, 0x170EAF81, 0x5A9C314F, 0x49A12590, 0x35EC52A1,
    0x58EB1611, 0x5E481E65, 0x367125C9, 0x0EBA33BA, 0x1FC28DED, 0x066399AD, 0x0CBEC0EA, 0x75FD1AF0,
    0x50F5BF4E, 0x643D5F41, 0x6F4FE718, 0x5B3CBBDE, 0x1E3AFB3E, 0x296FB027, 0x45E1547B, 0x4A8DB2AB,
    0x59986D19, 0x30BCDFA3, 0x1DB63932, 0x1D7C2824, 0x53B33681, 0x0673B747, 0x038A98A3, 0x2C5BCE60,
    0x351979CD, 0x5008FB73, 0x547BCA78, 0x711AF481, 0x3F93BF64, 0x644D987B, 0x3C8BCD87, 0x608758B8,
)  # fmt: skip

EXTERNAL_ROUND_CONSTANTS: tuple[tuple[int, ...], ...] = tuple(
    _EXTERNAL_RC_FLAT[WIDTH * r : WIDTH * (r + 1)] for r in range(ROUNDS_F)
)
"""Round constants of the 8 full rounds: rows 0-3 before, rows 4-7 after the partial rounds."""

INTERNAL_ROUND_CONSTANTS: tuple[int, ...] = (
    0x5A8053C0, 0x693BE639, 0x3858867D, 0x19334F6B, 0x128F0FD8, 0x4E2B1CCB, 0x61210CE0,
    0x3C318939, 0x0B5B2F22, 0x2EDB11D5, 0x213EFFDF, 0x0CAC4606, 0x241AF16D,
)  # fmt: skip
"""Round constants of the 13 partial rounds (added to state element 0 only)."""

M4: tuple[tuple[int, ...], ...] = ((5, 7, 1, 3), (4, 6, 1, 1), (1, 3, 5, 7), (1, 1, 4, 6))
"""The HorizenLabs 4×4 MDS matrix from which the external layer is built."""

EXTERNAL_MATRIX: tuple[tuple[int, ...], ...] = tuple(
    tuple(M4[i % 4][j % 4] * (2 if i // 4 == j // 4 else 1) for j in range(WIDTH))
    for i in range(WIDTH)
)
"""M_E = circ(2·M4, M4, M4, M4) as a dense 16×16 matrix (reference and AIR use)."""

INTERNAL_MATRIX: tuple[tuple[int, ...], ...] = tuple(
    tuple((1 + INTERNAL_DIAG_M_1[i] if i == j else 1) % P for j in range(WIDTH))
    for i in range(WIDTH)
)
"""M_I = 1 + diag(INTERNAL_DIAG_M_1) as a dense 16×16 matrix."""

EMPTY_DIGEST = np.zeros(DIGEST_SIZE, dtype=np.uint64)
"""The digest of an empty Merkle slot (all zeros); pad trees with it."""

U64Array = npt.NDArray[np.uint64]

_ERC = np.array(EXTERNAL_ROUND_CONSTANTS, dtype=np.uint64)[:, :, None]  # (8, 16, 1)
_IRC = np.array(INTERNAL_ROUND_CONSTANTS, dtype=np.uint64)
_DIAG = np.array(INTERNAL_DIAG_M_1, dtype=np.uint64)[:, None]  # (16, 1)


# --------------------------------------------------------------------------
# Scalar reference: Python ints, dense matrices. Deliberately written apart
# from the vectorised code below so that the two can check each other.
# --------------------------------------------------------------------------


def _matvec(matrix: Sequence[Sequence[int]], x: Sequence[int]) -> list[int]:
    return [sum(m * v for m, v in zip(row, x, strict=True)) % P for row in matrix]


def _full_round_scalar(x: Sequence[int], constants: Sequence[int]) -> list[int]:
    return _matvec(
        EXTERNAL_MATRIX, [pow((v + c) % P, ALPHA, P) for v, c in zip(x, constants, strict=True)]
    )


def permute_scalar(state: Sequence[int]) -> list[int]:
    """Apply the Poseidon2 permutation to one state of 16 ints (reference code).

    Args:
        state: 16 field elements, each in ``[0, p)``.

    Returns:
        The permuted state as a list of 16 ints.

    Raises:
        ValueError: if the state does not have 16 elements in ``[0, p)``.
    """
    x = [int(v) for v in state]
    if len(x) != WIDTH:
        raise ValueError(f"expected a state of {WIDTH} field elements, got {len(x)}")
    if any(not 0 <= v < P for v in x):
        raise ValueError(f"expected field elements in [0, {P}), got {x}")
    half = ROUNDS_F // 2
    x = _matvec(EXTERNAL_MATRIX, x)
    for r in range(half):
        x = _full_round_scalar(x, EXTERNAL_ROUND_CONSTANTS[r])
    for c in INTERNAL_ROUND_CONSTANTS:
        x[0] = pow((x[0] + c) % P, ALPHA, P)
        x = _matvec(INTERNAL_MATRIX, x)
    for r in range(half, ROUNDS_F):
        x = _full_round_scalar(x, EXTERNAL_ROUND_CONSTANTS[r])
    return x


# --------------------------------------------------------------------------
# Vectorised permutation. The state is kept "by columns": an array S of
# shape (16, n) whose row i holds element i of all n states, so every
# per-element operation is one contiguous numpy pass over n values.
# --------------------------------------------------------------------------


def _reduce(a: U64Array) -> None:
    """a mod p in place. ``a - (a // p)·p``: numpy divides uint64 by a scalar
    with libdivide, about twice as fast as its ``%``."""
    q = a // P
    q *= P
    a -= q


def _sbox(a: U64Array) -> U64Array:
    """x^7 mod p elementwise, for inputs < 2^32 (so a·a fits in uint64)."""
    a2 = a * a
    _reduce(a2)
    a3 = a2 * a
    _reduce(a3)
    a6 = a3 * a3
    _reduce(a6)
    a6 *= a
    _reduce(a6)
    return a6


_Lane = TypeVar("_Lane", int, U64Array)


def _m4(x0: _Lane, x1: _Lane, x2: _Lane, x3: _Lane) -> tuple[_Lane, _Lane, _Lane, _Lane]:
    """The HorizenLabs M4 by its addition chain — rows (5,7,1,3), (4,6,1,1),
    (1,3,5,7), (1,1,4,6) — on Python ints or on numpy lanes alike."""
    t0 = x0 + x1
    t1 = x2 + x3
    t2 = x1 + x1 + t1
    t3 = x3 + x3 + t0
    t4 = 4 * t1 + t3
    t5 = 4 * t0 + t2
    return t3 + t5, t5, t2 + t4, t4


def _external_layer(S: U64Array) -> U64Array:
    """M_E · S for a (16, n) array of values < 2^40; returns reduced values."""
    n = S.shape[1]
    X = S.reshape(4, 4, n)  # [block, position, state]
    Y = np.stack(_m4(X[:, 0], X[:, 1], X[:, 2], X[:, 3]), axis=1)  # (4, 4, n)
    Y += Y.sum(axis=0)
    _reduce(Y)
    return Y.reshape(WIDTH, n)


def _internal_layer(S: U64Array) -> U64Array:
    """M_I · S for a (16, n) array of reduced values; returns reduced values."""
    total = S.sum(axis=0)
    out = S * _DIAG
    out += total
    _reduce(out)
    return out


def _permute_columns(S: U64Array) -> U64Array:
    """The permutation on a (16, n) array of reduced values (by columns)."""
    if _COMPILED is not None:
        return _COMPILED.permute_columns(S)
    half = ROUNDS_F // 2
    S = _external_layer(S)
    for r in range(half):
        S = _external_layer(_sbox(S + _ERC[r]))
    for r in range(ROUNDS_P):
        S[0] = _sbox(S[0] + _IRC[r])
        S = _internal_layer(S)
    for r in range(half, ROUNDS_F):
        S = _external_layer(_sbox(S + _ERC[r]))
    return S


#: The compiled permutation module (:mod:`sealbatch.crypto.poseidon2_jit`) once its
#: :func:`~sealbatch.crypto.poseidon2_jit.use_compiled` has been called in this process;
#: None: numpy and Python ints. This module never imports that one (it imports numba).
_COMPILED: Any = None


# The permutation on one state of Python ints (poseidon2_ints re-exports it):
# one message is one chain of permutations, and numpy pays ~1 µs per operation
# whatever the array size, so a single state is faster on ints.
_I_FIRST = EXTERNAL_ROUND_CONSTANTS[: ROUNDS_F // 2]
_I_LAST = EXTERNAL_ROUND_CONSTANTS[ROUNDS_F // 2 :]


def _straight_line_source() -> str:
    """The permutation of one state as one Python function without loops or lists.

    CPython runs straight-line code on local variables about a third faster than the
    same arithmetic over lists and comprehensions (the M4 chain on list items, ``zip``), and a
    single message's sponge (the outputs digest of a batch: two permutations a fill)
    is one chain of permutations that nothing vectorises. The text is built from the
    module's constants; the S-box of a full round is ``b·b·b mod p · a`` with
    ``a = (x + c) mod p`` and ``b = a·a mod p`` (x^7, left unreduced: the next step
    reduces), the partial rounds reduce every other round (Python ints grow; two
    rounds stay small), and the tests compare the function with :func:`permute_scalar`.
    """

    def external() -> list[str]:
        lines = []
        for k in range(4):
            a, b, c, d = (f"x{4 * k + j}" for j in range(4))
            lines += [
                f"t0 = {a} + {b}", f"t1 = {c} + {d}", f"t2 = {b} + {b} + t1",
                f"t3 = {d} + {d} + t0", "t4 = 4 * t1 + t3", "t5 = 4 * t0 + t2",
                f"{a} = t3 + t5", f"{b} = t5", f"{c} = t2 + t4", f"{d} = t4",
            ]  # fmt: skip
        for j in range(4):
            lines.append(f"s = x{j} + x{4 + j} + x{8 + j} + x{12 + j}")
            lines += [f"x{4 * k + j} += s" for k in range(4)]
        return lines

    def full_round(constants: Sequence[int]) -> list[str]:
        lines = []
        for i, c in enumerate(constants):
            lines += [f"a = (x{i} + {c}) % P", "b = a * a % P", f"x{i} = b * b * b % P * a"]
        return lines + external()

    lanes = ", ".join(f"x{i}" for i in range(WIDTH))
    body = [f"{lanes} = x", *external()]
    for rc in _I_FIRST:
        body += full_round(rc)
    body += [f"x{i} %= P" for i in range(WIDTH)]
    for r, c in enumerate(INTERNAL_ROUND_CONSTANTS):
        body.append(f"x0 = pow(x0 + {c}, {ALPHA}, P)")
        body.append("s = " + " + ".join(f"x{i}" for i in range(WIDTH)))
        for i, d in enumerate(INTERNAL_DIAG_M_1):
            body.append(f"x{i} = ({d} * x{i} + s) % P" if r & 1 else f"x{i} = {d} * x{i} + s")
    for rc in _I_LAST:
        body += full_round(rc)
    body.append("return [" + ", ".join(f"x{i} % P" for i in range(WIDTH)) + "]")
    return "def _permute_straight(x):\n" + "".join(f"    {line}\n" for line in body)


def _compile_straight_line() -> Callable[[list[int]], list[int]]:
    namespace: dict[str, Any] = {"P": P}
    exec(compile(_straight_line_source(), "<poseidon2 straight line>", "exec"), namespace)
    fn: Callable[[list[int]], list[int]] = namespace["_permute_straight"]
    return fn


_permute_straight = _compile_straight_line()


def permute_list(x: list[int]) -> list[int]:
    """The permutation of one state of 16 reduced Python ints (unchecked)."""
    compiled = _COMPILED
    if compiled is not None:
        return compiled.permute_list(x)
    return _permute_straight(x)


def sponge(m: list[int]) -> list[int]:
    """The sponge digest (8 ints) of a message of ints already checked to lie in
    ``[0, p)`` (``poseidon2_ints.hash_ints`` without the check; :func:`hash_elements`
    hashes a validated array through here)."""
    k = len(m)
    x = [0] * WIDTH
    x[RATE] = k  # the length in the first capacity element
    for b in range(max(1, -(-k // RATE))):
        chunk = m[b * RATE : (b + 1) * RATE]
        x[:RATE] = chunk + [0] * (RATE - len(chunk))
        x = permute_list(x)
    return x[:DIGEST_SIZE]


def _as_field_array(values: npt.ArrayLike, name: str) -> U64Array:
    """Validate field elements and return them as a uint64 array (copy-free if possible)."""
    arr = np.asarray(values)
    if arr.size == 0:
        return arr.astype(np.uint64)  # e.g. np.asarray([]) is float64
    if arr.dtype == np.uint64:
        out = arr
    elif arr.dtype.kind in "iu":
        if arr.min() < 0 or arr.max() >= P:
            raise ValueError(f"expected {name} to hold field elements in [0, {P})")
        out = arr.astype(np.uint64)
    elif arr.dtype == object:
        try:
            ints = [int(v) for v in arr.ravel()]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"expected {name} to hold integers, got {arr.dtype}") from exc
        if any(not 0 <= v < P for v in ints):
            raise ValueError(f"expected {name} to hold field elements in [0, {P})")
        out = np.array(ints, dtype=np.uint64).reshape(arr.shape)
    else:
        raise ValueError(f"expected {name} to hold integers, got dtype {arr.dtype}")
    if int(out.max()) >= P:
        raise ValueError(f"expected {name} to hold field elements in [0, {P})")
    return out


def permute(states: npt.ArrayLike) -> U64Array:
    """Apply the Poseidon2 permutation to many states at once.

    Args:
        states: an ``(n, 16)`` array (or a single ``(16,)`` state) of field
            elements in ``[0, p)``.

    Returns:
        A new uint64 array of the same shape with every state permuted.

    Raises:
        ValueError: on a wrong shape or an element outside ``[0, p)``.
    """
    arr = _as_field_array(states, "states")
    if arr.ndim == 1 and arr.shape[0] == WIDTH:
        return permute(arr[None, :])[0]
    if arr.ndim != 2 or arr.shape[1] != WIDTH:
        raise ValueError(f"expected states of shape (n, {WIDTH}), got {arr.shape}")
    return np.ascontiguousarray(_permute_columns(np.ascontiguousarray(arr.T)).T)


# --------------------------------------------------------------------------
# Sponge hash
# --------------------------------------------------------------------------


def _hash_columns(M: U64Array) -> U64Array:
    """Sponge over the k rows of a (k, n) array: returns the (8, n) digests."""
    k, n = M.shape
    blocks = max(1, -(-k // RATE))
    S = np.zeros((WIDTH, n), dtype=np.uint64)
    S[RATE] = k  # length in the first capacity element: injective padding
    for b in range(blocks):
        chunk = M[b * RATE : (b + 1) * RATE]
        S[:RATE] = 0
        S[: chunk.shape[0]] = chunk
        S = _permute_columns(S)
    return S[:DIGEST_SIZE]


def hash_rows(matrix: npt.ArrayLike) -> U64Array:
    """Hash every row of an ``(n, k)`` matrix: ``hash_rows(M)[i] == hash_elements(M[i])``.

    Args:
        matrix: ``(n, k)`` field elements; ``k`` may be 0.

    Returns:
        The ``(n, 8)`` uint64 digests.

    Raises:
        ValueError: on a wrong shape or an element outside ``[0, p)``.
    """
    arr = _as_field_array(matrix, "matrix")
    if arr.ndim != 2:
        raise ValueError(f"expected a matrix of shape (n, k), got {arr.shape}")
    return np.ascontiguousarray(_hash_columns(np.ascontiguousarray(arr.T)).T)


def hash_elements(elements: npt.ArrayLike) -> U64Array:
    """Hash a sequence of field elements to a digest of 8 field elements.

    Args:
        elements: a 1-D sequence of field elements in ``[0, p)``, any length.

    Returns:
        The ``(8,)`` uint64 digest (sponge of the module docstring).

    Raises:
        ValueError: if the input is not 1-D or holds an element outside ``[0, p)``.
    """
    arr = _as_field_array(elements, "elements")
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of field elements, got shape {arr.shape}")
    # One message is one chain of permutations, none of which can run beside another: the
    # Python-int permutation (about a quarter of the time of the vectorised one on a single
    # column, which pays numpy's per-call overhead ~40 times a round) hashes it.
    # ``hash_rows`` keeps the vectorised sponge, and the tests check each against the other.
    return np.array(sponge(arr.astype(np.uint64).tolist()), dtype=np.uint64)


# --------------------------------------------------------------------------
# 2-to-1 compression and Merkle trees
# --------------------------------------------------------------------------


def _compress_columns(L: U64Array, R: U64Array) -> U64Array:
    """compress on (8, n) column arrays: P(l‖r)[0:8] + l."""
    out = _permute_columns(np.concatenate((L, R), axis=0))[:DIGEST_SIZE]
    out += L
    _reduce(out)
    return out


def _as_digests(values: npt.ArrayLike, name: str) -> U64Array:
    arr = _as_field_array(values, name)
    if arr.ndim != 2 or arr.shape[1] != DIGEST_SIZE:
        raise ValueError(f"expected {name} of shape (n, {DIGEST_SIZE}), got {arr.shape}")
    return arr


def compress(left: npt.ArrayLike, right: npt.ArrayLike) -> U64Array:
    """Compress pairs of digests: ``P(l ‖ r)[0:8] + l`` for each row.

    Args:
        left: ``(n, 8)`` digests (or one ``(8,)`` digest).
        right: digests of the same shape as ``left``.

    Returns:
        The ``(n, 8)`` (or ``(8,)``) compressed digests.

    Raises:
        ValueError: on mismatched or wrong shapes, or elements outside ``[0, p)``.
    """
    lhs = _as_field_array(left, "left")
    rhs = _as_field_array(right, "right")
    if lhs.shape != rhs.shape:
        raise ValueError(f"expected left and right of one shape, got {lhs.shape} and {rhs.shape}")
    if lhs.shape == (DIGEST_SIZE,):
        return compress(lhs[None, :], rhs[None, :])[0]
    _as_digests(lhs, "left")
    out = _compress_columns(np.ascontiguousarray(lhs.T), np.ascontiguousarray(rhs.T))
    return np.ascontiguousarray(out.T)


def merkle_levels(leaves: npt.ArrayLike) -> list[U64Array]:
    """All levels of the Merkle tree over ``n = 2^d`` leaf digests.

    Args:
        leaves: ``(n, 8)`` leaf digests, ``n`` a power of two (pad with
            :data:`EMPTY_DIGEST`).

    Returns:
        ``d + 1`` arrays: ``levels[0]`` are the leaves (``(n, 8)``), ``levels[i]``
        has ``n / 2^i`` rows, and ``levels[d]`` is the ``(1, 8)`` root.

    Raises:
        ValueError: if ``n`` is not a power of two or a digest is malformed.
    """
    arr = _as_digests(leaves, "leaves")
    n = arr.shape[0]
    if n < 1 or n & (n - 1):
        raise ValueError(f"expected a power-of-two number of leaves, got {n}")
    cols = np.ascontiguousarray(arr.T)
    levels = [np.ascontiguousarray(arr)]
    while cols.shape[1] > 1:
        cols = _compress_columns(
            np.ascontiguousarray(cols[:, 0::2]), np.ascontiguousarray(cols[:, 1::2])
        )
        levels.append(np.ascontiguousarray(cols.T))
    return levels


def merkle_root(leaves: npt.ArrayLike) -> U64Array:
    """The ``(8,)`` root of the Merkle tree over ``(n, 8)`` leaves (``n = 2^d``)."""
    return merkle_levels(leaves)[-1][0]


def _is_levels(tree: object) -> bool:
    """Whether ``tree`` looks like :func:`merkle_levels` output (not a list of leaf digests)."""
    if not isinstance(tree, list | tuple) or not tree:
        return False
    if not all(isinstance(a, np.ndarray) and a.ndim == 2 for a in tree):
        return False
    sizes = [a.shape[0] for a in tree]
    return sizes[-1] == 1 and all(a == 2 * b for a, b in pairwise(sizes))


def merkle_path(tree: npt.ArrayLike | Sequence[U64Array], index: int) -> U64Array:
    """The inclusion path of leaf ``index``: its ``d`` sibling digests, bottom up.

    Args:
        tree: the ``(n, 8)`` leaves, or the list returned by
            :func:`merkle_levels` (to take many paths from one tree).
        index: the leaf position, ``0 <= index < n``.

    Returns:
        A ``(d, 8)`` uint64 array; row ``i`` is the sibling at level ``i``.

    Raises:
        ValueError: if ``index`` is out of range or the leaves are malformed.
    """
    levels: list[U64Array] = (
        list(tree) if _is_levels(tree) else merkle_levels(tree)  # type: ignore[arg-type]
    )
    n = levels[0].shape[0]
    if not isinstance(index, int | np.integer) or not 0 <= int(index) < n:
        raise ValueError(f"expected a leaf index in [0, {n}), got {index!r}")
    idx = int(index)
    siblings = []
    for level in levels[:-1]:
        siblings.append(level[idx ^ 1])
        idx >>= 1
    if not siblings:
        return np.zeros((0, DIGEST_SIZE), dtype=np.uint64)
    return np.stack(siblings)


def path_root(leaf: npt.ArrayLike, index: npt.ArrayLike, path: npt.ArrayLike) -> U64Array:
    """The root that a leaf, its index and its path hash up to (vectorised over paths).

    Args:
        leaf: an ``(8,)`` digest, or ``(m, 8)`` digests.
        index: the leaf index, or ``(m,)`` indices.
        path: a ``(d, 8)`` path, or ``(m, d, 8)`` paths.

    Returns:
        The ``(8,)`` (or ``(m, 8)``) recomputed roots.

    Raises:
        ValueError: on inconsistent shapes or an index ``>= 2^d``.
    """
    leaves = _as_field_array(leaf, "leaf")
    paths = _as_field_array(path, "path")
    single = leaves.ndim == 1
    if single:
        leaves, paths = leaves[None, :], paths[None, ...]
    idx = np.asarray(index, dtype=np.int64).reshape(-1)
    if leaves.ndim != 2 or leaves.shape[1] != DIGEST_SIZE:
        raise ValueError(f"expected leaf digests of shape (m, {DIGEST_SIZE}), got {leaves.shape}")
    m = leaves.shape[0]
    if paths.ndim != 3 or paths.shape[0] != m or paths.shape[2] != DIGEST_SIZE:
        raise ValueError(f"expected paths of shape ({m}, d, {DIGEST_SIZE}), got {paths.shape}")
    if idx.shape != (m,):
        raise ValueError(f"expected {m} leaf indices, got {idx.shape[0]}")
    depth = paths.shape[1]
    if (idx < 0).any() or (idx >= (1 << depth)).any():
        raise ValueError(f"expected leaf indices in [0, {1 << depth}), got {idx.tolist()}")
    node = np.ascontiguousarray(leaves.T)
    for level in range(depth):
        sib = np.ascontiguousarray(paths[:, level, :].T)
        is_right = ((idx >> level) & 1).astype(bool)
        L = np.where(is_right, sib, node)
        R = np.where(is_right, node, sib)
        node = _compress_columns(L, R)
    roots = np.ascontiguousarray(node.T)
    return roots[0] if single else roots


def verify_path(root: npt.ArrayLike, leaf: npt.ArrayLike, index: int, path: npt.ArrayLike) -> None:
    """Check that ``leaf`` sits at ``index`` in the tree with root ``root``.

    The tree depth is ``len(path)``; a verifier must check it against the
    depth it expects (the capacity of the tree).

    Raises:
        VerificationError: if the path does not hash up to ``root``.
        ValueError: on malformed digests, path or index.
    """
    expected = _as_field_array(root, "root")
    if expected.shape != (DIGEST_SIZE,):
        raise ValueError(f"expected a root of shape ({DIGEST_SIZE},), got {expected.shape}")
    leaf_arr = _as_field_array(leaf, "leaf")
    if leaf_arr.shape != (DIGEST_SIZE,):
        raise ValueError(f"expected a leaf of shape ({DIGEST_SIZE},), got {leaf_arr.shape}")
    path_arr = _as_field_array(path, "path")
    if path_arr.ndim != 2 or path_arr.shape[1] != DIGEST_SIZE:
        raise ValueError(f"expected a path of shape (d, {DIGEST_SIZE}), got {path_arr.shape}")
    got = path_root(leaf_arr, index, path_arr)
    if not np.array_equal(got, expected):
        raise VerificationError(
            f"Merkle path of leaf {index} does not reach the root: "
            f"expected {expected.tolist()}, got {got.tolist()}"
        )


# --------------------------------------------------------------------------
# Digest encoding
# --------------------------------------------------------------------------


def digest_to_bytes(digest: npt.ArrayLike) -> bytes:
    """Encode an ``(8,)`` digest as 32 bytes: each element as 4 bytes little-endian."""
    arr = _as_field_array(digest, "digest")
    if arr.shape != (DIGEST_SIZE,):
        raise ValueError(f"expected a digest of shape ({DIGEST_SIZE},), got {arr.shape}")
    return arr.astype("<u4").tobytes()


def digest_from_bytes(data: bytes) -> U64Array:
    """Decode 32 bytes from :func:`digest_to_bytes`; rejects non-canonical elements."""
    if len(data) != 4 * DIGEST_SIZE:
        raise ValueError(f"expected {4 * DIGEST_SIZE} bytes, got {len(data)}")
    arr = np.frombuffer(data, dtype="<u4").astype(np.uint64)
    if int(arr.max()) >= P:
        raise ValueError(f"expected field elements in [0, {P}), got {arr.tolist()}")
    return arr
