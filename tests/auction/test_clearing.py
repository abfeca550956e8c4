"""Uniform-price discovery: hand-worked books and brute force on random books."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.book import MARKET, OrderArrays
from sealbatch.auction.clearing import MAX_PRICE, aggregate_curves, discover_price
from sealbatch.auction.errors import InvalidOrder
from tests.auction.reference import BruteResult, Row, brute_price, demand, supply


def book_of(rows: list[Row]) -> OrderArrays:
    return OrderArrays(
        np.array([r.is_buy for r in rows], dtype=np.bool_),
        np.array([MARKET if r.limit is None else r.limit for r in rows], dtype=np.int64),
        np.array([r.quantity for r in rows], dtype=np.int64),
    )


def buy(limit: int | None, q: int) -> Row:
    return Row(True, limit, q)


def sell(limit: int | None, q: int) -> Row:
    return Row(False, limit, q)


rows_st = st.lists(
    st.builds(
        Row,
        st.booleans(),
        st.one_of(st.none(), st.integers(1, 25)) | st.integers(1, 25),
        st.integers(1, 12),
    ),
    max_size=12,
)
reference_st = st.none() | st.integers(1, 30)


# --- hand-worked examples -------------------------------------------------------


def test_empty_book_does_not_trade() -> None:
    assert discover_price(OrderArrays.empty()).price is None
    assert discover_price(OrderArrays.empty(), reference=100).price is None


def test_crossed_single_pair_trades_at_midpoint_without_reference() -> None:
    d = discover_price(book_of([buy(110, 5), sell(100, 5)]))
    # every price in [100, 110] executes 5 with zero imbalance: midpoint 105
    assert (d.price, d.volume, d.imbalance) == (105, 5, 0)


def test_midpoint_rounds_down() -> None:
    d = discover_price(book_of([buy(101, 5), sell(100, 5)]))
    assert d.price == 100


def test_reference_inside_optimal_interval_is_taken() -> None:
    d = discover_price(book_of([buy(110, 5), sell(100, 5)]), reference=107)
    assert d.price == 107


@pytest.mark.parametrize(("reference", "expected"), [(90, 100), (200, 110), (1, 100)])
def test_reference_outside_interval_clamps_to_nearest_end(reference: int, expected: int) -> None:
    d = discover_price(book_of([buy(110, 5), sell(100, 5)]), reference=reference)
    assert d.price == expected


def test_uncrossed_book_does_not_trade() -> None:
    d = discover_price(book_of([buy(99, 5), sell(100, 5)]), reference=99)
    assert d.price is None and d.volume == 0


def test_one_sided_book_does_not_trade() -> None:
    assert discover_price(book_of([buy(100, 5), buy(None, 3)])).price is None


def test_volume_beats_imbalance() -> None:
    # [95, 99]: D=10, S=4 (volume 4); at 100: D=10, S=10 (volume 10); above: D=6.
    d = discover_price(book_of([buy(100, 4), buy(105, 6), sell(95, 4), sell(100, 6)]))
    assert (d.price, d.volume, d.imbalance) == (100, 10, 0)


def test_imbalance_breaks_volume_tie() -> None:
    # D = 10 up to 99, 4 at 100; S = 4 on [95, 99], 12 from 100.
    # Volume 4 on [95, 100]: imbalance 6 on [95, 99], 8 at 100 -> [95, 99].
    d = discover_price(book_of([buy(100, 4), buy(99, 6), sell(95, 4), sell(100, 8)]))
    assert d.volume == 4 and d.imbalance == 6
    assert d.price == 97  # midpoint of [95, 99]


def test_market_orders_take_part_at_every_price() -> None:
    d = discover_price(book_of([buy(None, 7), sell(100, 5), sell(102, 5)]))
    # p < 100: S=0; [100, 101]: S=5, vol 5 imb 2; p >= 102: S=10, vol 7 imb 3
    assert (d.price, d.volume, d.buy_volume, d.sell_volume) == (102, 7, 7, 10)


def test_optimum_beyond_all_limits_takes_nearest_end() -> None:
    # At 100: D = 5 + 3 = 8, S = 5 (vol 5, imb 3); above 100: D = 5, S = 5 (imb 0).
    d = discover_price(book_of([buy(None, 5), sell(100, 5), buy(100, 3)]))
    assert (d.price, d.volume, d.imbalance) == (101, 5, 0)


def test_market_orders_only_trade_at_reference() -> None:
    book = book_of([buy(None, 5), sell(None, 3)])
    assert discover_price(book).price is None
    d = discover_price(book, reference=1234)
    assert (d.price, d.volume, d.buy_volume, d.sell_volume, d.imbalance) == (1234, 3, 5, 3, 2)


def test_prices_near_max_price() -> None:
    d = discover_price(book_of([buy(MAX_PRICE, 2), sell(MAX_PRICE - 1, 2)]), reference=MAX_PRICE)
    assert (d.price, d.volume) == (MAX_PRICE, 2)


def test_limit_at_one_tick() -> None:
    d = discover_price(book_of([buy(1, 2), sell(None, 2)]))
    assert (d.price, d.volume) == (1, 2)


@pytest.mark.parametrize("bad", [0, -5, MAX_PRICE + 1, True, 1.5, "100"])
def test_bad_reference_is_rejected(bad: object) -> None:
    with pytest.raises(InvalidOrder, match="reference"):
        discover_price(book_of([buy(110, 5), sell(100, 5)]), reference=bad)  # type: ignore[arg-type]


def test_numpy_integer_reference_is_accepted() -> None:
    d = discover_price(book_of([buy(110, 5), sell(100, 5)]), reference=np.int64(103))  # type: ignore[arg-type]
    assert d.price == 103


def test_curves_match_definition() -> None:
    rows = [buy(100, 3), buy(100, 2), buy(98, 1), sell(97, 4), sell(100, 6)]
    rows += [buy(None, 5), sell(None, 1)]
    c = aggregate_curves(book_of(rows))
    assert c.prices.tolist() == [97, 98, 100]
    assert c.level_buy.tolist() == [0, 1, 5]
    assert c.level_sell.tolist() == [4, 0, 6]
    assert (c.market_buy, c.market_sell) == (5, 1)
    for p in range(90, 110):
        assert c.demand_at(p) == demand(rows, p)
        assert c.supply_at(p) == supply(rows, p)
    assert c.demand.tolist() == [demand(rows, p) for p in (97, 98, 100)]
    assert c.supply.tolist() == [supply(rows, p) for p in (97, 98, 100)]
    assert c.to_dict()["prices"] == [97, 98, 100]


# --- properties against brute force ---------------------------------------------


def check_against_brute(rows: list[Row], reference: int | None) -> BruteResult:
    book = book_of(rows)
    d = discover_price(book, reference)
    brute = brute_price(rows, reference)
    assert d.price == brute.price, (rows, reference, brute)
    assert d.volume == brute.volume
    if d.price is None:
        assert (d.volume, d.buy_volume, d.sell_volume, d.imbalance) == (0, 0, 0, 0)
        return brute
    # the reported volumes are those at the chosen price
    assert d.buy_volume == demand(rows, d.price)
    assert d.sell_volume == supply(rows, d.price)
    assert d.imbalance == abs(d.buy_volume - d.sell_volume)
    assert d.volume == min(d.buy_volume, d.sell_volume)
    # the optimal prices form one interval (the allocation and the proof rely on it)
    opt = brute.optimal
    assert list(opt) == list(range(opt[0], opt[-1] + 1))
    return brute


@settings(max_examples=400, deadline=None)
@given(rows_st, reference_st)
def test_price_matches_brute_force(rows: list[Row], reference: int | None) -> None:
    check_against_brute(rows, reference)


@settings(max_examples=150, deadline=None)
@given(rows_st, reference_st)
def test_no_price_executes_more_volume(rows: list[Row], reference: int | None) -> None:
    d = discover_price(book_of(rows), reference)
    if d.price is None:
        return
    limits = [r.limit for r in rows if r.limit is not None] + [d.price]
    for p in range(max(1, min(limits) - 3), max(limits) + 4):
        vol = min(demand(rows, p), supply(rows, p))
        assert vol <= d.volume
        if vol == d.volume:
            assert abs(demand(rows, p) - supply(rows, p)) >= d.imbalance


@settings(max_examples=150, deadline=None)
@given(rows_st, reference_st, st.randoms(use_true_random=False))
def test_price_does_not_depend_on_row_order(
    rows: list[Row], reference: int | None, rnd: random.Random
) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert discover_price(book_of(rows), reference) == discover_price(book_of(shuffled), reference)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.builds(
            Row,
            st.booleans(),
            st.none() | st.integers(1, 10**6),
            st.integers(1, 10**6),
        ),
        max_size=8,
    ),
    st.none() | st.integers(1, 10**6),
)
def test_wide_prices_match_curve_evaluation(rows: list[Row], reference: int | None) -> None:
    """On wide books (too wide to brute force), check the rule at the cell level."""
    d = discover_price(book_of(rows), reference)
    # every distinct limit price, its neighbours and the reference are candidates
    cands = {1}
    for r in rows:
        if r.limit is not None:
            cands.update({r.limit - 1, r.limit, r.limit + 1})
    if reference is not None:
        cands.add(reference)
    cands = {p for p in cands if p >= 1}
    best = max((min(demand(rows, p), supply(rows, p)) for p in cands), default=0)
    if d.price is None:
        has_limits = any(r.limit is not None for r in rows)
        assert best == 0 or (not has_limits and reference is None)
        return
    assert d.volume == best
    least = min(
        abs(demand(rows, p) - supply(rows, p))
        for p in cands
        if min(demand(rows, p), supply(rows, p)) == best
    )
    assert d.imbalance == least


wider_rows_st = st.lists(
    st.builds(Row, st.booleans(), st.none() | st.integers(1, 60), st.integers(1, 40)),
    max_size=30,
)


@pytest.mark.slow
@settings(max_examples=5_000, deadline=None)
@given(wider_rows_st, st.none() | st.integers(1, 70))
def test_price_matches_brute_force_many(rows: list[Row], reference: int | None) -> None:
    check_against_brute(rows, reference)
