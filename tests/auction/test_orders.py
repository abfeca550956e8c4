"""Orders: validation, the EIP-712 fields a reveal signs (known answers), dict round trip."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.bounds import MAX_LOTS, MAX_PRICE
from sealbatch.auction.errors import InvalidOrder
from sealbatch.auction.orders import ORDER_FIELDS, Order, Side, TimeInForce
from sealbatch.crypto.eip712 import StructType

MAX = MAX_PRICE  # prices: 1 .. 2^30 - 1
MAXQ = MAX_LOTS  # quantities: 1 .. 2^22 - 1
_ORDER_STRUCT = StructType("OrderFields", ORDER_FIELDS)


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


def test_typed_fields_known_answer() -> None:
    """A fixed order's EIP-712 fields: its own values, strings for the enums."""
    order = Order("BTC-PERP", Side.SELL, 43_210, 7, TimeInForce.GTC, True, 99)
    assert order.typed_fields() == {
        "market": "BTC-PERP",
        "side": "sell",
        "limitPrice": 43_210,
        "quantity": 7,
        "timeInForce": "gtc",
        "reduceOnly": True,
        "clientId": 99,
    }
    assert [n for n, _ in ORDER_FIELDS] == list(order.typed_fields())


def test_market_order_signs_limit_price_zero() -> None:
    order = Order("ETH-PERP", Side.BUY, None, 1)
    assert order.is_market
    fields = order.typed_fields()
    assert (fields["limitPrice"], fields["side"], fields["timeInForce"]) == (0, "buy", "ioc")


@settings(max_examples=200, deadline=None)
@given(orders, orders)
def test_distinct_orders_have_distinct_typed_fields(a: Order, b: Order) -> None:
    """No two orders sign alike: a signed reveal names exactly one order."""
    hash_a = _ORDER_STRUCT.hash_struct(a.typed_fields())
    hash_b = _ORDER_STRUCT.hash_struct(b.typed_fields())
    assert (a == b) == (hash_a == hash_b)


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
