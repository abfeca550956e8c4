"""ORDERS.csv parsing: valid files, and every bad input named by row and field."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.book import MARKET
from sealbatch.auction.clearing import discover_price
from sealbatch.auction.errors import InvalidOrder
from sealbatch.auction.orders_csv import COLUMNS, CsvBook, OrdersCsvError, parse_orders_csv
from tests.auction.reference import Row, brute_price

HEADER = "order_id,trader,side,limit_price,quantity"


def parse(text: str, market: str | None = None) -> CsvBook:
    return parse_orders_csv(io.StringIO(text, newline=""), market=market)


def test_valid_file() -> None:
    got = parse(f"{HEADER}\na,alice,buy,110,5\nb,bob,SELL,,3\nc,carol, sell , 100 , 2 \n")
    assert got.order_ids == ("a", "b", "c")
    assert got.traders == ("alice", "bob", "carol")
    assert got.book.is_buy.tolist() == [True, False, False]
    assert got.book.limit.tolist() == [110, MARKET, 100]
    assert got.book.quantity.tolist() == [5, 3, 2]
    assert got.market is None


def test_columns_in_any_order_extra_columns_and_blank_lines() -> None:
    text = (
        "Quantity,SIDE,note,limit_price,trader,order_id\r\n"
        "5,buy,x,110,alice,a\r\n\r\n3,sell,,,bob,b\r\n"
    )
    got = parse(text)
    assert got.order_ids == ("a", "b")
    assert got.book.limit.tolist() == [110, MARKET]
    assert got.book.quantity.tolist() == [5, 3]


def test_header_only_is_an_empty_book() -> None:
    got = parse(HEADER + "\n")
    assert len(got.book) == 0
    assert discover_price(got.book).price is None


def test_byte_order_mark_is_not_part_of_the_first_column() -> None:
    got = parse("\ufeff" + HEADER + "\na,alice,buy,110,5\n")
    assert got.order_ids == ("a",)


def test_market_column() -> None:
    text = "market,order_id,trader,side,limit_price,quantity\nBTC,a,t,buy,5,1\nETH,b,t,sell,6,1\n"
    with pytest.raises(OrdersCsvError, match="field 'market': expected one market") as info:
        parse(text)
    assert info.value.field == "market"
    assert parse(text, market="ETH").order_ids == ("b",)
    assert parse(text, market="ETH").market == "ETH"
    with pytest.raises(OrdersCsvError, match="'market' column"):
        parse(HEADER + "\n", market="BTC")


@pytest.mark.parametrize(
    ("body", "row", "field", "match"),
    [
        ("a,t,buy,110,0", 1, "quantity", "expected an integer from 1"),
        ("a,t,buy,110,-5", 1, "quantity", "expected an integer from 1"),
        ("a,t,buy,110,2.0", 1, "quantity", "expected an integer"),
        ("a,t,buy,110,1_000", 1, "quantity", "expected an integer"),
        ("a,t,buy,110,", 1, "quantity", "expected an integer"),
        ("a,t,buy,110,\u0665", 1, "quantity", "expected an integer"),  # Arabic-Indic 5
        ("a,t,buy,110.5,1", 1, "limit_price", "expected an integer"),
        ("a,t,buy,1e3,1", 1, "limit_price", "expected an integer"),
        ("a,t,buy,0,1", 1, "limit_price", "expected an integer from 1"),
        (f"a,t,buy,{(1 << 40) + 1},1", 1, "limit_price", "expected an integer from 1"),
        ("a,t,hold,110,1", 1, "side", "expected 'buy' or 'sell', got 'hold'"),
        ("a,t,,110,1", 1, "side", "expected 'buy' or 'sell'"),
        (",t,buy,110,1", 1, "order_id", "non-empty order id"),
        ("a,,buy,110,1", 1, "trader", "non-empty trader"),
        ("a,t,buy,110,1\nb,t,sell,100,1\na,u,sell,90,2", 3, "order_id", "duplicate order id 'a'"),
        ("a,t,buy,110,1\nb,t,sell", 2, "limit_price", "expected 5 fields, got 3"),
    ],
)
def test_bad_rows_name_row_and_field(body: str, row: int, field: str, match: str) -> None:
    with pytest.raises(OrdersCsvError, match=match) as info:
        parse(f"{HEADER}\n{body}\n")
    err = info.value
    assert (err.row, err.field) == (row, field)
    assert str(err).startswith(f"row {row}, field '{field}': ")
    assert isinstance(err, InvalidOrder) and isinstance(err, ValueError)


@pytest.mark.parametrize("missing", COLUMNS)
def test_missing_column_is_named(missing: str) -> None:
    header = ",".join(c for c in COLUMNS if c != missing)
    with pytest.raises(OrdersCsvError, match=f"missing {missing}") as info:
        parse(header + "\n")
    assert info.value.field == missing


def test_empty_file() -> None:
    with pytest.raises(OrdersCsvError, match="empty file"):
        parse("")


def test_oversized_field_is_unreadable() -> None:
    # beyond csv.field_size_limit() (128 KiB) the csv module itself refuses the row
    with pytest.raises(OrdersCsvError, match="unreadable CSV") as info:
        parse(f'{HEADER}\na,t,buy,1,1\nb,"{"x" * 200_000}",sell,1,1\n')
    assert info.value.row == 2


csv_rows = st.lists(
    st.builds(Row, st.booleans(), st.none() | st.integers(1, 25), st.integers(1, 12)),
    max_size=12,
)


@settings(max_examples=100, deadline=None)
@given(csv_rows, st.none() | st.integers(1, 30))
def test_csv_round_trip_clears_like_the_reference(rows: list[Row], reference: int | None) -> None:
    lines = [HEADER] + [
        f"o{i},t{i % 3},{'buy' if r.is_buy else 'sell'},{'' if r.limit is None else r.limit},"
        f"{r.quantity}"
        for i, r in enumerate(rows)
    ]
    got = parse("\n".join(lines) + "\n")
    assert got.order_ids == tuple(f"o{i}" for i in range(len(rows)))
    d = discover_price(got.book, reference)
    assert d.price == brute_price(rows, reference).price
