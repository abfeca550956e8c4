"""The batch AIR: every section composed over one trace (both sides).

:func:`build` lays the sections out in a fixed order — the clearing book
(:mod:`.clearing`), then the settlement sections — and the framework adds
the range-check table and, when a section asks for permutations, the
Poseidon2 service (:mod:`.framework`). Prover and verifier call it with the
same statement, so both get the same columns, constraints and public tables.

Every filled order row of the book sends its id and its fill, keyed by the
fill's number, to the outputs digest's record of that fill (:mod:`.digests`,
which absorbs the fills ``result.json`` publishes into the sponge whose output
is the public outputs digest); each record sends its fill (``TAG_FILL``) on to
the settlement fills section, which settles each once. The inputs-digest
section (:mod:`.inputs_digest`) absorbs the published deposits, RFQ blocks and
withdrawals into the sponge whose output is the public inputs digest and
sends each transfer's amount to its account's row (``TAG_TRANSFERS``), and the
outputs digest's forfeit rows send each forfeit's charge the same way (as a
withdrawal); the adjustments (``TAG_ADJUST``) are a public table the verifier
derives from its replay of the published files.
The state headers and their pending orders are hashed in :mod:`.headers`,
which sends each header digest to its root row, receives the orders carried
in from the book and sends the post-state's liquidation orders to the staged
accounts. :mod:`.waivers` proves which forfeits are waived: from the halted
flags, the pre-state header's oracle flags and each forfeit's trader's
pre-state positions. :mod:`.marks` proves each market's post-state mark, premium and
last price from the headers, the clearing price and the mark terms; :mod:`.breaker` its
protective flag and calm counter (from the pre- and post-state indexes), which pick the
liquidation slice cap.
"""

from __future__ import annotations

from sealbatch.crypto.air import Air
from sealbatch.crypto.bus import PublicTable
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
    tiekeys,
    waivers,
)
from sealbatch.settlement.batch_air.commitments import node_count
from sealbatch.settlement.batch_air.framework import (
    MIN_ROWS,
    PERM_SLOT_MIN_ROWS,
    TAG_ADJUST,
    AirBuilder,
    Layout,
)
from sealbatch.settlement.batch_air.section import Section
from sealbatch.settlement.batch_air.settle_air import SettleColumns, rows_needed
from sealbatch.settlement.batch_air.settle_air import declare as declare_settlement
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
)

__all__ = ["NAME", "build", "build_with_layout", "declare_all", "perm_slots", "rows_for"]

#: The batch AIR's name in proofs (``StarkProof.air_name``).
NAME = "sealbatch_batch"


def _pow2(n: int) -> int:
    return 1 << (n - 1).bit_length()


def rows_for(statement: BatchStatement) -> int:
    """The trace length for a statement: the smallest power of two that holds it (its
    order rows, and the settlement sections' accounts, tree nodes and permutations).

    The Poseidon2 service does one permutation per row, or two (:func:`perm_slots`)
    where one would make the trace longer than ``PERM_SLOT_MIN_ROWS`` and two make it
    shorter."""
    rows, perms = _needs(statement)
    one = _pow2(max(rows, perms))
    if one <= PERM_SLOT_MIN_ROWS:
        return one
    return min(one, _pow2(max(rows, -(-perms // 2))))


def perm_slots(num_rows: int, statement: BatchStatement) -> int:
    """Permutations per row of the Poseidon2 service on a ``num_rows`` trace: 1, or 2
    when the statement's permutations outnumber the rows (both sides decide alike)."""
    return 1 if _needs(statement)[1] <= num_rows else 2


def _needs(statement: BatchStatement) -> tuple[int, int]:
    """The rows the sections need besides the Poseidon2 service, and its permutations."""
    settle = rows_needed(statement.settle, len(statement.settle_witness.fills))
    # every section shares the Poseidon2 service: the settlement's, the commitment tree's
    # the outputs digest's (whose block rows are followed by at least one other row), the
    # revealed orders' commitment hashes (four rows and permutations each) and the state
    # headers' (one per block, followed by at least one other row)
    blocks = digests.rows_needed(statement)
    inputs = inputs_digest.rows_needed(statement)
    hashes = commitment_hash.permutations(statement)
    # the state headers' block rows, then two rows per liquidation order id (liq_orders)
    header_rows = headers.rows_needed(statement) + liq_orders.id_rows(statement)
    # the tie-break keys of the marginal orders tied at their threshold (after the tree's nodes)
    ties = clearing.tied_count(statement)
    # and the post-state's account keys, sorted (after the tie-break keys)
    keys = node_count(statement) + ties + len(statement.post.accounts)
    perms = settle + node_count(statement) + ties + blocks + inputs + hashes + header_rows
    rows = max(
        MIN_ROWS,
        len(statement.orders) + 1,
        blocks + 1,
        inputs + 1,
        hashes,
        header_rows + 1,
        keys + 1,
    )
    return rows, perms


def build_with_layout(num_rows: int, statement: BatchStatement) -> tuple[Air, Layout]:
    """The batch AIR for ``statement`` and its column layout.

    Raises:
        ValueError: ``num_rows`` is not a power of two ``>= MIN_ROWS`` or too few
            for the statement.
    """
    if num_rows < rows_for(statement):
        raise ValueError(f"expected at least {rows_for(statement)} rows, got {num_rows}")
    air, layout, _, _ = declare_all(num_rows, statement)
    return air, layout


def declare_all(
    num_rows: int, statement: BatchStatement
) -> tuple[Air, Layout, Section, SettleColumns]:
    """Every section declared: the AIR, its layout and the settlement sections' columns."""
    b = AirBuilder(NAME, num_rows, statement.public_inputs)
    b.perm_slots = perm_slots(num_rows, statement)
    clearing.declare(b, statement)
    commitment_hash.declare(b)
    start = PUBLIC_HEADER + PUBLIC_PER_MARKET * len(statement.markets)
    # the state trees recompute the batch's own roots (public inputs 3–18)
    sec, settle_columns = declare_settlement(b, statement.settle, start, roots=3, publish=False)
    tiekeys.send_account_keys(b)  # each account's key to the sorted key rows
    digests.declare(b, statement)
    inputs_digest.declare(b, statement)
    headers.declare(b, statement)
    waivers.declare(b, statement, settle_columns.accounts, sec.row)
    marks.declare(b, statement)
    breaker.declare(b, statement)
    funding_rule.declare(b, statement, sec.row)
    liq_orders.declare(b, statement, settle_columns.accounts, sec.row)
    liq_slice.declare(b, statement)
    liq_slice.declare_slice(b, statement, settle_columns.accounts)
    sw = statement.settle_witness
    rows = sw.adjust_rows()
    b.public_table(PublicTable(TAG_ADJUST, rows, (1,) * len(rows), receive=False))
    air, layout = b.finish()
    return air, layout, sec, settle_columns


def build(num_rows: int, statement: BatchStatement) -> Air:
    """The batch AIR for ``statement`` (see :func:`build_with_layout`)."""
    return build_with_layout(num_rows, statement)[0]
