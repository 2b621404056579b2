"""Krippendorff's alpha and judge agreement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ratings.stats import (
    judge_agreement,
    krippendorff_alpha,
    krippendorff_alpha_bootstrap,
    krippendorff_alpha_units,
)
from ratings.stats.agreement import _alpha_from_sums, _unit_features
from ratings.stats.simulate import simulate_ratings

# krippendorff 0.9.0 ``alpha`` on the same matrices; made by tests/data/make_report_golden.py.
GOLDEN = json.loads(
    (Path(__file__).parents[2] / "data" / "report_krippendorff_golden.json").read_text()
)
CASES = [
    (name, level)
    for name, case in sorted(GOLDEN["cases"].items())
    for level in sorted(case["alpha"])
]


def _matrix(name: str) -> np.ndarray:
    return np.array(GOLDEN["cases"][name]["data"], dtype=np.float64)  # null -> nan


@pytest.mark.parametrize(("name", "level"), CASES)
def test_alpha_equals_the_krippendorff_package(name, level):
    expected = GOLDEN["cases"][name]["alpha"][level]
    assert krippendorff_alpha(_matrix(name), level=level) == pytest.approx(expected, abs=1e-12)


def test_alpha_matches_the_published_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C.
    data = _matrix("krippendorff_2011")
    published = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
    for level, value in published.items():
        assert round(krippendorff_alpha(data, level=level), 3) == value


def test_alpha_from_ratings_equals_alpha_from_the_matrix():
    data = _matrix("pool_12_judges_3_per_unit")
    raters, units = np.nonzero(~np.isnan(data))
    for level in ("nominal", "ordinal", "interval"):
        assert krippendorff_alpha_units(units, data[raters, units], level=level) == pytest.approx(
            krippendorff_alpha(data, level=level), abs=1e-14
        )


def test_perfect_agreement_gives_one_and_no_variation_gives_nan():
    agree = np.array([[1, 2, 3, 4.0], [1, 2, 3, 4.0], [1, np.nan, 3, 4.0]])
    for level in ("nominal", "ordinal", "interval", "ratio"):
        assert krippendorff_alpha(agree, level=level) == pytest.approx(1.0)
    assert np.isnan(krippendorff_alpha(np.full((2, 5), 3.0), level="ordinal"))
    assert np.isnan(krippendorff_alpha(np.array([[1.0, np.nan], [np.nan, 2.0]])))


def test_the_bootstrap_interval_is_seeded_and_holds_alpha():
    sim = simulate_ratings([2.0, 3.0, 4.0], n_prompts=60, scale=(1, 5), seed=1)
    first = krippendorff_alpha_bootstrap(sim.item_idx, sim.score, seed=3)
    again = krippendorff_alpha_bootstrap(sim.item_idx, sim.score, seed=3)
    assert first == again
    assert first.low < first.alpha < first.high
    assert first.alpha == pytest.approx(krippendorff_alpha_units(sim.item_idx, sim.score))
    assert (first.n_units, first.n_values) == (180, 540)


def test_a_resample_of_unit_kinds_gives_the_alpha_of_the_resampled_units():
    # The bootstrap works on per-unit sums; resampling units by hand must give the same alpha.
    sim = simulate_ratings([2.0, 3.5], n_prompts=30, scale=(1, 5), seed=2)
    rng = np.random.default_rng(0)
    for level in ("ordinal", "nominal", "interval"):
        features, categories = _unit_features(sim.item_idx, sim.score, level)
        drawn = rng.integers(0, 60, 60)
        counts = np.bincount(drawn, minlength=60).astype(float)
        unit, value = [], []
        for new_id, old in enumerate(drawn):
            mine = sim.item_idx == old
            unit += [new_id] * int(mine.sum())
            value += sim.score[mine].tolist()
        direct = krippendorff_alpha_units(np.array(unit), np.array(value), level=level)
        via_sums = _alpha_from_sums((counts @ features)[None], level, categories)[0]
        assert via_sums == pytest.approx(direct, abs=1e-12)


def test_many_distinct_units_use_the_uniform_draw_and_still_give_a_sensible_interval():
    # Continuous scores make every unit its own kind: the exact uniform-draw path is taken.
    sim = simulate_ratings([2.0, 3.0, 4.0], n_prompts=50, noise_sd=0.5, seed=3)
    result = krippendorff_alpha_bootstrap(
        sim.item_idx, sim.score, level="interval", n_resamples=300
    )
    assert result.low < result.alpha < result.high
    assert result.high - result.low < 0.3


def test_noisier_judges_agree_less():
    calm = simulate_ratings([2.0, 3.0, 4.0], n_prompts=60, noise_sd=0.3, scale=(1, 5), seed=4)
    noisy = simulate_ratings([2.0, 3.0, 4.0], n_prompts=60, noise_sd=1.5, scale=(1, 5), seed=4)
    a = krippendorff_alpha_bootstrap(calm.item_idx, calm.score, n_resamples=300)
    b = krippendorff_alpha_bootstrap(noisy.item_idx, noisy.score, n_resamples=300)
    assert b.high < a.low


def test_each_judge_is_compared_with_the_mean_of_the_others():
    # Units 0-3 rated by judges 0, 1, 2; judge 2 rates one point higher than judge 1 always.
    judge = np.repeat([0, 1, 2], 4)
    unit = np.tile([0, 1, 2, 3], 3)
    score = np.array([1, 2, 3, 5, 1, 2, 4, 4, 2, 3, 5, 5], dtype=float)
    result = judge_agreement(judge, unit, score)
    others_of_0 = np.array([1.5, 2.5, 4.5, 4.5])
    assert result.spearman[0] == pytest.approx(
        stats.spearmanr(score[:4], others_of_0).statistic, abs=1e-12
    )
    assert result.mean_diff[0] == pytest.approx(np.mean(score[:4] - others_of_0))
    assert result.mean_abs_diff[0] == pytest.approx(np.mean(np.abs(score[:4] - others_of_0)))
    assert result.mean_diff[2] > 0 > result.mean_diff[1]
    assert result.n_ratings.tolist() == [4, 4, 4] and result.n_shared.tolist() == [4, 4, 4]


def test_judge_spearman_equals_scipy_on_simulated_data_and_a_random_judge_stands_out():
    sim = simulate_ratings([2.0, 3.0, 4.0], n_prompts=80, n_judges=8, scale=(1, 5), seed=6)
    score = sim.score.copy()
    rogue = sim.judge_idx == 7
    score[rogue] = np.random.default_rng(0).integers(1, 6, rogue.sum())
    result = judge_agreement(sim.judge_idx, sim.item_idx, score)
    sums = np.bincount(sim.item_idx, weights=score)
    counts = np.bincount(sim.item_idx)
    for j in range(8):
        mine = sim.judge_idx == j
        others = (sums[sim.item_idx[mine]] - score[mine]) / (counts[sim.item_idx[mine]] - 1)
        assert result.spearman[j] == pytest.approx(
            stats.spearmanr(score[mine], others).statistic, abs=1e-12
        )
    assert np.argmin(result.spearman) == 7 and result.spearman[7] < 0.3 < result.spearman[:7].min()


def test_a_judge_with_nothing_shared_or_constant_ratings_has_no_spearman():
    result = judge_agreement([0, 0, 0, 1, 1, 1, 2], [0, 1, 2, 0, 1, 2, 9], [3, 3, 3, 1, 2, 3, 5.0])
    assert np.isnan(result.spearman).all()
    assert result.n_shared.tolist() == [3, 3, 0] and np.isnan(result.mean_diff[2])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: krippendorff_alpha(np.ones((2, 3)), level="likert"), "level must be one of"),
        (lambda: krippendorff_alpha(np.ones(3)), "raters x units"),
        (lambda: krippendorff_alpha(np.arange(600.0).reshape(2, 300)), "level='interval'"),
        (lambda: krippendorff_alpha(-np.ones((2, 3)), level="ratio"), "non-negative"),
        (lambda: judge_agreement([0, 0], [1, 1], [2.0, 3.0]), "same unit twice"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_judge_agreement_of_no_ratings_is_empty_not_an_error():
    from ratings.stats import judge_agreement

    result = judge_agreement(
        np.array([], dtype=int), np.array([], dtype=int), np.array([], dtype=float), n_judges=2
    )
    assert list(result.n_ratings) == [0, 0]
    assert np.isnan(result.spearman).all()
