"""Security estimates and proof options."""

from __future__ import annotations

import pytest

from sealbatch.crypto.options import DEFAULT_OPTIONS, ProofOptions
from sealbatch.crypto.security import (
    COLLISION_BITS,
    conjectured_bits,
    estimate_security,
    proven_bits,
)


def test_default_options_give_100_bits_up_to_2_18_rows() -> None:
    for log_n in range(3, 19):
        assert conjectured_bits(DEFAULT_OPTIONS, 1 << log_n) >= 100


def test_conjectured_formula_by_hand() -> None:
    # field: floor(4·log2 p) = 123, minus log2(8·2^16) = 19 -> 104;
    # queries: 30·3 + 16 = 106; min - 1 = 103.
    assert conjectured_bits(DEFAULT_OPTIONS, 1 << 16) == 103
    few = ProofOptions(num_queries=10, grinding_bits=0)
    assert conjectured_bits(few, 1 << 10) == 10 * 3 - 1
    many = ProofOptions(blowup=64, num_queries=100)
    assert conjectured_bits(many, 8) == min(123 - 9 - 1, COLLISION_BITS)


def test_proven_is_below_conjectured_and_grows_with_queries() -> None:
    report = estimate_security(DEFAULT_OPTIONS, 1 << 16)
    assert 0 < report.proven < report.conjectured
    more = ProofOptions(num_queries=120)
    assert proven_bits(more, 1 << 16) > report.proven


def test_options_round_trip_and_validation() -> None:
    for opts in (
        DEFAULT_OPTIONS,
        ProofOptions(2, 1, 2, 0, 1),
        ProofOptions(64, 255, 16, 32, 256),
    ):
        assert ProofOptions.from_bytes(opts.to_bytes()) == opts
    assert len(DEFAULT_OPTIONS.to_bytes()) == 6
    with pytest.raises(ValueError, match="blowup"):
        ProofOptions(blowup=3)
    with pytest.raises(ValueError, match="num_queries"):
        ProofOptions(num_queries=0)
    with pytest.raises(ValueError, match="folding factor"):
        ProofOptions(folding_factor=3)
    with pytest.raises(ValueError):
        ProofOptions.from_bytes(b"\x03")
