"""The state headers hashed in the batch AIR (``batch_air/headers.py``): both headers and
their pending orders are recomputed from witness values under the public roots; the orders
carried in are the pre-state's pending orders, the staged accounts the post-state's
liquidation orders, and the post header's fields are the statement's. Each forgery is
refused by the prover and rejected by the AIR (``refuse=False``), naming the statement."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import hash_elements
from sealbatch.settlement.batch_air import headers
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
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.roots import header_blocks, header_elements, pending_orders
from sealbatch.settlement.transition import apply_batch
from sealbatch.venue.demo import DemoConfig, demo_oracle, demo_settlement_config, run_demo
from tests.settlement.batch_air_helpers import BTC, ETH, check_all, committed_batch, statement_of
from tests.settlement.conftest import ORACLE, TRADERS, funded, make_batch, oracle_round

PRICES = {BTC: 650_000, ETH: 350_000}


@pytest.fixture(scope="module")
def demo() -> list[BatchStatement]:
    """The statements of the four demo batches: batch 3 stages a liquidation order, batch
    4 carries it in with GTC rests and leaves rests for batch 5."""
    config = DemoConfig()
    settle, (oracle, _) = demo_settlement_config(config), demo_oracle(config.seed)
    return [
        statement_of(
            BatchPublication(b.result, b.oracle_round, b.pre_state, b.post_state).files(
                settle, oracle
            )
        )
        for b in run_demo(config)
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


def _col(air: Air, name: str) -> int:
    return air.column_names.index(name)


def _refused_and_rejected(forged: BatchStatement, refused: str, rejected: str = "bus") -> None:
    rows = rows_for(forged)
    with pytest.raises(BatchStatementError, match=refused):
        generate(forged, rows)
    air, trace = generate(forged, rows, refuse=False)
    with pytest.raises(ConstraintViolation, match=rejected):
        check_all(air, trace)


def test_the_headers_and_pending_orders_are_hashed_in_the_air(
    carried: BatchStatement,
) -> None:
    st = carried
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
    # the header digests are witness values the section computes, not public inputs
    h = header_blocks(len(st.markets))
    out = [_col(air, f"hdr.o{k}") for k in range(8)]
    for t, state in ((0, st.pre), (1, st.post)):
        digest = [int(trace[c, (t + 1) * h - 1]) for c in out]
        assert digest == [int(x) for x in hash_elements(header_elements(state))]
        assert not set(digest) & set(st.public_inputs[44 + 7 * len(st.markets) :])
    # the verifier's tables of carried-in orders and staged accounts are gone
    tags = {t.tag for t in build_with_layout(rows_for(st), st)[1].public_tables}
    assert TAG_CARRIED not in tags and TAG_STAGED not in tags
    # each carried book row is received by one pre-state record row
    r2 = trace[_col(air, "hdr.r2")] * (1 - trace[_col(air, "hdr.tree")])
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
    _refused_and_rejected(replace(st, orders=tuple(orders)), "carried")


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
    r2, tree = honest[_col(air, "hdr.r2")], honest[_col(air, "hdr.tree")]
    pre_row = int(np.flatnonzero(r2 * (1 - tree))[0])
    trace = honest.copy()
    trace[_col(air, "hdr.held"), pre_row] = 1
    with pytest.raises(ConstraintViolation, match="held: a pending order is held exactly"):
        check_all(air, trace)
    post_row = int(np.flatnonzero(r2 * tree)[0])
    trace = honest.copy()
    trace[_col(air, "hdr.held"), post_row] = 1
    with pytest.raises(ConstraintViolation, match="carried: only a pre-state record is held"):
        check_all(air, trace)


def test_a_market_claimed_halted_is_caught(carried: BatchStatement) -> None:
    """The operator claims a trading market halted, to hold its pending orders back: the
    market's last trusted index is not older than ``max_price_age_ms`` at the batch's time,
    so its halted flag cannot be 1."""
    st = carried
    forged = replace(st, halted=st.markets)
    with pytest.raises(BatchStatementError, match="held: BTC-PERP is halted"):
        generate(forged, rows_for(forged))
    air, trace = generate(forged, rows_for(forged), refuse=False)
    with pytest.raises(ConstraintViolation, match="halted: market 0's age"):
        check_all(air, trace)


@pytest.fixture(scope="module")
def halted() -> BatchStatement:
    """Batch 1 leaves a GTC bid resting in BTC-PERP; batch 2 settles after every index
    is older than ``max_price_age_ms``: both markets are halted and the rest is held."""
    pre = funded([10**11, 10**11])
    orders = [
        (TRADERS[0], Order(BTC, Side.BUY, 650_000, 10, TimeInForce.GTC)),
        (TRADERS[1], Order(BTC, Side.SELL, 650_000, 4)),
    ]
    mid, _ = apply_batch(pre, make_batch(1, orders), oracle_round(1, 1_000, PRICES),
                         DEFAULT_CONFIG, ORACLE)  # fmt: skip
    assert len(mid.resting_orders) == 1
    late = oracle_round(2, 1_000 + ORACLE.max_price_age_ms + 1, PRICES)
    batch = committed_batch(2, [], {ms.market: ms.mark_price for ms in mid.market_states})
    post, _ = apply_batch(mid, batch, late, DEFAULT_CONFIG, ORACLE)
    assert post.resting_orders == mid.resting_orders
    st = statement_of(BatchPublication(batch, late, mid, post).files(DEFAULT_CONFIG, ORACLE))
    assert st.halted == (BTC, ETH)
    return st


def test_a_halted_markets_pending_orders_are_held_without_a_verifier_table(
    halted: BatchStatement,
) -> None:
    st = halted
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
    assert [int(trace[_col(air, f"hdr.halted{j}"), 0]) for j in range(2)] == [1, 1]
    r2, tree = trace[_col(air, "hdr.r2")], trace[_col(air, "hdr.tree")]
    pre_rows = np.flatnonzero(r2 * (1 - tree))
    assert len(pre_rows) == 1 and int(trace[_col(air, "hdr.held"), pre_rows[0]]) == 1
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
    r2, tree = honest[_col(air, "hdr.r2")], honest[_col(air, "hdr.tree")]
    trace = honest.copy()
    trace[_col(air, "hdr.held"), int(np.flatnonzero(r2 * (1 - tree))[0])] = 0
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
    orders, inv = _col(air, "health.staged_orders"), _col(air, "health.staged_inv")
    trace = honest.copy()
    trace[orders, row] = 0
    with pytest.raises(ConstraintViolation, match="staged: a staged account has a liquidation"):
        check_all(air, trace)
    trace = honest.copy()
    trace[orders, row] = count + 1  # more orders than the post-state holds
    trace[inv, row] = pow(count + 1, P - 2, P)
    air.check_trace(trace)
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)
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
    r1, tree = honest[_col(air, "hdr.r1")], honest[_col(air, "hdr.tree")]
    kind = honest[_col(air, "hdr.kind")]
    r = int(np.flatnonzero(r1 * tree * kind)[0])
    trace = honest.copy()
    acct = _col(air, "hdr.acct")
    trace[acct, r : r + 2] = (int(trace[acct, r]) + 1) % st.post.size
    air.check_trace(trace)
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


def _forged_public(st: BatchStatement, index: int, delta: int = 1) -> BatchStatement:
    public = list(st.public_inputs)
    public[index] = (public[index] + delta) % P
    return replace(st, public_inputs=tuple(public))


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
    m = len(st.markets)
    margin = headers._margin_at(st, 1)
    forged = _forged_public(st, PUBLIC_HEADER + PUBLIC_PER_MARKET * m + margin)
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
    block = [_col(air, f"hdr.b{k}") for k in range(8)]
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
