"""Migrate a book: a LOBSTER file replayed under every mechanism, a flagged trader measured."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sealbatch.research.errors import LobsterFormatError, ScenarioError
from sealbatch.research.lobster import read_lobster_messages
from sealbatch.research.replay import LobsterFlow, _flow, _midquote_path
from sealbatch.research.runner import replay_source, run_simulation
from sealbatch.research.scenario import Scenario, scenario_from_dict

# price_scale 100: LOBSTER 10100 is 101 ticks
ROWS = [
    "34200.000000000,1,1,5,10100,-1",  # resting sell 5 @ 101
    "34200.000000000,1,2,5,9900,1",  # resting buy 5 @ 99: mid 100
    "34200.250000000,4,1,2,10100,-1",  # an execution of the sell: a buyer took 2 @ 101
]


def _file(tmp_path: Path, rows: list[str], name: str = "book") -> Path:
    path = tmp_path / f"{name}_message_10.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _scenario(path: Path, **replay: object) -> Scenario:
    quiet = {"rate_hz": 0}
    return scenario_from_dict(
        {
            "name": "replay-test",
            "horizon_s": 10.0,
            "agents": {"market_makers": {"count": 0}, "zi": quiet, "value": quiet, "noise": quiet},
            "replay": {"enabled": True, "messages": str(path), "price_scale": 100,
                       "trader_share": 1.0, **replay},
            "mechanisms": [
                {"kind": "clob"},
                {"kind": "fba", "interval_ms": 100},
                {"kind": "cr_fba", "interval_ms": 100, "reveal_ms": 20, "bond": 10},
            ],
        }
    )  # fmt: skip


@pytest.mark.parametrize("mechanism", ["clob", "fba-100ms", "cr-100ms"])
def test_a_takers_fill_slippage_and_fees_are_known_answers(tmp_path: Path, mechanism: str) -> None:
    """The trader is the aggressor that bought 2 lots at 101 with the mid at 100:
    under every mechanism it buys 2 @ 101 (the only sell rests at 101), so its
    shortfall is 2·1/100 per lot = 100 bps, its effective spread 200 bps, its
    fee ceil(2·101·5/10 000) = 1 (the venue's rounding), its P&L
    −202 + 2·100 − 1 = −3."""
    scenario = _scenario(_file(tmp_path, ROWS))
    spec = next(m for m in scenario.mechanisms if m.label == mechanism)
    m = run_simulation(scenario, spec, 0).metrics
    assert m["conservation_ok"] == 1
    assert (m["trader_lots"], m["trader_filled"], m["trader_fill_rate"]) == (2, 2, 1.0)
    assert m["trader_shortfall_bps"] == pytest.approx(100.0)
    assert m["trader_spread_bps"] == pytest.approx(200.0)
    assert m["trader_fees"] == 1
    assert m["trader_fees_bps"] == pytest.approx(1 / 202 * 1e4)
    assert m["trader_pnl"] == -3


def test_a_maker_pays_no_fee_in_the_book_and_the_venue_fee_in_batches(tmp_path: Path) -> None:
    """As the maker (every limit order is the trader's), it sells 2 @ 101: 0 fee in
    the book (maker fee 0), 1 under the batch mechanisms."""
    scenario = _scenario(_file(tmp_path, ROWS), trader_role="maker")
    fees = {}
    for spec in scenario.mechanisms:
        m = run_simulation(scenario, spec, 0).metrics
        assert (m["trader_lots"], m["trader_filled"]) == (10, 2)
        assert m["trader_spread_bps"] == pytest.approx(-200.0)  # a maker earns the spread
        fees[spec.label] = m["trader_fees"]
    assert fees == {"clob": 0, "fba-100ms": 1, "cr-100ms": 1}


def test_flow_folds_executions_and_keeps_amendments(tmp_path: Path) -> None:
    rows = [
        *ROWS,
        "34200.300000000,2,2,3,9900,1",  # partial cancel of 3 of the buy
        "34200.400000000,3,2,2,9900,1",  # delete the rest
        "34200.500000000,5,0,1,10000,1",  # a hidden execution of a buy: a seller took 1
        "34200.500000000,7,0,0,0,1",  # a halt: skipped
    ]
    messages = read_lobster_messages(_file(tmp_path, rows))
    flow = _flow(messages, messages[0].time_ns, 100)
    assert [(r.t_ns, r.kind, r.side, r.price, r.size) for r in flow] == [
        (0, "new", -1, 101, 5),
        (0, "new", 1, 99, 5),
        (250_000_000, "take", 1, 101, 2),
        (300_000_000, "reduce", 1, 99, 3),
        (400_000_000, "delete", 1, 99, 2),
        (500_000_000, "take", -1, 100, 1),
    ]


def test_midquote_path_leads_the_book_and_marks_jumps(tmp_path: Path) -> None:
    rows = [
        "34200.000000000,1,1,5,10100,-1",
        "34200.000000000,1,2,5,9900,1",  # mid 100
        "34201.000000000,1,3,5,10300,1",  # a buy at 103 over the ask: mid 102
        "34202.000000000,3,3,5,10300,1",  # deleted: mid 100 again
        "34203.000000000,1,4,1,10000,-1",  # a sell at 100: mid 99.5 (less than a jump)
    ]
    messages = read_lobster_messages(_file(tmp_path, rows))
    path = _midquote_path(messages, messages[0].time_ns, 100, 2, 1_000_000)
    assert path.times.tolist() == [0, 999_000_000, 1_999_000_000, 2_999_000_000]
    assert path.values.tolist() == [100.0, 102.0, 100.0, 99.5]
    assert path.jump.tolist() == [False, True, True, False]


def test_the_flagged_share_is_drawn_per_seed(tmp_path: Path) -> None:
    rows = [f"34200.{i:09d},1,{i + 1},1,{9900 - (i % 3) * 100},1" for i in range(0, 400, 2)]
    rows += ["34200.500000000,1,999,1,10100,-1"]
    scenario = _scenario(_file(tmp_path, rows), trader_role="maker", trader_share=0.25)
    spec = scenario.mechanisms[0]
    lots = [run_simulation(scenario, spec, seed).metrics["trader_lots"] for seed in (0, 1)]
    assert all(25 <= x <= 75 for x in lots)  # about a quarter of the 201 limit orders
    flows = [
        next(a for a in run_simulation(scenario, spec, seed).agents if isinstance(a, LobsterFlow))
        for seed in (0, 1)
    ]
    assert flows[0].flagged != flows[1].flagged


def test_bad_replay_settings_and_files_are_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, ROWS)
    for bad, match in (
        ({"trader_role": "lurker"}, "trader_role"),
        ({"trader_share": 0.0}, "trader_share"),
        ({"fee_bps": 5000}, "fee_bps"),
        ({"news_lead_us": -1.0}, "news_lead_us"),
    ):
        with pytest.raises(ScenarioError, match=match):
            _scenario(path, **bad)
    one_sided = _file(tmp_path, ["34200.0,1,1,5,10100,-1"], "one_sided")
    with pytest.raises(LobsterFormatError, match="two-sided"):
        replay_source(_scenario(one_sided))
    assert math.isfinite(replay_source(_scenario(path)).path.final)
