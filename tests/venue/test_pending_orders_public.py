"""A GTC rest after its batch: its outcome and its order are public (the published
batch carries it, under the state root), the detail meant for its trader is not."""

from __future__ import annotations

import io
import json
import tarfile

from sealbatch.auction.orders import Order, Side, TimeInForce
from tests.venue.conftest import Venue


def _published(venue: Venue, batch_id: int, name: str) -> dict:
    r = venue.tc.get(f"/v1/batches/{batch_id}/archive")
    assert r.status_code == 200, r.text
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        member = tar.extractfile(f"batch-{batch_id}/{name}")
        assert member is not None
        doc: dict = json.loads(member.read())
    return doc


def test_a_gtc_rest_is_public_once_cleared_and_bound_by_the_root(venue: Venue) -> None:
    alice, bob = venue.traders["alice"], venue.traders["bob"]
    bid = alice.commit(Order("BTC-PERP", Side.BUY, 100, 10, TimeInForce.GTC))
    ask = bob.commit(Order("BTC-PERP", Side.SELL, 100, 4))
    c = "0x" + bid.commitment.hex()
    venue.to_reveal(0)
    alice.reveal(bid)
    bob.reveal(ask)
    # before the batch clears, nobody else learns of the order
    assert venue.tc.get(f"/v1/orders/{c}").status_code == 404
    record = venue.to_cleared(0)
    assert record["carried_out"] == 1
    # the outcome is public, the trader's detail is not
    public = venue.tc.get(f"/v1/orders/{c}").json()
    assert (public["status"], public["filled"], public["detail"]) == ("resting", 4, None)
    assert public["order"]["quantity"] == 10 and public["order"]["time_in_force"] == "gtc"
    # the published post-state holds the rest, and its root (the record's) binds it
    post = _published(venue, 0, "post_state.json")
    (rest,) = post["resting_orders"]
    assert (rest["order_id"], rest["trader"], rest["quantity"]) == (c, alice.address, 6)
    assert post["state_root"] == record["settlement"]["post_root"]
    # the next batch carries exactly that rest in, on that root
    nxt = venue.to_cleared(1)
    assert nxt["carried_in"] == 1 and nxt["settlement"]["pre_root"] == post["state_root"]
    assert _published(venue, 1, "pre_state.json")["resting_orders"] == [rest]
