"""A market whose single lot at the top price would leave int64 is refused."""

from __future__ import annotations

import pytest

from sealbatch.auction.errors import InvalidOrder
from sealbatch.auction.markets import MAX_LOTS, MAX_MULTIPLIER, MAX_TICKS, Market


def test_multiplier_is_bounded_so_one_lot_at_the_top_price_fits() -> None:
    assert MAX_TICKS * MAX_MULTIPLIER < 1 << 62
    Market("X-PERP", contract_multiplier=MAX_MULTIPLIER)
    with pytest.raises(InvalidOrder, match="contract_multiplier"):
        Market("X-PERP", contract_multiplier=MAX_MULTIPLIER + 1)
    with pytest.raises(InvalidOrder, match="contract_multiplier"):
        Market("X-PERP", contract_multiplier=1 << 64, max_order_lots=MAX_LOTS)
