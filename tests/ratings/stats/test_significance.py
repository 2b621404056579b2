"""Paired tests over prompts for every pair of models, with Holm's correction."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from ratings.stats import holm, paired_tests, resample_counts
from ratings.stats.simulate import simulate_ratings

# statsmodels 0.15.0 multipletests(p, method="holm"); made by tests/data/make_report_golden.py.
GOLDEN = json.loads((Path(__file__).parents[2] / "data" / "report_holm_golden.json").read_text())


@pytest.mark.parametrize("case", sorted(GOLDEN["cases"]))
def test_holm_equals_statsmodels(case):
    data = GOLDEN["cases"][case]
    np.testing.assert_allclose(holm(np.array(data["p"])), data["holm"], rtol=1e-12)


def test_holm_multiplies_the_smallest_p_by_the_family_size_and_keeps_the_order():
    # Hand computation: sorted 0.01, 0.02, 0.03 -> 0.03, 0.04, 0.04 (running maximum).
    np.testing.assert_allclose(holm([0.03, 0.01, 0.02]), [0.04, 0.03, 0.04])
    out = holm(np.array([[np.nan, 0.01], [0.2, np.nan]]))
    np.testing.assert_allclose(out, [[np.nan, 0.02], [0.2, np.nan]])
    with pytest.raises(ValueError, match="between 0 and 1"):
        holm([0.5, 1.5])


def _per_prompt_difference(sim, i, j):
    means = np.full((3, sim.prompt_idx.max() + 1), np.nan)
    for m in range(3):
        for p in range(means.shape[1]):
            mine = (sim.model_idx == m) & (sim.prompt_idx == p)
            if mine.any():
                means[m, p] = sim.score[mine].mean()
    d = means[i] - means[j]
    return d[~np.isnan(d)]


def test_wilcoxon_p_values_and_mean_differences_equal_scipy_on_per_prompt_means():
    sim = simulate_ratings([3.0, 3.15, 3.5], n_prompts=40, scale=(1, 5), seed=3)
    # Drop some ratings so that not every model is rated on every prompt.
    keep = ~((sim.model_idx == 2) & (sim.prompt_idx < 5))
    model, prompt, score = sim.model_idx[keep], sim.prompt_idx[keep], sim.score[keep]
    result = paired_tests(model, prompt, score, n_resamples=200)
    kept = SimpleNamespace(model_idx=model, prompt_idx=prompt, score=score)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        d = _per_prompt_difference(kept, i, j)
        assert result.n_prompts[i, j] == d.size == result.n_prompts[j, i]
        assert result.mean_diff[i, j] == pytest.approx(d.mean())
        assert result.mean_diff[j, i] == pytest.approx(-d.mean())
        assert result.p_wilcoxon[i, j] == pytest.approx(stats.wilcoxon(d).pvalue, rel=1e-12)
    raw = result.p_wilcoxon[np.triu_indices(3, 1)]
    np.testing.assert_allclose(result.p_wilcoxon_holm[np.triu_indices(3, 1)], holm(raw))
    assert np.isnan(np.diag(result.p_bootstrap)).all()


def test_the_rank_biserial_effect_is_the_signed_share_of_ranks():
    # Per-prompt differences +1, +2, -3 (model 0 minus model 1): ranks 1, 2, 3 -> (3 - 3) / 6 = 0.
    model = np.array([0, 0, 0, 1, 1, 1])
    prompt = np.array([0, 1, 2, 0, 1, 2])
    score = np.array([3.0, 4.0, 1.0, 2.0, 2.0, 4.0])
    result = paired_tests(model, prompt, score, n_resamples=50)
    assert result.rank_biserial[0, 1] == pytest.approx(0.0)
    score = np.array([3.0, 4.0, 5.0, 2.0, 2.0, 4.0])  # +1, +2, +1: all positive
    assert paired_tests(model, prompt, score, n_resamples=50).rank_biserial[1, 0] == -1.0


def test_a_clear_difference_gets_the_smallest_bootstrap_p_and_equal_models_a_large_one():
    sim = simulate_ratings([3.0, 3.0, 4.0], n_prompts=60, seed=8)
    result = paired_tests(sim.model_idx, sim.prompt_idx, sim.score, n_resamples=999)
    assert result.p_bootstrap[0, 2] == pytest.approx(1 / 1000)
    assert result.p_bootstrap_holm[0, 2] == pytest.approx(3 / 1000)
    assert result.p_bootstrap[0, 1] > 0.05 and result.p_wilcoxon[0, 1] > 0.05
    assert result.low[2, 0] > 0 and result.high[0, 2] < 0
    assert result.low[0, 2] == pytest.approx(-result.high[2, 0])


def test_bootstrap_p_values_are_calibrated_under_the_null():
    # 200 campaigns where two models are equal: about 5% of p-values fall below 0.05.
    rejections = 0
    for seed in range(200):
        sim = simulate_ratings([3.0, 3.0], n_prompts=40, ratings_per_item=2, n_judges=4, seed=seed)
        result = paired_tests(sim.model_idx, sim.prompt_idx, sim.score, n_resamples=200, seed=seed)
        rejections += result.p_bootstrap[0, 1] < 0.05
    # Binomial(200, 0.05): P(outside 2..20) < 0.001; the shifted bootstrap runs a bit liberal.
    assert 2 <= rejections <= 20


def test_shared_counts_use_the_same_prompts_as_the_means_bootstrap():
    sim = simulate_ratings([3.0, 3.4], n_prompts=20, seed=1)
    counts = resample_counts(20, 300, seed=5)
    a = paired_tests(sim.model_idx, sim.prompt_idx, sim.score, counts=counts)
    b = paired_tests(sim.model_idx, sim.prompt_idx, sim.score, counts=counts)
    np.testing.assert_array_equal(a.p_bootstrap, b.p_bootstrap)
    assert a.seed is None and a.n_resamples == 300


def test_models_that_share_no_prompt_get_no_test_and_stay_out_of_the_holm_family():
    model = np.array([0, 0, 1, 1, 2, 2])
    prompt = np.array([0, 1, 0, 1, 2, 3])
    score = np.array([1.0, 2.0, 3.0, 5.0, 1.0, 2.0])
    result = paired_tests(model, prompt, score, n_resamples=50)
    assert np.isnan(result.p_wilcoxon[0, 2]) and np.isnan(result.p_bootstrap[1, 2])
    assert result.n_prompts[0, 2] == 0
    assert result.p_wilcoxon_holm[0, 1] == pytest.approx(result.p_wilcoxon[0, 1])


def test_identical_ratings_give_p_one():
    model = np.array([0, 0, 1, 1])
    prompt = np.array([0, 1, 0, 1])
    result = paired_tests(model, prompt, np.array([2.0, 3.0, 2.0, 3.0]), n_resamples=50)
    assert result.p_wilcoxon[0, 1] == 1.0 and result.p_bootstrap[0, 1] == 1.0
    assert result.mean_diff[0, 1] == 0.0 and result.rank_biserial[0, 1] == 0.0
