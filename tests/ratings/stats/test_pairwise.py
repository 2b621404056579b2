"""Win rates and Bradley-Terry scores of pairwise votes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ratings.stats import (
    A_BETTER,
    B_BETTER,
    BOTH_BAD,
    TIE,
    bradley_terry,
    encode_outcomes,
    fit_scores,
    to_elo,
    win_rates,
)
from ratings.stats.bradley_terry import log_likelihood, strongly_connected
from ratings.stats.simulate import simulate_votes

# choix 0.4.1 ilsr_pairwise / opt_pairwise with alpha=0 on the same votes; made by
# tests/data/make_report_golden.py in the peers venv.
GOLDEN = json.loads((Path(__file__).parents[2] / "data" / "report_choix_golden.json").read_text())


@pytest.mark.parametrize("case", sorted(GOLDEN["cases"]))
def test_bradley_terry_scores_equal_choix_maximum_likelihood(case):
    data = GOLDEN["cases"][case]
    result = bradley_terry(
        data["model_a"], data["model_b"], data["outcome"], n_models=data["n_models"], n_resamples=20
    )
    assert result.prior == 0.0 and result.note == ""
    np.testing.assert_allclose(result.score, data["ilsr_pairwise"], atol=1e-6)
    np.testing.assert_allclose(result.score, data["opt_pairwise"], atol=1e-6)
    assert abs(result.score.mean()) < 1e-12


def test_the_fit_is_a_maximum_of_the_likelihood_with_ties_as_half_wins():
    data = GOLDEN["cases"]["six_models_ties_and_both_bad"]
    table = win_rates(data["model_a"], data["model_b"], data["outcome"])
    best = fit_scores(table.wins)
    rng = np.random.default_rng(0)
    for _ in range(20):
        nudged = best + rng.normal(0, 0.01, best.size)
        assert log_likelihood(table.wins, nudged) < log_likelihood(table.wins, best)


def test_win_rates_count_ties_as_half_and_keep_both_bad_apart():
    # Model 0 vs 1: 0 wins twice, 1 wins once, one tie, one both-bad. Model 1 vs 2: one tie.
    a = [0, 0, 1, 1, 0, 2]
    b = [1, 1, 0, 0, 1, 1]
    outcome = encode_outcomes(["a", "a", "a", "tie", "both_bad", "tie"])
    table = win_rates(a, b, outcome)
    assert table.wins[0, 1] == 2.5 and table.wins[1, 0] == 1.5
    assert table.games[0, 1] == table.games[1, 0] == 4
    np.testing.assert_allclose(table.win_rate[0, 1], 2.5 / 4)
    np.testing.assert_allclose(table.win_rate[1, 2], 0.5)
    assert np.isnan(table.win_rate[0, 2]) and np.isnan(table.win_rate[1, 1])
    assert table.both_bad[0, 1] == table.both_bad[1, 0] == 1
    np.testing.assert_allclose(table.overall, [2.5 / 4, 2.0 / 5, 0.5])
    assert (table.n_votes, table.n_ties, table.n_both_bad) == (6, 2, 1)


def test_outcome_labels_map_to_their_codes_and_unknown_labels_are_refused():
    assert encode_outcomes(["a", "B", " Tie ", "both_bad"]).tolist() == [
        A_BETTER,
        B_BETTER,
        TIE,
        BOTH_BAD,
    ]
    with pytest.raises(ValueError, match="Unknown pairwise outcome 'left'"):
        encode_outcomes(["left"])


def test_two_models_with_a_known_win_share_get_the_log_odds_as_score_difference():
    # 30 wins to 10: p = 0.75, so s0 - s1 = log(3) and Elo differs by 400 log10(3).
    a = np.zeros(40, dtype=int)
    b = np.ones(40, dtype=int)
    outcome = np.r_[np.full(30, A_BETTER), np.full(10, B_BETTER)]
    result = bradley_terry(a, b, outcome, n_resamples=100)
    np.testing.assert_allclose(result.score, [np.log(3) / 2, -np.log(3) / 2], atol=1e-10)
    np.testing.assert_allclose(result.elo[0] - result.elo[1], 400 * np.log10(3), atol=1e-8)
    np.testing.assert_allclose(to_elo([0.0]), [1000.0])


def test_a_model_that_never_lost_gets_the_small_prior_and_the_report_says_so():
    a = [0, 0, 1, 1, 2]
    b = [1, 2, 2, 2, 1]
    outcome = [A_BETTER, A_BETTER, A_BETTER, B_BETTER, TIE]
    assert not strongly_connected(win_rates(a, b, outcome).wins)
    result = bradley_terry(a, b, outcome, n_resamples=50)
    assert result.prior == 0.1
    assert "virtual tied game" in result.note
    assert np.all(np.isfinite(result.score)) and result.score[0] == result.score.max()
    # Every resample gets the same prior as the point estimate, so none is counted apart.
    assert result.n_regularised_resamples == 0
    assert np.all(result.low <= result.score) and np.all(result.score <= result.high)
    with pytest.raises(ValueError, match="do not exist"):
        bradley_terry(a, b, outcome, prior=0.0)


def test_resamples_without_a_maximum_are_fitted_with_the_prior_and_counted():
    # Model 2 lost once in 12 games: many resamples lose that single loss.
    a = [0] * 6 + [1] * 6 + [2] * 12
    b = [1] * 6 + [0] * 6 + [0] * 6 + [1] * 6
    outcome = [A_BETTER] * 6 + [A_BETTER] * 6 + [A_BETTER] * 11 + [B_BETTER]
    result = bradley_terry(a, b, outcome, n_resamples=300, seed=1)
    assert result.prior == 0.0
    # P(the loss is not drawn) = (1 - 1/24)^24, about 36%.
    assert 60 < result.n_regularised_resamples < 160
    assert np.all(np.isfinite(result.low)) and np.all(np.isfinite(result.high))


def test_a_model_with_no_decisive_vote_has_no_score():
    result = bradley_terry([0, 1, 2], [1, 0, 3], [A_BETTER, A_BETTER, BOTH_BAD], n_resamples=20)
    assert np.isnan(result.score[2:]).all() and np.isfinite(result.score[:2]).all()
    assert "2 model(s) have no decisive or tied vote" in result.note


def test_bootstrap_intervals_cover_the_true_strengths_and_recover_the_ordering():
    truth = np.array([-0.9, -0.3, 0.1, 0.4, 0.7])
    hits = 0
    for seed in range(30):
        votes = simulate_votes(truth, n_votes=600, both_bad_rate=0.05, seed=seed)
        result = bradley_terry(
            votes.model_a, votes.model_b, votes.outcome, n_resamples=300, seed=seed
        )
        hits += int(np.sum((result.low <= votes.true_scores) & (votes.true_scores <= result.high)))
    # 150 intervals at 95%: P(fewer than 132 hits) < 0.001.
    assert 0.88 <= hits / 150 <= 1.0
    votes = simulate_votes(truth, n_votes=5000, tie_rate=0.1, seed=99)
    result = bradley_terry(votes.model_a, votes.model_b, votes.outcome, n_resamples=200)
    assert np.argsort(result.score).tolist() == [0, 1, 2, 3, 4]


def test_prompt_bootstrap_resamples_whole_prompts_and_differs_from_the_vote_bootstrap():
    votes = simulate_votes([-0.5, 0.0, 0.5], n_votes=500, n_prompts=10, seed=3)
    by_vote = bradley_terry(votes.model_a, votes.model_b, votes.outcome, n_resamples=200)
    by_prompt = bradley_terry(
        votes.model_a, votes.model_b, votes.outcome, prompt_idx=votes.prompt_idx, n_resamples=200
    )
    np.testing.assert_allclose(by_vote.score, by_prompt.score)
    assert by_vote.resampled == "votes" and by_prompt.resampled == "prompts"
    assert not np.allclose(by_vote.low, by_prompt.low)
    again = bradley_terry(
        votes.model_a, votes.model_b, votes.outcome, prompt_idx=votes.prompt_idx, n_resamples=200
    )
    np.testing.assert_array_equal(by_prompt.low, again.low)


def test_win_rate_intervals_hold_the_observed_win_rate():
    votes = simulate_votes([-0.5, 0.0, 0.5], n_votes=900, tie_rate=0.1, seed=8)
    result = bradley_terry(votes.model_a, votes.model_b, votes.outcome, n_resamples=300)
    assert np.all(result.win_rate_low < result.win_rate) and np.all(
        result.win_rate < result.win_rate_high
    )
    assert result.to_dict()["elo"][2] > 1000


def test_batched_fit_of_many_win_matrices_equals_fitting_each_alone():
    rng = np.random.default_rng(5)
    wins = rng.integers(1, 20, size=(6, 4, 4)).astype(float)
    batched = fit_scores(wins)
    for k in range(6):
        np.testing.assert_allclose(batched[k], fit_scores(wins[k]), atol=1e-12)


@pytest.mark.parametrize(
    ("a", "b", "outcome", "message"),
    [
        ([0, 1], [0, 0], [0, 1], "compares a model with itself"),
        ([0, 1], [1, 0], [0, 7], "outcome codes"),
        ([0, 1], [1, 0], [3, 3], "No decisive or tied votes"),
        ([0, 1], [1], [0, 1], "entries"),
    ],
)
def test_bad_votes_are_refused_with_a_message_naming_the_problem(a, b, outcome, message):
    with pytest.raises(ValueError, match=message):
        bradley_terry(a, b, outcome, n_resamples=10)


def test_a_model_that_never_lost_gets_an_exact_one_sided_bound_not_a_prior_driven_interval():
    from scipy import stats

    n = 10
    result = bradley_terry([0] * n, [1] * n, [A_BETTER] * n, n_resamples=100)
    assert result.bound == ("lower", "upper")
    assert result.high[0] == np.inf and result.low[1] == -np.inf
    # Clopper-Pearson: the one-sided 95% bound is the two-sided 90% exact interval's lower end.
    p_low = stats.binomtest(n, n).proportion_ci(confidence_level=0.90, method="exact").low
    assert result.win_rate_low[0] == pytest.approx(p_low, rel=1e-9)
    assert result.win_rate_high[0] == 1.0 and result.win_rate_low[1] == 0.0
    assert result.win_rate_high[1] == pytest.approx(1 - p_low, rel=1e-9)
    # On the score scale: A's lower bound sits log-odds(p_low) above B's score.
    logit = np.log(p_low / (1 - p_low))
    assert result.low[0] - result.score[1] == pytest.approx(logit, rel=1e-9)
    assert result.high[1] - result.score[0] == pytest.approx(-logit, rel=1e-9)
    assert result.low[0] < result.score[0]  # not the zero-width [score, score] of the prior


def test_a_disconnected_comparison_graph_is_fitted_and_ranked_within_each_group():
    votes = simulate_votes([-0.5, 0.5], n_votes=200, seed=1)
    other = simulate_votes([-0.2, 0.3], n_votes=150, seed=2)
    a = np.r_[votes.model_a, other.model_a + 2]
    b = np.r_[votes.model_b, other.model_b + 2]
    outcome = np.r_[votes.outcome, other.outcome]
    result = bradley_terry(a, b, outcome, n_resamples=50)
    assert result.groups == ((0, 1), (2, 3))
    assert result.prior == 0.0 and "2 groups never compared" in result.note
    first = bradley_terry(votes.model_a, votes.model_b, votes.outcome, n_resamples=50)
    second = bradley_terry(other.model_a, other.model_b, other.outcome, n_resamples=50)
    np.testing.assert_allclose(result.score[:2], first.score, atol=1e-9)
    np.testing.assert_allclose(result.score[2:], second.score, atol=1e-9)
    assert abs(result.score[:2].sum()) < 1e-9 and abs(result.score[2:].sum()) < 1e-9
