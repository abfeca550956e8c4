"""ops/alerts.yml and ops/grafana-dashboard.json name only metrics the venue exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import ApiError
from tests.venue.conftest import Venue

OPS = Path(__file__).resolve().parents[2] / "ops"
METRIC = re.compile(r"\bsealbatch_[a-z0-9_]+")


def _exported(venue: Venue) -> set[str]:
    r = venue.tc.get("/metrics")
    assert r.status_code == 200
    return {
        line.split("{")[0].split(" ")[0]
        for line in r.text.splitlines()
        if line and not line.startswith("#")
    }


def _rule_exprs() -> list[str]:
    doc = yaml.safe_load((OPS / "alerts.yml").read_text())
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in ("page", "ticket")
    names = {rule["alert"] for rule in rules}
    assert {
        "SealbatchBatchLag",
        "SealbatchBatchFailed",
        "SealbatchLogWriteFailed",
        "SealbatchOracleFlagged",
        "SealbatchOracleStale",
        "SealbatchBreakerTripped",
        "SealbatchInsuranceFundDrawdown",
        "SealbatchSlowConnectionsSurge",
    } <= names
    return [str(rule["expr"]) for rule in rules]


def _dashboard_exprs() -> list[str]:
    doc = json.loads((OPS / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in doc["panels"] for t in p["targets"]]


def test_every_metric_the_rules_and_dashboard_use_is_exported(venue: Venue) -> None:
    # Labelled counters appear once counted: a trade and a refusal first.
    t = venue.traders
    a = t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    b = t["erin"].commit(Order("BTC-PERP", Side.SELL, 100, 1))
    venue.to_reveal(0)
    t["dave"].reveal(a)
    t["erin"].reveal(b)
    assert venue.to_cleared(0)["markets"]["BTC-PERP"]["volume"] == 1
    with pytest.raises(ApiError):
        t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1), batch_id=0)  # cleared
    exported = _exported(venue)
    used = {m for e in _rule_exprs() + _dashboard_exprs() for m in METRIC.findall(e)}
    assert len(used) >= 10
    missing = sorted(used - exported)
    assert not missing, f"not in /metrics: {missing}"


def test_the_market_gauges_say_what_the_ledger_says(venue: Venue) -> None:
    text = venue.tc.get("/metrics").text
    for market in venue.service.core.markets:
        view = venue.service.core.settlement.market_state(market)
        assert f'sealbatch_oracle_flagged{{market="{market}"}} {float(int(view.flagged))}' in text
        assert (
            f'sealbatch_breaker_protective{{market="{market}"}} '
            f"{float(int(view.breaker.protective))}" in text
        )
    fund = venue.service.core.settlement.state.insurance_fund
    assert f"sealbatch_insurance_fund {float(fund)}" in text
    assert "sealbatch_db_writer_failed 0.0" in text


def test_the_slow_connection_series_are_exported_before_any_is_closed(venue: Venue) -> None:
    """``sealbatch_slow_connections_closed_total`` has each phase's series at 0 from the
    start, so its alert rule and dashboard panel have a series to rate, and both use it."""
    text = venue.tc.get("/metrics").text
    for phase in ("idle", "head", "body", "write"):
        assert f'sealbatch_slow_connections_closed_total{{phase="{phase}"}} 0.0' in text
    used = " ".join(_rule_exprs() + _dashboard_exprs())
    assert used.count("sealbatch_slow_connections_closed_total") == 2
