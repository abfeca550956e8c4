"""A market's risk terms that only make sense together."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.ledger import AccountKey, empty_state, equity, open_accounts
from sealbatch.settlement.margin import cross_requirements
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG, SettlementConfig


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


@pytest.mark.parametrize("low_maintenance", [None, 100], ids=["defaults", "maintenance-100"])
def test_at_maintenance_at_the_index_is_solvent_at_any_mark_in_the_band(
    low_maintenance: int | None,
) -> None:
    """The bound the check above relies on, through the ledger's own ``equity`` and the
    cross-margin ``cross_requirements``: 2 000 random accounts in both markets, positions
    across every tier, each with exactly its maintenance requirement as equity at the
    indexes; with each mark at the adverse edge of the widest band the terms accept, every
    account's equity at the marks is still ≥ 0. With a lowest maintenance of 100 bps the
    maintenance check is the one that bounds the band (the portfolio floor allows 140)."""
    widest = max(b for b in range(0, 1_001) if _banded(b, low_maintenance) is not None)
    config = _banded(widest, low_maintenance)
    assert config is not None
    assert widest == min(
        config.markets[0].tiers[0].maintenance_bps,
        config.portfolio_floor_bps * config.portfolio_maintenance_bps // BPS,
    )
    rng = np.random.default_rng(7)
    n, m = 2_000, len(config.markets)
    indexes = rng.integers(1, 10**7, size=m).astype(np.int64)
    top = [r.tiers[-2].max_lots * 2 for r in config.markets]
    positions = np.stack([rng.integers(-t, t + 1, size=n) for t in top], axis=1).astype(np.int64)
    keys = [AccountKey(f"0x{i:040x}", 0) for i in range(n)]
    state = open_accounts(empty_state(config), keys, [1] * n)
    state = state.with_arrays(positions=positions)
    maintenance = cross_requirements(positions, indexes, config).maintenance
    cash = maintenance - (equity(state, config, indexes) - state.collateral)
    state = state.with_arrays(collateral=cash)
    assert (equity(state, config, indexes) == maintenance).all()
    for j in range(m):
        assert (np.abs(positions[:, j]) > config.markets[j].tiers[0].max_lots).any()
    steps = indexes * widest // BPS
    # equity is linear in the marks: each market's adverse edge, summed, is the worst case
    worst = np.zeros(n, dtype=np.int64)
    for j in range(m):
        edge = np.zeros(n, dtype=np.int64)
        for sign in (-1, 1):
            marks = indexes.copy()
            marks[j] += sign * steps[j]
            edge = np.minimum(edge, equity(state, config, marks) - maintenance)
        worst += edge
    at_marks = maintenance + worst
    assert (at_marks >= 0).all(), int(at_marks.min())


def _banded(band: int, low_maintenance: int | None) -> SettlementConfig | None:
    """The default terms with every market's mark band at ``band`` (and its lowest tier's
    maintenance at ``low_maintenance`` when given), or None if the terms are refused."""
    try:
        markets = tuple(
            replace(
                r,
                tiers=r.tiers
                if low_maintenance is None
                else (replace(r.tiers[0], maintenance_bps=low_maintenance), *r.tiers[1:]),
                mark_band_bps=band,
                mark_step_bps=min(r.mark_step_bps, band),
            )
            for r in DEFAULT_CONFIG.markets
        )
        return replace(DEFAULT_CONFIG, markets=markets)
    except SettlementError:
        return None


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
