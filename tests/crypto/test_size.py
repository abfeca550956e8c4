"""The size model against real proofs, and the calldata gas formula."""

from __future__ import annotations

import pytest

from sealbatch.crypto.airs import batch_shape, get_air
from sealbatch.crypto.merkle import MerkleTree, leaf_digests, opening_size
from sealbatch.crypto.options import ProofOptions, l1_options
from sealbatch.crypto.prover import prove
from sealbatch.crypto.size import (
    bytes_gas,
    calldata_gas,
    expected_distinct,
    expected_opening_nodes,
    predict_size,
)

# One proof's openings depend on where its transcript puts the queries: with 20 queries on a
# 2^14-leaf tree, the distinct Merkle nodes of one proof vary by a few percent around the
# model's expectation (the mean over many draws is checked to 1 % above).
TOLERANCE = 0.04
"""The model gives expected values; a real proof's query openings vary by a few percent."""


def test_calldata_gas_is_the_eip_7623_formula() -> None:
    assert calldata_gas(0, 0) == 21_000
    assert calldata_gas(100, 20) == 21_000 + 40 * 100 + 10 * 20  # the floor binds
    assert calldata_gas(100, 20, exec_gas=10_000) == 21_000 + 16 * 100 + 4 * 20 + 10_000
    assert bytes_gas(b"\x00\x01\x02") == 21_000 + 40 * 2 + 10
    with pytest.raises(ValueError, match="non-negative"):
        calldata_gas(-1, 0)


def test_expected_opening_matches_simulation() -> None:
    import random

    rng = random.Random(5)
    leaves, draws = 1 << 12, 22
    trials = [
        opening_size(leaves, [rng.randrange(leaves) for _ in range(draws)]) for _ in range(400)
    ]
    mean = sum(trials) / len(trials)
    assert abs(mean - expected_opening_nodes(leaves, draws)) < 0.01 * mean
    assert expected_distinct(22, 1 << 20) == pytest.approx(22, abs=0.01)
    # the model's opening walk is the tree's
    tree = MerkleTree(leaf_digests(__import__("numpy").zeros((leaves, 1), "uint8")))
    assert len(tree.open([1, 2, 3000]).nodes) == opening_size(leaves, [1, 2, 3000])


@pytest.mark.parametrize(
    ("name", "rows", "options"),
    [
        ("wide", 1024, l1_options(1024)),
        ("wide", 2048, ProofOptions()),
        pytest.param("range_check", 1024, l1_options(1024), marks=pytest.mark.slow),
        ("poseidon2", 64, ProofOptions(blowup=8, num_queries=30, fri_max_remainder=8)),
    ],
)
def test_prediction_is_within_tolerance_of_real_proofs(
    name: str, rows: int, options: ProofOptions
) -> None:
    entry = get_air(name)
    trace, pubs = entry.generate(rows)
    air = entry.build(rows, pubs)
    data = prove(air, trace, options).to_bytes()
    estimate = predict_size(air, options)
    assert abs(estimate.proof_bytes - len(data)) <= TOLERANCE * len(data)
    assert abs(estimate.calldata_gas - bytes_gas(data)) <= TOLERANCE * bytes_gas(data)
    assert abs(estimate.zero_bytes - data.count(0)) <= max(40, 0.2 * data.count(0))


def test_prediction_for_the_batch_shape_with_fixed_and_aux_columns() -> None:
    rows = 256
    trace, pubs = batch_shape.generate(rows, wide=16, limbs=10, public_rows=8)
    air = batch_shape.build(rows, pubs)
    options = l1_options(rows)
    data = prove(air, trace, options).to_bytes()
    estimate = predict_size(air, options, exec_gas=1_000_000)
    assert abs(estimate.proof_bytes - len(data)) <= TOLERANCE * len(data)
    assert estimate.exec_gas == 1_000_000
    assert abs(estimate.calldata_gas - bytes_gas(data, 1_000_000)) <= TOLERANCE * bytes_gas(
        data, 1_000_000
    )
