"""Risk parameters: per-market margin tiers, fees, funding, liquidation, breaker.

All fractions are integer basis points (1 bps = 1/10 000) and all amounts
integer base units of the collateral token (6 decimals), so every rule below
is exact integer arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from sealbatch.auction.bounds import MAX_BALANCE
from sealbatch.auction.markets import DEFAULT_MARKETS, MAX_LOTS, Market
from sealbatch.settlement.errors import SettlementError

__all__ = [
    "BPS",
    "DEFAULT_CONFIG",
    "DeleverageMode",
    "MarginTier",
    "MarketRisk",
    "SettlementConfig",
    "default_config",
]

BPS = 10_000


def _check(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettlementError(f"{name}: expected an integer in [{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class MarginTier:
    """Margin fractions for positions of at most ``max_lots`` lots (absolute size).

    A position's whole notional takes the fractions of the first tier whose
    ``max_lots`` is at least the position's size (the Binance/dYdX tier rule).
    """

    max_lots: int
    initial_bps: int
    maintenance_bps: int

    def __post_init__(self) -> None:
        _check("max_lots", self.max_lots, 1, MAX_LOTS)
        _check("initial_bps", self.initial_bps, 1, BPS)
        _check("maintenance_bps", self.maintenance_bps, 1, self.initial_bps)


@dataclass(frozen=True)
class MarketRisk:
    """One market's settlement rules.

    Attributes:
        market: the auction's market (ids, multiplier).
        tiers: margin tiers by increasing ``max_lots``; the last must reach MAX_LOTS.
        fee_bps: fee per fill, on the fill's notional (rounded up).
        funding_interval_batches: batches per funding interval.
        funding_cap_bps: the funding rate per interval is clamped to ± this.
        shock_bps: the price move of this market in portfolio stress scenarios.
        liquidation_penalty_bps: penalty on a liquidation fill's notional, to insurance.
        max_slippage_bps: a liquidation order's limit is the tighter of mark ∓ this
            and index ∓ this; at least mark_band_bps, so the limit never stays on the
            far side of the index.
        max_liquidation_lots: the largest liquidation slice per account per batch.
        breaker_bps: an oracle index move beyond this fraction of the previous
            trusted index trips the breaker (the trusted indexes: neither a print nor
            the mark has a say; a market's first index never trips it).
        calm_batches: calm batches in a row before protective mode ends.
        protective_band_bps: the wider price band the venue uses in protective mode.
        protective_liquidation_lots: the smaller slice cap in protective mode.
        mark_band_bps: the mark never leaves index ± this; at most the lowest tier's
            maintenance_bps, so an account at maintenance at the index (the
            liquidation test) is never bankrupt at the mark.
        mark_step_bps: one batch moves the mark's premium over the index by at
            most this fraction of the index.
    """

    market: Market
    tiers: tuple[MarginTier, ...]
    fee_bps: int = 5
    funding_interval_batches: int = 8
    funding_cap_bps: int = 75
    shock_bps: int = 1_500
    liquidation_penalty_bps: int = 100
    max_slippage_bps: int = 200
    max_liquidation_lots: int = 1_000
    breaker_bps: int = 1_000
    calm_batches: int = 3
    protective_band_bps: int = 2_000
    protective_liquidation_lots: int = 250
    mark_band_bps: int = 50
    mark_step_bps: int = 10

    def __post_init__(self) -> None:
        if not self.tiers:
            raise SettlementError(f"tiers: expected at least one tier for {self.market.market_id}")
        for prev, nxt in zip(self.tiers, self.tiers[1:], strict=False):
            if nxt.max_lots <= prev.max_lots or nxt.initial_bps < prev.initial_bps:
                raise SettlementError(
                    "tiers: expected increasing max_lots and non-decreasing fractions, "
                    f"got {prev} then {nxt}"
                )
            if nxt.maintenance_bps < prev.maintenance_bps:
                raise SettlementError(f"tiers: expected non-decreasing maintenance, got {nxt}")
        if self.tiers[-1].max_lots != MAX_LOTS:
            raise SettlementError(
                f"tiers: expected the last tier to reach {MAX_LOTS} lots, "
                f"got {self.tiers[-1].max_lots}"
            )
        _check("fee_bps", self.fee_bps, 0, 1_000)
        _check("funding_interval_batches", self.funding_interval_batches, 1, 1 << 20)
        _check("funding_cap_bps", self.funding_cap_bps, 0, BPS)
        _check("shock_bps", self.shock_bps, 0, BPS)
        _check("liquidation_penalty_bps", self.liquidation_penalty_bps, 0, 1_000)
        _check("max_slippage_bps", self.max_slippage_bps, 0, 5_000)
        _check("max_liquidation_lots", self.max_liquidation_lots, 1, MAX_LOTS)
        _check("breaker_bps", self.breaker_bps, 1, BPS)
        _check("calm_batches", self.calm_batches, 1, 1 << 20)
        _check("protective_band_bps", self.protective_band_bps, 0, BPS)
        _check("protective_liquidation_lots", self.protective_liquidation_lots, 1, MAX_LOTS)
        _check("mark_band_bps", self.mark_band_bps, 0, 1_000)
        _check("mark_step_bps", self.mark_step_bps, 0, self.mark_band_bps)
        if self.mark_band_bps > self.tiers[0].maintenance_bps:
            # Liquidation is judged at the index and deficits are measured at the mark:
            # with the mark within mark_band_bps of the index, an account at or above
            # maintenance at the index has non-negative equity at the mark only when no
            # tier's maintenance is below the band.
            raise SettlementError(
                f"mark_band_bps: expected at most the lowest tier's maintenance_bps "
                f"({self.tiers[0].maintenance_bps}) for {self.market.market_id}, "
                f"got {self.mark_band_bps}"
            )
        if self.max_slippage_bps < self.mark_band_bps:
            # A liquidation sell's limit is max(mark, index) − slippage: below the band a
            # mark held at its edge by prints keeps the limit above every bid at the index.
            raise SettlementError(
                f"max_slippage_bps: expected at least mark_band_bps ({self.mark_band_bps}) "
                f"for {self.market.market_id}, got {self.max_slippage_bps}"
            )

    @property
    def market_id(self) -> str:
        return self.market.market_id

    @property
    def multiplier(self) -> int:
        return self.market.contract_multiplier


class DeleverageMode(Enum):
    """What covers negative equity once the insurance fund is exhausted."""

    ADL = "adl"
    SOCIALISE = "socialise"


@dataclass(frozen=True)
class SettlementConfig:
    """Everything settlement needs besides the state and the batch.

    Attributes:
        markets: per-market rules, sorted by market id (the column order of
            positions and of the state-root leaf).
        correlation_bps: symmetric ``m × m`` correlations of the markets' moves
            in portfolio stress scenarios (diagonal 10 000).
        portfolio_floor_bps: portfolio margin is never below this fraction of
            the account's gross notional.
        portfolio_maintenance_bps: portfolio maintenance = this fraction of
            the portfolio initial requirement (rounded up); with portfolio_floor_bps
            it must leave maintenance at least the widest mark_band_bps of the gross
            notional, so a hedged account at maintenance at the indexes is solvent
            with each mark at the opposite edge of its band.
        forfeit_bond: the least an unrevealed commitment forfeits (its own
            bond when larger).
        deleverage: ADL or socialised loss when the insurance fund is exhausted.
    """

    markets: tuple[MarketRisk, ...]
    correlation_bps: tuple[tuple[int, ...], ...]
    portfolio_floor_bps: int = 200
    portfolio_maintenance_bps: int = 7_000
    forfeit_bond: int = 0
    deleverage: DeleverageMode = DeleverageMode.ADL
    _index: Mapping[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = [m.market_id for m in self.markets]
        if not ids or ids != sorted(set(ids)):
            raise SettlementError(f"markets: expected distinct ids in sorted order, got {ids}")
        m = len(ids)
        corr = self.correlation_bps
        if len(corr) != m or any(len(row) != m for row in corr):
            raise SettlementError(f"correlation_bps: expected a {m}×{m} matrix, got {corr}")
        for i in range(m):
            if corr[i][i] != BPS:
                raise SettlementError(f"correlation_bps: expected diagonal {BPS}, got {corr[i][i]}")
            for j in range(m):
                _check("correlation_bps", corr[i][j], -BPS, BPS)
                if corr[i][j] != corr[j][i]:
                    raise SettlementError(f"correlation_bps: expected symmetric, got {corr}")
        _check("portfolio_floor_bps", self.portfolio_floor_bps, 0, BPS)
        _check("portfolio_maintenance_bps", self.portfolio_maintenance_bps, 1, BPS)
        widest = max(r.mark_band_bps for r in self.markets)
        if widest * BPS > self.portfolio_floor_bps * self.portfolio_maintenance_bps:
            # Each market's mark may sit at the opposite edge of its band: a hedged
            # portfolio loses up to the widest band on its gross notional there, and its
            # maintenance is at least floor × maintenance fraction of that notional.
            raise SettlementError(
                "portfolio_floor_bps: expected portfolio_floor_bps × "
                f"portfolio_maintenance_bps / 10000 at least the widest mark_band_bps "
                f"({widest}), got {self.portfolio_floor_bps} × "
                f"{self.portfolio_maintenance_bps} / 10000"
            )
        _check("forfeit_bond", self.forfeit_bond, 0, MAX_BALANCE)
        if not isinstance(self.deleverage, DeleverageMode):
            raise SettlementError(
                f"deleverage: expected 'adl' or 'socialise', got {self.deleverage!r}"
            )
        object.__setattr__(self, "_index", {mid: i for i, mid in enumerate(ids)})

    @property
    def market_ids(self) -> tuple[str, ...]:
        return tuple(m.market_id for m in self.markets)

    def column(self, market_id: str) -> int:
        """The position column of ``market_id``; raises SettlementError if unknown."""
        try:
            return self._index[market_id]
        except KeyError:
            raise SettlementError(
                f"market: expected one of {list(self._index)}, got {market_id!r}"
            ) from None

    def risk(self, market_id: str) -> MarketRisk:
        return self.markets[self.column(market_id)]

    @property
    def auction_markets(self) -> dict[str, Market]:
        return {m.market_id: m.market for m in self.markets}


def _default_tiers(small: int, large: int) -> tuple[MarginTier, ...]:
    return (
        MarginTier(small, 1_000, 500),
        MarginTier(large, 2_000, 1_000),
        MarginTier(MAX_LOTS, 5_000, 2_500),
    )


def default_config(
    markets: Mapping[str, Market] | None = None,
    correlation_bps: int = 8_000,
    deleverage: DeleverageMode = DeleverageMode.ADL,
) -> SettlementConfig:
    """The embedded defaults: 10x initial / 20x maintenance up to 10 000 lots,
    stricter tiers above, all markets pairwise correlated at ``correlation_bps``."""
    chosen = dict(sorted((markets or DEFAULT_MARKETS).items()))
    risks = tuple(MarketRisk(mk, _default_tiers(10_000, 100_000)) for mk in chosen.values())
    m = len(risks)
    corr = tuple(tuple(BPS if i == j else correlation_bps for j in range(m)) for i in range(m))
    return SettlementConfig(risks, corr, deleverage=deleverage)


DEFAULT_CONFIG = default_config()
"""Settlement rules of the embedded defaults (BTC-PERP and ETH-PERP)."""
