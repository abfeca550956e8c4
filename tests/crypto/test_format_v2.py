"""Proof format v2: version refusal, per-column out-of-domain frames, L1 options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sealbatch.crypto.air import Air, Boundary, Transition, col, pub
from sealbatch.crypto.airs import get_air
from sealbatch.crypto.exceptions import ProofFormatError
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.options import L1_MAX_ROWS, ProofOptions, l1_options
from sealbatch.crypto.proof import FORMAT_VERSION, StarkProof
from sealbatch.crypto.prover import prove
from sealbatch.crypto.security import estimate_security
from sealbatch.crypto.verifier import verify, verify_proof

FAST = ProofOptions(blowup=4, num_queries=6, folding_factor=4, grinding_bits=4, fri_max_remainder=4)
DATA = Path(__file__).parent / "data"


def test_a_version_1_proof_is_refused_by_number() -> None:
    """A real proof written by the version-1 prover (a stored file) fails cleanly."""
    old = (DATA / "fibonacci16_v1.bin").read_bytes()
    assert old[7] == 1 and FORMAT_VERSION == 2
    with pytest.raises(ProofFormatError, match="unsupported proof format version 1"):
        verify(old, min_security_bits=0)


def _masked_air(rows: int, pubs: tuple[int, ...]) -> Air:
    """x' = x + y; y constant; z unconstrained except at row 0 — three different frames."""
    x, y, z = col(0), col(1), col(2)
    return Air(
        name="masked",
        num_rows=rows,
        num_main_columns=3,
        public_inputs=pubs,
        transitions=(Transition(x.next - x - y), Transition(y.next - y)),
        boundaries=(Boundary(0, x - pub(0)), Boundary(0, y - pub(1)), Boundary(0, z - pub(2))),
    )


def test_each_column_is_opened_only_at_the_offsets_it_is_read() -> None:
    rows = 32
    x = [(5 + 3 * i) % P for i in range(rows)]
    trace = np.array([x, [3] * rows, [9] * rows], dtype=np.uint64)
    air = _masked_air(rows, (5, 3, 9))
    assert air.frame == (
        ("main", 0, 0),
        ("main", 1, 0),
        ("main", 2, 0),
        ("main", 0, 1),
        ("main", 1, 1),
    )
    proof = prove(air, trace, FAST)
    assert proof.ood_frame.shape == (5, 4)
    verify_proof(air, proof, min_security_bits=0)
    # z is read at offset 0 only: 5 frame values, not 3 columns × 2 offsets
    data = proof.to_bytes()
    assert StarkProof.from_bytes(data).to_bytes() == data


@pytest.mark.parametrize("log_rows", range(3, 21))
def test_l1_options_give_100_bits_up_to_2_20_rows(log_rows: int) -> None:
    options = l1_options(1 << log_rows)
    report = estimate_security(options, 1 << log_rows)
    assert report.conjectured >= 100
    assert 0 < report.proven < report.conjectured
    if log_rows <= 13:  # the fewest queries (what L1 pays for) the prover's memory allows
        assert (options.blowup, options.num_queries, options.folding_factor) == (32, 16, 8)
    elif log_rows <= 18:
        assert (options.blowup, options.num_queries, options.folding_factor) == (16, 20, 8)
    if log_rows <= 18:
        assert (options.grinding_bits, options.fri_max_remainder) == (22, 64)


def test_l1_options_refuse_what_they_cannot_serve() -> None:
    with pytest.raises(ValueError, match="power-of-two row count"):
        l1_options(L1_MAX_ROWS * 2)
    with pytest.raises(ValueError, match="power-of-two row count"):
        l1_options(100)


def test_l1_proof_verifies_at_100_bits() -> None:
    entry = get_air("wide")
    trace, pubs = entry.generate(256, columns=8)
    air = entry.build(256, pubs)
    proof = prove(air, trace, l1_options(256))
    result = verify(proof.to_bytes())
    assert result.security.conjectured >= 100
