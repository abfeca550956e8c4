"""The batch AIR: every section composed over one trace (both sides).

:func:`build` lays the sections out in a fixed order — the clearing book
(:mod:`.clearing`), then the settlement sections — and the framework adds
the range-check table and, when a section asks for permutations, the
Poseidon2 service (:mod:`.framework`). Prover and verifier call it with the
same statement, so both get the same columns, constraints and public tables.

Until a settlement section receives the ``TAG_FILL`` tuples, the verifier
receives them itself from the published fills (a public table), so the fills
the clearing side proves are the ones ``result.json`` publishes.
"""

from __future__ import annotations

from sealbatch.crypto.air import Air
from sealbatch.crypto.bus import PublicTable
from sealbatch.settlement.batch_air import clearing
from sealbatch.settlement.batch_air.framework import MIN_ROWS, TAG_FILL, AirBuilder, Layout
from sealbatch.settlement.batch_air.statement import BatchStatement

__all__ = ["NAME", "build", "build_with_layout", "rows_for"]

#: The batch AIR's name in proofs (``StarkProof.air_name``).
NAME = "sealbatch_batch"


def rows_for(statement: BatchStatement) -> int:
    """The trace length for a statement: the smallest power of two that holds it."""
    need = max(MIN_ROWS, len(statement.orders) + 1)  # at least one padding row
    return 1 << (need - 1).bit_length()


def build_with_layout(num_rows: int, statement: BatchStatement) -> tuple[Air, Layout]:
    """The batch AIR for ``statement`` and its column layout.

    Raises:
        ValueError: ``num_rows`` is not a power of two ``>= MIN_ROWS`` or too few
            for the statement.
    """
    if num_rows < rows_for(statement):
        raise ValueError(f"expected at least {rows_for(statement)} rows, got {num_rows}")
    b = AirBuilder(NAME, num_rows, statement.public_inputs)
    clearing.declare(b, statement)
    rows, mult = statement.fill_rows()
    b.public_table(PublicTable(TAG_FILL, rows, mult, receive=True))
    return b.finish()


def build(num_rows: int, statement: BatchStatement) -> Air:
    """The batch AIR for ``statement`` (see :func:`build_with_layout`)."""
    return build_with_layout(num_rows, statement)[0]
