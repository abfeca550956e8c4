"""Poseidon2Hasher.sol computes exactly sealbatch.crypto.poseidon2 (permutation, sponge,
compression, Merkle paths, digest bytes), on random vectors and on the edges of the field."""

from __future__ import annotations

import random

import numpy as np
import pytest
from web3.contract import Contract

from sealbatch.crypto import poseidon2 as p2
from sealbatch.crypto.poseidon2_solidity import render_library
from sealbatch.settlement.anchor import ARTIFACTS, Chain, ContractReverted

GENERATED = ARTIFACTS.parent / "src" / "generated" / "Poseidon2.sol"


@pytest.fixture(scope="module")
def hasher(chain: Chain) -> Contract:
    return chain.deploy("Poseidon2Hasher")


def ints(a: object) -> list[int]:
    return [int(v) for v in np.asarray(a).ravel()]


def test_library_is_generated_from_the_python_constants() -> None:
    assert GENERATED.read_text() == render_library()


def test_permutation(chain: Chain, hasher: Contract) -> None:
    rng = random.Random(2026)
    states = [[0] * 16, [p2.P - 1] * 16, list(range(16))]
    states += [[rng.randrange(p2.P) for _ in range(16)] for _ in range(20)]
    for x in states:
        assert ints(chain.call(hasher, "permute", x)) == p2.permute_scalar(x)


def test_sponge_every_length(chain: Chain, hasher: Contract) -> None:
    rng = random.Random(7)
    for k in range(0, 27):
        m = [rng.randrange(p2.P) for _ in range(k)]
        assert ints(chain.call(hasher, "hash", m)) == ints(p2.hash_elements(np.array(m, np.uint64)))


def test_compress_and_paths(chain: Chain, hasher: Contract) -> None:
    rng = random.Random(11)
    leaves = np.array([[rng.randrange(p2.P) for _ in range(8)] for _ in range(16)], np.uint64)
    levels = p2.merkle_levels(leaves)
    assert ints(chain.call(hasher, "compress", ints(leaves[0]), ints(leaves[1]))) == ints(
        levels[1][0]
    )
    for index in (0, 5, 10, 15):
        path = p2.merkle_path(levels, index)
        got = chain.call(hasher, "pathRoot", ints(leaves[index]), index, [ints(r) for r in path])
        assert ints(got) == ints(levels[-1][0])


def test_digest_bytes(chain: Chain, hasher: Contract) -> None:
    rng = random.Random(5)
    for _ in range(5):
        d = np.array([rng.randrange(p2.P) for _ in range(8)], np.uint64)
        encoded = p2.digest_to_bytes(d)
        assert bytes(chain.call(hasher, "toBytes32", ints(d))) == encoded
        assert ints(chain.call(hasher, "fromBytes32", encoded)) == ints(d)


def test_non_field_elements_are_refused(chain: Chain, hasher: Contract) -> None:
    with pytest.raises(ContractReverted) as info:
        chain.call(hasher, "hash", [1, p2.P])
    assert info.value.error == "NotFieldElement"
    assert info.value.error_args == (p2.P,)
