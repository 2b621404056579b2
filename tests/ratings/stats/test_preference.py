"""Item-level agreement of a metric with pairwise votes, against a vote-by-vote count."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.stats import A_BETTER, B_BETTER, TIE, resample_counts
from ratings.stats.preference import pairwise_agreement


def _votes(seed: int = 0, n_items: int = 60, n_prompts: int = 12):
    rng = np.random.default_rng(seed)
    item = np.repeat(np.arange(n_items), 5)
    prompt = (np.arange(n_items) % n_prompts)[item]
    quality = rng.normal(size=(n_items, 2))
    p_first = 1 / (1 + np.exp(-(quality[:, 0] - quality[:, 1]) * 2))[item]
    choice = np.where(rng.random(item.size) < p_first, A_BETTER, B_BETTER)
    choice[rng.random(item.size) < 0.1] = TIE
    metric = quality + rng.normal(0, 0.7, quality.shape)
    metric[3] = [1.0, 1.0]  # the metric cannot tell this pair apart
    first, second = metric[item, 0], metric[item, 1]
    first[item == 7] = np.nan  # no value for one image
    return item, prompt, choice, first, second


def _brute_force(item, choice, first, second):
    agree = used = ties = missing = 0
    c_agree = c_used = 0
    for k in range(item.size):
        if choice[k] not in (A_BETTER, B_BETTER):
            continue
        people_first = choice[k] == A_BETTER
        if np.isnan(first[k]) or np.isnan(second[k]):
            missing += 1
        elif first[k] == second[k]:
            ties += 1
        else:
            used += 1
            agree += (first[k] > second[k]) == people_first
        others = [j for j in range(item.size) if item[j] == item[k] and j != k
                  and choice[j] in (A_BETTER, B_BETTER)]  # fmt: skip
        f = sum(choice[j] == A_BETTER for j in others)
        s = len(others) - f
        if f != s:
            c_used += 1
            c_agree += (f > s) == people_first
    return agree / used, used, ties, missing, c_agree / c_used, c_used


def test_accuracy_ties_missing_values_and_ceiling_equal_a_vote_by_vote_count():
    item, prompt, choice, first, second = _votes()
    result = pairwise_agreement(item, prompt, choice, first, second, lower_is_better=False)
    acc, used, ties, missing, ceiling, n_ceiling = _brute_force(item, choice, first, second)
    assert result.accuracy == pytest.approx(acc, abs=1e-12)
    assert (result.n_votes, result.n_metric_ties, result.n_missing) == (used, ties, missing)
    assert ties > 0 and missing > 0
    assert result.ceiling == pytest.approx(ceiling, abs=1e-12) and result.n_ceiling == n_ceiling
    assert result.accuracy > 0.6  # the metric follows the same quality as the judges


def test_a_lower_is_better_metric_is_turned_around():
    item, prompt, choice, first, second = _votes(1)
    up = pairwise_agreement(item, prompt, choice, first, second, lower_is_better=False)
    down = pairwise_agreement(item, prompt, choice, -first, -second, lower_is_better=True)
    assert down.accuracy == pytest.approx(up.accuracy, abs=1e-12)


def test_the_interval_resamples_prompts_and_equals_a_direct_resample():
    item, prompt, choice, first, second = _votes(2)
    counts = resample_counts(12, 400, 0)
    result = pairwise_agreement(item, prompt, choice, first, second, lower_is_better=False,
                                counts=counts)  # fmt: skip
    assert result.low < result.accuracy < result.high and result.n_resamples == 400
    # Resample 0 by hand: every vote of prompt p counted counts[0, p] times.
    decisive = np.isin(choice, [A_BETTER, B_BETTER]) & np.isfinite(first) & (first != second)
    agree = (first > second) == (choice == A_BETTER)
    w = counts[:, prompt]
    reps = (w * (agree & decisive)).sum(axis=1) / (w * decisive).sum(axis=1)
    assert np.percentile(reps, 2.5) == pytest.approx(result.low, abs=1e-12)
    assert np.percentile(reps, 97.5) == pytest.approx(result.high, abs=1e-12)
