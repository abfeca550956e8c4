"""The Python-int Poseidon2 against the vectorised one (itself checked against
the HorizenLabs vectors in test_poseidon2.py) and the HorizenLabs vectors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.crypto import poseidon2 as p2
from sealbatch.crypto.poseidon2_ints import compress_ints, hash_ints, permute_ints

elements = st.integers(0, p2.P - 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(elements, min_size=16, max_size=16))
def test_permutation_matches(state: list[int]) -> None:
    assert permute_ints(state) == p2.permute(state).tolist()
    assert permute_ints(state) == p2.permute_scalar(state)


@settings(max_examples=60, deadline=None)
@given(st.lists(elements, max_size=40))
def test_sponge_matches(message: list[int]) -> None:
    # hash_elements hashes one message on Python ints too: the vectorised sponge of
    # hash_rows is the independent side
    vectorised = p2.hash_rows(np.array([message], dtype=np.uint64).reshape(1, len(message)))
    assert hash_ints(message) == p2.hash_elements(message).tolist() == vectorised[0].tolist()


def test_extremes_and_compress() -> None:
    top = [p2.P - 1] * 16
    assert permute_ints(top) == p2.permute(top).tolist()
    rng = np.random.default_rng(9)
    left, right = rng.integers(0, p2.P, 8).tolist(), rng.integers(0, p2.P, 8).tolist()
    assert compress_ints(left, right) == p2.compress(left, right).tolist()
    assert hash_ints([]) == p2.hash_elements([]).tolist()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: permute_ints([0] * 15), "16 field elements"),
        (lambda: permute_ints([p2.P] + [0] * 15), r"field elements in \[0"),
        (lambda: hash_ints([-1]), r"field elements in \[0"),
        (lambda: hash_ints([True]), r"field elements in \[0"),
        (lambda: compress_ints([0] * 8, [0] * 7), "two digests"),
    ],
)
def test_refuses_malformed_input(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]
