"""An oracle price above the highest tick is refused (it would feed funding and
marks with values no clearing price can reach, and overflow their products)."""

from __future__ import annotations

import pytest

from sealbatch.auction.markets import MAX_TICKS
from sealbatch.settlement.errors import OracleError
from sealbatch.settlement.oracle import PriceReport
from tests.settlement.conftest import TRADERS


def test_report_price_is_at_most_the_highest_tick() -> None:
    PriceReport("BTC-PERP", MAX_TICKS, 1, TRADERS[0])
    with pytest.raises(OracleError, match="price"):
        PriceReport("BTC-PERP", MAX_TICKS + 1, 1, TRADERS[0])
    with pytest.raises(OracleError, match="price"):
        PriceReport("BTC-PERP", (1 << 63) - 1, 1, TRADERS[0])
