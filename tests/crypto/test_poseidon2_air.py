"""The Poseidon2 AIR: honest traces satisfy it, tampered traces and public inputs do not.

Known answer: the chain's first step permutes ``0, 1, ..., 15``, so row 1 of
an honest trace must hold the HorizenLabs BabyBear width-16 output for that
input, as published in Plonky3's ``baby-bear/src/poseidon2.rs`` test
``test_poseidon2_hl_width_16_range`` (see ``test_poseidon2.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from crypto.air import ArrayEvaluator, ConstraintViolation, col, evaluate
from crypto.airs import get_air
from crypto.airs import poseidon2_air as pa
from crypto.expr import degree, max_offset
from crypto.poseidon2 import WIDTH, P, permute

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


def test_gadget_outputs_equal_the_permutation() -> None:
    rng = np.random.default_rng(5)
    states = rng.integers(0, P, size=(8, WIDTH), dtype=np.uint64)
    first = 20  # anywhere: here after 16 input columns and 4 unused ones
    transitions, outputs = pa.permutation_constraints(first, [col(i) for i in range(WIDTH)])
    assert len(transitions) == pa.GADGET_COLUMNS
    assert all(degree(t.expr) == 3 and max_offset(t.expr) == 0 for t in transitions)
    assert all(degree(o) == 1 for o in outputs)
    main = np.zeros((first + pa.GADGET_COLUMNS, 8), dtype=np.uint64)
    main[:WIDTH] = states.T
    main[first:] = pa.permutation_columns(states)
    ev = ArrayEvaluator(
        column=lambda seg, i, off: np.roll(main[i], -off), periodic=lambda i: None, public_inputs=()
    )
    values = evaluate([t.expr for t in transitions] + outputs, ev)
    assert all(not np.any(v) for v in values[: len(transitions)])
    got = np.stack([np.broadcast_to(v, (8,)) for v in values[len(transitions) :]], axis=1)
    assert np.array_equal(got, permute(states))


def test_gadget_rejects_bad_arguments() -> None:
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


def test_build_rejects_wrong_public_input_count() -> None:
    with pytest.raises(ValueError, match="32 public inputs"):
        pa.build(16, (0,) * 31)
