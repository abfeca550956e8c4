"""A commitment's market bound by its leaf under the commitment root
(``compress(compress(commitment, [market code, 0×7]), [trader×7, bond])``,
docs/formats.md "Commitments"; ``batch_air/commitments.py``).

The waiver of a forfeit (``batch_air/waivers.py``) depends on its market: a forfeit in
a halted or frozen market is charged nothing. A forfeit is never revealed, so nothing
but its leaf ties the market its outputs-digest record names to the market its trader
signed. Each forgery publishes a batch whose files agree everywhere with the forged
market (settled and published by the operator that way); the prover refuses it naming
S8 completeness, and the AIR (``refuse=False``) rejects its trace on the bus: the
leaf the forged record sends is not the one under the root.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from unittest import mock

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.batch_air import statement as statement_module
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.commitments import HALF
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.errors import BatchStatementError
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch, reference_prices
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    PRICES,
    check_all,
    committed_batch,
    halted_btc_state,
    healthy_state,
    refused_and_rejected,
    statement_of,
)
from tests.settlement.conftest import ORACLE, TRADERS, oracle_round

_BTC_ORDERS = [
    (TRADERS[2], Order(BTC, Side.BUY, 650_010, 5)),
    (TRADERS[3], Order(BTC, Side.SELL, 649_990, 7)),
    (TRADERS[4], Order(BTC, Side.SELL, None, 3)),
]
_ETH_ORDERS = [
    (TRADERS[2], Order(ETH, Side.BUY, None, 2)),
    (TRADERS[3], Order(ETH, Side.SELL, 350_000, 1)),
    (TRADERS[4], Order(ETH, Side.SELL, 350_010, 4)),
]
_LATE = 1_000 + ORACLE.max_price_age_ms + 1


def _batch(
    state: LedgerState,
    orders: Sequence[tuple[Address, Order]],
    signed: str,
    published: str | None = None,
    ts: int = 1_000,
    leaf_markets: Mapping[int, str] | None = None,
) -> BatchStatement:
    """One batch over ``state`` with ``orders`` and TRADERS[0]'s forfeit, committed in
    (signed for) market ``signed`` and published under ``published``; ``leaf_markets``
    builds revealed orders' leaves under other markets (forgeries)."""
    batch = committed_batch(
        1,
        orders,
        reference_prices(state),
        forfeit_at=(1,),
        forfeit_markets=(signed,),
        published_markets={0: published} if published else None,
        leaf_markets=leaf_markets,
    )
    rnd = oracle_round(1, ts, PRICES)
    post, _ = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
    files = BatchPublication(batch, rnd, state, post).files(DEFAULT_CONFIG, ORACLE)
    if published is None and leaf_markets is None:
        return statement_of(files)
    # A forgery: the verifier recomputes the seed from the published leaves and refuses
    # it there; the AIR must refuse it too (Exchange.sol takes the root from its own
    # commitments, not from these files), so the statement is built without that check.
    with pytest.raises(BatchStatementError, match=r"result\.json seed: published"):
        statement_of(files)
    with mock.patch.object(statement_module, "_check_seed"):
        return statement_of(files)


def _refused_and_rejected(forged: BatchStatement) -> None:
    refused_and_rejected(forged, "S8 completeness", "bus")


@pytest.mark.parametrize(
    ("state", "orders", "signed", "ts", "charged"),
    [
        (healthy_state, _BTC_ORDERS + _ETH_ORDERS, BTC, 1_000, True),
        (healthy_state, _BTC_ORDERS + _ETH_ORDERS, ETH, 1_000, True),
        (halted_btc_state, _ETH_ORDERS, ETH, _LATE, True),
        (halted_btc_state, _ETH_ORDERS, BTC, _LATE, False),
    ],
    ids=["healthy BTC", "healthy ETH", "ETH beside halted BTC", "halted BTC"],
)
def test_the_honest_forfeit_is_proved_under_its_signed_market(
    state: Callable[[], LedgerState],
    orders: list[tuple[Address, Order]],
    signed: str,
    ts: int,
    charged: bool,
) -> None:
    """The forfeit's leaf binds the market its trader signed; the honest trace (the
    record's market code sent as the leaf's inner right half) satisfies the AIR, charged
    or waived as its real market says."""
    st = _batch(state(), orders, signed, ts=ts)
    ((_, charge),) = st.forfeit_charges
    assert (charge > 0) == charged
    rows = rows_for(st)
    air, trace = generate(st, rows)
    check_all(air, trace)
    _, layout = build_with_layout(rows, st)
    third = 1 + 2 * st.output_fills + 2
    code = st.forfeit_leaves[0][9]
    assert int(trace[layout.column("odig", "b7"), third]) == code


def test_a_forfeit_relabelled_to_a_halted_market_is_refused() -> None:
    """The operator publishes an ETH-PERP forfeit (a trading market: charged) as one in
    halted BTC-PERP, so the transition and the waiver section waive it — the trader keeps
    the bond the insurance fund is owed. Every file agrees with BTC-PERP; the leaf under
    the root says ETH-PERP."""
    honest = _batch(halted_btc_state(), _ETH_ORDERS, ETH, ts=_LATE)
    assert honest.forfeit_charges[0][1] > 0
    forged = _batch(halted_btc_state(), _ETH_ORDERS, ETH, published=BTC, ts=_LATE)
    assert forged.forfeit_charges[0][1] == 0  # waived, as a halted market's forfeit is
    assert forged.public_inputs[19:27] == honest.public_inputs[19:27]  # the same root
    _refused_and_rejected(forged)


def test_a_forfeit_relabelled_to_another_healthy_market_is_refused() -> None:
    """The same charge, another market: the record names ETH-PERP for a BTC-PERP
    commitment. Nothing is gained today, but the published market is the trader's."""
    honest = _batch(healthy_state(), _BTC_ORDERS + _ETH_ORDERS, BTC)
    forged = _batch(healthy_state(), _BTC_ORDERS + _ETH_ORDERS, BTC, published=ETH)
    assert forged.forfeit_charges == honest.forfeit_charges
    assert forged.public_inputs[19:27] == honest.public_inputs[19:27]
    _refused_and_rejected(forged)


def test_a_revealed_orders_leaf_under_another_market_is_refused() -> None:
    """A root built with a revealed BTC-PERP order's leaf under ETH-PERP: the AIR takes
    the order's market code from its commitment hash (the one it absorbed), so its leaf
    does not hash to the root."""
    honest = _batch(healthy_state(), _BTC_ORDERS + _ETH_ORDERS, BTC)
    forged = _batch(healthy_state(), _BTC_ORDERS + _ETH_ORDERS, BTC, leaf_markets={0: ETH})
    assert forged.public_inputs[19:27] != honest.public_inputs[19:27]
    _refused_and_rejected(forged)


def test_the_market_code_on_the_leafs_inner_row_is_bound_to_the_record() -> None:
    """Only the trace changes: the forfeit's inner compression row of the commitment tree
    takes another market code than the record sends (the row's permutation recomputed
    is not enough: its input must be what the record sends), so the bus is unbalanced."""
    st = _batch(healthy_state(), _BTC_ORDERS + _ETH_ORDERS, BTC)
    rows = rows_for(st)
    air, layout = build_with_layout(rows, st)
    _, trace = generate(st, rows)
    seq, code = st.forfeit_leaves[0][0], st.forfeit_leaves[0][9]
    inner = (trace[layout.column("ctree", "level")] == HALF) & (
        trace[layout.column("ctree", "idx")] == 2 * seq
    )
    (row,) = [int(i) for i in inner.nonzero()[0]]
    assert int(trace[layout.column("ctree", "r0"), row]) == code
    trace[layout.column("ctree", "r0"), row] = code + 1
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)
