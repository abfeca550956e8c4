"""Through the venue: every settled batch's pre-root is the previous settled
batch's post-root, with RFQ blocks, deposits and withdrawals in between."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from tests.venue.conftest import Venue
from tests.venue.test_rfq import _auction_trade, _prime_price, _rfq_until_revealed


def _settled_records(venue: Venue) -> list[dict[str, Any]]:
    records = venue.service.core.records
    return [records[b].to_json() for b in sorted(records) if records[b].status == "settled"]


def test_roots_chain_through_blocks_deposits_and_withdrawals(venue: Venue) -> None:
    t = venue.traders
    _prime_price(venue, 100)  # batch 0 settles the deposits of every trader
    rfq, _ = _rfq_until_revealed(venue)
    acc = t["alice"].accept_best(rfq["rfq_id"], "buy")
    block_batch = acc["batch_id"]
    _auction_trade(venue, block_batch, 99)
    t["alice"].deposit(5_000_000_000)  # settles with the block's batch
    rec = venue.to_cleared(block_batch)
    assert rec["blocks"][0]["status"] == "filled"
    assert rec["settlement"]["block_adjustments"]
    assert rec["settlement"]["deposits"]
    t["carol"].withdraw(1_000_000)  # alone: it makes the next batch settle
    venue.to_cleared(block_batch + 1)
    records = _settled_records(venue)
    assert len(records) >= 3 and any(r["settlement"]["withdrawals"] for r in records)
    for prev, nxt in pairwise(records):
        assert nxt["settlement"]["pre_root"] == prev["settlement"]["post_root"], nxt["batch_id"]
    # and the last post-root is the ledger the accounts show
    assert t["carol"].account()["state_root"] == records[-1]["settlement"]["post_root"]
