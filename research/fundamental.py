"""The fundamental value: an Ornstein–Uhlenbeck process with compound-Poisson jumps.

The path is drawn once per seed from its own stream, before the run, so all
mechanisms see the same path. Diffusion updates arrive on a Poisson clock and
move the value by the exact OU transition over the elapsed time (no
discretisation bias); jumps of ``±jump_ticks`` arrive on a second Poisson clock.

Reference: Budish, Cramton, Shim (2015), "The High-Frequency Trading Arms
Race", QJE 130(4) — public news as jumps of a common value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sealbatch.research.scenario import FundamentalConfig
from sealbatch.research.streams import Streams

__all__ = ["FundamentalPath", "draw_fundamental"]


@dataclass(frozen=True)
class FundamentalPath:
    """Piecewise-constant fundamental: ``values[i]`` holds from ``times[i]`` on.

    ``times[0] == 0``; ``jump[i]`` marks a jump update.
    """

    times: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    jump: npt.NDArray[np.bool_]

    def at(self, t: int | npt.NDArray[np.int64]) -> npt.NDArray[np.float64] | float:
        """The value in force at time(s) ``t`` (ns)."""
        i = np.searchsorted(self.times, t, side="right") - 1
        out = self.values[np.maximum(i, 0)]
        return float(out) if np.ndim(out) == 0 else out

    @property
    def final(self) -> float:
        return float(self.values[-1])


def draw_fundamental(cfg: FundamentalConfig, streams: Streams, horizon_ns: int) -> FundamentalPath:
    """Draw the fundamental path for one seed."""
    diff_t = streams.poisson_times("fundamental", "diffusion_times", cfg.update_hz, horizon_ns)
    jump_t = streams.poisson_times("fundamental", "jump_times", cfg.jump_hz, horizon_ns)
    z = streams.rng("fundamental", "diffusion").standard_normal(len(diff_t))
    signs = streams.rng("fundamental", "jump_sign").choice(np.array([-1.0, 1.0]), len(jump_t))
    times = np.concatenate(([0], diff_t, jump_t)).astype(np.int64)
    is_jump = np.concatenate(([False], np.zeros(len(diff_t), bool), np.ones(len(jump_t), bool)))
    shock = np.concatenate(([0.0], z, signs * cfg.jump_ticks))
    order = np.argsort(times, kind="stable")
    times, is_jump, shock = times[order], is_jump[order], shock[order]
    kappa, sigma, mu = cfg.mean_reversion_per_s, cfg.vol_ticks_per_sqrt_s, float(cfg.start_ticks)
    values = np.empty(len(times))
    v = mu
    last = 0
    for i in range(len(times)):
        t = int(times[i])
        if is_jump[i]:
            v += shock[i]
        elif i:
            dt = (t - last) / 1e9
            if kappa > 0:
                decay = np.exp(-kappa * dt)
                sd = sigma * np.sqrt((1 - decay * decay) / (2 * kappa))
            else:
                decay, sd = 1.0, sigma * np.sqrt(dt)
            v = mu + (v - mu) * decay + sd * shock[i]
        values[i] = v
        last = t
    return FundamentalPath(times, values, is_jump)
