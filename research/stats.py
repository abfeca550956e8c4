"""Statistics for lab reports: bootstrap confidence intervals and paired tests.

Runs of different mechanisms with the same seed share their random streams,
so comparisons are paired by seed: the difference per seed removes the
common noise (common random numbers). Intervals are percentile bootstrap
intervals (Efron and Tibshirani 1993, ch. 13); the paired test is an exact or
Monte-Carlo sign-flip permutation test of the mean difference (Good 2005),
which needs no normality. The resampling generator is seeded, so a report is
reproducible.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["PairedTest", "bootstrap_ci", "paired_test"]

_EXACT_MAX_N = 14


def bootstrap_ci(
    x: npt.ArrayLike, level: float = 0.95, n_boot: int = 4000, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile-bootstrap interval.

    NaNs are dropped; with fewer than two values the interval is the point.

    Raises:
        ValueError: ``level`` not in (0, 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"level: expected a value in (0, 1), got {level}")
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return math.nan, math.nan, math.nan
    mean = float(a.mean())
    if len(a) < 2:
        return mean, mean, mean
    g = np.random.default_rng(seed)
    idx = g.integers(0, len(a), size=(n_boot, len(a)))
    means = a[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(lo), float(hi)


@dataclass(frozen=True)
class PairedTest:
    """Mean of ``x - y`` over pairs, its bootstrap interval and a two-sided p-value."""

    n: int
    mean_diff: float
    low: float
    high: float
    p_value: float


def paired_test(
    x: npt.ArrayLike, y: npt.ArrayLike, level: float = 0.95, n_perm: int = 20000, seed: int = 0
) -> PairedTest:
    """Paired comparison of ``x`` and ``y`` (same length, pair i = seed i).

    Raises:
        ValueError: the arrays differ in length.
    """
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"expected paired arrays of one length, got {a.shape} and {b.shape}")
    d = a - b
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return PairedTest(0, math.nan, math.nan, math.nan, math.nan)
    mean, lo, hi = bootstrap_ci(d, level, seed=seed)
    observed = abs(d.mean())
    if not np.any(d):
        return PairedTest(n, mean, lo, hi, 1.0)
    if n <= _EXACT_MAX_N:
        signs = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
    else:
        signs = np.random.default_rng(seed).choice(np.array([-1.0, 1.0]), size=(n_perm, n))
    flipped = np.abs((signs * d).mean(axis=1))
    p = float(np.mean(flipped >= observed - 1e-12))
    return PairedTest(n, mean, lo, hi, p)
