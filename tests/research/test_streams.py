"""Common random numbers: streams keyed by agent and stream name; the fundamental path."""

from __future__ import annotations

import numpy as np

from sealbatch.research.fundamental import draw_fundamental
from sealbatch.research.scenario import FundamentalConfig
from sealbatch.research.streams import Streams


def test_same_seed_same_draws_and_streams_are_independent_of_each_other() -> None:
    a, b = Streams(3), Streams(3)
    assert np.array_equal(a.rng("zi", "side").random(5), b.rng("zi", "side").random(5))
    assert not np.array_equal(a.rng("zi", "side").random(5), a.rng("zi", "size").random(5))
    assert not np.array_equal(Streams(4).rng("zi", "side").random(5), a.rng("zi", "side").random(5))
    # asking for another agent's stream first does not shift this one (keyed, not ordered)
    c = Streams(3)
    c.rng("mm0", "jitter").random(100)
    assert np.array_equal(c.rng("zi", "side").random(5), Streams(3).rng("zi", "side").random(5))


def test_poisson_times_rate_and_order() -> None:
    t = Streams(1).poisson_times("noise", "arrivals", 50.0, 100_000_000_000)
    assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < 100_000_000_000
    assert 4500 < len(t) < 5500  # 50/s over 100 s, within ~7 sd


def test_fundamental_path_is_reproducible_with_jumps_of_the_configured_size() -> None:
    cfg = FundamentalConfig(
        mean_reversion_per_s=0.0, vol_ticks_per_sqrt_s=0.0, jump_hz=5, jump_ticks=7
    )
    p = draw_fundamental(cfg, Streams(9), 10_000_000_000)
    q = draw_fundamental(cfg, Streams(9), 10_000_000_000)
    assert np.array_equal(p.values, q.values)
    steps = np.diff(p.values)
    assert np.allclose(np.abs(steps[p.jump[1:]]), 7.0)
    assert np.allclose(steps[~p.jump[1:]], 0.0)  # no diffusion at zero volatility
    assert p.at(0) == 10_000.0


def test_mean_reversion_pulls_towards_the_start() -> None:
    cfg = FundamentalConfig(
        mean_reversion_per_s=5.0, vol_ticks_per_sqrt_s=1.0, update_hz=100, jump_hz=0
    )
    p = draw_fundamental(cfg, Streams(2), 50_000_000_000)
    # stationary sd of OU: sigma / sqrt(2 kappa) ~ 0.32 ticks
    assert abs(p.values.mean() - 10_000) < 0.2 and p.values.std() < 0.6
