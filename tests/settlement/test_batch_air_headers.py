"""The state headers hashed in the batch AIR (``batch_air/headers.py``): both headers and
their pending orders are recomputed from witness values under the public roots; the orders
carried in are the pre-state's pending orders, the staged accounts the post-state's
liquidation orders, and the post header's fields are the statement's. Each forgery is
refused by the prover and rejected by the AIR (``refuse=False``), naming the statement."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import hash_elements
from sealbatch.settlement import transition
from sealbatch.settlement.batch_air import headers
from sealbatch.settlement.batch_air import statement as statement_module
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.commitments import TAG_CNODE
from sealbatch.settlement.batch_air.framework import TAG_CARRIED, TAG_MARKET, TAG_STAGED
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
)
from sealbatch.settlement.errors import BatchStatementError
from sealbatch.settlement.params import DEFAULT_CONFIG, SettlementConfig
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.roots import header_blocks, header_elements, pending_orders
from sealbatch.settlement.transition import apply_batch, reference_prices
from sealbatch.venue.demo import DemoConfig, demo_oracle, demo_settlement_config, run_demo
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    check_all,
    column,
    committed_batch,
    refused_and_rejected,
    settle_public_at,
    statement_of,
    with_public,
)
from tests.settlement.conftest import ORACLE, TRADERS, funded, make_batch, oracle_round

PRICES = {BTC: 650_000, ETH: 350_000}


@pytest.fixture(scope="module")
def demo_runs() -> tuple[list[Any], SettlementConfig, Any]:
    """The four demo batches with their settlement config and oracle."""
    config = DemoConfig()
    settle, (oracle, _) = demo_settlement_config(config), demo_oracle(config.seed)
    return list(run_demo(config)), settle, oracle


@pytest.fixture(scope="module")
def demo(demo_runs: tuple[list[Any], SettlementConfig, Any]) -> list[BatchStatement]:
    """The statements of the four demo batches: batch 3 stages a liquidation order, batch
    4 carries it in with GTC rests and leaves rests for batch 5."""
    runs, settle, oracle = demo_runs
    return [
        statement_of(
            BatchPublication(b.result, b.oracle_round, b.pre_state, b.post_state).files(
                settle, oracle
            )
        )
        for b in runs
    ]


@pytest.fixture(scope="module")
def carried(demo: list[BatchStatement]) -> BatchStatement:
    st = demo[3]
    kinds = {liq for _, _, liq in pending_orders(st.pre)}
    assert kinds == {True, False} and sum(not o.revealed for o in st.orders) >= 2
    return st


@pytest.fixture(scope="module")
def staged(demo: list[BatchStatement]) -> tuple[BatchStatement, Air, np.ndarray]:
    st = demo[2]
    assert st.post.pending_liquidations and st.settle_witness.staged
    air, trace = generate(st, rows_for(st))
    return st, air, trace


def _refused_and_rejected(forged: BatchStatement, refused: str, rejected: str = "bus") -> None:
    refused_and_rejected(forged, refused, rejected)


def test_the_headers_and_pending_orders_are_hashed_in_the_air(
    carried: BatchStatement,
) -> None:
    st = carried
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
    # the header digests are witness values the section computes, not public inputs
    h = header_blocks(len(st.markets))
    out = [column(air, f"hdr.o{k}") for k in range(8)]
    for t, state in ((0, st.pre), (1, st.post)):
        digest = [int(trace[c, (t + 1) * h - 1]) for c in out]
        assert digest == [int(x) for x in hash_elements(header_elements(state))]
        assert not set(digest) & set(st.public_inputs[44 + 7 * len(st.markets) :])
    # the verifier's tables of carried-in orders and staged accounts are gone
    tags = {t.tag for t in build_with_layout(rows_for(st), st)[1].public_tables}
    assert TAG_CARRIED not in tags and TAG_STAGED not in tags
    # each carried book row is received by one pre-state record row
    r2 = trace[column(air, "hdr.r2")] * (1 - trace[column(air, "hdr.tree")])
    assert int(r2.sum()) == len(pending_orders(st.pre)) == sum(not o.revealed for o in st.orders)


def _carried_row(st: BatchStatement, filled: bool = False) -> int:
    """Index in ``st.orders`` of a carried-in order (unfilled unless ``filled``)."""
    return next(i for i, o in enumerate(st.orders) if not o.revealed and (o.fill > 0) == filled)


@pytest.mark.parametrize(
    "change",
    [
        lambda o: replace(o, order_id=bytes(31) + b"\x01"),  # an order the pre-state lacks
        lambda o: replace(o, quantity=o.quantity + 1),
        lambda o: replace(o, reduce_only=1 - o.reduce_only),
    ],
    ids=["not-pending", "other-quantity", "other-flags"],
)
def test_a_carried_order_that_is_not_a_pending_one_is_caught(
    carried: BatchStatement, change: object
) -> None:
    """The operator carries in an order the pre-state root does not hold, or one of its
    pending orders with other fields: no pre-state record receives the book row."""
    st = carried
    i = _carried_row(st)
    orders = list(st.orders)
    orders[i] = change(orders[i])  # type: ignore[operator]
    # a changed quantity also changes the remainder the order rests with (rests)
    _refused_and_rejected(replace(st, orders=tuple(orders)), "carried", r"bus|rests")


def test_a_carried_order_with_another_limit_is_caught(carried: BatchStatement) -> None:
    st = carried
    i = _carried_row(st)
    o = st.orders[i]
    assert o.has_limit
    step = 1 if o.is_buy == 0 else -1  # a sell asks more, a buy bids less: still unfilled
    orders = list(st.orders)
    orders[i] = replace(o, limit=o.limit + step)
    _refused_and_rejected(replace(st, orders=tuple(orders)), "carried")


def test_a_carried_order_on_another_account_is_caught(carried: BatchStatement) -> None:
    """The pending order's trader is looked up on the account row the book row names."""
    st = carried
    i = _carried_row(st)
    o = st.orders[i]
    other = (o.account + 1) % st.post.size
    orders = list(st.orders)
    orders[i] = replace(o, account=other)
    _refused_and_rejected(replace(st, orders=tuple(orders)), "carried")


def test_a_dropped_pending_order_is_caught(carried: BatchStatement) -> None:
    """The operator leaves a pending order out of the book: its record receives nothing."""
    st = carried
    i = _carried_row(st)
    o = st.orders[i]
    orders = st.orders[:i] + st.orders[i + 1 :]
    counts = list(st.order_counts)
    counts[o.market] -= 1
    forged = replace(st, orders=orders, order_counts=tuple(counts))
    _refused_and_rejected(forged, "carried")


def test_a_pending_order_claimed_held_is_caught(carried: BatchStatement) -> None:
    """A pre-state record claimed held while its market trades (no market is halted): its
    held flag is its market's halted flag; a post-state record cannot be held at all."""
    st = carried
    assert not st.halted
    air, honest = generate(st, rows_for(st))
    r2, tree = honest[column(air, "hdr.r2")], honest[column(air, "hdr.tree")]
    pre_row = int(np.flatnonzero(r2 * (1 - tree))[0])
    trace = honest.copy()
    trace[column(air, "hdr.held"), pre_row] = 1
    with pytest.raises(ConstraintViolation, match="held: a pending order is held exactly"):
        check_all(air, trace)
    post_row = int(np.flatnonzero(r2 * tree)[0])
    trace = honest.copy()
    trace[column(air, "hdr.held"), post_row] = 1
    with pytest.raises(ConstraintViolation, match="carried: only a pre-state record is held"):
        check_all(air, trace)


def test_a_market_claimed_halted_is_caught(carried: BatchStatement) -> None:
    """The operator claims a trading market halted, to hold its pending orders back: the
    market's last trusted index is not older than ``max_price_age_ms`` at the batch's time,
    so its halted flag cannot be 1 (the batch's forfeit, charged, would also have to be
    waived in a halted market: statement 3 may catch the flag first)."""
    st = carried
    forged = replace(st, halted=st.markets)
    with pytest.raises(BatchStatementError, match="held: BTC-PERP is halted"):
        generate(forged, rows_for(forged))
    air, trace = generate(forged, rows_for(forged), refuse=False)
    caught = "halted: market 0's age|statement 3: a forfeit is waived exactly"
    with pytest.raises(ConstraintViolation, match=caught):
        check_all(air, trace)


@pytest.fixture(scope="module")
def halted() -> BatchStatement:
    """Batch 1 leaves a GTC bid resting in BTC-PERP; batch 2 settles after every index
    is older than ``max_price_age_ms``: both markets are halted and the rest is held."""
    return _held_batch(
        [
            (TRADERS[0], Order(BTC, Side.BUY, 650_000, 10, TimeInForce.GTC)),
            (TRADERS[1], Order(BTC, Side.SELL, 650_000, 4)),
        ]
    )


def _held_batch(
    orders: list[tuple[Any, Order]], rests: Callable[[Any], Any] | None = None
) -> BatchStatement:
    """Batch 1 clears ``orders`` and leaves one GTC rest; batch 2 is halted and holds it,
    published with the post-state's rests ``rests(rest)`` (default: as settled)."""
    pre = funded([10**11, 10**11])
    mid, _ = apply_batch(pre, make_batch(1, orders), oracle_round(1, 1_000, PRICES),
                         DEFAULT_CONFIG, ORACLE)  # fmt: skip
    assert len(mid.resting_orders) == 1
    late = oracle_round(2, 1_000 + ORACLE.max_price_age_ms + 1, PRICES)
    batch = committed_batch(2, [], reference_prices(mid))
    post, _ = apply_batch(mid, batch, late, DEFAULT_CONFIG, ORACLE)
    assert post.resting_orders == mid.resting_orders
    if rests is not None:
        post = replace(post, resting_orders=tuple(rests(r) for r in post.resting_orders))
    st = statement_of(BatchPublication(batch, late, mid, post).files(DEFAULT_CONFIG, ORACLE))
    assert st.halted == (BTC, ETH)
    return st


def test_a_halted_markets_pending_orders_are_held_without_a_verifier_table(
    halted: BatchStatement,
) -> None:
    st = halted
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
    assert [int(trace[column(air, f"hdr.halted{j}"), 0]) for j in range(2)] == [1, 1]
    r2, tree = trace[column(air, "hdr.r2")], trace[column(air, "hdr.tree")]
    pre_rows = np.flatnonzero(r2 * (1 - tree))
    assert len(pre_rows) == 1 and int(trace[column(air, "hdr.held"), pre_rows[0]]) == 1
    # the shape is a batch's without a halted market: only the derived tables
    tags = {t.tag for t in build_with_layout(rows_for(st), st)[1].public_tables if t.rows}
    assert tags <= {TAG_MARKET, TAG_CNODE}


def test_a_halted_market_claimed_trading_is_caught(halted: BatchStatement) -> None:
    """The operator claims a halted market trades (to carry its pending orders into a
    book that may not trade): its index is too old, so its halted flag is 1 and its
    pending order is held, not received by a book row."""
    st = halted
    forged = replace(st, halted=(ETH,))
    with pytest.raises(BatchStatementError, match="held: BTC-PERP is not halted"):
        generate(forged, rows_for(forged))
    air, trace = generate(forged, rows_for(forged), refuse=False)
    with pytest.raises(ConstraintViolation, match="halted: market 0's age"):
        check_all(air, trace)
    # the held order carried anyway: the flag says held
    air, honest = generate(st, rows_for(st))
    r2, tree = honest[column(air, "hdr.r2")], honest[column(air, "hdr.tree")]
    trace = honest.copy()
    trace[column(air, "hdr.held"), int(np.flatnonzero(r2 * (1 - tree))[0])] = 0
    with pytest.raises(ConstraintViolation, match="held: a pending order is held exactly"):
        check_all(air, trace)


def test_the_price_age_is_a_constant_of_the_air(halted: BatchStatement) -> None:
    """``max_price_age_ms`` is the AIR's, not the prover's: a longer one would make the
    markets trade (and the rest be carried in), and the same trace fails under it."""
    st = halted
    forged = replace(st, max_price_age_ms=st.max_price_age_ms + 10)
    with pytest.raises(BatchStatementError, match="held: BTC-PERP is halted"):
        generate(forged, rows_for(forged))
    air, trace = generate(forged, rows_for(forged), refuse=False)
    with pytest.raises(ConstraintViolation, match="halted: market 0's age"):
        check_all(air, trace)


def test_reordered_pending_orders_are_caught(carried: BatchStatement) -> None:
    """The prover hashes the post-state's GTC rests in another order than the published
    state: the header digest is not the one the public root compresses."""
    st = carried
    rests = st.post.resting_orders
    assert len(rests) >= 2
    forged = replace(st, post=replace(st.post, resting_orders=rests[::-1]))
    air, trace = generate(forged, rows_for(forged), refuse=False)
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


def test_a_staged_account_needs_a_liquidation_order_and_vice_versa(
    staged: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """The staged account's liquidation orders received as none, or an account that is
    not staged receiving one: each is rejected by the staging link."""
    st, air, honest = staged
    check_all(air, honest)
    (row, count), *_ = st.settle_witness.staged
    orders, inv = column(air, "health.staged_orders"), column(air, "health.staged_inv")
    trace = honest.copy()
    trace[orders, row] = 0
    with pytest.raises(ConstraintViolation, match="staged: a staged account has a liquidation"):
        check_all(air, trace)
    trace = honest.copy()
    trace[orders, row] = count + 1  # more orders than the post-state holds
    trace[inv, row] = pow(count + 1, P - 2, P)
    # one order per market the account has one in (liq_orders.py), and each received
    with pytest.raises(ConstraintViolation, match="liquidation orders: one per market"):
        air.check_trace(trace)
    other = next(r for r in range(st.post.size) if r not in dict(st.settle_witness.staged))
    trace = honest.copy()
    trace[orders, other] = 1
    with pytest.raises(ConstraintViolation, match="staged: liquidation orders only for a staged"):
        check_all(air, trace)


def test_a_liquidation_record_moved_to_another_account_is_caught(
    staged: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """The post-state liquidation record's account column names another row: its trader's
    address is not that row's and the staged account loses its order."""
    st, air, honest = staged
    r1, tree = honest[column(air, "hdr.r1")], honest[column(air, "hdr.tree")]
    kind = honest[column(air, "hdr.kind")]
    r = int(np.flatnonzero(r1 * tree * kind)[0])
    trace = honest.copy()
    acct = column(air, "hdr.acct")
    trace[acct, r : r + 2] = (int(trace[acct, r]) + 1) % st.post.size
    air.check_trace(trace)
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


def _forged_public(st: BatchStatement, index: int, delta: int = 1) -> BatchStatement:
    return with_public(st, index, [(st.public_inputs[index] + delta) % P])


@pytest.mark.parametrize(
    ("offset", "name"),
    [(5, "post mark 0 is public"), (2, r"post funding index 0 \[1\] is public")],
    ids=["mark", "funding-index"],
)
def test_a_public_market_value_that_is_not_the_post_headers_is_caught(
    staged: tuple[BatchStatement, Air, np.ndarray], offset: int, name: str
) -> None:
    """The statement's mark price or funding index one off while the post root (and so
    its header) stays: the header's field is pinned to the public value."""
    st, _, _ = staged
    forged = _forged_public(st, PUBLIC_HEADER + PUBLIC_PER_MARKET * 0 + offset)
    _refused_and_rejected(forged, name, name)


def test_a_margin_mark_that_is_not_the_post_headers_is_caught(
    staged: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    st, _, _ = staged
    margin = headers._margin_at(st, 1)
    forged = _forged_public(st, settle_public_at(st, margin))
    name = "post mark 1 is the margin terms'"
    _refused_and_rejected(forged, name, name)


def test_every_pinned_field_is_the_statements(
    staged: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """Each pin holds on the honest trace and names what it binds; a changed value of a
    pinned cell breaks its boundary (the sponge's permutation would then fail too)."""
    st, air, honest = staged
    names = [p.name for p in headers.pins(st)]
    for want in (
        "post batch id [0]",
        "pre fee pool [1]",
        "post insurance fund [1]",
        "post account count",
        "pre depth",
        "post oracle flag 1 is the margin terms'",
    ):
        assert f"state headers: {want}" in names
    block = [column(air, f"hdr.b{k}") for k in range(8)]
    for p in headers.pins(st):
        got = sum(c * int(honest[block[k], p.row]) for k, c in p.terms) % P
        assert got == (st.public_inputs[p.public] if p.public is not None else p.value)


def test_the_settlement_statement_holds_no_header_digests(
    carried: BatchStatement, demo: list[BatchStatement]
) -> None:
    """The settlement statement is O(1): its length does not depend on the pending or
    staged orders (no header digests, no staged rows)."""
    lengths = {len(s.settle.to_elements()) for s in demo}
    assert len(lengths) == 1
    assert carried.settle.to_elements()[4:20] == (*carried.settle.pre_root,
                                                  *carried.settle.post_root)  # fmt: skip


# ---- header fields linked across the two headers and to the statement


def test_a_funding_step_that_is_not_the_headers_is_caught(demo: list[BatchStatement]) -> None:
    """The operator settles funding with a step ΔF one unit off the one between the two
    headers' funding indexes (moving money between longs and shorts): the post-state's
    funding index must be the pre-state's plus ΔF."""
    st = next(s for s in demo if any(mt.delta_funding for mt in s.settle.markets))
    j = next(j for j, mt in enumerate(st.settle.markets) if mt.delta_funding)
    delta = settle_public_at(st, headers._SETTLE_MARKETS + headers._SETTLE_MARKET_SIZE * j + 4)
    name = f"post funding index {j} = pre \\+ ΔF"
    _refused_and_rejected(_forged_public(st, delta), name, name)


def test_an_index_price_that_is_not_the_post_headers_is_caught(
    staged: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """The margin terms' index price (which decides, with the marks, who is liquidated)
    one tick off the post-state's index."""
    st, _, _ = staged
    j = next(j for j, ms in enumerate(st.post.market_states) if ms.index_price)
    forged = _forged_public(st, settle_public_at(st, headers._margin_at(st, j) + 1))
    name = f"the index price {j} is the post-state's index"
    # the staged order's limit, the rule's at the true index, is not at the forged one
    _refused_and_rejected(forged, name, f"{name}|liquidation limits: the limit is the rule's")


def test_a_reference_that_is_not_the_pre_states_mark_is_caught(
    demo: list[BatchStatement],
) -> None:
    """The price rule's reference one tick off the pre-state's mark (the operator moves
    the tie-break towards a price it prefers)."""
    st = next(s for s in demo if s.pre.market_states[0].mark_price)
    forged = _forged_public(st, PUBLIC_HEADER + 7)
    name = "pre mark 0 is the reference"
    with pytest.raises(BatchStatementError, match=name):
        generate(forged, rows_for(forged))
    air, trace = generate(forged, rows_for(forged), refuse=False)
    with pytest.raises(ConstraintViolation, match=f"{name}|bus"):
        check_all(air, trace)


#: A first batch's BTC book: every price from 649 990 to 650 010 executes 5 lots with
#: no imbalance, so without a reference it clears at the midpoint 650 000, and a reference
#: anywhere in the interval would pick the price (here its top end, 650 010).
_WIDE = [
    (TRADERS[0], Order(BTC, Side.BUY, 650_010, 5)),
    (TRADERS[1], Order(BTC, Side.SELL, 649_990, 5)),
    (TRADERS[2], Order(ETH, Side.BUY, 350_000, 2)),
    (TRADERS[3], Order(ETH, Side.SELL, 350_000, 2)),
]


def _first_batch_files(refs: dict[str, int | None]) -> dict[str, str]:
    """A first batch (the pre-state has no marks) cleared around ``refs`` and settled:
    honest with no reference; with one, an operator's whose transition skips the check."""
    pre = funded([10**12] * 4)
    batch = committed_batch(1, _WIDE, refs)
    rnd = oracle_round(1, 1_000, PRICES)
    with pytest.MonkeyPatch.context() as patch:
        if any(refs.values()):
            patch.setattr(transition, "check_references", lambda state, batch: None)
        post, _ = apply_batch(pre, batch, rnd, DEFAULT_CONFIG, ORACLE)
    return BatchPublication(batch, rnd, pre, post).files(DEFAULT_CONFIG, ORACLE)  # type: ignore[return-value]


def test_a_first_batch_without_a_reference_proves() -> None:
    st = statement_of(_first_batch_files({BTC: None, ETH: None}))
    assert [ms.mark_price for ms in st.pre.market_states] == [0, 0]
    assert st.references == (0, 0) and st.prices[0] == 650_000
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)


def test_a_reference_stated_before_a_first_mark_is_caught() -> None:
    """The operator states a reference in a market without a mark (its first batch) to
    move the price within the optimal interval (650 010 instead of the midpoint 650 000),
    and settles it consistently: the statement's files are refused, and the AIR, handed
    the stated reference, rejects on the pre-state's mark (0) being the reference."""
    files = _first_batch_files({BTC: 650_010, ETH: None})
    with pytest.raises(BatchStatementError, match=r"BTC-PERP reference.*650010"):
        statement_of(files)
    with pytest.MonkeyPatch.context() as patch:
        # a prover that takes result.json's reference as stated and settles it so
        patch.setattr(transition, "check_references", lambda state, batch: None)
        patch.setattr(
            statement_module,
            "_references",
            lambda markets, doc, pre: tuple(doc[m]["reference_price"] or 0 for m in markets),
        )
        forged = statement_of(files)
    assert forged.references == (650_010, 0) and forged.prices[0] == 650_010
    name = "pre mark 0 is the reference"
    with pytest.raises(BatchStatementError, match=rf"{name}: expected 0 \(0: none\), got 650010"):
        generate(forged, rows_for(forged))
    air, trace = generate(forged, rows_for(forged), refuse=False)
    with pytest.raises(ConstraintViolation, match=name):
        check_all(air, trace)


# ---- the post-state's GTC rests are the book's unfilled GTC remainders


def _published_with_rests(
    demo_runs: tuple[list[Any], SettlementConfig, Any], rests: tuple[RestingOrder, ...]
) -> BatchStatement:
    """The statement of demo batch 4 published with a post-state holding ``rests``."""
    runs, settle, oracle = demo_runs
    b = runs[3]
    post = replace(b.post_state, resting_orders=rests)
    return statement_of(
        BatchPublication(b.result, b.oracle_round, b.pre_state, post).files(settle, oracle)
    )


def _rests_changed(
    demo_runs: tuple[list[Any], SettlementConfig, Any], change: Callable[[Any], Any]
) -> BatchStatement:
    rests = list(demo_runs[0][3].post_state.resting_orders)
    rests[0] = change(rests[0])
    return _published_with_rests(demo_runs, tuple(rests))


def test_the_post_states_rests_are_the_books_remainders(carried: BatchStatement) -> None:
    st = carried
    assert st.post.resting_orders
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
    rests = trace[column(air, "book.rests")]
    assert int(rests.sum()) == len(st.post.resting_orders)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: replace(r, order=r.order.with_quantity(r.order.quantity + 1)),
        lambda r: replace(r, order=r.order.with_quantity(r.order.quantity - 1)),
        "other-account",
        lambda r: replace(r, order=replace(r.order, limit_price=r.order.limit_price + 1)),
    ],
    ids=["grown", "shrunk", "other-account", "other-limit"],
)
def test_a_rest_that_is_not_its_orders_remainder_is_caught(
    demo_runs: tuple[list[Any], SettlementConfig, Any], change: Any
) -> None:
    """The operator publishes a post-state resting more or fewer lots than the order left
    unfilled, or the rest moved to another trader or limit (orders that would trade for
    someone in the next batch)."""
    post = demo_runs[0][3].post_state
    first = post.resting_orders[0]
    assert not first.order.reduce_only
    if change == "other-account":
        other = next(k.address for k in post.accounts if k.address != first.trader)
        change = lambda r: replace(r, trader=other)  # noqa: E731
    _refused_and_rejected(_rests_changed(demo_runs, change), "rests", "rests|bus")


def test_an_invented_rest_is_caught(demo_runs: tuple[list[Any], SettlementConfig, Any]) -> None:
    """A GTC rest no order of the batch left: a fresh id on a trader's account."""
    rests = demo_runs[0][3].post_state.resting_orders
    invented = replace(rests[0], order_id=bytes(31) + b"\x07")
    forged = _published_with_rests(demo_runs, (*rests, invented))
    _refused_and_rejected(forged, "rests: the post-state's GTC rest", "bus")


# ---- a GTC rest held in a halted market rests on, or a reduce-only one capped

_HELD_BID = [
    (TRADERS[0], Order(BTC, Side.BUY, 650_000, 10, TimeInForce.GTC)),
    (TRADERS[1], Order(BTC, Side.SELL, 650_000, 4)),
]
#: trader 0 opens a 4-lot long and rests a reduce-only GTC ask of 3 lots
_HELD_ASK = [
    (TRADERS[0], Order(BTC, Side.BUY, 650_000, 4)),
    (TRADERS[1], Order(BTC, Side.SELL, 650_000, 4)),
    (TRADERS[0], Order(BTC, Side.SELL, 700_000, 3, TimeInForce.GTC, reduce_only=True)),
]


def _kept_rows(air: Air, trace: np.ndarray) -> np.ndarray:
    keep, r2 = trace[column(air, "hdr.keep")], trace[column(air, "hdr.r2")]
    return np.flatnonzero(keep * r2)


def _lots(delta: int) -> Callable[[Any], Any]:
    return lambda r: replace(r, order=r.order.with_quantity(r.order.quantity + delta))


def test_a_held_rest_rests_on_from_its_pre_state_record(halted: BatchStatement) -> None:
    st = halted
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
    assert len(_kept_rows(air, trace)) == len(st.post.resting_orders) == 1
    assert int(trace[column(air, "book.rests")].sum()) == 0


@pytest.mark.parametrize("delta", [1, -1], ids=["grown", "shrunk"])
def test_a_held_rest_with_other_lots_is_caught(delta: int) -> None:
    """The operator publishes the held bid (not reduce-only) with a lot more or less: a
    grown rest cannot keep more than its quantity, a shrunk one is no reduce-only cap."""
    forged = _held_batch(_HELD_BID, _lots(delta))
    rejected = (
        "rests: a held rest keeps at most its quantity|bus"
        if delta > 0
        else "rests: only a reduce-only held rest is capped"
    )
    _refused_and_rejected(forged, "rests: the post-state's GTC rest", rejected)


def test_a_held_rest_moved_to_another_limit_is_caught() -> None:
    forged = _held_batch(
        _HELD_BID,
        lambda r: replace(r, order=replace(r.order, limit_price=r.order.limit_price + 1)),
    )
    _refused_and_rejected(forged, "rests: the post-state's GTC rest", "bus")


def test_a_held_rest_claimed_reduce_only_is_caught(halted: BatchStatement) -> None:
    """The prover marks the held bid reduce-only on its record (to cap it): its flags
    say it is not."""
    air, honest = generate(halted, rows_for(halted))
    (row,) = _kept_rows(air, honest)
    trace = honest.copy()
    trace[column(air, "hdr.iz"), row] = 1
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


def test_a_held_rest_cannot_be_kept_by_a_record_that_is_not_held(
    carried: BatchStatement,
) -> None:
    """A pre-state record carried into the book cannot also rest on as a held one."""
    air, honest = generate(carried, rows_for(carried))
    r2, tree = honest[column(air, "hdr.r2")], honest[column(air, "hdr.tree")]
    row = int(np.flatnonzero(r2 * (1 - tree))[0])
    trace = honest.copy()
    trace[column(air, "hdr.keep"), row - 1 : row + 1] = 1
    with pytest.raises(ConstraintViolation, match="rests: only a held GTC rest rests on"):
        check_all(air, trace)


def test_a_held_reduce_only_rest_may_be_capped_but_not_grown() -> None:
    """A reduce-only rest the between-batch cap shrinks rests on with fewer lots (the AIR
    lets it, as it lets a book row's); one lot more than it had is caught."""
    for capped in (None, _lots(-2)):
        st = _held_batch(_HELD_ASK, capped)
        air, trace = generate(st, rows_for(st))
        check_all(air, trace)
        (row,) = _kept_rows(air, trace)
        assert int(trace[column(air, "hdr.iz"), row]) == 1
    _refused_and_rejected(
        _held_batch(_HELD_ASK, _lots(1)),
        "rests: the post-state's GTC rest",
        "rests: a held rest keeps at most|bus",
    )
