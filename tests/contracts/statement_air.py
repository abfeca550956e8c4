"""A test AIR that takes the batch proof's public inputs and the tables the exchange derives.

The batch AIR's public inputs (docs/stark.md, "The batch AIR") are the batch
id (3 limbs), five digests of 8 elements, the market count, the commitment
count, eight values per market and the settlement statement (bound here
through the Fiat–Shamir transcript only); the exchange derives the bus's public
tables ``TAG_MARKET`` and ``TAG_CNODE`` from them
(:func:`sealbatch.settlement.anchor_exchange.derived_tables`). This AIR proves
nothing about a batch: its trace holds the public inputs in one column (with a
running sum beside it), and the rows of those tables in others, which it sends
to (and receives from) the bus so that the verifier's LogUp sum of the tables
closes. It exists so that the exchange's tests hand ``StarkVerifier.sol`` a
real STARK proof bound (through the Fiat–Shamir transcript, the boundary
constraints and the tables' sum) to exactly the public inputs and tables the
contract derives, fast, and see the verifier refuse a proof of any other
statement; the real batch proof is anchored by the slow tests. It is not
registered and ships nowhere; its generated evaluator sits in
``contracts/src/test/`` (``python -m tests.contracts.statement_air`` rewrites
it, ``tests/contracts/test_exchange.py`` checks it is current).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sealbatch.auction.commitment import market_code
from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, Boundary, Transition, col, pub
from sealbatch.crypto.bus import Bus
from sealbatch.crypto.field_scalar import Fp4, P
from sealbatch.crypto.solidity import compile_constraints, contract_name, render_contract
from sealbatch.settlement.anchor_exchange import derived_tables
from sealbatch.settlement.batch_air.commitments import TAG_CNODE
from sealbatch.settlement.batch_air.framework import TAG_MARKET
from sealbatch.settlement.batch_air.settle_witness import MarginTerms, MarketTerms, SettleStatement
from sealbatch.settlement.ledger import LedgerState, empty_state
from sealbatch.settlement.params import DEFAULT_CONFIG, SettlementConfig
from sealbatch.settlement.roots import state_root

NAME = "batch_statement_test"
MARKETS = 2
NUM_PUBLIC = 45 + 12 * MARKETS
ROWS = 128
SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "src" / "test"
#: The test markets' codes (the exchange's deployment takes the same).
CODES = tuple(market_code(m.market.market_id) for m in DEFAULT_CONFIG.markets)
# columns: v, s, the market tuple ×6 and its count, the node tuple ×10, root and empty flags
_V, _S, _MK, _MKN, _CN, _ROOT, _EMPTY = 0, 1, 2, 8, 9, 19, 20
_COLUMNS = 21


def _bus(public_inputs: Sequence[int]) -> Bus:
    bus = Bus(beta=0, public_sum=2)
    market = [col(_MK + k) for k in range(6)]
    node = [col(_CN + k) for k in range(10)]
    # a receive of −k sends k times: the trace sends what the verifier receives
    bus.receive(TAG_MARKET, market, -col(_MKN), "market rows")
    bus.receive(TAG_CNODE, node, -col(_ROOT), "the root")
    bus.receive(TAG_CNODE, node, col(_EMPTY), "the empty subtrees")
    for table in derived_tables(public_inputs, CODES):
        bus.add_public_table(table)
    return bus


def build(num_rows: int, public_inputs: tuple[int, ...]) -> Air:
    """The AIR: ``v[i] = pub(i)`` on the first rows, ``s' = s + v'`` with ``s[0] = v[0]``, and
    the derived tables' rows sent and received."""
    if len(public_inputs) < NUM_PUBLIC:
        raise ValueError(
            f"{NAME}: expected at least {NUM_PUBLIC} public inputs, got {len(public_inputs)}"
        )
    v, s = col(_V), col(_S)
    bus = _bus(public_inputs)
    layout = bus.build()

    def derive(drawn: Sequence[Fp4]) -> list[Fp4]:
        return [bus.public_table_sum(drawn)]

    def aux_builder(main: fld.Array, challenges: Sequence[Fp4]) -> fld.Array:
        return bus.aux_columns(main, challenges)

    return Air(
        name=NAME,
        num_rows=num_rows,
        num_main_columns=_COLUMNS,
        public_inputs=public_inputs,
        transitions=(Transition(s.next - (s + v.next), "s' = s + v'"), *layout.transitions),
        boundaries=(
            Boundary(0, s - v, "s[0] = v[0]"),
            *(Boundary(i, v - pub(i), f"v[{i}] = pub[{i}]") for i in range(NUM_PUBLIC)),
            *layout.boundaries,
        ),
        num_aux_columns=layout.num_aux_columns,
        num_challenges=bus.num_challenges,
        aux_builder=aux_builder,
        num_derived_challenges=1,
        derive_challenges=derive,
    )


def trace(num_rows: int, public_inputs: tuple[int, ...]) -> fld.Array:
    """The honest ``(21, num_rows)`` main trace for ``public_inputs``."""
    out = np.zeros((_COLUMNS, num_rows), dtype=np.uint64)
    out[_V, :NUM_PUBLIC] = public_inputs[:NUM_PUBLIC]
    out[_S] = (np.cumsum(out[_V].astype(object)) % P).astype(np.uint64)
    market, root, empty = derived_tables(public_inputs, CODES)
    for r, (row, count) in enumerate(zip(market.rows, market.multiplicities, strict=True)):
        out[_MK : _MK + 6, r] = row
        out[_MKN, r] = count
    nodes = [(row, _ROOT) for row in root.rows] + [(row, _EMPTY) for row in empty.rows]
    for r, (row, flag) in enumerate(nodes):
        out[_CN : _CN + 10, r] = row
        out[flag, r] = 1
    return out


def blank_inputs() -> tuple[int, ...]:
    """Public inputs of the harness's shape (two markets, the settlement statement of the
    test configuration), all zero but the market count: the program depends on their number,
    not their values."""
    genesis = empty_state(DEFAULT_CONFIG)
    settlement = settlement_elements(DEFAULT_CONFIG, genesis, genesis, state_root(genesis), 0, 0)
    pubs = [0] * (NUM_PUBLIC + len(settlement))
    pubs[43] = MARKETS
    return tuple(pubs)


def settlement_elements(
    config: SettlementConfig,
    pre: LedgerState,
    post: LedgerState,
    pre_root: bytes,
    deposits: int,
    withdrawals: int,
) -> tuple[int, ...]:
    """A settlement statement for ``pre → post`` that the contract accepts (its roots,
    multipliers, marks and derived digits; the test AIR proves nothing of it)."""
    st = SettleStatement(
        n_pre=len(pre.accounts),
        n_post=len(post.accounts),
        pre_root=digest(pre_root),
        post_root=digest(state_root(post)),
        has_adjustments=False,
        deposits=deposits,
        withdrawals=withdrawals,
        fee_pool_pre=pre.fee_pool,
        fee_pool_post=post.fee_pool,
        insurance_pre=pre.insurance_fund,
        insurance_post=post.insurance_fund,
        markets=tuple(
            MarketTerms(
                ms.last_price,
                m.multiplier,
                m.fee_bps,
                ms.funding_index - was.funding_index,
                m.liquidation_penalty_bps,
            )
            for m, ms, was in zip(
                config.markets, post.market_states, pre.market_states, strict=True
            )
        ),
        margins=tuple(
            MarginTerms(
                ms.mark_price,
                ms.index_price or ms.mark_price,
                ms.flagged,
                tuple((t.max_lots, t.maintenance_bps) for t in m.tiers),
                m.tiers[0].initial_bps,
            )
            for m, ms in zip(config.markets, post.market_states, strict=True)
        ),
    )
    return st.to_elements()


def digest(data: bytes) -> tuple[int, ...]:
    """A 32-byte digest as its 8 little-endian u32 elements."""
    return tuple(int(v) for v in np.frombuffer(data, dtype="<u4"))


def evaluator_path() -> Path:
    return SOURCE / f"{contract_name(NAME)}.sol"


def render() -> str:
    """The generated evaluator's Solidity source."""
    air = build(ROWS, blank_inputs())
    text = render_contract(compile_constraints(air), "tests/contracts/statement_air.py")
    return text.replace(
        "`make contracts` writes it", "`python -m tests.contracts.statement_air` writes it"
    )


if __name__ == "__main__":
    evaluator_path().write_text(render())
