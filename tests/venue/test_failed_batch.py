"""A batch settlement refuses is loud: status failed with the reason, the ledger
unchanged, /v1/operator lists it and /metrics counts it."""

from __future__ import annotations

from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.ledger import AccountKey
from sealbatch.settlement.roots import state_root
from tests.venue.conftest import Venue


def test_a_batch_the_ledger_refuses_fails_loudly_and_changes_nothing(venue: Venue) -> None:
    t = venue.traders
    a = t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    b = t["erin"].commit(Order("BTC-PERP", Side.SELL, 100, 1))
    venue.to_reveal(0)
    t["dave"].reveal(a)
    t["erin"].reveal(b)
    venue.to_cleared(0)
    settle = venue.service.core.settlement
    before = state_root(settle.state)
    # A withdrawal the ledger refuses at settlement (past the request-time check,
    # as a race or a bug could leave it): more than the trader's whole collateral.
    collateral = settle.account(t["carol"].address).to_dict()["collateral"]
    assert isinstance(collateral, int)
    c = t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1), batch_id=1)
    d = t["erin"].commit(Order("BTC-PERP", Side.SELL, 100, 1), batch_id=1)
    venue.to_reveal(1)
    t["dave"].reveal(c)
    t["erin"].reveal(d)
    settle.pending_withdrawals.append((AccountKey(t["carol"].address, 0), collateral + 1))
    rec = venue.to_cleared(1)
    assert rec["status"] == "failed"
    assert rec["settlement"]["settled"] is False
    assert (
        "withdraw" in rec["settlement"]["error"].lower()
        or str(collateral) in (rec["settlement"]["error"])
    )
    assert state_root(settle.state) == before  # nothing of the batch was applied
    for sealed in (c, d):  # no order of it says it filled
        status = venue.service.core.order_statuses[sealed.commitment]
        assert (status.status, status.reason) == ("not_filled", "batch_failed")
        assert status.filled == 0
    view = venue.tc.get("/v1/operator").json()
    assert view["failed_batches"] == [{"batch_id": 1, "reason": rec["settlement"]["error"]}]
    metrics = venue.tc.get("/metrics").text
    assert "sealbatch_batches_failed_total 1.0" in metrics
