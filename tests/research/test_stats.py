"""Bootstrap intervals and the paired sign-flip test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.research.stats import bootstrap_ci, paired_test


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=30))
def test_interval_brackets_the_mean(xs: list[float]) -> None:
    mean, lo, hi = bootstrap_ci(xs)
    assert lo - 1e-6 <= mean <= hi + 1e-6
    assert min(xs) - 1e-6 <= lo and hi <= max(xs) + 1e-6


def test_interval_is_reproducible_and_has_about_nominal_coverage() -> None:
    g = np.random.default_rng(7)
    x = g.normal(5.0, 1.0, 50)
    assert bootstrap_ci(x) == bootstrap_ci(x)
    covered = 0
    for _ in range(200):
        _, lo, hi = bootstrap_ci(g.normal(5.0, 1.0, 50), n_boot=1000)
        covered += lo < 5.0 < hi
    assert 0.88 <= covered / 200 <= 0.99  # nominal 0.95; percentile bootstrap runs a bit low


def test_paired_test_exact_p_value() -> None:
    # three positive differences: of the 8 sign patterns, 2 (all +, all -) are as extreme
    t = paired_test([2.0, 3.0, 4.0], [1.0, 1.0, 1.0])
    assert t.n == 3 and t.mean_diff == pytest.approx(2.0)
    assert t.p_value == pytest.approx(0.25)


def test_paired_test_detects_a_shift_and_not_noise() -> None:
    g = np.random.default_rng(1)
    common = g.normal(0, 10, 30)  # common random numbers: large shared noise
    shifted = paired_test(common + 1.0 + g.normal(0, 0.1, 30), common)
    assert shifted.p_value < 0.001 and shifted.low > 0.9
    same = paired_test(common + g.normal(0, 0.1, 30), common)
    assert same.p_value > 0.01


def test_paired_test_rejects_unpaired_input() -> None:
    with pytest.raises(ValueError, match="paired"):
        paired_test([1.0, 2.0], [1.0])
