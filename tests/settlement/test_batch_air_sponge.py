"""The sponge rows the batch AIR's digest sections share (``batch_air/framework.py``):
:func:`sponge_rows` is ``hash_elements`` one block per row, each section (inputs digest,
outputs digest, state headers) writes exactly those rows, and a capacity not carried
from the previous row is rejected by the section's chaining constraint."""

from __future__ import annotations

import numpy as np
import pytest

from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import RATE, WIDTH, hash_elements, permute_scalar
from sealbatch.settlement.batch_air.air import rows_for
from sealbatch.settlement.batch_air.framework import sponge_rows
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.roots import header_elements, pending_elements
from tests.settlement.batch_air_helpers import statement_of, transfer_batch_files
from tests.settlement.conftest import key

_SECTIONS = ("idig", "odig", "hdr")


def _reference_rows(elements: list[int]) -> list[tuple[list[int], list[int]]]:
    """The sponge's (input, output) per block, one scalar permutation at a time."""
    state = [0] * WIDTH
    state[RATE] = len(elements)
    rows = []
    for i in range(0, len(elements), RATE):
        state = [*elements[i : i + RATE], *state[RATE:]]
        out = permute_scalar(state)
        rows.append((state, out))
        state = out
    return rows


@pytest.mark.parametrize("blocks", [1, 2, 5])
def test_sponge_rows_are_hash_elements_one_block_per_row(blocks: int) -> None:
    rng = np.random.default_rng(blocks)
    elements = [int(v) for v in rng.integers(0, P, RATE * blocks)]
    ins, outs = sponge_rows(elements)
    assert ins.shape == outs.shape == (blocks, WIDTH)
    expected = _reference_rows(elements)
    assert [[int(v) for v in row] for row in ins] == [i for i, _ in expected]
    assert [[int(v) for v in row] for row in outs] == [o for _, o in expected]
    assert [int(v) for v in outs[-1, :RATE]] == [int(v) for v in hash_elements(elements)]
    # the two shapes a section passes (flat elements, (n, 8) blocks) are one sponge
    again = sponge_rows(np.array(elements, dtype=np.uint64).reshape(-1, RATE))
    assert np.array_equal(again[0], ins) and np.array_equal(again[1], outs)


def test_sponge_rows_refuse_a_partial_block() -> None:
    with pytest.raises(ValueError, match="expected a multiple of 8 elements, got 9"):
        sponge_rows(list(range(9)))


@pytest.fixture(scope="module")
def statement() -> BatchStatement:
    """A batch with deposits and a withdrawal: every sponge section has several rows."""
    return statement_of(transfer_batch_files([(key(0), 5_000), (key(1), 7)], [(key(2), 9)]))


@pytest.fixture(scope="module")
def proved(statement: BatchStatement) -> tuple[Air, np.ndarray]:
    return generate(statement, rows_for(statement))


def _sponges(statement: BatchStatement, section: str) -> list[list[int]]:
    """The elements of each sponge a section absorbs, in row order."""
    if section == "idig":
        return [[v for b in statement.input_blocks for v in b]]
    if section == "odig":
        return [[v for b in statement.output_blocks for v in b]]
    return [
        list(header_elements(statement.pre)),
        list(header_elements(statement.post)),
        list(pending_elements(statement.pre)),
        list(pending_elements(statement.post)),
    ]


@pytest.mark.parametrize("section", _SECTIONS)
def test_each_section_writes_the_sponge_rows_of_its_blocks(
    statement: BatchStatement, proved: tuple[Air, np.ndarray], section: str
) -> None:
    air, trace = proved
    names = air.column_names
    expected = [
        row for elements in _sponges(statement, section) for row in _reference_rows(elements)
    ]
    n = len(expected)
    assert n > 2
    ins = [[int(trace[names.index(f"{section}.b{k}"), r]) for k in range(RATE)] for r in range(n)]
    caps = [
        [int(trace[names.index(f"{section}.c{k}"), r]) for k in range(WIDTH - RATE)]
        for r in range(n)
    ]
    outs = [[int(trace[names.index(f"{section}.o{k}"), r]) for k in range(WIDTH)] for r in range(n)]
    assert [i + c for i, c in zip(ins, caps, strict=True)] == [i for i, _ in expected]
    assert outs == [o for _, o in expected]


@pytest.mark.parametrize("section", _SECTIONS)
def test_a_capacity_not_carried_from_the_previous_row_is_rejected(
    proved: tuple[Air, np.ndarray], section: str
) -> None:
    """A prover who restarts the sponge mid-way (absorbing later blocks under another
    capacity) breaks the section's capacity chaining on that row."""
    air, trace = proved
    names = air.column_names
    forged = trace.copy()
    column = names.index(f"{section}.c3")
    forged[column, 1] = (forged[column, 1] + 1) % P
    with pytest.raises(ConstraintViolation, match="capacity 3"):
        air.check_trace(forged)
