"""The simulated campaigns, and the statistics recovering their known truth end to end."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.stats import (
    BOTH_BAD,
    TIE,
    bradley_terry,
    krippendorff_alpha_bootstrap,
    model_means_bootstrap,
    paired_tests,
)
from ratings.stats.simulate import simulate_ratings, simulate_votes


def test_every_image_gets_its_ratings_from_distinct_judges():
    sim = simulate_ratings([1.0, 2.0], n_prompts=10, n_judges=5, ratings_per_item=4, seed=0)
    assert sim.score.size == 2 * 10 * 4
    for item in range(20):
        judges = sim.judge_idx[sim.item_idx == item]
        assert judges.size == 4 == np.unique(judges).size
    assert np.array_equal(sim.item_idx, sim.model_idx * 10 + sim.prompt_idx)
    with pytest.raises(ValueError, match="cannot exceed n_judges"):
        simulate_ratings([1.0], n_judges=2, ratings_per_item=3)


def test_a_rating_scale_rounds_and_clips_the_scores():
    sim = simulate_ratings([0.0, 6.0], n_prompts=20, scale=(1, 5), seed=1)
    assert set(np.unique(sim.score)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert sim.score.min() == 1.0 and sim.score.max() == 5.0


def test_votes_follow_the_requested_mix_of_ties_and_both_bad():
    votes = simulate_votes([0.0, 1.0, 2.0], n_votes=4000, tie_rate=0.2, both_bad_rate=0.1, seed=2)
    assert np.all(votes.model_a != votes.model_b)
    assert abs(np.mean(votes.outcome == TIE) - 0.2) < 0.03
    assert abs(np.mean(votes.outcome == BOTH_BAD) - 0.1) < 0.03
    np.testing.assert_allclose(votes.true_scores, [-1.0, 0.0, 1.0])


def test_a_campaign_with_a_known_truth_is_recovered_by_every_statistic():
    # Given five models with a known ordering and noisy judges on a 5-point scale...
    truth = np.array([2.2, 2.7, 3.2, 3.7, 4.2])
    ratings = simulate_ratings(
        truth, n_prompts=80, n_judges=15, judge_sd=0.2, noise_sd=0.8, scale=(1, 5), seed=11
    )
    votes = simulate_votes(np.log([1.0, 1.6, 2.6, 4.2, 6.8]), n_votes=3000, tie_rate=0.1, seed=11)
    # ...the means, the significance matrix and the Bradley-Terry scores give that ordering,
    means = model_means_bootstrap(ratings.model_idx, ratings.prompt_idx, ratings.score)
    assert np.argsort(means.mean).tolist() == [0, 1, 2, 3, 4]
    tests = paired_tests(ratings.model_idx, ratings.prompt_idx, ratings.score)
    upper = np.triu_indices(5, 1)
    assert np.all(tests.mean_diff[upper] < 0)
    assert np.all(tests.p_wilcoxon_holm[upper] < 0.05)
    bt = bradley_terry(votes.model_a, votes.model_b, votes.outcome, prompt_idx=votes.prompt_idx)
    assert np.argsort(bt.score).tolist() == [0, 1, 2, 3, 4]
    assert np.all(bt.high[:-1] < bt.low[1:])  # neighbours' intervals do not overlap
    # ...and agreement is clearly above chance but below perfect.
    alpha = krippendorff_alpha_bootstrap(ratings.item_idx, ratings.score)
    assert 0.2 < alpha.low < alpha.alpha < alpha.high < 0.9
