"""Per-model means with a cluster bootstrap over prompts."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.stats import group_means, model_means_bootstrap, resample_counts
from ratings.stats.simulate import simulate_ratings


def _small():
    # Model 0 rated on prompts 0-2, model 1 on prompts 0-3, model 2 never.
    model = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    prompt = np.array([0, 0, 1, 2, 0, 1, 2, 3, 3])
    score = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 4.0, 2.0, 5.0, 1.0])
    return model, prompt, score


def test_the_point_estimate_is_each_models_mean_over_all_its_ratings():
    model, prompt, score = _small()
    result = model_means_bootstrap(model, prompt, score, n_models=3, n_resamples=50)
    np.testing.assert_allclose(result.mean[:2], [11 / 4, 16 / 5])
    assert np.isnan(result.mean[2]) and np.isnan(result.low[2]) and np.isnan(result.high[2])
    assert result.n_ratings.tolist() == [4, 5, 0]
    assert result.n_prompts.tolist() == [3, 4, 0]


def test_each_resample_is_the_mean_of_the_ratings_of_the_drawn_prompts():
    # Given explicit prompt counts, the vectorised replicates equal a plain loop over resamples.
    model, prompt, score = _small()
    counts = resample_counts(4, 200, seed=3)
    result = model_means_bootstrap(model, prompt, score, counts=counts, keep_replicates=True)
    for b in range(200):
        weight = counts[b, prompt]
        for m in (0, 1):
            mine = model == m
            expected = (
                np.sum(weight[mine] * score[mine]) / np.sum(weight[mine])
                if weight[mine].sum()
                else np.nan
            )
            np.testing.assert_allclose(result.replicates[b, m], expected)
    assert result.seed is None and result.n_resamples == 200


def test_resample_counts_draw_every_prompt_count_with_replacement_and_are_seeded():
    counts = resample_counts(7, 500, seed=1)
    assert counts.shape == (500, 7)
    assert np.all(counts.sum(axis=1) == 7)
    np.testing.assert_array_equal(counts, resample_counts(7, 500, seed=1))
    assert not np.array_equal(counts, resample_counts(7, 500, seed=2))
    # Each prompt is drawn once per resample on average.
    np.testing.assert_allclose(counts.mean(), 1.0)


def test_the_interval_is_seeded_and_holds_the_mean():
    sim = simulate_ratings([2.0, 3.0, 3.5], n_prompts=40, seed=4)
    first = model_means_bootstrap(sim.model_idx, sim.prompt_idx, sim.score, seed=9)
    again = model_means_bootstrap(sim.model_idx, sim.prompt_idx, sim.score, seed=9)
    other = model_means_bootstrap(sim.model_idx, sim.prompt_idx, sim.score, seed=10)
    np.testing.assert_array_equal(first.low, again.low)
    assert not np.array_equal(first.low, other.low)
    assert np.all(first.low < first.mean) and np.all(first.mean < first.high)
    assert first.n_resamples == 1000 and first.confidence == 0.95 and first.resampled == "prompts"


def test_resampling_prompts_gives_wider_intervals_than_resampling_ratings_when_prompts_matter():
    # With a strong prompt effect, treating the 3 ratings of an image as independent would
    # understate the uncertainty: each rating as its own "prompt" must give a narrower interval.
    sim = simulate_ratings([3.0], n_prompts=30, prompt_sd=1.5, noise_sd=0.3, seed=2)
    by_prompt = model_means_bootstrap(sim.model_idx, sim.prompt_idx, sim.score)
    by_rating = model_means_bootstrap(sim.model_idx, np.arange(sim.score.size), sim.score)
    assert (by_prompt.high - by_prompt.low)[0] > 1.5 * (by_rating.high - by_rating.low)[0]


def test_a_single_prompt_gives_a_zero_width_interval():
    result = model_means_bootstrap([0, 0, 1], [0, 0, 0], [1.0, 2.0, 4.0], n_resamples=20)
    np.testing.assert_allclose(result.low, result.mean)
    np.testing.assert_allclose(result.high, result.mean)


def test_the_intervals_cover_the_true_means_about_95_percent_of_the_time():
    # 60 simulated campaigns of 4 models: 240 intervals; binomial(240, 0.95) lies in [0.90, 0.99]
    # with probability > 0.999.
    truth = np.array([2.5, 3.0, 3.2, 4.0])
    hits = 0
    for seed in range(60):
        sim = simulate_ratings(truth, n_prompts=50, seed=seed)
        res = model_means_bootstrap(
            sim.model_idx, sim.prompt_idx, sim.score, n_resamples=400, seed=seed
        )
        hits += int(np.sum((res.low <= truth) & (truth <= res.high)))
    assert 0.90 <= hits / 240 <= 0.99


def test_the_ordering_of_models_is_recovered_from_noisy_five_point_ratings():
    truth = np.array([2.0, 2.6, 3.2, 3.8, 4.4])
    sim = simulate_ratings(truth, n_prompts=80, n_judges=20, judge_sd=0.3, scale=(1, 5), seed=5)
    res = model_means_bootstrap(sim.model_idx, sim.prompt_idx, sim.score)
    assert np.argsort(res.mean).tolist() == [0, 1, 2, 3, 4]
    # Neighbours 0.6 apart are separated: the intervals do not overlap.
    assert np.all(res.high[:-1] < res.low[1:])


def test_to_dict_gives_json_ready_values_with_null_for_missing():
    model, prompt, score = _small()
    out = model_means_bootstrap(model, prompt, score, n_models=3, n_resamples=10).to_dict()
    assert out["mean"][2] is None and out["n_ratings"] == [4, 5, 0]
    assert out["replicates"] is None and isinstance(out["low"][0], float)


def test_group_means_gives_the_mean_and_count_of_each_image():
    means, counts = group_means([0, 0, 2], [1.0, 2.0, 5.0], n_groups=4)
    np.testing.assert_allclose(means[[0, 2]], [1.5, 5.0])
    assert np.isnan(means[1]) and np.isnan(means[3])
    assert counts.tolist() == [2, 0, 1, 0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": [1.0, np.nan, 2.0]}, "NaN"),
        ({"score": [1.0, 2.0]}, "entries"),
        ({"prompt_idx": [0, -1, 1]}, "non-negative"),
        ({"prompt_idx": [0, 0.5, 1]}, "integer"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"confidence": 95}, "confidence"),
        ({"n_models": 1}, "n_models"),
        ({"counts": np.ones((5, 3))}, "counts"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_problem(kwargs, message):
    args = {"model_idx": [0, 1, 1], "prompt_idx": [0, 1, 1], "score": [1.0, 2.0, 3.0]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        model_means_bootstrap(**args)
