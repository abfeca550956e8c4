"""Allocation at the uniform price: conservation, limits, priority, pro rata."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.allocation import allocate, pro_rata
from sealbatch.auction.bounds import MAX_LOTS, MAX_PRICE
from sealbatch.auction.clearing import PriceDiscovery, aggregate_curves, discover_price
from sealbatch.auction.errors import AuctionError
from sealbatch.crypto.keccak import keccak256
from tests.auction.reference import Row, reference_allocation
from tests.auction.test_clearing import book_of, buy, sell

SEED = bytes(range(32))


def key_of(i: int) -> bytes:
    return keccak256(SEED, i.to_bytes(8, "big"))


def clear(rows: list[Row], reference: int | None = None) -> tuple[PriceDiscovery, list[int]]:
    book = book_of(rows)
    d = discover_price(book, reference)
    return d, allocate(book, d, key_of).tolist()


rows_st = st.lists(
    st.builds(
        Row,
        st.booleans(),
        st.none() | st.integers(1, 20) | st.integers(1, 20),
        st.integers(1, 15),
    ),
    max_size=14,
)


# --- hand-worked examples -------------------------------------------------------


def test_no_trade_fills_nothing() -> None:
    d, fills = clear([buy(99, 5), sell(100, 5)])
    assert d.price is None and fills == [0, 0]


def test_balanced_book_fills_everything_eligible() -> None:
    d, fills = clear([buy(110, 5), sell(100, 3), sell(105, 2), sell(120, 9)], reference=108)
    assert d.price == 108
    assert fills == [5, 3, 2, 0]


def test_marginal_level_is_rationed_pro_rata() -> None:
    # Supply 10 at 100; demand 6 + 8 at 100 -> 10 lots for 14: 6*10/14 = 4.29, 8*10/14 = 5.71
    d, fills = clear([buy(100, 6), buy(100, 8), sell(100, 10)])
    assert d.price == 100
    assert fills == [4, 6, 10]  # 4 + 5 = 9, the leftover lot goes to the larger remainder (.71)


def test_better_price_fills_before_marginal_level() -> None:
    # Volume 10 at 100 (reference pins the price): the 105 bid fills first, 100s share 3.
    d, fills = clear([buy(105, 7), buy(100, 2), buy(100, 4), sell(100, 10)], reference=100)
    assert (d.price, d.volume) == (100, 10)
    assert fills[0] == 7
    assert fills[1] + fills[2] == 3 and fills[3] == 10
    assert sorted([fills[1], fills[2]]) == [1, 2]  # 2*3/6 = 1, 4*3/6 = 2 exactly


def test_market_orders_fill_before_limits() -> None:
    d, fills = clear([buy(None, 4), buy(100, 6), sell(100, 5)], reference=100)
    assert d.price == 100
    assert fills == [4, 1, 5]


def test_market_orders_rationed_when_they_exceed_volume() -> None:
    # At 100: D = 18, S = 4 (imbalance 14); above 100: D = 12, S = 4 (imbalance 8),
    # so the price is 101 (closest to the reference) and only market buys take part.
    d, fills = clear([buy(None, 3), buy(None, 9), buy(100, 6), sell(100, 4)], reference=100)
    assert (d.price, d.volume) == (101, 4)
    assert fills == [1, 3, 0, 4]  # 3*4/12 = 1 and 9*4/12 = 3 exactly


def test_equal_remainders_go_by_tiebreak_key_not_by_row() -> None:
    # Three equal bids share 2 lots: each exact share 2/3, remainders tie,
    # so the two smallest keys win one lot each.
    rows = [buy(100, 1), buy(100, 1), buy(100, 1), sell(100, 2)]
    book = book_of(rows)
    d = discover_price(book)
    keys = {0: b"\x03", 1: b"\x01", 2: b"\x02"}
    fills = allocate(book, d, lambda i: keys[i]).tolist()
    assert fills == [0, 1, 1, 2]
    keys = {0: b"\x01", 1: b"\x03", 2: b"\x02"}
    assert allocate(book, d, lambda i: keys[i]).tolist() == [1, 0, 1, 2]


def test_sell_side_long_rationed() -> None:
    d, fills = clear([sell(100, 3), sell(100, 3), sell(99, 1), buy(100, 4)], reference=100)
    assert d.price == 100
    assert fills[2] == 1 and fills[3] == 4 and sorted(fills[:2]) == [1, 2]


def test_discovery_of_another_book_is_refused() -> None:
    book = book_of([buy(110, 5), sell(100, 5)])
    wrong = PriceDiscovery(105, 5, 6, 5, 1)
    with pytest.raises(AuctionError, match="not of this book"):
        allocate(book, wrong, key_of)


def test_pro_rata_rejects_more_lots_than_quantity() -> None:
    q = np.array([2, 3], dtype=np.int64)
    with pytest.raises(AuctionError, match="expected 0 to 5"):
        pro_rata(q, 6, np.arange(2), key_of)
    with pytest.raises(AuctionError):
        pro_rata(q, -1, np.arange(2), key_of)


def test_pro_rata_exact_on_huge_quantities() -> None:
    # q * lots overflows int64: the big-integer path must stay exact.
    q = np.array([(1 << 40) - 1, (1 << 40) - 3, 12345], dtype=np.int64)
    lots = (1 << 40) - 7
    fills = pro_rata(q, lots, np.arange(3), key_of)
    total = int(q.sum())
    assert int(fills.sum()) == lots
    for qi, fi in zip(q.tolist(), fills.tolist(), strict=True):
        assert qi * lots // total <= fi <= qi * lots // total + 1


# --- properties -----------------------------------------------------------------


def check_allocation(rows: list[Row], reference: int | None) -> None:
    d, fills = clear(rows, reference)
    assert fills == reference_allocation(rows, d.price, key_of)
    bought = sum(f for r, f in zip(rows, fills, strict=True) if r.is_buy)
    sold = sum(f for r, f in zip(rows, fills, strict=True) if not r.is_buy)
    assert bought == sold == d.volume
    for r, f in zip(rows, fills, strict=True):
        assert 0 <= f <= r.quantity
        if f and r.limit is not None:
            assert d.price is not None
            assert (r.limit >= d.price) if r.is_buy else (r.limit <= d.price)
    if d.price is None or d.volume == 0:
        assert not any(fills)
        return
    price = d.price

    def eligible(r: Row) -> bool:
        if r.limit is None:
            return True
        return r.limit >= price if r.is_buy else r.limit <= price

    long_is_buy = d.buy_volume > d.sell_volume
    for r, f in zip(rows, fills, strict=True):
        if not eligible(r):
            continue
        # the short side (or both, when balanced) fills completely
        if d.buy_volume == d.sell_volume or r.is_buy != long_is_buy:
            assert f == r.quantity

    # price priority on the long side: a worse-priced order fills only if every
    # strictly better one filled completely
    def rank(r: Row) -> int:
        if r.limit is None:
            return -(1 << 62)
        return -r.limit if r.is_buy else r.limit

    long_rows = [
        (r, f) for r, f in zip(rows, fills, strict=True) if eligible(r) and r.is_buy == long_is_buy
    ]
    for ra, fa in long_rows:
        for rb, fb in long_rows:
            if rank(ra) < rank(rb) and fb > 0:
                assert fa == ra.quantity

    # pro rata within one lot: every order of the marginal level gets floor or
    # floor + 1 of its exact share of what the level received
    partial = [(r, f) for r, f in long_rows if f < r.quantity]
    if partial:
        level = min(rank(r) for r, _ in partial)
        members = [(r, f) for r, f in long_rows if rank(r) == level]
        got = sum(f for _, f in members)
        total = sum(r.quantity for r, _ in members)
        for r, f in members:
            assert r.quantity * got // total <= f <= r.quantity * got // total + 1
        assert all(f == 0 for r, f in partial if rank(r) != level)


@settings(max_examples=400, deadline=None)
@given(rows_st, st.none() | st.integers(1, 25))
def test_allocation_properties(rows: list[Row], reference: int | None) -> None:
    check_allocation(rows, reference)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.builds(
            Row,
            st.booleans(),
            st.none() | st.integers(MAX_PRICE - 4, MAX_PRICE),
            st.integers(MAX_LOTS // 2, MAX_LOTS),
        ),
        max_size=8,
    )
)
def test_allocation_exact_at_extreme_sizes(rows: list[Row]) -> None:
    check_allocation(rows, None)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 50), min_size=1, max_size=20),
    st.data(),
)
def test_pro_rata_floor_or_floor_plus_one(quantities: list[int], data: st.DataObject) -> None:
    q = np.array(quantities, dtype=np.int64)
    total = int(q.sum())
    lots = data.draw(st.integers(0, total))
    fills = pro_rata(q, lots, np.arange(len(q)), key_of).tolist()
    assert sum(fills) == lots
    rem = [qi * lots % total for qi in quantities]
    for qi, fi in zip(quantities, fills, strict=True):
        assert qi * lots // total <= fi <= qi * lots // total + 1
    # largest remainder first: no order with a smaller remainder got the extra
    # lot while one with a larger remainder did not
    extra = [fi - qi * lots // total for qi, fi in zip(quantities, fills, strict=True)]
    for a in range(len(q)):
        for b in range(len(q)):
            if extra[a] == 1 and extra[b] == 0:
                assert rem[a] > rem[b] or (rem[a] == rem[b] and key_of(a) < key_of(b))


def test_curves_argument_gives_same_fills() -> None:
    rows = [buy(105, 7), buy(100, 2), buy(100, 4), sell(100, 10), buy(None, 1), sell(98, 2)]
    book = book_of(rows)
    c = aggregate_curves(book)
    d = discover_price(book, 100, c)
    assert allocate(book, d, key_of, c).tolist() == allocate(book, d, key_of).tolist()


@pytest.mark.slow
@settings(max_examples=5_000, deadline=None)
@given(
    st.lists(
        st.builds(Row, st.booleans(), st.none() | st.integers(1, 40), st.integers(1, 60)),
        max_size=30,
    ),
    st.none() | st.integers(1, 50),
)
def test_allocation_properties_many(rows: list[Row], reference: int | None) -> None:
    check_allocation(rows, reference)
