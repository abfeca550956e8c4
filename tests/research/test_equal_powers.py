"""Equal powers: every message, reveals included, travels through the same
transport under every mechanism, so a sequencer can hold, drop and read
reveals and condition its own on them."""

from __future__ import annotations

from sealbatch.research.runner import run_simulation
from sealbatch.research.scenario import MechanismSpec, Scenario, scenario_from_dict

CR = MechanismSpec("cr_fba", 100, 20, bond=10)


def _scenario(**sequencer: object) -> Scenario:
    return scenario_from_dict(
        {
            "horizon_s": 3.0,
            "fundamental": {"jump_hz": 2.0, "mean_reversion_per_s": 0.0},
            "agents": {"zi": {"rate_hz": 20, "lifetime_ms": 0}, "noise": {"rate_hz": 5}},
            "adversaries": {"sequencer": {"enabled": True, **sequencer}},
        }
    )


def test_reveals_pass_through_the_sequencer() -> None:
    s = _scenario(censor_reveals=False, reveal_straddle=False)
    result = run_simulation(s, CR, seed=3)
    seq = next(a for a in result.agents if a.kind == "sequencer")
    assert result.metrics["reveals"] > 0
    # every reveal the book accepted was relayed by the sequencer first
    assert seq.relayed == result.metrics["reveals"]


def test_a_sequencer_holding_reveals_past_the_window_makes_them_forfeit() -> None:
    """Delay is a power over reveals: held longer than the reveal window, every
    other trader's reveal arrives late, is refused, and forfeits its bond."""
    quick = run_simulation(_scenario(window_us=200, reveal_straddle=False), CR, seed=4).metrics
    slow = run_simulation(_scenario(window_us=50_000, reveal_straddle=False), CR, seed=4).metrics
    assert quick["rejections"] == 0 and quick["reveals"] > 0
    assert slow["reveals"] == 0 and slow["rejections"] > 0
    assert slow["insurance_fund"] > quick["insurance_fund"]


def test_censored_reveals_forfeit_and_the_sequencer_reveals_last() -> None:
    m = run_simulation(_scenario(censor_reveals=True), CR, seed=5).metrics
    assert m["censored_sequencer"] > 0
    # what a censored trader forfeits goes to the insurance fund like any forfeit
    assert m["insurance_fund"] == m["bonds_paid"] >= m["censored_sequencer"] * CR.bond
    off = run_simulation(_scenario(censor_reveals=False), CR, seed=5).metrics
    assert off["censored_sequencer"] == 0 and off["forfeits"] < m["forfeits"]
