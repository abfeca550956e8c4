"""Market makers who choose their spreads: zero expected profit against the
adverse selection their own fills meet."""

from __future__ import annotations

from sealbatch.research.runner import run_simulation
from sealbatch.research.scenario import MechanismSpec, Scenario, scenario_from_dict


def _scenario(jump_hz: float, learn: bool = True) -> Scenario:
    return scenario_from_dict(
        {
            "horizon_s": 20.0,
            "fundamental": {"jump_hz": jump_hz, "jump_ticks": 10, "mean_reversion_per_s": 0.0},
            "agents": {
                "market_makers": {"learn": learn, "half_spread_ticks": 2},
                "zi": {"rate_hz": 10, "lifetime_ms": 0},
            },
            "adversaries": {"sniper": {"enabled": True, "size_lots": 10}},
        }
    )


def test_sniped_makers_widen_their_spread_in_the_book() -> None:
    """The attack: a sniper picking off stale quotes at every jump. A maker that
    learns from its fills widens until the spread pays for it; a fixed one does not."""
    book = MechanismSpec("clob")
    calm = run_simulation(_scenario(0.2), book, seed=1).metrics["mm_half_spread_ticks"]
    jumpy = run_simulation(_scenario(4.0), book, seed=1).metrics["mm_half_spread_ticks"]
    fixed = run_simulation(_scenario(4.0, learn=False), book, seed=1).metrics
    assert fixed["mm_half_spread_ticks"] == 2
    assert jumpy > calm and jumpy > 4


def test_batching_keeps_the_zero_profit_spread_narrow() -> None:
    book = run_simulation(_scenario(4.0), MechanismSpec("clob"), seed=2).metrics
    fba = run_simulation(_scenario(4.0), MechanismSpec("fba", 100), seed=2).metrics
    assert fba["mm_half_spread_ticks"] < book["mm_half_spread_ticks"]
    assert fba["stale_quote_loss"] < book["stale_quote_loss"]
