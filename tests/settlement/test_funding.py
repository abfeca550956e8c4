"""Funding: time-weighted mark premium, capped rate, cumulative index, zero-sum payments.

``update_funding`` takes the market's mark premium before the batch, the one in force over
``dt``, as its sample (``transition.py`` passes the premium the previous batch's ``update_mark``
left; tests/settlement/test_wash_trade_attacks.py checks the two together)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.settlement.funding import average_premium, funding_payments, update_funding
from sealbatch.settlement.ledger import MarketState
from sealbatch.settlement.params import DEFAULT_CONFIG

RISK = DEFAULT_CONFIG.risk("BTC-PERP")  # interval 8 batches, cap 75 bps, multiplier 100


def _run(samples: list[tuple[int, int]], index: int = 100_000) -> list[int]:
    ms = MarketState("BTC-PERP")
    deltas = []
    for premium, dt in samples:
        ms, upd = update_funding(ms, RISK, premium, index, dt)
        deltas.append(upd.delta_index)
    return deltas


def test_index_steps_only_at_interval_end() -> None:
    deltas = _run([(10, 1_000)] * 8)
    assert deltas[:7] == [0] * 7
    # premium 10 ticks on 100 000 → 100 ppm; Δ = 100 × 100 000 × 100 / 10^6 = 1 000 per lot
    assert deltas[7] == 1_000


def test_premium_is_time_weighted() -> None:
    ms = MarketState("BTC-PERP")
    ms, _ = update_funding(ms, RISK, 30, 100_000, 1_000)  # +30 for 1 s
    ms, upd = update_funding(ms, RISK, -10, 100_000, 3_000)  # -10 for 3 s
    assert average_premium(ms) == 0  # (30 000 − 30 000) / 4 000
    assert upd.premium == -10


def test_every_sample_counts_its_time() -> None:
    """A batch without a trade samples its mark premium like any other (the caller
    passes every batch with a trusted index): a premium of 0 dilutes the average."""
    ms = MarketState("BTC-PERP")
    ms, _ = update_funding(ms, RISK, 40, 100_000, 1_000)
    ms, upd = update_funding(ms, RISK, 0, 100_000, 3_000)
    assert (ms.premium_sum, ms.premium_time, upd.premium) == (40_000, 4_000, 0)
    assert average_premium(ms) == 10


def test_rate_is_capped() -> None:
    deltas = _run([(50_000, 1_000)] * 8)
    # +50% premium clamps to 75 bps = 7 500 ppm: Δ = 7 500 × 100 000 × 100 / 10^6
    assert deltas[7] == 75_000
    assert _run([(-50_000, 1_000)] * 8)[7] == -75_000


def test_negative_premium_shorts_pay() -> None:
    d = _run([(-20, 1_000)] * 8)[7]
    assert d < 0
    pay = funding_payments(np.array([[10, 0], [-10, 0]], dtype=np.int64), np.array([d, 0]))
    assert pay[0] < 0 < pay[1]  # the long receives, the short pays


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=30), st.integers(-(10**6), 10**6)
)
def test_payments_sum_to_zero(longs: list[int], delta: int) -> None:
    pos = np.array([*longs, -sum(longs)], dtype=np.int64).reshape(-1, 1)
    assert int(funding_payments(pos, np.array([delta], dtype=np.int64)).sum()) == 0
