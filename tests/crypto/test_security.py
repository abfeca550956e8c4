"""Security estimates and proof options: the formulas by hand, and the verifier's minimum."""

from __future__ import annotations

import math

import pytest

from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.options import DEFAULT_OPTIONS, ProofOptions
from sealbatch.crypto.security import (
    COLLISION_BITS,
    conjectured_bits,
    estimate_security,
    proven_bits,
)
from sealbatch.crypto.verifier import verify
from tests.crypto.helpers import FAST, proof_bytes


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


def test_options_below_the_minimum_security_are_refused() -> None:
    """The query count, blowup and grinding come from the proof's options: too few bits fail."""
    data = proof_bytes("fibonacci")
    assert conjectured_bits(FAST, 16) < 100
    with pytest.raises(VerificationError, match="conjectured security"):
        verify(data)
    result = verify(data, min_security_bits=conjectured_bits(FAST, 16))
    assert result.security.conjectured == conjectured_bits(FAST, 16)
    assert result.security.proven == proven_bits(FAST, 16, max_degree=2)


def test_conjectured_bits_match_a_hand_calculation() -> None:
    """ethSTARK conjectured bits, recomputed here from the formula (log2 p to 6 digits)."""
    four_log_p = 4 * 30.906890  # log2(2013265921) = 30.90689...
    assert math.floor(four_log_p) == 123
    for log_n, expected in ((12, 105), (14, 105), (15, 104), (16, 103), (18, 101), (20, 99)):
        field_bits = 123 - (3 + log_n)
        query_bits = 30 * 3 + 16
        assert min(field_bits, query_bits) - 1 == expected
        assert conjectured_bits(DEFAULT_OPTIONS, 1 << log_n) == expected
    # blowup 4, 43 queries: 2 bits a query -> 86 + 16; field 123 - 22 at 2^20
    assert conjectured_bits(ProofOptions(blowup=4, num_queries=43), 1 << 20) == 100


def test_proven_bits_are_near_the_query_bound() -> None:
    """At 2^16 with the defaults the Johnson-bound query term is ~2^-(45 - 30·log2(1+1/2m) + 16)."""
    bits = proven_bits(DEFAULT_OPTIONS, 1 << 16)
    # upper bound: the query term alone with m -> infinity: q·log2(1/sqrt(rho)) + grinding
    assert bits <= 30 * 1.5 + 16
    # m = 10: query term 45 - 30·log2(1.05) + 16 = 58.9 bits; FRI commit term about 54 bits
    assert 54 <= bits <= 58


def test_grinding_counts_only_above_the_query_floor() -> None:
    """winterfell's formula adds grinding only to >= 80 query bits (GRINDING_CONTRIBUTION_FLOOR).

    Without the floor, blowup 64 with 12 queries and 32 grinding bits claimed 103 bits
    (6·12 + 32 = 104) and passed the verifier's default 100-bit minimum.
    """
    few = ProofOptions(blowup=64, num_queries=12, grinding_bits=32)
    assert conjectured_bits(few, 1 << 8) == 6 * 12 - 1
    at_floor = ProofOptions(blowup=16, num_queries=20, grinding_bits=20)  # 80 query bits
    assert conjectured_bits(at_floor, 1 << 8) == min(123 - 12, 80 + 20) - 1
    assert conjectured_bits(DEFAULT_OPTIONS, 1 << 16) == 103  # 90 query bits: grinding counts
