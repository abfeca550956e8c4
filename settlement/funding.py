"""Funding: the mark premium over the index, a capped rate, a cumulative index.

Every batch whose oracle reading for a market is trusted adds a premium sample
``P × Δt`` to that market, traded or not: ``Δt`` is the time since the previous
oracle round and ``P`` the mark premium in force over it, the one the previous
batch left (:func:`sealbatch.settlement.oracle.update_mark`: it moves toward
``clearing − index`` by at most ``mark_step_bps`` of the index a batch, decays
toward 0 by as much in a batch without a trade, and stays within
``± mark_band_bps``). So the interval's average is the time-weighted average of
the mark premium over the time each value held. A flagged batch adds no sample
(the mark premium stays as it was). A batch's print moves the premium only
after it: it counts from the next batch on, for the time it held, by at most
one step a batch (and a print every batch by at most the band). A long gap
before a batch weighs the premium that held through it, never the batch's print.

When a funding interval of ``funding_interval_batches`` batches ends, the rate
is the average premium relative to the index, clamped to ``± funding_cap_bps``:

    rate_ppm = clamp(⌊avg_premium × 10^6 / index⌋, −cap × 100, cap × 100)
    Δ funding_index = ⌊rate_ppm × index × multiplier / 10^6⌋   (base units per lot)

and each account pays ``position × Δ funding_index`` (longs pay when the
batch price runs above the index). Because Σ positions = 0 in each market,
the payments sum to exactly zero whatever the rounding of the index step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.ledger import INT64_SAFE, MarketState
from sealbatch.settlement.params import MarketRisk

__all__ = ["FundingUpdate", "average_premium", "funding_payments", "update_funding"]

PPM = 1_000_000


@dataclass(frozen=True)
class FundingUpdate:
    """What funding did to one market in one batch."""

    market: str
    premium: int | None
    rate_ppm: int
    delta_index: int
    funding_index: int

    def to_dict(self) -> dict[str, object]:
        return {
            "premium_ticks": self.premium,
            "rate_ppm": self.rate_ppm,
            "delta_index": self.delta_index,
            "funding_index": self.funding_index,
        }


def average_premium(state: MarketState) -> int:
    """The time-weighted average premium of the current interval, ticks (rounded toward 0)."""
    if state.premium_time <= 0:
        return 0
    s, t = state.premium_sum, state.premium_time
    return s // t if s >= 0 else -((-s) // t)


def update_funding(
    state: MarketState, risk: MarketRisk, premium: int, index: int, dt_ms: int
) -> tuple[MarketState, FundingUpdate]:
    """Add this batch's premium sample and, at the end of an interval, step the funding index.

    Called for a batch whose oracle reading of the market is trusted (a flagged
    batch neither samples nor steps).

    Args:
        state: the market's state before the batch.
        risk: the market's rules (interval, cap, multiplier).
        premium: the market's mark premium before this batch (ticks, the
            sample: the one in force over ``dt``, as the previous batch left
            it, whether or not this batch trades).
        index: the oracle index used for the premium (ticks, > 0).
        dt_ms: time since the previous oracle round (weight of this sample, ms).
    """
    psum, ptime = state.premium_sum, state.premium_time
    if dt_ms > 0:
        psum += premium * dt_ms
        ptime += dt_ms
    batches = state.interval_batches + 1
    rate = delta = 0
    if batches >= risk.funding_interval_batches:
        avg = average_premium(replace(state, premium_sum=psum, premium_time=ptime))
        cap = risk.funding_cap_bps * 100
        raw = avg * PPM // index if avg >= 0 else -((-avg * PPM) // index)
        rate = max(-cap, min(cap, raw))
        delta = rate * index * risk.multiplier // PPM
        psum = ptime = batches = 0
    new = replace(
        state,
        funding_index=state.funding_index + delta,
        premium_sum=psum,
        premium_time=ptime,
        interval_batches=batches,
    )
    return new, FundingUpdate(state.market, premium, rate, delta, new.funding_index)


def funding_payments(
    positions: npt.NDArray[np.int64], deltas: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """What each account pays, ``Σ_m position_m × Δindex_m`` (positive = pays), base units.

    Computed exactly (Python integers where int64 could wrap).

    Raises:
        SettlementError: a payment would reach 2^62 in absolute value.
    """
    if positions.size == 0:
        return np.zeros(positions.shape[0], dtype=np.int64)
    peak = int(np.abs(positions).max()) * int(np.abs(deltas).max()) * positions.shape[1]
    if peak < INT64_SAFE:
        return (positions * deltas[None, :]).sum(axis=1)
    exact = (positions.astype(object) * deltas.astype(object)[None, :]).sum(axis=1)
    worst = max(abs(int(v)) for v in exact)
    if worst >= INT64_SAFE:
        raise SettlementError(f"funding: expected payments below 2^62, got {worst}")
    return np.array(exact.tolist(), dtype=np.int64)
