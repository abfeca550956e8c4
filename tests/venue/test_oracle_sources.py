"""Oracle sources are operator configuration: only the configured keys move prices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import address_of
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.dev_oracle import dev_oracle_keys
from sealbatch.venue.app import create_app
from sealbatch.venue.client import ApiError, VenueClient
from tests.venue.conftest import T0, Venue, make_settings

KEYS = [keccak256(b"venue oracle sources test", bytes([i])) for i in range(4)]


def _file(tmp_path: Path) -> str:
    path = tmp_path / "oracle.json"
    families = ("exchanges", "exchanges", "aggregators", "aggregators")
    sources = [{"address": address_of(k), "family": f} for k, f in zip(KEYS, families, strict=True)]
    path.write_text(json.dumps({"sources": sources, "agreement_bps": 25}))
    return str(path)


def test_configured_sources_replace_the_public_development_keys(
    tmp_path: Path, db_url: str, clock: Any
) -> None:
    """The attack: sign reports with the published development oracle keys and move the
    mark. With a sources file those keys are strangers (403 unknown_oracle_source), and
    the configured keys alone set the index."""
    app = create_app(make_settings(db_url, oracle_sources=_file(tmp_path)), clock)
    with TestClient(app) as tc:
        venue = Venue(tc, clock)
        venue.fund()

        def client(key: bytes) -> VenueClient:
            return VenueClient("http://testserver", key, http=tc, clock=clock.now_ms)

        for k in dev_oracle_keys():
            with pytest.raises(ApiError) as e:
                client(k).post_oracle_price("BTC-PERP", 598_000)
            assert e.value.status == 403 and e.value.code == "unknown_oracle_source"
        for k in KEYS:
            client(k).post_oracle_price("BTC-PERP", 650_000)
        t = venue.traders
        a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 650_000, 1), batch_id=0)
        b = t["bob"].commit(Order("BTC-PERP", Side.SELL, 650_000, 1), batch_id=0)
        venue.to_reveal(0)
        t["alice"].reveal(a)
        t["bob"].reveal(b)
        record = venue.to_cleared(0)
        reading = record["settlement"]["readings"]["BTC-PERP"]
        assert reading["index"] == 650_000 and not reading["flagged"]
        market = tc.get("/v1/markets/BTC-PERP").json()
        assert market["oracle"]["index_price"] == 650_000 and not market["oracle"]["flagged"]


def test_a_malformed_sources_file_is_refused_at_start(
    tmp_path: Path, db_url: str, clock: Any
) -> None:
    from sealbatch.settlement.errors import OracleError

    path = tmp_path / "oracle.json"
    path.write_text(json.dumps({"sources": [{"address": "0x1234", "family": "a"}]}))
    app = create_app(make_settings(db_url, oracle_sources=str(path)), clock)
    with pytest.raises(OracleError, match="40 hex digits"), TestClient(app):
        pass


@pytest.mark.timeout(60)
def test_a_sources_file_that_is_a_device_or_a_folder_is_refused(tmp_path: Path) -> None:
    """``--oracle-sources /dev/zero`` was read until memory ran out."""
    from sealbatch.settlement.errors import OracleError
    from sealbatch.settlement.oracle import load_oracle_config

    with pytest.raises(OracleError, match=r"cannot read .*: expected a regular file, got a direc"):
        load_oracle_config(tmp_path)
    if Path("/dev/zero").exists():
        with pytest.raises(OracleError, match="expected a regular file, got a character device"):
            load_oracle_config("/dev/zero")


def test_a_market_whose_index_is_too_old_halts_until_fresh_prices_arrive(
    db_url: str, clock: Any
) -> None:
    """The attack: keep the oracle silent and trade on with a frozen index. Once the
    trusted index is older than max_price_age_ms, the market's orders stay out of the
    auction; fresh reports bring it back one batch later."""
    from sealbatch.settlement.dev_oracle import dev_oracle_config

    app = create_app(make_settings(db_url), clock)
    with TestClient(app) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        feeders = [
            VenueClient("http://testserver", k, http=tc, clock=clock.now_ms)
            for k in dev_oracle_keys()
        ]
        t = venue.traders

        def trade(batch_id: int) -> dict[str, Any]:
            a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 650_000, 1), batch_id=batch_id)
            b = t["bob"].commit(Order("BTC-PERP", Side.SELL, 650_000, 1), batch_id=batch_id)
            venue.to_reveal(batch_id)
            t["alice"].reveal(a)
            t["bob"].reveal(b)
            return venue.to_cleared(batch_id)

        for f in feeders:
            f.post_oracle_price("BTC-PERP", 650_000)
        assert trade(0)["markets"]["BTC-PERP"]["volume"] == 1
        late = (dev_oracle_config().max_price_age_ms + 5_000) // 1_000
        clock.set(T0 + late * 1_000 + 10)
        before = t["alice"].account()["collateral"]
        a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 650_000, 1), batch_id=late)
        venue.to_reveal(late)
        with pytest.raises(ApiError) as e:
            t["alice"].reveal(a)
        assert e.value.code == "market_halted"
        assert venue.to_cleared(late)["markets"]["BTC-PERP"]["volume"] == 0
        # the refused commitment forfeits nothing: the oracle refused it, not the trader
        assert t["alice"].account()["collateral"] == before
        assert t["alice"].account()["positions"]["BTC-PERP"] == 1  # only batch 0's lot
        for f in feeders:
            f.post_oracle_price("BTC-PERP", 650_000)
        # the index is still the old one when batch late + 1 clears: halted again, but
        # its round brings the fresh index
        a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 650_000, 1), batch_id=late + 1)
        venue.to_reveal(late + 1)
        with pytest.raises(ApiError) as e:
            t["alice"].reveal(a)
        assert e.value.code == "market_halted"
        assert venue.to_cleared(late + 1)["markets"]["BTC-PERP"]["volume"] == 0
        for f in feeders:
            f.post_oracle_price("BTC-PERP", 650_000)
        assert trade(late + 2)["markets"]["BTC-PERP"]["volume"] == 1


def test_no_withdrawal_at_a_flagged_mark_over_the_api(venue: Venue) -> None:
    """The attack: make one source lie so that the market is flagged, then withdraw what
    the doubtful price would free. While flagged, an account with a position in the
    market gets 422 market_flagged and nothing changes; an account without one may."""
    keys = dev_oracle_keys()
    feeders = [
        VenueClient("http://testserver", k, http=venue.tc, clock=venue.clock.now_ms) for k in keys
    ]
    t = venue.traders
    for f in feeders:
        f.post_oracle_price("BTC-PERP", 650_000)
    a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 650_000, 10), batch_id=0)
    b = t["bob"].commit(Order("BTC-PERP", Side.SELL, 650_000, 10), batch_id=0)
    venue.to_reveal(0)
    t["alice"].reveal(a)
    t["bob"].reveal(b)
    assert venue.to_cleared(0)["markets"]["BTC-PERP"]["volume"] == 10
    venue.clock.set(venue.clock.now_ms() + 50)
    feeders[3].post_oracle_price("BTC-PERP", 520_000)  # one source of a family of two, 20 % low
    c = t["carol"].commit(Order("ETH-PERP", Side.BUY, 350_000, 1), batch_id=1)
    d = t["dave"].commit(Order("ETH-PERP", Side.SELL, 350_000, 1), batch_id=1)
    venue.to_reveal(1)
    t["carol"].reveal(c)
    t["dave"].reveal(d)
    record = venue.to_cleared(1)
    assert record["settlement"]["readings"]["BTC-PERP"]["flagged"]
    market = venue.tc.get("/v1/markets/BTC-PERP").json()
    assert market["oracle"]["index_price"] == 650_000 and market["mark_price"] <= 650_000
    for name in ("alice", "bob"):
        before = t[name].account()
        with pytest.raises(ApiError) as e:
            t[name].withdraw(1_000_000)
        assert e.value.status == 422 and e.value.code == "market_flagged"
        assert t[name].account() == before
    assert t["erin"].withdraw(1_000_000)["status"] == "pending"
