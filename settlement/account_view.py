"""What the ledger shows of one account and one market: balances, margin,
liquidation prices, oracle, funding and breaker state.

Read-only views of a :class:`~sealbatch.settlement.ledger.LedgerState`; all
amounts are integers (base units, ticks, lots).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sealbatch.settlement.ledger import AccountKey, LedgerState, equity
from sealbatch.settlement.liquidation import liquidation_slice_lots, price_band_bps
from sealbatch.settlement.margin import cross_requirements, requirements
from sealbatch.settlement.params import SettlementConfig
from sealbatch.settlement.roots import state_root

__all__ = [
    "AccountView",
    "BreakerView",
    "FundingView",
    "MarketView",
    "account_view",
    "liquidation_price",
    "market_view",
]


@dataclass(frozen=True)
class AccountView:
    """One account as the ledger holds it, and what waits for the next batch.

    Attributes:
        exists: the ledger holds the account (else every amount is 0 and the
            optional fields are None).
        collateral: base units.
        pending_deposits, pending_withdrawals: base units waiting for the next batch.
        positions: market → signed lots.
        mark_prices: market → ticks.
        equity: collateral + Σ position × mark × multiplier, base units.
        initial_margin, maintenance_margin: requirements, base units (rounded up).
        liquidation_prices: market → the oracle index, in ticks, at which the account
            is liquidated (below maintenance at the indexes, the other indexes held;
            the mark where a market has no index yet); None without a position.
        portfolio_margin: the account uses portfolio margin.
        state_root: the root of the ledger the view was read from.
    """

    exists: bool
    collateral: int
    pending_deposits: int
    pending_withdrawals: int
    positions: Mapping[str, int]
    equity: int
    initial_margin: int
    maintenance_margin: int
    liquidation_prices: Mapping[str, int | None]
    mark_prices: Mapping[str, int] | None = None
    portfolio_margin: bool | None = None
    state_root: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The JSON form (docs/api.md); an absent account has no marks, margin mode or root."""
        out: dict[str, object] = {
            "exists": self.exists,
            "collateral": self.collateral,
            "pending_deposits": self.pending_deposits,
            "pending_withdrawals": self.pending_withdrawals,
            "positions": dict(self.positions),
        }
        if self.mark_prices is not None:
            out["mark_prices"] = dict(self.mark_prices)
        out.update(
            equity=self.equity,
            initial_margin=self.initial_margin,
            maintenance_margin=self.maintenance_margin,
            liquidation_prices=dict(self.liquidation_prices),
        )
        if self.exists:
            out.update(portfolio_margin=self.portfolio_margin, state_root=self.state_root)
        return out


@dataclass(frozen=True)
class FundingView:
    """A market's funding state: index (base units per lot) and the interval's premium."""

    funding_index: int
    premium_sum: int
    premium_time: int
    interval_batches: int
    interval_length_batches: int


@dataclass(frozen=True)
class BreakerView:
    """A market's circuit breaker and what it changes now.

    Protective mode widens the price band of reveals (``band_bps``) and shrinks
    liquidation slices (``liquidation_lots``). It does not lengthen batches: one
    batch clock serves every market of the venue (cross-margin settles them in one
    transition), so its windows stay as ``/v1/info`` gives them.
    """

    protective: bool
    calm: int
    band_bps: int
    liquidation_lots: int

    def to_dict(self) -> dict[str, object]:
        return {
            "protective": self.protective,
            "calm": self.calm,
            "band_bps": self.band_bps,
            "liquidation_lots": self.liquidation_lots,
        }


@dataclass(frozen=True)
class MarketView:
    """A market's oracle index, mark price, funding and breaker (ticks, base units)."""

    index_price: int
    flagged: bool
    mark_price: int
    funding: FundingView
    index_time_ms: int
    premium: int
    breaker: BreakerView
    settlement: str

    def to_dict(self) -> dict[str, object]:
        """The JSON form (docs/api.md)."""
        f = self.funding
        return {
            "oracle": {
                "index_price": self.index_price,
                "flagged": self.flagged,
                "index_time_ms": self.index_time_ms,
            },
            "mark_price": self.mark_price,
            "mark_premium": self.premium,
            "funding": {
                "funding_index": f.funding_index,
                "premium_sum": f.premium_sum,
                "premium_time": f.premium_time,
                "interval_batches": f.interval_batches,
                "interval_length_batches": f.interval_length_batches,
            },
            "breaker": self.breaker.to_dict(),
            "settlement": self.settlement,
        }


def liquidation_price(
    state: LedgerState,
    config: SettlementConfig,
    row: int,
    column: int,
    eq: int,
    maintenance: int,
    prices: npt.NDArray[np.int64] | None = None,
) -> int | None:
    """The price of market ``column`` at which account ``row`` reaches maintenance.

    Holds the other prices fixed and solves ``equity(p) = maintenance(p)``,
    linear within the current margin tier: ``equity(p) = eq + q·mult·(p − mark)``
    and ``maintenance(p) = maint + s·(p − mark)`` with ``s`` the requirement's
    change for one tick (``mark`` here: ``prices[column]``).

    Args:
        eq, maintenance: the account's equity and maintenance requirement at ``prices``.
        prices: one price per market (default: the marks); the account view passes
            the liquidation test's, the indexes.

    Returns:
        The price in ticks, rounded towards safety for the holder (up for a
        long, down for a short; at least 1), or None without a position, a
        mark, or a solution.
    """
    q = int(state.positions[row, column])
    marks = state.mark_prices() if prices is None else prices
    mark = int(marks[column])
    if q == 0 or mark <= 0:
        return None
    pos = state.positions[row : row + 1]
    bumped = marks.copy()
    bumped[column] = mark + 1
    maint = int(cross_requirements(pos, marks, config).maintenance[0])
    slope_m = int(cross_requirements(pos, bumped, config).maintenance[0]) - maint
    slope_e = q * config.markets[column].multiplier
    denom = slope_e - slope_m
    if denom == 0:
        return None
    # p − mark = (maint − eq) / denom, exact in integers: ceil(a/b) = −(−a // b).
    if q > 0:
        price = mark - ((eq - maintenance) // denom)
    else:
        price = mark + ((maintenance - eq) // denom)
    return max(1, price)


def account_view(
    state: LedgerState,
    config: SettlementConfig,
    key: AccountKey,
    pending_deposits: int,
    pending_withdrawals: int,
) -> AccountView:
    """Collateral, positions, equity, margin requirements and liquidation prices.

    Args:
        pending_deposits, pending_withdrawals: what waits for the next batch.
    """
    if not state.has(key):
        return AccountView(False, 0, pending_deposits, pending_withdrawals, {}, 0, 0, 0, {})
    row = state.row(key)
    marks = state.mark_prices()
    req = requirements(state, config)
    pos = state.positions[row]
    markets = config.market_ids
    eq = int(equity(state, config)[row])
    maintenance = int(req.maintenance[row])
    # liquidation is judged at the oracle indexes (the mark where there is no index yet)
    index = np.array([ms.index_price or ms.mark_price for ms in state.market_states], np.int64)
    eq_index = int(equity(state, config, index)[row])
    maintenance_index = int(requirements(state, config, index).maintenance[row])
    return AccountView(
        exists=True,
        collateral=int(state.collateral[row]),
        pending_deposits=pending_deposits,
        pending_withdrawals=pending_withdrawals,
        positions={m: int(pos[j]) for j, m in enumerate(markets)},
        mark_prices={m: int(marks[j]) for j, m in enumerate(markets)},
        equity=eq,
        initial_margin=int(req.initial[row]),
        maintenance_margin=maintenance,
        liquidation_prices={
            m: liquidation_price(state, config, row, j, eq_index, maintenance_index, index)
            for j, m in enumerate(markets)
        },
        portfolio_margin=bool(state.portfolio[row]),
        state_root="0x" + state_root(state).hex(),
    )


def market_view(
    state: LedgerState, config: SettlementConfig, market: str, settlement: str
) -> MarketView:
    """A market's oracle, mark, funding and circuit-breaker state.

    Args:
        settlement: the name of the settlement the venue runs (shown as is).
    """
    ms = state.market_state(market)
    risk = config.risk(market)
    return MarketView(
        index_price=ms.index_price,
        flagged=ms.flagged,
        mark_price=ms.mark_price,
        funding=FundingView(
            ms.funding_index,
            ms.premium_sum,
            ms.premium_time,
            ms.interval_batches,
            risk.funding_interval_batches,
        ),
        breaker=BreakerView(
            ms.protective, ms.calm, price_band_bps(ms, risk), liquidation_slice_lots(ms, risk)
        ),
        settlement=settlement,
        index_time_ms=ms.index_time_ms,
        premium=ms.premium,
    )
