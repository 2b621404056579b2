"""Human scores against metrics: system level (per model) and item level (per image)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ratings.stats import (
    item_correlation,
    model_means_bootstrap,
    resample_counts,
    system_correlation,
)
from ratings.stats.correlation import kendall_rows, pearson_rows, spearman_rows
from ratings.stats.simulate import simulate_ratings

HUMAN = np.array([2.1, 2.9, 3.3, 3.0, 4.2, 3.8])
FID = np.array([40.0, 31.0, 25.0, 33.0, 18.0, 25.0])  # lower is better, with a tie


def test_system_correlations_equal_scipy_with_the_lower_is_better_metric_negated():
    result = system_correlation(HUMAN, FID, lower_is_better=True, metric_name="FID")
    for name, fn in (
        ("spearman", stats.spearmanr),
        ("kendall", stats.kendalltau),
        ("pearson", stats.pearsonr),
    ):
        ref = fn(HUMAN, -FID)
        coef = getattr(result, name)
        assert coef.value == pytest.approx(ref.statistic, abs=1e-12)
        if name == "pearson":
            assert coef.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert coef.value > 0  # FID agrees with people here: the sign says so
    assert result.metric_negated and "FID is lower-is-better" in result.sign_note
    assert result.n == 6 and result.warning == "" and result.level == "system"
    assert np.isnan(result.spearman.low) and result.n_resamples == 0


def test_a_higher_is_better_metric_is_not_negated():
    clip = np.array([25.0, 27.0, 28.0, 27.5, 31.0, 30.0])
    result = system_correlation(HUMAN, clip, lower_is_better=False, metric_name="CLIP score")
    assert result.spearman.value == pytest.approx(stats.spearmanr(HUMAN, clip).statistic)
    assert not result.metric_negated and "higher-is-better" in result.sign_note


def test_few_models_get_a_plain_warning():
    four = system_correlation(HUMAN[:4], FID[:4], lower_is_better=True)
    assert four.warning.startswith("With 4 models a correlation is weak evidence")
    assert system_correlation(HUMAN[:5], FID[:5], lower_is_better=True).warning == ""
    two = system_correlation(HUMAN[:2], FID[:2], lower_is_better=True)
    assert np.isnan(two.spearman.value) and "at least 3" in two.warning


def test_models_with_a_missing_value_are_left_out_and_counted():
    metric = FID.copy()
    metric[1] = np.nan
    result = system_correlation(HUMAN, metric, lower_is_better=True)
    keep = np.arange(6) != 1
    assert result.n == 5
    assert result.pearson.value == pytest.approx(stats.pearsonr(HUMAN[keep], -FID[keep]).statistic)


def test_row_wise_coefficients_equal_scipy_on_each_row_ties_included():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (50, 7)).astype(float)
    y = x + rng.integers(-2, 3, (50, 7))
    x[0] = 1.0  # a constant row
    spear, kend, pear = spearman_rows(x, y), kendall_rows(x, y), pearson_rows(x, y)
    assert np.isnan(spear[0]) and np.isnan(kend[0]) and np.isnan(pear[0])
    for b in range(1, 50):
        if np.ptp(y[b]) == 0 or np.ptp(x[b]) == 0:
            continue
        assert spear[b] == pytest.approx(stats.spearmanr(x[b], y[b]).statistic, abs=1e-12)
        assert kend[b] == pytest.approx(stats.kendalltau(x[b], y[b]).statistic, abs=1e-12)
        assert pear[b] == pytest.approx(stats.pearsonr(x[b], y[b]).statistic, abs=1e-12)


def test_system_intervals_resample_prompts_on_both_sides_with_the_same_counts():
    # Six models; the "metric" is a noisy per-image score whose model means track the truth.
    truth = np.linspace(2.0, 4.0, 6)
    sim = simulate_ratings(truth, n_prompts=40, seed=2)
    metric_per_image = 10 * truth[sim.model_idx] + np.random.default_rng(1).normal(
        0, 8, sim.score.size
    )
    counts = resample_counts(40, 500, seed=7)
    human = model_means_bootstrap(
        sim.model_idx, sim.prompt_idx, sim.score, counts=counts, keep_replicates=True
    )
    metric = model_means_bootstrap(
        sim.model_idx, sim.prompt_idx, metric_per_image, counts=counts, keep_replicates=True
    )
    both = system_correlation(
        human.mean,
        metric.mean,
        lower_is_better=False,
        human_replicates=human.replicates,
        metric_replicates=metric.replicates,
    )
    human_only = system_correlation(
        human.mean, metric.mean, lower_is_better=False, human_replicates=human.replicates
    )
    assert "together" in both.interval_method and "metric held fixed" in human_only.interval_method
    assert both.n_resamples == 500
    for coef in (both.spearman, both.kendall, both.pearson):
        assert coef.low - 1e-12 <= coef.value <= coef.high + 1e-12 and coef.low > 0
    # Resampling the metric too can only add uncertainty here.
    assert (both.pearson.high - both.pearson.low) >= (
        human_only.pearson.high - human_only.pearson.low
    )


def test_replicates_for_a_lower_is_better_metric_are_negated_too():
    human = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    metric = np.array([50.0, 40.0, 30.0, 20.0, 10.0])
    reps = np.tile(metric, (10, 1))
    result = system_correlation(human, metric, lower_is_better=True, metric_replicates=reps)
    assert result.spearman.value == pytest.approx(1.0)
    assert result.spearman.low == pytest.approx(1.0) and result.spearman.high == pytest.approx(1.0)


def test_item_correlations_equal_scipy_with_fisher_intervals():
    rng = np.random.default_rng(4)
    rating = rng.integers(1, 6, 300).astype(float)
    clip = 25 + rating + rng.normal(0, 2, 300)
    result = item_correlation(rating, clip, lower_is_better=False, metric_name="CLIP score")
    ref = stats.spearmanr(rating, clip)
    assert result.spearman.value == pytest.approx(ref.statistic, abs=1e-12)
    assert result.spearman.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert result.kendall.value == pytest.approx(
        stats.kendalltau(rating, clip).statistic, abs=1e-12
    )
    r = stats.pearsonr(rating, clip).statistic
    half = 1.959963984540054 / np.sqrt(297)
    assert result.pearson.low == pytest.approx(np.tanh(np.arctanh(r) - half), abs=1e-12)
    assert result.pearson.high == pytest.approx(np.tanh(np.arctanh(r) + half), abs=1e-12)
    rs = result.spearman.value
    half_s = 1.959963984540054 * np.sqrt((1 + rs**2 / 2) / 297)
    assert result.spearman.low == pytest.approx(np.tanh(np.arctanh(rs) - half_s), abs=1e-12)
    assert result.level == "item" and result.n == 300 and result.warning == ""
    assert "Fisher" in result.interval_method


def test_item_correlation_of_ssim_against_realism_and_lpips_sign():
    rng = np.random.default_rng(5)
    realism = rng.normal(3, 1, 100)
    lpips = 0.5 - 0.1 * realism + rng.normal(0, 0.05, 100)  # lower is better
    result = item_correlation(realism, lpips, lower_is_better=True, metric_name="LPIPS")
    assert result.pearson.value == pytest.approx(stats.pearsonr(realism, -lpips).statistic)
    assert result.pearson.value > 0.8 and result.metric_negated


def test_correlation_results_export_as_plain_dicts():
    out = system_correlation(HUMAN[:4], FID[:4], lower_is_better=True).to_dict()
    assert out["spearman"]["low"] is None and out["n"] == 4 and out["metric_negated"] is True


def test_mismatched_inputs_are_refused_with_a_message():
    with pytest.raises(ValueError, match="same length"):
        system_correlation(HUMAN, FID[:3], lower_is_better=True)
    with pytest.raises(ValueError, match="n_resamples x 6 models"):
        system_correlation(HUMAN, FID, lower_is_better=True, human_replicates=np.ones((10, 5)))
    with pytest.raises(ValueError, match="item_correlation"):
        system_correlation(np.arange(300.0), np.arange(300.0), lower_is_better=False)


def _permutation_p(x, y, statistic):
    """SciPy's permutation_test over every ordering of ``y`` (one sample: n! permutations)."""
    return stats.permutation_test(
        (y,),
        lambda b: statistic(x, b).statistic,
        permutation_type="pairings",
        n_resamples=np.inf,
        alternative="two-sided",
    ).pvalue


@pytest.mark.parametrize("n", [3, 4, 6])
def test_few_models_get_exact_permutation_p_values_equal_to_scipys_permutation_test(n):
    rng = np.random.default_rng(n)
    human = rng.normal(size=n)
    metric = human + rng.normal(scale=0.8, size=n)
    metric[0] = metric[1]  # a tie: the exact distribution keeps it
    result = system_correlation(human, metric, lower_is_better=False)
    assert result.spearman.p_value == pytest.approx(
        _permutation_p(human, metric, stats.spearmanr), rel=1e-12
    )
    assert result.kendall.p_value == pytest.approx(
        _permutation_p(human, metric, stats.kendalltau), rel=1e-12
    )
    assert result.spearman.p_method.startswith("exact")
    assert result.pearson.p_value == pytest.approx(stats.pearsonr(human, metric).pvalue)


def test_three_models_in_perfect_agreement_have_exact_p_one_third_not_zero():
    result = system_correlation(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0]),
                                lower_is_better=False)  # fmt: skip
    assert result.spearman.value == pytest.approx(1.0)
    assert stats.spearmanr([1, 2, 3], [10, 20, 30]).pvalue < 1e-6  # the asymptotic formula
    assert result.spearman.p_value == pytest.approx(1 / 3)
    assert result.kendall.p_value == pytest.approx(1 / 3)


def test_with_more_than_eight_points_the_p_value_is_scipys_asymptotic_one():
    rng = np.random.default_rng(1)
    x = rng.normal(size=9)
    y = x + rng.normal(size=9)
    result = system_correlation(x, y, lower_is_better=False)
    assert result.spearman.p_value == pytest.approx(stats.spearmanr(x, y).pvalue, rel=1e-9)
    assert result.kendall.p_value == pytest.approx(stats.kendalltau(x, y).pvalue, rel=1e-9)
    assert result.spearman.p_method.startswith("asymptotic")
