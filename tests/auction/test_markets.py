"""Market rules: the price band (rounding inward), size limits, validation."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.errors import InvalidOrder, OutsideBand, SizeOutOfRange
from sealbatch.auction.markets import DEFAULT_MARKETS, MAX_LOTS, MAX_TICKS, Market
from sealbatch.auction.orders import Order, Side


def test_default_markets() -> None:
    assert set(DEFAULT_MARKETS) == {"BTC-PERP", "ETH-PERP"}
    for market_id, m in DEFAULT_MARKETS.items():
        assert m.market_id == market_id
        assert m.contract_multiplier == 100


def test_band_example() -> None:
    m = Market("X", band_bps=1_000)
    assert m.band(50_000) == (45_000, 55_000)
    # 3 * 0.9 = 2.7 rounds up to 3, 3 * 1.1 = 3.3 rounds down to 3
    assert m.band(3) == (3, 3)
    assert m.band(None) is None
    assert Market("X", band_bps=0).band(50_000) is None
    assert Market("X", band_bps=10_000).band(7) == (1, 14)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, MAX_TICKS), st.integers(1, 10_000))
def test_band_never_admits_a_price_beyond_bps(reference: int, bps: int) -> None:
    low, high = Market("X", band_bps=bps).band(reference) or (0, 0)
    lo_exact = Fraction(reference * (10_000 - bps), 10_000)
    hi_exact = Fraction(reference * (10_000 + bps), 10_000)
    assert low >= 1 and high <= MAX_TICKS
    # low is the smallest integer >= the exact bound (or 1); high the largest <= it
    assert low >= lo_exact and (low - 1 < lo_exact or low == 1)
    assert high <= hi_exact and (high + 1 > hi_exact or high == MAX_TICKS)
    assert low <= reference <= high


def test_check_order_size_limits_are_inclusive() -> None:
    m = Market("X", min_order_lots=5, max_order_lots=10, band_bps=0)
    m.check_order(Order("X", Side.BUY, 100, 5), None)
    m.check_order(Order("X", Side.BUY, 100, 10), None)
    with pytest.raises(SizeOutOfRange, match="quantity: expected 5 to 10 lots in X, got 4"):
        m.check_order(Order("X", Side.BUY, 100, 4), None)
    with pytest.raises(SizeOutOfRange, match="got 11"):
        m.check_order(Order("X", Side.SELL, None, 11), None)


def test_check_order_band_is_inclusive() -> None:
    m = Market("X", band_bps=100)  # 1 %
    m.check_order(Order("X", Side.BUY, 9_900, 1), 10_000)
    m.check_order(Order("X", Side.SELL, 10_100, 1), 10_000)
    with pytest.raises(OutsideBand, match="expected 9900 to 10100 ticks in X"):
        m.check_order(Order("X", Side.BUY, 9_899, 1), 10_000)
    with pytest.raises(OutsideBand, match="got 10101"):
        m.check_order(Order("X", Side.SELL, 10_101, 1), 10_000)
    # market orders have no limit to check; no reference means no band
    m.check_order(Order("X", Side.BUY, None, 1), 10_000)
    m.check_order(Order("X", Side.BUY, 1, 1), None)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"market_id": ""}, "market_id"),
        ({"market_id": "x" * 33}, "market_id"),
        ({"contract_multiplier": 0}, "contract_multiplier"),
        ({"contract_multiplier": True}, "contract_multiplier"),
        ({"min_order_lots": 0}, "min_order_lots"),
        ({"max_order_lots": 1.5}, "max_order_lots"),
        ({"block_min_lots": -1}, "block_min_lots"),
        ({"min_order_lots": 10, "max_order_lots": 9}, "max_order_lots"),
        ({"max_order_lots": MAX_LOTS + 1}, "max_order_lots"),
        ({"band_bps": -1}, "band_bps"),
        ({"band_bps": 10_001}, "band_bps"),
        ({"band_bps": 1.0}, "band_bps"),
        ({"band_bps": False}, "band_bps"),
    ],
)
def test_invalid_market_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"market_id": "X"}
    args.update(kwargs)
    with pytest.raises(InvalidOrder, match=f"^{field}: expected"):
        Market(**args)  # type: ignore[arg-type]
