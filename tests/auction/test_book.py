"""OrderArrays: the column form of one market's orders."""

from __future__ import annotations

import numpy as np
import pytest

from sealbatch.auction.book import MARKET, OrderArrays
from sealbatch.auction.bounds import MAX_LOTS, MAX_PRICE
from sealbatch.auction.errors import InvalidOrder
from sealbatch.auction.orders import Order, Side, TimeInForce


def test_from_orders() -> None:
    orders = [
        Order("BTC-PERP", Side.BUY, 100, 3),
        Order("BTC-PERP", Side.SELL, None, 5),
        Order("BTC-PERP", Side.SELL, MAX_PRICE, MAX_LOTS, TimeInForce.GTC),
    ]
    book = OrderArrays.from_orders(orders)
    assert len(book) == 3
    assert book.is_buy.tolist() == [True, False, False]
    assert book.limit.tolist() == [100, MARKET, MAX_PRICE]
    assert book.quantity.tolist() == [3, 5, MAX_LOTS]
    assert (book.is_buy.dtype, book.limit.dtype, book.quantity.dtype) == (
        np.bool_,
        np.int64,
        np.int64,
    )


def test_empty() -> None:
    assert len(OrderArrays.empty()) == 0
    assert len(OrderArrays.from_orders([])) == 0


def arrays(
    is_buy: list[bool], limit: list[int], quantity: list[int], *, dtype: type = np.int64
) -> OrderArrays:
    return OrderArrays(
        np.array(is_buy, dtype=np.bool_),
        np.array(limit, dtype=dtype),
        np.array(quantity, dtype=np.int64),
    )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: arrays([True], [1, 2], [1]), "one length"),
        (lambda: arrays([True], [1], [0]), "quantity"),
        (lambda: arrays([True], [1], [MAX_LOTS + 1]), "quantity"),
        (lambda: arrays([True], [-1], [1]), "limit"),
        (lambda: arrays([True], [MAX_PRICE + 1], [1]), "limit"),
        (lambda: arrays([True], [1], [1], dtype=np.int32), "limit: expected dtype int64"),
        (lambda: arrays([True], [1], [1], dtype=np.float64), "limit: expected dtype int64"),
        (
            lambda: OrderArrays(
                np.array([1], np.int64), np.array([1], np.int64), np.array([1], np.int64)
            ),
            "is_buy: expected dtype bool",
        ),
    ],
)
def test_malformed_arrays_are_refused(make: object, match: str) -> None:
    with pytest.raises(InvalidOrder, match=match):
        make()  # type: ignore[operator]
