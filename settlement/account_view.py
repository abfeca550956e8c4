"""What the ledger shows of one account and one market: balances, margin,
liquidation prices, oracle, funding and breaker state.

Read-only views of a :class:`~sealbatch.settlement.ledger.LedgerState`; all
amounts are integers (base units, ticks, lots).
"""

from __future__ import annotations

from typing import Any

from sealbatch.settlement.ledger import AccountKey, LedgerState, equity
from sealbatch.settlement.liquidation import batch_length_factor, price_band_bps
from sealbatch.settlement.margin import cross_requirements, requirements
from sealbatch.settlement.params import SettlementConfig
from sealbatch.settlement.roots import state_root

__all__ = ["account_view", "liquidation_price", "market_view"]


def liquidation_price(
    state: LedgerState,
    config: SettlementConfig,
    row: int,
    column: int,
    eq: int,
    maintenance: int,
) -> int | None:
    """The mark of market ``column`` at which account ``row`` reaches maintenance.

    Holds the other marks fixed and solves ``equity(p) = maintenance(p)``,
    linear within the current margin tier: ``equity(p) = eq + q·mult·(p − mark)``
    and ``maintenance(p) = maint + s·(p − mark)`` with ``s`` the requirement's
    change for one tick.

    Args:
        eq, maintenance: the account's equity and maintenance requirement now.

    Returns:
        The price in ticks, rounded towards safety for the holder (up for a
        long, down for a short; at least 1), or None without a position, a
        mark, or a solution.
    """
    q = int(state.positions[row, column])
    marks = state.mark_prices()
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
) -> dict[str, Any]:
    """Collateral, positions, equity, margin requirements and liquidation prices.

    Args:
        pending_deposits, pending_withdrawals: what waits for the next batch.
    """
    if not state.has(key):
        return {
            "exists": False,
            "collateral": 0,
            "pending_deposits": pending_deposits,
            "pending_withdrawals": pending_withdrawals,
            "positions": {},
            "equity": 0,
            "initial_margin": 0,
            "maintenance_margin": 0,
            "liquidation_prices": {},
        }
    row = state.row(key)
    marks = state.mark_prices()
    req = requirements(state, config)
    pos = state.positions[row]
    markets = config.market_ids
    eq = int(equity(state, config)[row])
    maintenance = int(req.maintenance[row])
    return {
        "exists": True,
        "collateral": int(state.collateral[row]),
        "pending_deposits": pending_deposits,
        "pending_withdrawals": pending_withdrawals,
        "positions": {m: int(pos[j]) for j, m in enumerate(markets)},
        "mark_prices": {m: int(marks[j]) for j, m in enumerate(markets)},
        "equity": eq,
        "initial_margin": int(req.initial[row]),
        "maintenance_margin": maintenance,
        "liquidation_prices": {
            m: liquidation_price(state, config, row, j, eq, maintenance)
            for j, m in enumerate(markets)
        },
        "portfolio_margin": bool(state.portfolio[row]),
        "state_root": "0x" + state_root(state).hex(),
    }


def market_view(
    state: LedgerState, config: SettlementConfig, market: str, settlement: str
) -> dict[str, Any]:
    """A market's oracle, mark, funding and circuit-breaker state.

    Args:
        settlement: the name of the settlement the venue runs (shown as is).
    """
    ms = state.market_state(market)
    risk = config.risk(market)
    return {
        "oracle": {"index_price": ms.index_price, "flagged": ms.flagged},
        "mark_price": ms.mark_price,
        "funding": {
            "funding_index": ms.funding_index,
            "premium_sum": ms.premium_sum,
            "premium_time": ms.premium_time,
            "interval_batches": ms.interval_batches,
            "interval_length_batches": risk.funding_interval_batches,
        },
        "breaker": {
            "protective": ms.protective,
            "calm": ms.calm,
            "band_bps": price_band_bps(ms, risk),
            "batch_length_factor": batch_length_factor(ms, risk),
        },
        "settlement": settlement,
    }
