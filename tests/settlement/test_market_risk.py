"""A market's risk terms that only make sense together."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG


def test_the_mark_band_may_not_exceed_the_lowest_maintenance() -> None:
    """Liquidation is judged at the index, deficits at the mark: with a mark band wider
    than the lowest maintenance fraction, an account at maintenance at the index would be
    bankrupt at the mark, its deficit covered while its position stays open. Such terms
    are refused, naming the field; a band equal to the maintenance is taken."""
    risk = DEFAULT_CONFIG.markets[0]
    low = risk.tiers[0].maintenance_bps
    with pytest.raises(SettlementError, match="mark_band_bps: expected at most"):
        replace(risk, mark_band_bps=low + 1, mark_step_bps=1)
    taken = replace(risk, mark_band_bps=low, mark_step_bps=1, max_slippage_bps=low)
    assert taken.mark_band_bps == low


def test_at_maintenance_at_the_index_is_solvent_at_any_mark_in_the_band() -> None:
    """The bound the check above relies on, over random positions: equity at the index at
    the lowest maintenance, the mark at either edge of the band, equity at the mark ≥ 0."""
    risk = DEFAULT_CONFIG.markets[0]
    band, maint = risk.mark_band_bps, risk.tiers[0].maintenance_bps
    rng = np.random.default_rng(7)
    for _ in range(500):
        index = int(rng.integers(1, 10**7))
        lots = int(rng.integers(-(10**4), 10**4))
        mult = risk.multiplier
        notional = abs(lots) * index * mult
        equity_at_index = -(-notional * maint // BPS)  # exactly at maintenance (rounded up)
        for edge in (-1, 1):
            mark = index + edge * (index * band // BPS)
            equity_at_mark = equity_at_index + lots * (mark - index) * mult
            assert equity_at_mark >= 0, (index, lots, mark)


def test_liquidation_slippage_may_not_be_narrower_than_the_mark_band() -> None:
    """A liquidation sell's limit is max(mark, index) − slippage: with a slippage of 30 bps
    and a mark held 50 bps above the index by prints, the limit stays above a bid at the
    index and the slice never fills. Refused, naming the field; equal is taken."""
    risk = DEFAULT_CONFIG.markets[0]
    with pytest.raises(SettlementError, match="max_slippage_bps: expected at least"):
        replace(risk, max_slippage_bps=risk.mark_band_bps - 1)
    assert replace(risk, max_slippage_bps=risk.mark_band_bps).max_slippage_bps == 50


def test_portfolio_maintenance_covers_marks_at_opposite_band_edges() -> None:
    """A hedged portfolio at maintenance at the indexes loses up to the widest band on its
    gross notional when each mark sits at the opposite edge: floor × maintenance fraction
    below that band is refused; the defaults (200 × 7 000 / 10 000 = 140 bps ≥ 50) hold."""
    with pytest.raises(SettlementError, match="portfolio_floor_bps: expected"):
        replace(DEFAULT_CONFIG, portfolio_floor_bps=50, portfolio_maintenance_bps=5_000)
    wide = tuple(replace(r, mark_band_bps=140) for r in DEFAULT_CONFIG.markets)
    assert replace(DEFAULT_CONFIG, markets=wide).markets[0].mark_band_bps == 140
    wider = tuple(replace(r, mark_band_bps=141) for r in DEFAULT_CONFIG.markets)
    with pytest.raises(SettlementError, match=r"widest mark_band_bps \(141\)"):
        replace(DEFAULT_CONFIG, markets=wider)
