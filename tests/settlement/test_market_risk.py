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
    taken = replace(risk, mark_band_bps=low, mark_step_bps=1)
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
