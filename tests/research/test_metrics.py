"""Metrics: the sandwich rule, spreads, conservation checks."""

from __future__ import annotations

import numpy as np
import pytest

from sealbatch.research.errors import ConservationError
from sealbatch.research.fundamental import FundamentalPath
from sealbatch.research.metrics import (
    Tape,
    check_conservation,
    cost_metrics,
    count_sandwiches,
    fundamental_benchmark,
    public_benchmark,
    tape_arrays,
)
from sealbatch.research.simulation import BUY, SELL
from tests.research.helpers import make_venue, order


def _tape(rows: list[tuple[int, int, int, int, int, int, int, bool]]) -> Tape:
    a = np.array(rows, dtype=np.int64)
    c = [a[:, i] for i in range(8)]
    sent = a[:, 8] if a.shape[1] > 8 else a[:, 0]
    return Tape(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7].astype(bool), sent)


ATTACKER, VICTIM, MAKER = 1, 2, 3


def test_front_victim_back_is_one_sandwich() -> None:
    tape = _tape(
        [
            (10, 1, ATTACKER, 100, BUY, 99, 5, True),  # front: aggressive, earlier unit
            (10, 1, MAKER, 101, SELL, 99, 5, False),
            (20, 2, VICTIM, 102, BUY, 101, 5, True),  # victim
            (20, 2, ATTACKER, 103, SELL, 101, 5, False),  # back: sold to the victim
        ]
    )
    assert count_sandwiches(tape, {VICTIM}, window_ns=1000) == 1


@pytest.mark.parametrize(
    "front_unit, front_aggressive, back_qty, window",
    [
        (2, True, 5, 1000),  # front in the victim's own unit (same batch): no "before"
        (1, False, 5, 1000),  # front leg was a resting quote, not an aggressive order
        (1, True, 1, 1000),  # back leg far smaller than the front leg
        (1, True, 5, 5),  # outside the window
    ],
)
def test_not_a_sandwich(
    front_unit: int, front_aggressive: bool, back_qty: int, window: int
) -> None:
    tape = _tape(
        [
            (10, front_unit, ATTACKER, 100, BUY, 99, 5, front_aggressive),
            (20, 2, VICTIM, 102, BUY, 101, 5, True),
            (20, 2, ATTACKER, 103, SELL, 101, back_qty, False),
        ]
    )
    assert count_sandwiches(tape, {VICTIM}, window_ns=window) == 0


def test_spreads_against_a_known_midpoint() -> None:
    # mid 100 until t=1s, 102 afterwards; a buy of 1 lot at 101 at t=0.5 s.
    sample_t = np.array([0, 1_000_000_000, 2_000_000_000, 6_000_000_000], dtype=np.int64)
    sample_p = np.array([100.0, 102.0, 102.0, 102.0])
    tape = _tape([(500_000_000, 1, VICTIM, 1, BUY, 101, 1, True)])
    bench = public_benchmark(sample_t, sample_p)
    out = cost_metrics(tape, np.array([True]), bench, 10_000_000_000)
    assert out["effective_spread_bps"] == pytest.approx(2 * 1 / 100 * 1e4)
    assert out["price_impact_1s_bps"] == pytest.approx(2 * 2 / 100 * 1e4)
    assert out["realised_spread_bps"] == pytest.approx(2 * (101 - 102) / 100 * 1e4)
    assert out["price_impact_5s_bps"] == pytest.approx(2 * 2 / 100 * 1e4)


def test_costs_against_the_fundamental_and_the_decision_time() -> None:
    # V = 100 until 0.4 s, 104 from then on; a buy sent at 0.3 s fills at 103 at 0.5 s.
    path = FundamentalPath(
        np.array([0, 400_000_000], dtype=np.int64),
        np.array([100.0, 104.0]),
        np.array([False, True]),
    )
    tape = _tape([(500_000_000, 1, VICTIM, 1, BUY, 103, 2, True, 300_000_000)])
    out = cost_metrics(tape, np.array([True]), fundamental_benchmark(path), 10_000_000_000)
    # against the value at the fill the buyer paid below it: a negative spread
    assert out["effective_spread_bps"] == pytest.approx(2 * (103 - 104) / 104 * 1e4)
    assert out["price_impact_1s_bps"] == pytest.approx(0.0)
    # against the value when it decided, it paid 3 ticks more
    assert out["execution_shortfall_bps"] == pytest.approx(3 / 100 * 1e4)


def test_a_benchmark_pulled_to_the_trade_price_flatters_the_spread() -> None:
    """The bias the fundamental benchmark removes: if the public price is the
    trade's own clearing price, the effective spread reads zero while the
    trader paid 5 ticks over the value."""
    path = FundamentalPath(np.array([0], dtype=np.int64), np.array([100.0]), np.array([False]))
    tape = _tape([(500_000_000, 1, VICTIM, 1, BUY, 105, 1, True)])
    pulled = public_benchmark(np.array([0, 400_000_000]), np.array([100.0, 105.0]))
    mask = np.array([True])
    assert cost_metrics(tape, mask, pulled, 10**10)["effective_spread_bps"] == 0
    fair = cost_metrics(tape, mask, fundamental_benchmark(path), 10**10)
    assert fair["effective_spread_bps"] == pytest.approx(1000.0)


def test_conservation_check_catches_created_cash_and_positions() -> None:
    sim, book, (a, b, _) = make_venue("clob")
    book.arrive(order(sim, a, SELL, 100, 2))
    book.arrive(order(sim, b, BUY, 100, 2, ioc=True))
    check_conservation(sim, tape_arrays(sim))
    sim.cash[a] += 1
    with pytest.raises(ConservationError, match="total cash"):
        check_conservation(sim, tape_arrays(sim))
    sim.cash[a] -= 1
    sim.pos[b] += 1
    sim.pos[a] -= 1
    with pytest.raises(ConservationError, match="from the tape"):
        check_conservation(sim, tape_arrays(sim))
