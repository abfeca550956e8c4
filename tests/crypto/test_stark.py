"""STARK prover and verifier: honest proofs and tampering for every example AIR."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.crypto.airs import fibonacci, get_air, range_check, wide
from sealbatch.crypto.exceptions import ProofFormatError, VerificationError
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.fri import FriLayerProof
from sealbatch.crypto.merkle import BatchOpening
from sealbatch.crypto.options import ProofOptions
from sealbatch.crypto.proof import StarkProof
from sealbatch.crypto.prover import ProverTimings, prove
from sealbatch.crypto.verifier import verify, verify_proof
from tests.crypto.helpers import FAST, accepted_flips

CASES: dict[str, tuple[Callable[..., tuple[np.ndarray, tuple[int, ...]]], dict[str, int]]] = {
    "fibonacci": (fibonacci.generate, {}),
    "wide": (wide.generate, {"columns": 6}),
    "range_check": (range_check.generate, {}),
}


def _air_and_trace(name: str, rows: int) -> tuple[Air, np.ndarray]:
    generate, params = CASES[name]
    trace, pubs = generate(rows, **params)
    return get_air(name).build(rows, pubs), trace


@pytest.fixture(scope="module", params=sorted(CASES))
def fast_proof(request: pytest.FixtureRequest) -> tuple[str, StarkProof]:
    air, trace = _air_and_trace(request.param, 64)
    return request.param, prove(air, trace, FAST)


# ------------------------------------------------------------------- honest


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("rows", [8, 32])
def test_honest_proof_verifies_with_default_options(name: str, rows: int) -> None:
    air, trace = _air_and_trace(name, rows)
    timings = ProverTimings()
    data = prove(air, trace, timings=timings).to_bytes()
    result = verify(data)
    assert result.air_name == name and result.num_rows == rows
    assert result.public_inputs == air.public_inputs
    assert result.security.conjectured >= 100
    assert "FRI commit" in timings.stages
    assert verify(data, expected_air=name, expected_public_inputs=air.public_inputs)


def test_proofs_are_deterministic() -> None:
    air, trace = _air_and_trace("fibonacci", 16)
    assert prove(air, trace, FAST).to_bytes() == prove(air, trace, FAST).to_bytes()


def test_format_round_trip(fast_proof: tuple[str, StarkProof]) -> None:
    _, proof = fast_proof
    data = proof.to_bytes()
    assert StarkProof.from_bytes(data).to_bytes() == data
    verify(data, min_security_bits=0)


@pytest.mark.parametrize(
    "options",
    [
        ProofOptions(blowup=2, num_queries=10, folding_factor=2, fri_max_remainder=1),
        ProofOptions(blowup=16, num_queries=5, folding_factor=16),
        ProofOptions(blowup=8, num_queries=20, folding_factor=8, grinding_bits=0),
    ],
)
def test_other_options(options: ProofOptions) -> None:
    air, trace = _air_and_trace("fibonacci", 256)
    verify(prove(air, trace, options).to_bytes(), min_security_bits=0)


def test_degree_needs_blowup() -> None:
    air, trace = _air_and_trace("range_check", 16)  # a degree-3 boundary: 3 columns
    with pytest.raises(ValueError, match="raise the blowup"):
        prove(air, trace, ProofOptions(blowup=2, num_queries=10))


# ---------------------------------------------------------------- statement


@pytest.mark.parametrize("name", sorted(CASES))
def test_wrong_public_input(name: str) -> None:
    air, trace = _air_and_trace(name, 32)
    pubs = list(air.public_inputs)
    pubs[-1] = (pubs[-1] + 1) % P
    wrong = get_air(name).build(32, tuple(pubs))
    with pytest.raises(ConstraintViolation):
        prove(wrong, trace, FAST)  # the prover refuses
    proof = prove(air, trace, FAST)
    with pytest.raises(VerificationError):
        verify(replace(proof, public_inputs=tuple(pubs)).to_bytes(), min_security_bits=0)
    with pytest.raises(VerificationError, match="public inputs differ"):
        verify(proof.to_bytes(), expected_public_inputs=pubs, min_security_bits=0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_changed_trace_cell(name: str) -> None:
    air, trace = _air_and_trace(name, 32)
    bad = trace.copy()
    bad[0, 13] = (bad[0, 13] + 1) % P
    with pytest.raises(ConstraintViolation):
        prove(air, bad, FAST)
    # Skipping the check, the prover cannot make a low-degree composition; if it
    # ever emitted a proof, the verifier would reject it.
    try:
        proof = prove(air, bad, FAST, check=False)
    except (ValueError, ConstraintViolation):
        return
    with pytest.raises(VerificationError):
        verify_proof(air, proof, min_security_bits=0)


# ---------------------------------------------------------------- tampering


def _flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def _bump(a: np.ndarray, index: tuple[int, ...] | None = None) -> np.ndarray:
    out = a.copy()
    idx = index if index is not None else tuple(0 for _ in out.shape)
    out[idx] = (out[idx] + 1) % P
    return out


def _flip_opening(o: BatchOpening) -> BatchOpening:
    return BatchOpening((_flip(o.nodes[0]), *o.nodes[1:]))


def _tampered(proof: StarkProof) -> dict[str, StarkProof]:
    fri = proof.fri
    v: dict[str, StarkProof] = {
        "main root": replace(proof, main_root=_flip(proof.main_root)),
        "composition root": replace(proof, composition_root=_flip(proof.composition_root)),
        "OOD trace value": replace(proof, ood_frame=_bump(proof.ood_frame)),
        "OOD next-row value": replace(proof, ood_frame=_bump(proof.ood_frame, (-1, 2))),
        "OOD composition": replace(proof, ood_composition=_bump(proof.ood_composition)),
        "main rows": replace(proof, main_rows=_bump(proof.main_rows)),
        "main opening": replace(proof, main_opening=_flip_opening(proof.main_opening)),
        "composition rows": replace(proof, composition_rows=_bump(proof.composition_rows)),
        "composition opening": replace(
            proof, composition_opening=_flip_opening(proof.composition_opening)
        ),
        "remainder": replace(proof, fri=replace(fri, remainder=_bump(fri.remainder))),
        # the prover's nonce is the smallest that passes: the one before it never does
        "nonce": replace(proof, pow_nonce=proof.pow_nonce - 1 if proof.pow_nonce else 1),
        "options": replace(proof, options=replace(proof.options, num_queries=7)),
        "rows": replace(proof, num_rows=proof.num_rows * 2),
    }
    if proof.num_aux:
        v["aux root"] = replace(proof, aux_root=_flip(proof.aux_root))
        v["aux rows"] = replace(proof, aux_rows=_bump(proof.aux_rows))
        v["aux opening"] = replace(proof, aux_opening=_flip_opening(proof.aux_opening))
    for i, layer in enumerate(fri.layers):
        roots = list(fri.roots)
        roots[i] = _flip(roots[i])
        v[f"FRI root {i}"] = replace(proof, fri=replace(fri, roots=tuple(roots)))
        for what, new in (
            ("values", FriLayerProof(_bump(layer.rows), layer.opening)),
            ("last value", FriLayerProof(_bump(layer.rows, (-1, -1)), layer.opening)),
            ("opening", FriLayerProof(layer.rows, _flip_opening(layer.opening))),
        ):
            layers = list(fri.layers)
            layers[i] = new
            v[f"FRI layer {i} {what}"] = replace(proof, fri=replace(fri, layers=tuple(layers)))
    return v


def test_every_part_of_the_proof_is_checked(fast_proof: tuple[str, StarkProof]) -> None:
    name, proof = fast_proof
    variants = _tampered(proof)
    assert name in CASES
    assert len(proof.fri.layers) >= 1
    for what, bad in variants.items():
        with pytest.raises(VerificationError) as err:
            verify(bad.to_bytes(), min_security_bits=0)
        assert str(err.value), what


def test_garbage_and_truncation() -> None:
    air, trace = _air_and_trace("fibonacci", 16)
    data = prove(air, trace, FAST).to_bytes()
    for bad in (b"", b"nonsense", data[:-1], data + b"\x00", data[:40]):
        with pytest.raises(ProofFormatError):
            verify(bad, min_security_bits=0)
    with pytest.raises(VerificationError, match="expected a proof for AIR"):
        verify(data, expected_air="wide", min_security_bits=0)


def test_flipping_any_byte_fails() -> None:
    """Flip every byte of a small proof (fibonacci, 16 rows): each must be rejected."""
    air, trace = _air_and_trace("fibonacci", 16)
    data = prove(air, trace, FAST).to_bytes()
    assert accepted_flips(data, verify) == []


def test_verifier_never_imports_the_prover() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sealbatch.crypto.verifier\n"
        "from sealbatch.crypto.airs import available_airs, get_air\n"
        "for name in available_airs(): get_air(name)\n"
        "assert 'sealbatch.crypto.prover' not in sys.modules, 'verifier imported the prover'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("period", [1, 2, 8, 32])
def test_periodic_columns_end_to_end(period: int) -> None:
    """x' = x·k + c with k, c periodic; the prover's and verifier's periodic polynomials agree."""
    from sealbatch.crypto.air import Boundary, col, periodic, pub

    n = 32
    ks = [(3 * i + 2) % P for i in range(period)]
    cs = [(7 * i + 1) % P for i in range(period)]
    x = [5]
    for r in range(n - 1):
        x.append((x[-1] * ks[r % period] + cs[r % period]) % P)
    trace = np.array([x], dtype=np.uint64)
    a = col(0)

    def build(pubs: tuple[int, ...]) -> Air:
        return Air(
            "periodic-test",
            n,
            1,
            (a.next - (a * periodic(0) + periodic(1)),),
            (Boundary(0, a - 5), Boundary(-1, a - pub(0))),
            public_inputs=pubs,
            periodic_columns=(tuple(ks), tuple(cs)),
        )

    proof = prove(build((x[-1],)), trace, FAST)
    verify_proof(build((x[-1],)), proof, min_security_bits=0)
    with pytest.raises(VerificationError):
        verify_proof(
            build(((x[-1] + 1) % P,)),
            replace(proof, public_inputs=((x[-1] + 1) % P,)),
            min_security_bits=0,
        )
