"""Published batches that carry the venue's harder cases replay exactly: a forfeited
RFQ quote, a halted market's dropped reveals and held-over GTC rests."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from sealbatch.venue.cli import main
from tests.venue.conftest import Venue


def _extract(venue: Venue, batch_id: int, into: Path) -> Path:
    r = venue.tc.get(f"/v1/batches/{batch_id}/archive")
    assert r.status_code == 200, r.text
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        tar.extractall(into, filter="data")
    return into / f"batch-{batch_id}"


def test_a_batch_with_a_forfeited_rfq_quote_replays(
    venue: Venue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = venue.traders
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    t["bob"].quote(rfq["rfq_id"], 90, 110)  # bob never reveals: his bond is forfeited
    venue.clock.set(venue.clock.now_ms() + 5_000)
    venue.tc.get("/v1/batches")
    core = venue.service.core
    (batch_id,) = [b for b, r in core.records.items() if r.forfeits]
    folder = _extract(venue, batch_id, tmp_path)
    code = main(["replay", str(folder)])
    assert code == 0, capsys.readouterr().out


def test_a_halted_market_its_refused_reveals_and_held_rests_replay_as_a_chain(
    venue: Venue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GTC rest waits out a market halted by a silent oracle (held over, bound by each
    root), a reveal refused as market_halted forfeits nothing, and every published
    batch replays and chains."""
    from sealbatch.auction.orders import Order, Side, TimeInForce
    from sealbatch.settlement.dev_oracle import dev_oracle_config, dev_oracle_keys
    from sealbatch.venue.client import ApiError, VenueClient
    from tests.venue.conftest import T0

    feeders = [
        VenueClient("http://testserver", k, http=venue.tc, clock=venue.clock.now_ms)
        for k in dev_oracle_keys()
    ]
    t = venue.traders
    for f in feeders:
        f.post_oracle_price("BTC-PERP", 650_000)
    bid = t["alice"].commit(Order("BTC-PERP", Side.BUY, 650_000, 2))
    ask = t["bob"].commit(Order("BTC-PERP", Side.SELL, 650_000, 2))
    venue.to_reveal(0)
    t["alice"].reveal(bid)
    t["bob"].reveal(ask)
    venue.to_cleared(0)
    # a resting reduce-only offer: it reduces alice's long, so it may rest on while the
    # oracle is silent (a risk-raising rest is cancelled once the market is flagged)
    rest = t["alice"].commit(
        Order("BTC-PERP", Side.SELL, 660_000, 1, TimeInForce.GTC, reduce_only=True), batch_id=1
    )
    venue.to_reveal(1)
    t["alice"].reveal(rest)
    assert venue.to_cleared(1)["carried_out"] == 1
    late = (dev_oracle_config().max_price_age_ms + 5_000) // 1_000
    venue.clock.set(T0 + late * 1_000 + 10)
    before = t["carol"].account()["collateral"]
    refused = t["carol"].commit(Order("BTC-PERP", Side.SELL, 650_000, 1), batch_id=late)
    venue.to_reveal(late)
    with pytest.raises(ApiError) as e:
        t["carol"].reveal(refused)
    assert e.value.code == "market_halted"
    halted = venue.to_cleared(late)
    assert halted["carried_out"] == 1 and halted["markets"]["BTC-PERP"]["volume"] == 0
    assert t["carol"].account()["collateral"] == before  # the oracle refused it, not carol
    for f in feeders:
        f.post_oracle_price("BTC-PERP", 650_000)
    venue.to_cleared(late + 1)  # halted still (the round brings the fresh index)
    for f in feeders:
        f.post_oracle_price("BTC-PERP", 650_000)
    buy = t["bob"].commit(Order("BTC-PERP", Side.BUY, 660_000, 1), batch_id=late + 2)
    venue.to_reveal(late + 2)
    t["bob"].reveal(buy)
    done = venue.to_cleared(late + 2)
    assert done["markets"]["BTC-PERP"]["volume"] == 1 and done["carried_out"] == 0
    for b in sorted(venue.service.core.records):
        _extract(venue, b, tmp_path)
    # the halted batch held the rest over: in its pre- and post-state, not in its auction
    held = tmp_path / f"batch-{late}"
    c = "0x" + rest.commitment.hex()
    for name in ("pre_state.json", "post_state.json"):
        doc = json.loads((held / name).read_text())
        assert [r["order_id"] for r in doc["resting_orders"]] == [c], name
    assert c not in (held / "orders.csv").read_text()
    assert main(["replay", str(tmp_path)]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "replay exactly, roots chained" in out and f"batch {late} " in out
