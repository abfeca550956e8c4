"""Value bounds at the auction's entry points: orders, markets, the CSV reader,
clearing's reference price and the commit book.

Each bound is tested at the edge: the largest allowed value passes and the
next one is refused with the one wording of ``bounds.bound_message``, which
names the field and the bound.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealbatch.auction import bounds
from sealbatch.auction.book import OrderArrays
from sealbatch.auction.bounds import (
    MAX_BALANCE,
    MAX_BOND,
    MAX_LOTS,
    MAX_MULTIPLIER,
    MAX_POSITION,
    MAX_PRICE,
    bound_message,
    integer_in,
    is_integer_text,
    within,
)
from sealbatch.auction.clearing import discover_price
from sealbatch.auction.commit_reveal import Commit, CommitBook, SignedCommit
from sealbatch.auction.commitment import compute_commitment
from sealbatch.auction.errors import InvalidOrder
from sealbatch.auction.markets import MAX_LOTS as MARKETS_MAX_LOTS
from sealbatch.auction.markets import MAX_TICKS, Market
from sealbatch.auction.orders import Order, Side
from sealbatch.auction.orders_csv import OrdersCsvError, parse_orders_csv
from tests.auction.conftest import ALICE, DOMAIN, IN_COMMIT

BookFactory = Callable[..., CommitBook]


def test_the_bounds_and_why() -> None:
    assert (MAX_PRICE, MAX_LOTS, MAX_MULTIPLIER, MAX_BALANCE) == (
        (1 << 30) - 1,
        (1 << 22) - 1,
        (1 << 10) - 1,
        (1 << 62) - 1,
    )
    assert MAX_POSITION == MAX_LOTS
    # a notional at every bound still fits a balance, so it fits the balance's limbs
    assert MAX_POSITION * MAX_PRICE * MAX_MULTIPLIER <= MAX_BALANCE
    # a price and a quantity are single BabyBear elements
    assert MAX_PRICE < 2013265921 and MAX_LOTS < 2013265921
    # the auction's historical names are the same numbers
    assert (MAX_TICKS, MARKETS_MAX_LOTS) == (MAX_PRICE, MAX_LOTS)


@given(st.integers(-(1 << 70), 1 << 70), st.integers(-(1 << 64), 1 << 64), st.integers(0, 1 << 64))
def test_integer_in_is_int_within_the_bounds(value: int, low: int, width: int) -> None:
    high = low + width
    expected = value if low <= value <= high else None
    assert integer_in(str(value), low, high) == expected
    assert integer_in(f" +{value} " if value >= 0 else f" {value} ", low, high) == expected


@pytest.mark.parametrize(
    "text",
    ["", "+", "1.5", "1e3", "1_000", "\u0663", "\u00b2", "0x10", "--1", "1 2"],
    ids=["empty", "sign", "decimal", "exponent", "underscore", "arabic", "superscript", "hex",
         "two-signs", "two-numbers"],
)  # fmt: skip
def test_integer_text_is_a_sign_and_ascii_digits(text: str) -> None:
    assert not is_integer_text(text) and integer_in(text, -100, 100) is None


def test_integer_in_takes_numbers_of_any_length() -> None:
    # int() refuses text of more than 4300 digits: such a number is out of range.
    assert integer_in("9" * 5000, 0, MAX_BALANCE) is None
    assert integer_in("-" + "9" * 5000, -MAX_BALANCE, 0) is None
    assert integer_in("0" * 5000 + "7", 1, MAX_LOTS) == 7


def test_bound_message_names_field_bound_and_value() -> None:
    assert bound_message("quantity", 1 << 22, 1, MAX_LOTS, "lots") == (
        "quantity: expected an integer from 1 to 4194303 lots (below 2^22), got 4194304"
    )
    assert bound_message("x", 7, 0, 5) == "x: expected an integer from 0 to 5, got 7"
    assert within(5, 0, 5) and not within(6, 0, 5) and not within(True, 0, 5)
    assert not within(5.0, 0, 5) and not within("5", 0, 5)


@pytest.mark.parametrize(
    ("field", "ok", "bad", "message"),
    [
        ("limit_price", MAX_PRICE, MAX_PRICE + 1, "from 1 to 1073741823 ticks (below 2^30)"),
        ("quantity", MAX_LOTS, MAX_LOTS + 1, "from 1 to 4194303 lots (below 2^22)"),
    ],
)
def test_order_bounds(field: str, ok: int, bad: int, message: str) -> None:
    base = {"market": "BTC-PERP", "side": Side.BUY, "limit_price": 100, "quantity": 1}
    Order(**{**base, field: ok})  # type: ignore[arg-type]
    with pytest.raises(InvalidOrder) as err:
        Order(**{**base, field: bad})  # type: ignore[arg-type]
    assert str(err.value) == f"{field}: expected an integer {message}, got {bad}"


def test_market_multiplier_bound() -> None:
    Market("X-PERP", contract_multiplier=MAX_MULTIPLIER)
    with pytest.raises(InvalidOrder, match=r"contract_multiplier: .* 1 to 1023 \(below 2\^10\)"):
        Market("X-PERP", contract_multiplier=MAX_MULTIPLIER + 1)
    with pytest.raises(InvalidOrder, match="max_order_lots"):
        Market("X-PERP", max_order_lots=MAX_LOTS + 1)


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        (f"a,t,buy,{MAX_PRICE + 1},1", "limit_price", "1073741823 ticks (below 2^30)"),
        (f"a,t,buy,5,{MAX_LOTS + 1}", "quantity", "4194303 lots (below 2^22)"),
    ],
)
def test_csv_bounds_name_row_and_field(row: str, field: str, message: str) -> None:
    text = "order_id,trader,side,limit_price,quantity\n" + row + "\n"
    with pytest.raises(OrdersCsvError) as err:
        parse_orders_csv(io.StringIO(text))
    assert str(err.value).startswith(f"row 1, field '{field}': expected an integer from 1 to ")
    assert message in str(err.value)
    ok = f"a,t,buy,{MAX_PRICE},{MAX_LOTS}\n"
    parsed = parse_orders_csv(io.StringIO("order_id,trader,side,limit_price,quantity\n" + ok))
    assert parsed.book.limit.tolist() == [MAX_PRICE]


def test_clearing_reference_bound() -> None:
    book = OrderArrays.from_orders([Order("X", Side.BUY, 5, 1)])
    with pytest.raises(InvalidOrder, match=r"reference: .* 1073741823 ticks \(below 2\^30\)"):
        discover_price(book, MAX_PRICE + 1)
    assert discover_price(book, MAX_PRICE).price is None
    with pytest.raises(InvalidOrder, match="limit"):
        OrderArrays(np.array([True]), np.array([MAX_PRICE + 1], np.int64), np.array([1], np.int64))


@pytest.mark.parametrize(
    ("field", "largest", "bits"), [("bond", MAX_BOND, 30), ("margin_lock", MAX_BALANCE, 62)]
)
def test_commit_book_refuses_an_unbounded_bond_or_lock(
    make_book: BookFactory, field: str, largest: int, bits: int
) -> None:
    """A lock of 2^62 or more could not be moved by the proof, a bond of 2^30 or more
    is not one element of its commitment's leaf: refused at commit, nothing taken."""
    book = make_book()
    order = Order("BTC-PERP", Side.BUY, 50_000, 1)
    cm = compute_commitment(order, bytes(32), ALICE.address, 7)
    too_big = Commit(ALICE.address, 7, "BTC-PERP", cm, 1, **{field: largest + 1})
    seed = book.seed
    with pytest.raises(InvalidOrder) as err:
        book.commit(SignedCommit.sign(too_big, ALICE.key, DOMAIN), IN_COMMIT)
    assert str(err.value) == (
        f"{field}: expected an integer from 0 to {largest} base units (below 2^{bits}), "
        f"got {largest + 1}"
    )
    assert book.seed == seed
    fine = Commit(ALICE.address, 7, "BTC-PERP", cm, 2, **{field: largest})
    assert book.commit(SignedCommit.sign(fine, ALICE.key, DOMAIN), IN_COMMIT).sequence == 0


@given(st.integers(-(1 << 70), 1 << 70), st.integers(0, 1 << 40), st.integers(0, 1 << 40))
def test_within_is_the_interval(value: int, low: int, span: int) -> None:
    assert within(value, low, low + span) == (low <= value <= low + span)
    if not within(value, low, low + span):
        assert bound_message("v", value, low, low + span).endswith(f"got {value}")


def test_bounds_module_lists_its_names() -> None:
    assert set(bounds.__all__) >= {"MAX_PRICE", "MAX_LOTS", "MAX_POSITION", "MAX_BALANCE"}
