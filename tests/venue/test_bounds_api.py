"""Value bounds at the venue's edges: the request schemas refuse what the batch
proof could not range-check (422 ``invalid_request`` naming the field) and
change nothing; ``sealbatch clear`` refuses an unbounded reference price."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from sealbatch.auction.bounds import MAX_BALANCE, MAX_BOND, MAX_LOTS, MAX_PRICE
from sealbatch.auction.orders import Order, Side
from sealbatch.venue.cli import main as cli
from sealbatch.venue.schemas import (
    CommitIn,
    DepositIn,
    OracleReportIn,
    OrderIn,
    QuoteRevealIn,
    RfqIn,
    WithdrawIn,
)
from tests.venue.conftest import Venue

ADDR = "0x" + "11" * 20
H32 = "0x" + "ab" * 32
SIG = "0x" + "cd" * 64 + "1b"
BASE: dict[type[BaseModel], dict[str, Any]] = {
    OrderIn: {"market": "BTC-PERP", "side": "buy", "limit_price": 5, "quantity": 1},
    RfqIn: {
        "requester": ADDR, "market": "BTC-PERP", "size": 10_000, "window_ms": 800,
        "nonce": 1, "signature": SIG,
    },
    QuoteRevealIn: {
        "maker": ADDR, "rfq_id": H32, "commitment": H32, "bid": 1, "ask": 2, "salt": H32,
        "nonce": 1, "signature": SIG,
    },
    DepositIn: {"trader": ADDR, "amount": 1, "nonce": 1, "signature": SIG},
    WithdrawIn: {"trader": ADDR, "amount": 1, "nonce": 1, "signature": SIG},
    CommitIn: {
        "trader": ADDR, "batch_id": 1, "market": "BTC-PERP", "commitment": H32, "nonce": 1,
        "signature": SIG,
    },
    OracleReportIn: {
        "market": "BTC-PERP", "price": 1, "timestamp_ms": 1, "source": ADDR, "signature": SIG,
    },
}  # fmt: skip


@pytest.mark.parametrize(
    ("model", "field", "largest"),
    [
        (OrderIn, "limit_price", MAX_PRICE),
        (OrderIn, "quantity", MAX_LOTS),
        (RfqIn, "size", MAX_LOTS),
        (QuoteRevealIn, "bid", MAX_PRICE),
        (QuoteRevealIn, "ask", MAX_PRICE),
        (DepositIn, "amount", MAX_BALANCE),
        (WithdrawIn, "amount", MAX_BALANCE),
        (CommitIn, "bond", MAX_BOND),
        (CommitIn, "margin_lock", MAX_BALANCE),
        (OracleReportIn, "price", MAX_PRICE),
    ],
)
def test_schema_bounds(model: type[BaseModel], field: str, largest: int) -> None:
    model.model_validate({**BASE[model], field: largest})
    with pytest.raises(ValidationError) as err:
        model.model_validate({**BASE[model], field: largest + 1})
    (problem,) = err.value.errors()
    assert problem["loc"] == (field,) and problem["type"] == "less_than_equal"
    assert problem["ctx"]["le"] == largest


def test_an_unbounded_bond_is_refused_over_http_and_changes_nothing(venue: Venue) -> None:
    """A signed commitment whose bond no proof could move: 422 before any state changes."""
    core = venue.service.core
    before = (core.events_applied, len(core.order_statuses))
    alice = venue.traders["alice"]
    for bond in (MAX_BALANCE + 1, MAX_BOND + 1):  # 2^62; 2^30, no element of a leaf
        body, _ = alice._commit_body(Order("BTC-PERP", Side.BUY, 100, 5), 0, bond, 0, 2**63)
        r = venue.tc.post("/v1/commitments", json=body)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text
        assert "bond" in r.json()["detail"]
        assert (core.events_applied, len(core.order_statuses)) == before


def test_clear_reference_bound(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orders = tmp_path / "o.csv"
    orders.write_text("order_id,trader,side,limit_price,quantity\na,t,buy,5,1\nb,u,sell,5,1\n")
    assert cli(["clear", str(orders), "--reference", str(MAX_PRICE + 1)]) == 2
    err = capsys.readouterr().err
    assert "--reference: expected an integer from 1 to 1073741823 ticks (below 2^30)" in err
    assert cli(["clear", str(orders), "--reference", str(MAX_PRICE)]) == 0
