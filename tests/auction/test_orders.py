"""Orders: validation, the canonical encoding (known answers), dict round trip."""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import keccak as eth_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.bounds import MAX_LOTS, MAX_PRICE
from sealbatch.auction.errors import InvalidOrder
from sealbatch.auction.orders import ORDER_TAG, Order, Side, TimeInForce

MAX = MAX_PRICE  # prices: 1 .. 2^30 - 1
MAXQ = MAX_LOTS  # quantities: 1 .. 2^22 - 1


def word(x: int) -> bytes:
    return x.to_bytes(32, "big")


def hand_encoding(
    market: str,
    is_buy: bool,
    limit: int | None,
    quantity: int,
    gtc: bool,
    reduce_only: bool,
    client_id: int,
) -> bytes:
    """The encoding documented in Order.encode, built word by word."""
    return b"".join(
        [
            eth_keccak(b"sealbatch.Order.v1"),
            eth_keccak(market.encode()),
            word(int(is_buy)),
            word(int(limit is not None)),
            word(limit or 0),
            word(quantity),
            word(int(gtc)),
            word(int(reduce_only)),
            word(client_id),
        ]
    )


orders = st.builds(
    Order,
    st.sampled_from(["BTC-PERP", "ETH-PERP", "X", "a" * 32]),
    st.sampled_from(Side),
    st.none() | st.integers(1, MAX),
    st.integers(1, MAXQ),
    st.just(TimeInForce.IOC),
    st.booleans(),
    st.integers(0, (1 << 64) - 1),
) | st.builds(
    Order,
    st.sampled_from(["BTC-PERP", "ETH-PERP"]),
    st.sampled_from(Side),
    st.integers(1, MAX),
    st.integers(1, MAXQ),
    st.just(TimeInForce.GTC),
    st.booleans(),
    st.integers(0, (1 << 64) - 1),
)


def test_tag_preimage() -> None:
    assert eth_keccak(b"sealbatch.Order.v1") == ORDER_TAG


def test_encoding_known_answer() -> None:
    """A fixed order, encoded by hand (above) and pinned when the test was written."""
    order = Order("BTC-PERP", Side.SELL, 43_210, 7, TimeInForce.GTC, True, 99)
    expected = hand_encoding("BTC-PERP", False, 43_210, 7, True, True, 99)
    assert order.encode() == expected
    assert order.hash() == eth_keccak(expected)
    assert order.hash().hex() == "0e8cbdd44417febfed0ce73aef56dc891c40f8a00d3b39e9754f91919592c44f"


def test_market_order_encoding() -> None:
    order = Order("ETH-PERP", Side.BUY, None, 1)
    assert order.is_market
    assert order.encode() == hand_encoding("ETH-PERP", True, None, 1, False, False, 0)


@settings(max_examples=200, deadline=None)
@given(orders)
def test_encoding_matches_hand_encoding(order: Order) -> None:
    assert order.encode() == hand_encoding(
        order.market,
        order.side is Side.BUY,
        order.limit_price,
        order.quantity,
        order.time_in_force is TimeInForce.GTC,
        order.reduce_only,
        order.client_id,
    )


@settings(max_examples=200, deadline=None)
@given(orders, orders)
def test_distinct_orders_have_distinct_encodings(a: Order, b: Order) -> None:
    assert (a == b) == (a.encode() == b.encode())


@settings(max_examples=200, deadline=None)
@given(orders)
def test_dict_round_trip(order: Order) -> None:
    assert Order.from_dict(order.to_dict()) == order


def test_defaults_and_sign() -> None:
    order = Order("BTC-PERP", Side.BUY, 100, 1)
    assert (order.time_in_force, order.reduce_only, order.client_id) == (TimeInForce.IOC, False, 0)
    assert (Side.BUY.sign, Side.SELL.sign) == (1, -1)
    assert not order.is_market


def test_with_quantity_keeps_everything_else() -> None:
    order = Order("BTC-PERP", Side.SELL, 100, 10, TimeInForce.GTC, True, 5)
    rest = order.with_quantity(3)
    assert rest == dataclasses.replace(order, quantity=3)
    with pytest.raises(InvalidOrder, match="quantity"):
        order.with_quantity(0)


def test_orders_are_frozen() -> None:
    order = Order("BTC-PERP", Side.BUY, 100, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.quantity = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"market": ""}, "market"),
        ({"market": "x" * 33}, "market"),
        ({"market": 5}, "market"),
        ({"side": "buy"}, "side"),
        ({"limit_price": 0}, "limit_price"),
        ({"limit_price": -3}, "limit_price"),
        ({"limit_price": MAX + 1}, "limit_price"),
        ({"limit_price": 100.5}, "limit_price"),
        ({"limit_price": 100.0}, "limit_price"),
        ({"limit_price": "100"}, "limit_price"),
        ({"limit_price": True}, "limit_price"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": -1}, "quantity"),
        ({"quantity": MAXQ + 1}, "quantity"),
        ({"quantity": 2.0}, "quantity"),
        ({"time_in_force": "gtc"}, "time_in_force"),
        ({"limit_price": None, "time_in_force": TimeInForce.GTC}, "time_in_force"),
        ({"reduce_only": 1}, "reduce_only"),
        ({"client_id": -1}, "client_id"),
        ({"client_id": 1 << 64}, "client_id"),
    ],
)
def test_invalid_fields_are_named(changes: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {
        "market": "BTC-PERP",
        "side": Side.BUY,
        "limit_price": 100,
        "quantity": 1,
        "time_in_force": TimeInForce.IOC,
        "reduce_only": False,
        "client_id": 0,
    }
    fields.update(changes)
    with pytest.raises(InvalidOrder, match=f"^{field}: .*expected"):
        Order(**fields)  # type: ignore[arg-type]


def test_limits_are_inclusive() -> None:
    Order("BTC-PERP", Side.BUY, 1, 1)
    Order("BTC-PERP", Side.BUY, MAX, MAXQ, client_id=(1 << 64) - 1)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"market": "BTC-PERP", "side": "hold", "quantity": 1}, "hold"),
        ({"market": "BTC-PERP", "side": "buy", "quantity": 1, "time_in_force": "fok"}, "fok"),
        ({"market": "BTC-PERP", "quantity": 1}, "side"),
        ({"market": "BTC-PERP", "side": "buy"}, "quantity"),
        ({"side": "buy", "quantity": 1}, "market"),
        ({"market": "BTC-PERP", "side": "buy", "quantity": "1"}, "quantity"),
    ],
)
def test_from_dict_errors(data: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidOrder, match=match):
        Order.from_dict(data)


def test_invalid_order_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Order("BTC-PERP", Side.BUY, 0, 1)
