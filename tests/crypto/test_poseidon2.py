"""Poseidon2 over BabyBear: known answers, vectorised vs reference, sponge, Merkle trees.

Known-answer vectors: the HorizenLabs BabyBear width-16 instance
(https://github.com/HorizenLabs/poseidon2, plain_implementations/src/poseidon2/
poseidon2_instance_babybear.rs, commit bb476b9) evaluated by the HorizenLabs
implementation, as published in Plonky3's ``baby-bear/src/poseidon2.rs`` tests
``test_poseidon2_hl_width_16_zeroes``, ``test_poseidon2_hl_width_16_range`` and
``test_poseidon2_hl_width_16_random`` (https://github.com/Plonky3/Plonky3).
The ``range`` vector (input 0..15) is also the one SP1 cites as "generated with
https://github.com/HorizenLabs/poseidon2 POSEIDON2_BABYBEAR_16_PARAMS".
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.crypto import poseidon2 as p2
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.poseidon2 import (
    DIGEST_SIZE,
    EMPTY_DIGEST,
    WIDTH,
    P,
    compress,
    digest_from_bytes,
    digest_to_bytes,
    hash_elements,
    hash_rows,
    merkle_levels,
    merkle_path,
    merkle_root,
    path_root,
    permute,
    permute_scalar,
    verify_path,
)

KNOWN_ANSWERS = {
    "zeroes": (
        [0] * 16,
        [1337856655, 1843094405, 328115114, 964209316, 1365212758, 1431554563, 210126733,
         1214932203, 1929553766, 1647595522, 1496863878, 324695999, 1569728319, 1634598391,
         597968641, 679989771],
    ),
    "range": (
        list(range(16)),
        [896560466, 771677727, 128113032, 1378976435, 160019712, 1452738514, 682850273,
         223500421, 501450187, 1804685789, 1671399593, 1788755219, 1736880027, 1352180784,
         1928489698, 1128802977],
    ),
    "random": (
        [1179785652, 1291567559, 66272299, 471640172, 653876821, 478855335, 871063984,
         540251327, 1506944720, 1403776782, 770420443, 126472305, 1535928603, 1017977016,
         818646757, 359411429],
        [1736862924, 1950079822, 952072292, 1965704005, 236226362, 1113998185, 1624488077,
         391891139, 1194078311, 1040746778, 1898067001, 774167026, 193702242, 859952892,
         732204701, 1744970965],
    ),
}  # fmt: skip

field_elements = st.integers(min_value=0, max_value=P - 1)
states = st.lists(field_elements, min_size=WIDTH, max_size=WIDTH)
digests = st.lists(field_elements, min_size=DIGEST_SIZE, max_size=DIGEST_SIZE)


def reference_sponge(message: list[int]) -> list[int]:
    """The module docstring's sponge, spelled out with the scalar permutation."""
    padded = message + [0] * (-len(message) % 8)
    if not padded:
        padded = [0] * 8
    state = [0] * 16
    state[8] = len(message)
    for i in range(0, len(padded), 8):
        state[:8] = padded[i : i + 8]
        state = permute_scalar(state)
    return state[:8]


def reference_compress(left: list[int], right: list[int]) -> list[int]:
    out = permute_scalar(left + right)
    return [(a + b) % P for a, b in zip(out[:8], left, strict=True)]


# --- permutation ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KNOWN_ANSWERS))
def test_known_answer_scalar(name: str) -> None:
    state, expected = KNOWN_ANSWERS[name]
    assert permute_scalar(state) == expected


@pytest.mark.parametrize("name", sorted(KNOWN_ANSWERS))
def test_known_answer_vectorised(name: str) -> None:
    state, expected = KNOWN_ANSWERS[name]
    assert permute(np.array([state], dtype=np.uint64)).tolist() == [expected]
    assert permute(state).tolist() == expected  # a single (16,) state


@pytest.mark.parametrize("name", sorted(KNOWN_ANSWERS))
def test_known_answer_straight_line(name: str) -> None:
    # the single-state permutation the sponge of hash_elements runs (generated code)
    state, expected = KNOWN_ANSWERS[name]
    assert p2.permute_list(list(state)) == expected
    top = [P - 1 - i for i in range(16)]
    assert p2.permute_list(top) == permute_scalar(top)


def test_known_answers_in_one_batch() -> None:
    names = sorted(KNOWN_ANSWERS)
    batch = np.array([KNOWN_ANSWERS[n][0] for n in names] * 3, dtype=np.uint64)
    out = permute(batch)
    assert out.shape == batch.shape and out.dtype == np.uint64
    assert out.tolist() == [KNOWN_ANSWERS[n][1] for n in names] * 3


def test_constants_shape_and_range() -> None:
    assert len(p2.EXTERNAL_ROUND_CONSTANTS) == p2.ROUNDS_F
    assert all(len(row) == WIDTH for row in p2.EXTERNAL_ROUND_CONSTANTS)
    assert len(p2.INTERNAL_ROUND_CONSTANTS) == p2.ROUNDS_P
    assert len(p2.INTERNAL_DIAG_M_1) == WIDTH
    flat = [c for row in p2.EXTERNAL_ROUND_CONSTANTS for c in row]
    assert all(0 <= c < P for c in flat + list(p2.INTERNAL_ROUND_CONSTANTS))
    assert P == 15 * 2**27 + 1
    # x -> x^7 is a bijection of the field exactly when gcd(7, p - 1) = 1.
    assert (P - 1) % 7 != 0


@settings(max_examples=30, deadline=None)
@given(st.lists(states, min_size=1, max_size=6))
def test_vectorised_matches_reference(batch: list[list[int]]) -> None:
    out = permute(np.array(batch, dtype=np.uint64))
    assert out.tolist() == [permute_scalar(s) for s in batch]


def test_vectorised_matches_reference_on_extremes() -> None:
    batch = [[P - 1] * 16, [0] * 15 + [P - 1], [P - 1 - i for i in range(16)], [1] * 16]
    assert permute(batch).tolist() == [permute_scalar(s) for s in batch]


def test_permute_leaves_input_untouched() -> None:
    batch = np.arange(32, dtype=np.uint64).reshape(2, 16)
    copy = batch.copy()
    permute(batch)
    assert np.array_equal(batch, copy)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((3, 15), dtype=np.uint64),
        np.zeros((2, 2, 16), dtype=np.uint64),
        np.full((1, 16), P, dtype=np.uint64),
        np.full((1, 16), -1, dtype=np.int64),
        np.zeros((1, 16), dtype=np.float64),
    ],
    ids=["width-15", "3-d", "element-p", "negative", "float"],
)
def test_permute_rejects_bad_states(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        permute(bad)


def test_permute_scalar_rejects_bad_states() -> None:
    with pytest.raises(ValueError, match="16"):
        permute_scalar([0] * 15)
    with pytest.raises(ValueError):
        permute_scalar([P] + [0] * 15)


def test_permute_accepts_python_int_lists_and_empty_batches() -> None:
    assert permute([list(range(16))]).tolist() == [KNOWN_ANSWERS["range"][1]]
    assert permute(np.zeros((0, 16), dtype=np.uint64)).shape == (0, 16)


# --- sponge -------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.lists(field_elements, max_size=20))
def test_hash_elements_matches_reference_sponge(message: list[int]) -> None:
    digest = hash_elements(message)
    assert digest.shape == (DIGEST_SIZE,) and digest.dtype == np.uint64
    assert digest.tolist() == reference_sponge(message)


@pytest.mark.parametrize("k", [0, 1, 7, 8, 9, 16, 17])
def test_hash_rows_matches_hash_elements(k: int) -> None:
    rng = np.random.default_rng(k)
    matrix = rng.integers(0, P, size=(5, k), dtype=np.uint64)
    rows = hash_rows(matrix)
    assert rows.shape == (5, DIGEST_SIZE)
    for i in range(5):
        assert rows[i].tolist() == hash_elements(matrix[i]).tolist()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([], [0]),
        ([0] * 7, [0] * 8),
        ([0] * 8, [0] * 9),
        ([5], [5, 0]),
        ([1, 2, 3], [1, 2, 3, 0, 0, 0, 0, 0]),
        ([], [0] * 8),
    ],
)
def test_sponge_separates_lengths(a: list[int], b: list[int]) -> None:
    assert hash_elements(a).tolist() != hash_elements(b).tolist()


@settings(max_examples=20, deadline=None)
@given(st.lists(field_elements, max_size=17), st.integers(min_value=1, max_value=9))
def test_sponge_zero_extension_changes_digest(message: list[int], zeros: int) -> None:
    assert hash_elements(message).tolist() != hash_elements(message + [0] * zeros).tolist()


def test_sponge_is_sensitive_to_every_position() -> None:
    message = list(range(1, 20))
    base = hash_elements(message).tolist()
    for i in range(len(message)):
        changed = list(message)
        changed[i] = (changed[i] + 1) % P
        assert hash_elements(changed).tolist() != base


def test_hash_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        hash_elements([[1, 2], [3, 4]])
    with pytest.raises(ValueError):
        hash_elements([P])
    with pytest.raises(ValueError):
        hash_rows([1, 2, 3])


# --- compression and Merkle trees ----------------------------------------------


@settings(max_examples=15, deadline=None)
@given(digests, digests)
def test_compress_matches_reference(left: list[int], right: list[int]) -> None:
    assert compress(left, right).tolist() == reference_compress(left, right)
    batch = compress(np.array([left, right]), np.array([right, left]))
    assert batch.tolist() == [reference_compress(left, right), reference_compress(right, left)]


def test_compress_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError):
        compress(np.zeros((2, 8), dtype=np.uint64), np.zeros((3, 8), dtype=np.uint64))
    with pytest.raises(ValueError):
        compress(np.zeros((2, 7), dtype=np.uint64), np.zeros((2, 7), dtype=np.uint64))


def random_leaves(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return hash_rows(rng.integers(0, P, size=(n, 5), dtype=np.uint64))


def test_merkle_root_small_trees() -> None:
    leaves = random_leaves(4)
    assert merkle_root(leaves[:1]).tolist() == leaves[0].tolist()
    assert merkle_root(leaves[:2]).tolist() == reference_compress(
        leaves[0].tolist(), leaves[1].tolist()
    )
    left = reference_compress(leaves[0].tolist(), leaves[1].tolist())
    right = reference_compress(leaves[2].tolist(), leaves[3].tolist())
    assert merkle_root(leaves).tolist() == reference_compress(left, right)


def test_merkle_levels_shapes() -> None:
    levels = merkle_levels(random_leaves(16))
    assert [lvl.shape for lvl in levels] == [(16, 8), (8, 8), (4, 8), (2, 8), (1, 8)]


@pytest.mark.parametrize("n", [1, 2, 8, 32])
def test_merkle_path_round_trip(n: int) -> None:
    leaves = random_leaves(n, seed=n)
    levels = merkle_levels(leaves)
    root = levels[-1][0]
    depth = n.bit_length() - 1
    for index in range(n):
        path = merkle_path(levels, index)
        assert path.shape == (depth, DIGEST_SIZE)
        assert np.array_equal(path, merkle_path(leaves, index))
        verify_path(root, leaves[index], index, path)
        assert np.array_equal(path_root(leaves[index], index, path), root)


def test_merkle_path_accepts_a_list_of_leaf_digests() -> None:
    leaves = random_leaves(4, seed=9)
    as_list = [leaves[i] for i in range(4)]  # 1-D digests, not tree levels
    assert np.array_equal(merkle_path(as_list, 2), merkle_path(leaves, 2))


def test_path_root_vectorised_over_paths() -> None:
    leaves = random_leaves(16, seed=3)
    levels = merkle_levels(leaves)
    indices = np.array([0, 5, 15, 8, 5])
    paths = np.stack([merkle_path(levels, int(i)) for i in indices])
    roots = path_root(leaves[indices], indices, paths)
    assert roots.shape == (5, DIGEST_SIZE)
    assert (roots == levels[-1][0]).all()


def test_merkle_path_tampering_is_rejected() -> None:
    leaves = random_leaves(16, seed=7)
    root = merkle_root(leaves)
    index = 6
    path = merkle_path(leaves, index)

    bad_leaf = leaves[index].copy()
    bad_leaf[0] = (bad_leaf[0] + 1) % P
    with pytest.raises(VerificationError, match="does not reach the root"):
        verify_path(root, bad_leaf, index, path)

    for level in range(path.shape[0]):
        for element in (0, 7):
            bad_path = path.copy()
            bad_path[level, element] = (bad_path[level, element] + 1) % P
            with pytest.raises(VerificationError):
                verify_path(root, leaves[index], index, bad_path)

    with pytest.raises(VerificationError):
        verify_path(root, leaves[index], index ^ 1, path)  # wrong position
    with pytest.raises(VerificationError):
        verify_path(root, leaves[index + 1], index, path)  # another leaf
    bad_root = root.copy()
    bad_root[3] = (bad_root[3] + 1) % P
    with pytest.raises(VerificationError):
        verify_path(bad_root, leaves[index], index, path)
    with pytest.raises(VerificationError):
        verify_path(root, leaves[index], index, path[:-1])  # a shorter tree


def test_merkle_rejects_malformed_input() -> None:
    with pytest.raises(ValueError, match="power-of-two"):
        merkle_root(random_leaves(3))
    with pytest.raises(ValueError, match="power-of-two"):
        merkle_root(np.zeros((0, 8), dtype=np.uint64))
    with pytest.raises(ValueError):
        merkle_root(np.zeros((4, 7), dtype=np.uint64))
    leaves = random_leaves(8)
    with pytest.raises(ValueError, match="leaf index"):
        merkle_path(leaves, 8)
    with pytest.raises(ValueError):
        verify_path(merkle_root(leaves), leaves[0], 8, merkle_path(leaves, 0))


def test_empty_slots_pad_a_tree() -> None:
    leaves = random_leaves(3)
    padded = np.vstack([leaves, EMPTY_DIGEST])
    root = merkle_root(padded)
    verify_path(root, leaves[2], 2, merkle_path(padded, 2))
    verify_path(root, EMPTY_DIGEST, 3, merkle_path(padded, 3))


def test_digest_bytes_round_trip() -> None:
    digest = hash_elements([1, 2, 3])
    data = digest_to_bytes(digest)
    assert len(data) == 32
    assert np.array_equal(digest_from_bytes(data), digest)
    with pytest.raises(ValueError):
        digest_from_bytes(b"\xff" * 32)  # 0xffffffff >= p
    with pytest.raises(ValueError):
        digest_from_bytes(data[:-1])
