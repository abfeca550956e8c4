"""The batch AIR's trace generator (prover side).

:func:`generate` lays a statement's witness out over the layout
:func:`~sealbatch.settlement.batch_air.air.build_with_layout` gives: each
section writes its columns, then the framework's services theirs. A published
batch that breaks a statement raises here, naming it, before any proving.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.air import Air
from sealbatch.settlement.batch_air import (
    breaker,
    clearing,
    commitment_hash,
    digests,
    funding_rule,
    headers,
    inputs_digest,
    liq_orders,
    liq_slice,
    marks,
    waivers,
)
from sealbatch.settlement.batch_air.air import declare_all
from sealbatch.settlement.batch_air.framework import TraceBuilder
from sealbatch.settlement.batch_air.settle_air import write_trace
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.errors import BatchStatementError

__all__ = ["generate"]


def generate(
    statement: BatchStatement, num_rows: int, *, refuse: bool = True
) -> tuple[Air, npt.NDArray[np.uint64]]:
    """The batch AIR and an honest main trace for ``statement``.

    ``refuse=False`` writes what it can of a broken statement instead of
    raising (the forgery tests use it to show that the AIR rejects the trace).

    Raises:
        BatchStatementError: the published batch breaks a statement (named).
    """
    air, layout, sec, settle_columns = declare_all(num_rows, statement)
    tb = TraceBuilder(layout, num_rows, refuse=refuse)
    try:
        clearing.generate(tb, statement, refuse=refuse)
        write_trace(
            tb, sec, settle_columns, statement.settle, statement.settle_witness, refuse=refuse
        )
        digests.generate(tb, statement, refuse=refuse)
        inputs_digest.generate(tb, statement, refuse=refuse)
        commitment_hash.generate(tb, statement, statement.orders, refuse)
        headers.generate(tb, statement, refuse=refuse)
        liq_orders.generate_ids(tb, statement)  # in the headers' columns
        waivers.generate(tb, statement, refuse=refuse)
        marks.generate(tb, statement, refuse=refuse)
        breaker.generate(tb, statement, refuse=refuse)
        funding_rule.generate(tb, statement, refuse=refuse)
        liq_orders.generate(tb, statement, refuse=refuse)
        liq_slice.generate(tb, statement)
        liq_slice.generate_slice(tb, statement, refuse=refuse)
        trace = tb.finish()
    except ValueError as exc:
        raise BatchStatementError(f"the batch breaks its statement: {exc}") from exc
    return air, trace
