"""Published formats round-trip: state snapshots, rules, oracle rules, orders CSV."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.params import DEFAULT_CONFIG, DeleverageMode, default_config
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.snapshot import (
    config_from_dict,
    config_to_dict,
    oracle_config_from_dict,
    oracle_config_to_dict,
    orders_from_csv,
    orders_to_csv,
    state_from_dict,
    state_to_dict,
)
from sealbatch.settlement.transition import apply_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, make_batch, oracle_round


def _settled():
    state = funded([10**10, 10**10, 60_000_000]).with_arrays(
        portfolio=np.array([False, True, False])
    )
    orders = [
        (TRADERS[0], Order("BTC-PERP", Side.BUY, 650_000, 5)),
        (TRADERS[2], Order("BTC-PERP", Side.BUY, 650_000, 9)),
        (TRADERS[1], Order("BTC-PERP", Side.SELL, 650_000, 14)),
    ]
    state, _ = apply_batch(
        state,
        make_batch(1, orders),
        oracle_round(1, 1_000, {"BTC-PERP": 650_000, "ETH-PERP": 350_000}),
        DEFAULT_CONFIG,
        ORACLE,
    )
    crash = {"BTC-PERP": 600_000, "ETH-PERP": 350_000}
    prints = [
        (TRADERS[0], Order("BTC-PERP", Side.BUY, 600_000, 1)),
        (TRADERS[1], Order("BTC-PERP", Side.SELL, 600_000, 1)),
    ]
    state, w = apply_batch(
        state,
        make_batch(2, prints, pre=state),
        oracle_round(2, 2_000, crash),
        DEFAULT_CONFIG,
        ORACLE,
    )
    assert w.liquidations  # trader 2 is below maintenance: a pending liquidation to publish
    return state


def test_state_round_trips_through_json() -> None:
    state = _settled()
    doc = json.loads(json.dumps(state_to_dict(state, DEFAULT_CONFIG)))
    again = state_from_dict(doc, DEFAULT_CONFIG)
    assert state_root(again) == state_root(state) == bytes.fromhex(doc["state_root"][2:])
    assert again.pending_liquidations == state.pending_liquidations
    assert again.portfolio.tolist() == [False, True, False]
    assert doc["accounts"][2]["liquidating"] is True
    assert state_to_dict(again, DEFAULT_CONFIG) == doc


def test_state_from_dict_rejects_bad_documents() -> None:
    doc = state_to_dict(_settled(), DEFAULT_CONFIG)
    with pytest.raises(SettlementError, match="format"):
        state_from_dict({**doc, "format": "other"}, DEFAULT_CONFIG)
    broken = json.loads(json.dumps(doc))
    del broken["accounts"][0]["collateral"]
    with pytest.raises(SettlementError, match="collateral"):
        state_from_dict(broken, DEFAULT_CONFIG)


def test_rules_round_trip() -> None:
    cfg = default_config(correlation_bps=5_000, deleverage=DeleverageMode.SOCIALISE)
    assert config_from_dict(json.loads(json.dumps(config_to_dict(cfg)))) == cfg
    assert oracle_config_from_dict(oracle_config_to_dict(ORACLE)) == ORACLE
    bad = config_to_dict(cfg)
    bad["deleverage"] = "pray"
    with pytest.raises(SettlementError, match="config"):
        config_from_dict(bad)


def test_orders_csv_round_trips() -> None:
    orders = [
        RestingOrder(b"\x01" * 32, TRADERS[0], Order("BTC-PERP", Side.BUY, None, 3), 4),
        RestingOrder(
            b"\x02" * 32, TRADERS[1], Order("ETH-PERP", Side.SELL, 99, 7, TimeInForce.GTC), 3
        ),
        RestingOrder(
            b"\x03" * 32, TRADERS[2], Order("ETH-PERP", Side.BUY, 101, 2, reduce_only=True), 4
        ),
    ]
    text = orders_to_csv(orders)
    assert text.splitlines()[0].split(",")[:3] == ["order_id", "trader", "market"]
    assert orders_from_csv(text) == orders
    with pytest.raises(SettlementError, match="row 1"):
        orders_from_csv(text.replace(",buy,", ",hold,", 1))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            lambda rows: [*rows[:2], rows[2] + ",7"], "row 2: expected 12 fields", id="extra"
        ),
        pytest.param(
            lambda rows: [*rows[:2], rows[2] + ","], "row 2: expected 12 fields", id="empty-extra"
        ),
        pytest.param(
            lambda rows: [*rows[:2], rows[2].rsplit(",", 1)[0]],
            "row 2: expected 12 fields",
            id="short",
        ),
        pytest.param(
            lambda rows: [rows[0] + ",quantity"] + [r + ",3" for r in rows[1:]],
            "expected each column once, got quantity",
            id="column-twice",
        ),
    ],
)
def test_orders_csv_rows_must_match_the_header(edit: Any, message: str) -> None:
    """A field beyond the header, a missing field or a column named twice is refused
    (naming the row), not read past or read from one of the two columns."""
    orders = [
        RestingOrder(b"\x01" * 32, TRADERS[0], Order("BTC-PERP", Side.BUY, None, 3), 4),
        RestingOrder(b"\x02" * 32, TRADERS[1], Order("ETH-PERP", Side.SELL, 99, 7), 3),
    ]
    rows = orders_to_csv(orders).splitlines()
    assert orders_from_csv("\n".join(rows)) == orders
    with pytest.raises(SettlementError, match=message):
        orders_from_csv("\n".join(edit(rows)))
