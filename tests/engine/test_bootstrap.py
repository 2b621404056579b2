"""Percentile bootstrap: seeded, vectorised, with sane coverage."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.engine.bootstrap import bootstrap_ci, bootstrap_mean_ci, bootstrap_means


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    values = np.random.default_rng(1).normal(size=50)
    assert bootstrap_mean_ci(values, seed=3) == bootstrap_mean_ci(values, seed=3)
    assert bootstrap_mean_ci(values, seed=3) != bootstrap_mean_ci(values, seed=4)


def test_the_interval_brackets_the_sample_mean_and_narrows_with_more_data():
    rng = np.random.default_rng(2)
    small, large = rng.normal(size=20), rng.normal(size=2000)
    lo, hi = bootstrap_mean_ci(small)
    assert lo < small.mean() < hi
    lo2, hi2 = bootstrap_mean_ci(large)
    assert lo2 < large.mean() < hi2
    assert (hi2 - lo2) < (hi - lo) / 5


def test_the_interval_width_matches_the_normal_approximation():
    # For a mean, the percentile interval is close to mean +- 1.96 s / sqrt(n).
    values = np.random.default_rng(3).normal(size=400)
    lo, hi = bootstrap_mean_ci(values, resamples=4000)
    expected = 2 * 1.96 * values.std() / np.sqrt(values.size)
    assert (hi - lo) == pytest.approx(expected, rel=0.1)


def test_constant_values_give_a_zero_width_interval():
    assert bootstrap_mean_ci([7.5] * 10) == (7.5, 7.5)
    assert bootstrap_mean_ci([2.0]) == (2.0, 2.0)


def test_95_percent_intervals_cover_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(4)
    trials, hits = 300, 0
    for t in range(trials):
        sample = rng.exponential(scale=1.0, size=60)  # skewed: a harder case than a normal
        lo, hi = bootstrap_mean_ci(sample, resamples=400, seed=t)
        hits += lo <= 1.0 <= hi
    # The percentile bootstrap under-covers a little for skewed data at n = 60.
    assert 0.88 <= hits / trials <= 0.99


def test_the_generic_statistic_with_the_mean_reproduces_the_vectorised_mean_interval():
    values = np.random.default_rng(5).normal(size=30)
    assert bootstrap_ci(values, np.mean, resamples=200, seed=9) == pytest.approx(
        bootstrap_mean_ci(values, resamples=200, seed=9), abs=1e-12
    )


def test_the_generic_statistic_resamples_whole_rows():
    rng = np.random.default_rng(6)
    x = rng.normal(size=200)
    pairs = np.stack([x, 2 * x + 1], axis=1)  # perfectly correlated pairs stay so when resampled
    lo, hi = bootstrap_ci(pairs, lambda p: np.corrcoef(p[:, 0], p[:, 1])[0, 1], resamples=100)
    assert lo == pytest.approx(1.0) and hi == pytest.approx(1.0)


def test_chunked_resampling_gives_one_mean_per_resample():
    values = np.arange(5000, dtype=float)  # 1000 x 5000 indices span several chunks
    means = bootstrap_means(values, resamples=1000, seed=0)
    assert means.shape == (1000,)
    assert abs(means.mean() - values.mean()) < 5


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        ([], {}, "at least one"),
        ([[1.0, 2.0]], {}, "1-d"),
        ([1.0, 2.0], {"level": 1.5}, "level"),
        ([1.0, 2.0], {"resamples": 0}, "resamples"),
    ],
)
def test_bad_arguments_are_refused_with_a_message(values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_mean_ci(values, **kwargs)
