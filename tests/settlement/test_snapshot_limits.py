"""A published state whose amounts leave int64 is malformed input, not a crash."""

from __future__ import annotations

import pytest

from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.snapshot import state_from_dict, state_to_dict
from tests.settlement.conftest import funded


@pytest.mark.parametrize("field", ["collateral", "position"])
def test_out_of_range_amount_is_a_settlement_error(field: str) -> None:
    doc = state_to_dict(funded([1_000]), DEFAULT_CONFIG)
    assert state_from_dict(doc, DEFAULT_CONFIG).collateral.tolist() == [1_000]
    if field == "collateral":
        doc["accounts"][0]["collateral"] = 1 << 64
    else:
        doc["accounts"][0]["positions"]["BTC-PERP"] = -(1 << 63) - 1
    with pytest.raises(SettlementError, match="state"):
        state_from_dict(doc, DEFAULT_CONFIG)
