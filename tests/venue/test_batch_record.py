"""A batch record's markets: the auction's result as ``result.json`` publishes it (one
source for both, :func:`sealbatch.auction.batch.market_json`), read back unchanged."""

from __future__ import annotations

import json

from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.snapshot import result_to_dict
from sealbatch.venue.batch_record import MarketOutcome
from tests.settlement.batch_air_helpers import committed_batch
from tests.settlement.conftest import TRADERS

REFS = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}


def test_a_records_market_is_the_auctions_result_and_reads_back() -> None:
    t = TRADERS
    result = committed_batch(
        1,
        [
            (t[0], Order("BTC-PERP", Side.BUY, 650_010, 5)),
            (t[1], Order("BTC-PERP", Side.SELL, None, 3)),
            (t[2], Order("BTC-PERP", Side.SELL, 650_020, 4)),
        ],
        REFS,
    )
    published = result_to_dict(result)["markets"]
    for market, mr in result.markets.items():
        outcome = MarketOutcome.of(mr)
        record = outcome.to_json()
        assert record == mr.to_dict()
        assert list(record) == [
            "market", "reference_price", "price", "volume", "buy_volume", "sell_volume",
            "imbalance", "orders", "fills", "curves",
        ]  # fmt: skip
        assert published[market] == {
            k: v for k, v in record.items() if k not in ("market", "curves")
        }
        assert MarketOutcome.from_json(json.loads(json.dumps(record))) == outcome
    btc = result.markets["BTC-PERP"].to_dict()
    assert (btc["price"], btc["volume"], btc["orders"]) == (650_000, 3, 3)
    assert btc["curves"] == {
        "prices": [650_010, 650_020],
        "demand": [5, 0],
        "supply": [3, 7],
        "market_buy": 0,  # no market buys; the market sell counts in every supply level
        "market_sell": 3,
    }
