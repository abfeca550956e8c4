"""The Poseidon2 AIR: honest traces satisfy it and prove; tampering is refused or rejected.

Constraint level (``Air.check_trace``) and end to end (``sealbatch.crypto.prover.prove``
then ``sealbatch.crypto.verifier.verify``): an honest proof verifies; a changed trace
cell or a wrong public input makes the prover refuse, and a proof forced
through anyway (``check=False``) is rejected; altered proof parts and flipped
proof bytes are rejected.

Known answer: the chain's first step permutes ``0, 1, ..., 15``, so row 1 of
an honest trace must hold the HorizenLabs BabyBear width-16 output for that
input, as published in Plonky3's ``baby-bear/src/poseidon2.rs`` test
``test_poseidon2_hl_width_16_range`` (see ``test_poseidon2.py``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import ArrayEvaluator, ConstraintViolation, col, evaluate
from sealbatch.crypto.airs import get_air
from sealbatch.crypto.airs import poseidon2_air as pa
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.expr import degree, max_offset
from sealbatch.crypto.poseidon2 import WIDTH, P, permute
from sealbatch.crypto.proof import StarkProof
from sealbatch.crypto.prover import prove
from sealbatch.crypto.verifier import verify
from tests.crypto.test_stark import FAST, _tampered

HL_RANGE_OUTPUT = [
    896560466, 771677727, 128113032, 1378976435, 160019712, 1452738514, 682850273, 223500421,
    501450187, 1804685789, 1671399593, 1788755219, 1736880027, 1352180784, 1928489698, 1128802977,
]  # fmt: skip


@pytest.fixture(scope="module")
def honest() -> tuple[np.ndarray, tuple[int, ...]]:
    return pa.generate(16)


def test_registered_under_its_name() -> None:
    entry = get_air("poseidon2")
    assert entry.build is pa.build and entry.generate is pa.generate


def test_shape_and_degree(honest: tuple[np.ndarray, tuple[int, ...]]) -> None:
    trace, public = honest
    air = pa.build(16, public)
    assert trace.shape == (pa.NUM_COLUMNS, 16) == (298, 16)
    assert len(public) == 32
    assert air.max_degree() == 3
    assert len(air.transition_list) == pa.GADGET_COLUMNS + WIDTH
    assert len(air.boundaries) == 2 * WIDTH
    assert air.periodic_columns == ()
    assert len(air.column_names) == pa.NUM_COLUMNS


def test_honest_trace_satisfies_the_air(honest: tuple[np.ndarray, tuple[int, ...]]) -> None:
    trace, public = honest
    pa.build(16, public).check_trace(trace)


def test_honest_trace_is_the_published_permutation(
    honest: tuple[np.ndarray, tuple[int, ...]],
) -> None:
    trace, public = honest
    assert trace[:WIDTH, 0].tolist() == list(range(16))
    assert trace[:WIDTH, 1].tolist() == HL_RANGE_OUTPUT
    # The last public inputs are P^16(0..15), computed independently here.
    x = np.arange(16, dtype=np.uint64)
    for _ in range(16):
        x = permute(x)
    assert list(public[WIDTH:]) == x.tolist()


def test_random_start_and_longer_chain() -> None:
    rng = np.random.default_rng(11)
    start = rng.integers(0, P, size=WIDTH).tolist()
    trace, public = pa.generate(64, start=start)
    assert list(public[:WIDTH]) == start
    pa.build(64, public).check_trace(trace)


@pytest.mark.parametrize(("sbox_degree", "width"), [(3, 282), (7, 141)])
def test_gadget_outputs_equal_the_permutation(sbox_degree: int, width: int) -> None:
    rng = np.random.default_rng(5)
    states = rng.integers(0, P, size=(8, WIDTH), dtype=np.uint64)
    first = 20  # anywhere: here after 16 input columns and 4 unused ones
    transitions, outputs = pa.permutation_constraints(
        first, [col(i) for i in range(WIDTH)], sbox_degree=sbox_degree
    )
    assert pa.gadget_columns(sbox_degree) == width == len(pa.column_names(sbox_degree))
    assert len(transitions) == (pa.GADGET_COLUMNS if sbox_degree == 3 else width)
    assert all(degree(t.expr) == sbox_degree and max_offset(t.expr) == 0 for t in transitions)
    assert all(degree(o) == 1 for o in outputs)
    main = np.zeros((first + width, 8), dtype=np.uint64)
    main[:WIDTH] = states.T
    main[first:] = pa.permutation_columns(states, sbox_degree=sbox_degree)
    ev = ArrayEvaluator(
        column=lambda seg, i, off: np.roll(main[i], -off),
        periodic=lambda i: np.zeros(8, np.uint64),  # the gadget reads none
        public_inputs=(),
    )
    values = evaluate([t.expr for t in transitions] + outputs, ev)
    assert all(not np.any(v) for v in values[: len(transitions)])
    got = np.stack([np.broadcast_to(v, (8,)) for v in values[len(transitions) :]], axis=1)
    assert np.array_equal(got, permute(states))


def test_degree_7_gadget_rejects_a_wrong_sbox_output() -> None:
    """One S-box output changed (full round 2, element 5): its ``y = a^7`` fails, and the
    next round's constraints see a different state."""
    rng = np.random.default_rng(9)
    states = rng.integers(0, P, size=(4, WIDTH), dtype=np.uint64)
    transitions, _ = pa.permutation_constraints(
        WIDTH, [col(i) for i in range(WIDTH)], sbox_degree=7
    )
    main = np.vstack([states.T, pa.permutation_columns(states, sbox_degree=7)])
    main[WIDTH + 2 * WIDTH + 5, 1] = (main[WIDTH + 2 * WIDTH + 5, 1] + 1) % P
    ev = ArrayEvaluator(
        column=lambda seg, i, off: main[i],
        periodic=lambda i: np.zeros(4, np.uint64),
        public_inputs=(),
    )
    values = evaluate([t.expr for t in transitions], ev)
    failing = [t.name for t, v in zip(transitions, values, strict=True) if np.any(v)]
    assert failing[0] == "full round 2, element 5: y = a^7"
    assert any(name.startswith("full round 3") for name in failing)


def test_gadget_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="3 or 7"):
        pa.gadget_columns(5)
    with pytest.raises(ValueError, match="16 input"):
        pa.permutation_constraints(16, [col(0)] * 15)
    with pytest.raises(ValueError):
        pa.permutation_constraints(-1, [col(i) for i in range(WIDTH)])
    with pytest.raises(ValueError):
        pa.permutation_columns(np.zeros((4, 15), dtype=np.uint64))


# --- tampering -----------------------------------------------------------------

# (column, row) cells: inputs mid-chain, first and last row, S-box cubes and
# outputs of the first and last full rounds, partial rounds, the last column.
CELLS = [
    (0, 0),
    (7, 5),
    (15, 15),
    (WIDTH, 3),  # x3 of full round 0, element 0
    (WIDTH + 31, 0),  # y of full round 0, element 15
    (WIDTH + 32 * 3 + 20, 9),  # y of full round 3, element 4
    (WIDTH + 256, 4),  # x3 of partial round 0
    (WIDTH + 256 + 13, 15),  # y of partial round 6
    (WIDTH + 32 * 7 + 5, 15),  # x3 of full round 7 on the last row
    (pa.NUM_COLUMNS - 1, 8),  # y of the last partial round
]


@pytest.mark.parametrize(("column", "row"), CELLS)
def test_one_changed_cell_is_caught(
    honest: tuple[np.ndarray, tuple[int, ...]], column: int, row: int
) -> None:
    trace, public = honest
    bad = trace.copy()
    bad[column, row] = (bad[column, row] + 1) % P
    with pytest.raises(ConstraintViolation):
        pa.build(16, public).check_trace(bad)


@pytest.mark.parametrize("index", [0, 9, WIDTH, WIDTH + 15])
def test_wrong_public_input_is_caught(
    honest: tuple[np.ndarray, tuple[int, ...]], index: int
) -> None:
    trace, public = honest
    wrong = list(public)
    wrong[index] = (wrong[index] + 1) % P
    with pytest.raises(ConstraintViolation, match="boundary"):
        pa.build(16, tuple(wrong)).check_trace(trace)


def test_consistent_forgery_of_one_row_breaks_the_chain(
    honest: tuple[np.ndarray, tuple[int, ...]],
) -> None:
    """Replace row 5 by an honest permutation of another input: the row is
    internally valid, so only the chain constraints can catch it."""
    trace, public = honest
    bad = trace.copy()
    other = (trace[:WIDTH, 5] + 1) % P
    bad[:WIDTH, 5] = other
    bad[WIDTH:, 5] = pa.permutation_columns(other[None, :])[:, 0]
    with pytest.raises(ConstraintViolation, match="transition"):
        pa.build(16, public).check_trace(bad)


def test_build_and_generate_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="32 public inputs"):
        pa.build(16, (0,) * 31)
    with pytest.raises(ValueError, match="power of two"):
        pa.build(24, (0,) * 32)
    with pytest.raises(ValueError, match="start state"):
        pa.generate(8, start=[0] * 15)
    with pytest.raises(ValueError, match="start state"):
        pa.generate(8, start=[P] + [0] * 15)


# --- end to end: prover and verifier ---------------------------------------------


E2E_ROWS = 64  # enough rows for FRI to fold at least once with the default options


@pytest.fixture(scope="module")
def honest64() -> tuple[np.ndarray, tuple[int, ...]]:
    return pa.generate(E2E_ROWS)


@pytest.fixture(scope="module")
def proved(honest64: tuple[np.ndarray, tuple[int, ...]]) -> tuple[StarkProof, bytes]:
    trace, public = honest64
    proof = prove(pa.build(E2E_ROWS, public), trace)
    assert proof.fri.roots, "expected at least one FRI layer"
    return proof, proof.to_bytes()


def test_honest_proof_verifies(
    honest64: tuple[np.ndarray, tuple[int, ...]], proved: tuple[StarkProof, bytes]
) -> None:
    _, public = honest64
    _, data = proved
    result = verify(data, expected_air="poseidon2", expected_public_inputs=public)
    assert result.air_name == "poseidon2"
    assert result.num_rows == E2E_ROWS
    assert result.public_inputs == public


def test_proof_is_deterministic(
    honest64: tuple[np.ndarray, tuple[int, ...]], proved: tuple[StarkProof, bytes]
) -> None:
    trace, public = honest64
    assert prove(pa.build(E2E_ROWS, public), trace).to_bytes() == proved[1]


def test_prover_refuses_a_changed_cell(honest64: tuple[np.ndarray, tuple[int, ...]]) -> None:
    trace, public = honest64
    bad = trace.copy()
    bad[WIDTH + 40, 7] = (bad[WIDTH + 40, 7] + 1) % P
    with pytest.raises(ConstraintViolation):
        prove(pa.build(E2E_ROWS, public), bad)


def test_prover_refuses_a_wrong_public_input(honest64: tuple[np.ndarray, tuple[int, ...]]) -> None:
    trace, public = honest64
    wrong = (*public[:-1], (public[-1] + 1) % P)
    with pytest.raises(ConstraintViolation, match="boundary"):
        prove(pa.build(E2E_ROWS, wrong), trace)


@pytest.mark.parametrize(
    ("column", "row"), [(3, 9), (WIDTH + 100, 2), (pa.NUM_COLUMNS - 1, E2E_ROWS - 1)]
)
def test_verifier_rejects_a_proof_of_a_changed_cell(
    honest64: tuple[np.ndarray, tuple[int, ...]], column: int, row: int
) -> None:
    trace, public = honest64
    bad = trace.copy()
    bad[column, row] = (bad[column, row] + 1) % P
    data = prove(pa.build(E2E_ROWS, public), bad, check=False).to_bytes()  # skip the prover's check
    with pytest.raises(VerificationError):
        verify(data)


def test_verifier_rejects_a_proof_of_a_false_statement(
    honest64: tuple[np.ndarray, tuple[int, ...]],
) -> None:
    """A proof for a claimed output the trace does not reach."""
    trace, public = honest64
    wrong = (*public[:WIDTH], *[(v + 1) % P for v in public[WIDTH:]])
    data = prove(pa.build(E2E_ROWS, wrong), trace, check=False).to_bytes()
    with pytest.raises(VerificationError):
        verify(data)


def test_verifier_rejects_unexpected_public_inputs(
    honest64: tuple[np.ndarray, tuple[int, ...]], proved: tuple[StarkProof, bytes]
) -> None:
    _, public = honest64
    wrong = (*public[:-1], (public[-1] + 1) % P)
    with pytest.raises(VerificationError):
        verify(proved[1], expected_public_inputs=wrong)
    with pytest.raises(VerificationError):
        verify(proved[1], expected_air="fibonacci")


@pytest.fixture(scope="module")
def fast_proved(honest64: tuple[np.ndarray, tuple[int, ...]]) -> tuple[StarkProof, bytes]:
    """A proof with the engine tests' small options (verified with min_security_bits=0)."""
    trace, public = honest64
    proof = prove(pa.build(E2E_ROWS, public), trace, FAST)
    verify(proof.to_bytes(), min_security_bits=0)
    return proof, proof.to_bytes()


def test_verifier_rejects_every_altered_part(fast_proved: tuple[StarkProof, bytes]) -> None:
    """The engine's generic tamper set (roots, OOD values, opened rows, openings,
    FRI layers, remainder, nonce, options, rows) plus the public inputs."""
    proof = fast_proved[0]
    variants = _tampered(proof)
    pubs = (*proof.public_inputs[:-1], (proof.public_inputs[-1] + 1) % P)
    variants["public input"] = replace(proof, public_inputs=pubs)
    assert "FRI root 0" in variants and "OOD next-row value" in variants
    for what, bad in variants.items():
        with pytest.raises(VerificationError):
            verify(bad.to_bytes(), min_security_bits=0)
            pytest.fail(f"altered {what} was accepted")


def test_verifier_rejects_flipped_bytes(fast_proved: tuple[StarkProof, bytes]) -> None:
    data = fast_proved[1]
    positions = sorted({*range(0, len(data), max(1, len(data) // 24)), len(data) - 1})
    for pos in positions:
        bad = bytearray(data)
        bad[pos] ^= 0x04
        with pytest.raises(VerificationError):
            verify(bytes(bad), min_security_bits=0)
            pytest.fail(f"flipped byte {pos} was accepted")
    for cut in (data[:-1], data + b"\x00"):
        with pytest.raises(VerificationError):
            verify(cut, min_security_bits=0)
