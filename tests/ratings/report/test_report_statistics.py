"""The report on a campaign with a known truth: it recovers it, and its numbers are the references'."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy import optimize, stats

from ratings.models import Judge, Rating
from ratings.report import report_build, report_compute
from ratings.stats import (
    krippendorff_alpha,
    model_means_bootstrap,
    paired_tests,
    resample_counts,
)
from tests.ratings.report.helpers import build_campaign, expected_ratings

MEANS = (2.2, 2.8, 3.4, 4.0)
STRENGTHS = (-0.6, -0.2, 0.2, 0.6)
RESAMPLES = 400


@pytest.fixture
def built(db):
    rng = np.random.default_rng(5)
    n_prompts = 40
    clip = 20 + 2 * np.array(MEANS)[:, None] + rng.normal(0, 1.5, (4, n_prompts))
    return build_campaign(
        true_means=MEANS,
        n_prompts=n_prompts,
        compare_scores=STRENGTHS,
        votes_per_item=4,
        metrics={"fid": [42.0, 30.0, 31.0, 12.0], "clip_score": clip.mean(axis=1)},
        per_image={"clip_score": clip},
    )


def _report(built, **kw):
    return report_compute(campaign=built.campaign, n_resamples=RESAMPLES, seed=0, **kw)


def test_the_report_recovers_the_known_ordering_and_its_intervals_cover_the_truth(built):
    report = _report(built)
    truth = expected_ratings(MEANS)
    for section in report.scores:
        assert section.ranking == [3, 2, 1, 0], section.criterion
        for row, expected in zip(section.models, truth, strict=True):
            assert row.low <= expected <= row.high, (section.criterion, row, expected)
            assert row.n_prompts == 40 and row.n_ratings == 120
    (pairwise,) = report.pairwise
    assert pairwise.ranking == [3, 2, 1, 0]
    centred = np.array(STRENGTHS) - np.mean(STRENGTHS)
    for row, s in zip(pairwise.models, centred, strict=True):
        assert row.low <= s <= row.high, (row, s)


def test_scores_and_paired_tests_equal_direct_calls_on_the_same_ratings(built):
    report = _report(built)
    sim = built.simulated["realism"]
    counts = resample_counts(40, RESAMPLES, 0)
    direct = model_means_bootstrap(sim.model_idx, sim.prompt_idx, sim.score, counts=counts)
    rows = report.scores[0].models
    np.testing.assert_allclose([r.mean for r in rows], direct.mean, rtol=1e-12)
    np.testing.assert_allclose([r.low for r in rows], direct.low, rtol=1e-12)
    np.testing.assert_allclose([r.high for r in rows], direct.high, rtol=1e-12)
    tests = paired_tests(sim.model_idx, sim.prompt_idx, sim.score, counts=counts)
    sig = report.significance[0]
    np.testing.assert_allclose(
        np.nan_to_num(np.array(sig.p_wilcoxon_holm, dtype=float)),
        np.nan_to_num(tests.p_wilcoxon_holm),
    )


def test_krippendorff_alpha_equals_the_matrix_form_on_the_same_ratings(built):
    report = _report(built)
    sim = built.simulated["relevance"]
    matrix = np.full((10, sim.item_idx.max() + 1), np.nan)
    matrix[sim.judge_idx, sim.item_idx] = sim.score
    alpha = next(a for a in report.agreement.criteria if a.criterion == "relevance")
    assert alpha.alpha == pytest.approx(krippendorff_alpha(matrix, level="ordinal"), abs=1e-12)
    assert alpha.alpha_interval == pytest.approx(
        krippendorff_alpha(matrix, level="interval"), abs=1e-12
    )
    assert alpha.low < alpha.alpha < alpha.high


def _bt_maximum_likelihood(wins: np.ndarray) -> np.ndarray:
    """Independent reference: maximise the Bradley-Terry log-likelihood with BFGS."""
    m = wins.shape[0]

    def nll(s):
        d = s[:, None] - s[None, :]
        return float((wins * np.logaddexp(0.0, -d)).sum() + 1e3 * s.sum() ** 2)

    s = optimize.minimize(nll, np.zeros(m), method="BFGS", options={"gtol": 1e-10}).x
    return s - s.mean()


def test_bradley_terry_scores_equal_a_direct_maximum_likelihood_fit(built):
    report = _report(built)
    (pairwise,) = report.pairwise
    games = np.array(pairwise.games, dtype=float)
    rate = np.nan_to_num(np.array(pairwise.win_rate, dtype=float))
    wins = rate * games
    reference = _bt_maximum_likelihood(wins)
    np.testing.assert_allclose([r.score for r in pairwise.models], reference, atol=1e-3)


def test_correlations_equal_scipy_with_the_sign_convention(built):
    report = _report(built)
    means = [r.mean for r in report.scores[0].models]
    fid = [42.0, 30.0, 31.0, 12.0]
    row = next(
        c for c in report.correlations.system
        if c.criterion == "realism" and c.metric == "fid"
    )  # fmt: skip
    assert row.metric_negated is True
    assert row.spearman.value == pytest.approx(stats.spearmanr(means, -np.array(fid))[0])
    assert row.kendall.value == pytest.approx(stats.kendalltau(means, -np.array(fid))[0])
    assert "models" in row.warning  # 4 models: warned plainly
    clip_row = next(
        c for c in report.correlations.system
        if c.criterion == "relevance" and c.metric == "clip_score"
    )  # fmt: skip
    assert "metric resampled together" in clip_row.interval_method

    sim = built.simulated["relevance"]
    per_image = np.bincount(sim.item_idx, weights=sim.score) / np.bincount(sim.item_idx)
    item = next(
        c for c in report.correlations.item
        if c.criterion == "relevance" and c.metric == "clip_score"
    )  # fmt: skip
    clip = 20 + 2 * np.array(MEANS)[:, None] + np.random.default_rng(5).normal(0, 1.5, (4, 40))
    assert item.n == 160
    assert item.spearman.value == pytest.approx(
        stats.spearmanr(per_image, clip.ravel())[0], abs=1e-12
    )
    assert item.spearman.value > 0.3  # both follow the true means


def test_the_exclusion_switch_changes_what_is_counted(built):
    judge = built.judges[0]
    Judge.objects.filter(pk=judge.pk).update(flagged=True, flag_reasons=["gold accuracy 0.2"])
    total = Rating.objects.filter(item__campaign=built.campaign).count()
    own = Rating.objects.filter(judge=judge).count()
    default = _report(built)
    everyone = _report(built, include_flagged=True)
    assert default.meta.counts.ratings_used == total - own
    assert everyone.meta.counts.ratings_used == total
    used = sum(r.n_ratings for r in default.scores[0].models)
    used_all = sum(r.n_ratings for r in everyone.scores[0].models)
    assert used < used_all == 480
    table = {j.id: j for j in default.agreement.judges}
    assert table[judge.pk].included is False and table[judge.pk].n_used == 0
    assert default.meta.exclusions.judges_flagged_or_excluded[0].judge == "link:j0"


def _queries(campaign) -> int:
    with CaptureQueriesContext(connection) as ctx:
        report_build(campaign=campaign, n_resamples=50, use_cache=False, plots=False)
    return len(ctx)


def test_the_report_runs_the_same_number_of_queries_whatever_the_number_of_ratings(db):
    small = build_campaign(n_prompts=5, name="small", compare_scores=STRENGTHS)
    large = build_campaign(n_prompts=60, name="large", compare_scores=STRENGTHS)
    assert (
        Rating.objects.filter(item__campaign=large.campaign).count()
        > 10 * Rating.objects.filter(item__campaign=small.campaign).count()
    )
    assert _queries(small.campaign) == _queries(large.campaign) <= 16


def test_a_cached_report_is_reused_until_a_new_rating_arrives(db):
    built = build_campaign(n_prompts=6, name="cached")
    first = report_build(campaign=built.campaign, n_resamples=50, plots=False)
    with CaptureQueriesContext(connection) as ctx:
        again = report_build(campaign=built.campaign, n_resamples=50, plots=False)
    assert again.meta.cache_key == first.meta.cache_key
    assert len(ctx) <= 4  # the key's queries only
    rating = Rating.objects.filter(item__campaign=built.campaign).first()
    rating.pk = None
    rating.judge = built.judges[-1]
    Rating.objects.filter(judge=built.judges[-1], item=rating.item).delete()
    rating.save()
    fresh = report_build(campaign=built.campaign, n_resamples=50, plots=False)
    assert fresh.meta.cache_key != first.meta.cache_key
    Judge.objects.filter(pk=built.judges[1].pk).update(excluded=True)
    excluded = report_build(campaign=built.campaign, n_resamples=50, plots=False)
    assert excluded.meta.cache_key != fresh.meta.cache_key


def test_a_campaign_without_ratings_gives_an_empty_report_that_says_so(db):
    built = build_campaign(n_prompts=3, name="empty", compare_scores=STRENGTHS)
    Rating.objects.filter(item__campaign=built.campaign).delete()
    report = report_build(campaign=built.campaign, n_resamples=20, use_cache=False)
    assert report.meta.counts.ratings == 0
    assert any("No ratings yet" in w for w in report.warnings)
    assert all(r.mean is None for r in report.scores[0].models)
    # No axis without a point: nobody answered, so no score plot and no win-rate heatmap.
    assert report.plots == {}
    from ratings.report.present import report_view

    view = report_view(report, thumb=lambda image_id: None)
    assert [s["plot"] for s in view["scores"]] == [""] * len(report.scores)


def test_grid_ratings_meet_vendi_per_prompt_at_item_level(db):
    from django.utils import timezone

    from metrics.models import MetricRun
    from ratings.models import Assignment, Criterion, Item, ItemImage
    from tests.ratings.report.helpers import SCALE

    built = build_campaign(n_prompts=8, n_judges=3, rate_criteria=("realism",),
                           metrics={"vendi": [1.0, 2.0, 3.0, 4.0]}, name="grid truth")  # fmt: skip
    truth = np.add.outer(np.arange(4.0), 0.1 * np.arange(8))  # (models x prompts)
    runs = MetricRun.objects.filter(metric="vendi").order_by("image_set_id")
    for k, run in enumerate(runs):
        run.result = {
            "extra": {"per_prompt": {str(pr.pk): truth[k, p] for p, pr in enumerate(built.prompts)}}
        }
        run.save(update_fields=["result"])
    crit = Criterion.objects.create(campaign=built.campaign, key="diversity", protocol="grid",
                                    name="Diversity", question="?", labels=SCALE, position=9)  # fmt: skip
    now = timezone.now()
    judge = built.judges[0]
    for k in range(4):
        for p, prompt in enumerate(built.prompts):
            item = Item.objects.create(campaign=built.campaign, kind="grid", prompt=prompt,
                                       shown_prompt=prompt)  # fmt: skip
            ItemImage.objects.create(item=item, image_id=int(built.images[k, p]), position=0)
            a = Assignment.objects.create(campaign=built.campaign, item=item, judge=judge,
                                          status="done", leased_at=now, expires_at=now,
                                          submitted_at=now)  # fmt: skip
            Rating.objects.create(assignment=a, judge=judge, item=item, criterion=crit,
                                  value=int(np.clip(round(1 + truth[k, p]), 1, 5)))  # fmt: skip

    report = report_build(campaign=built.campaign, use_cache=False, plots=False, n_resamples=50)

    rows = [r for r in report.correlations.item
            if r.criterion == "diversity" and r.metric == "vendi"]  # fmt: skip
    assert len(rows) == 1 and rows[0].n == 32
    human = np.clip(np.round(1 + truth), 1, 5).ravel()
    expected = stats.spearmanr(human, truth.ravel()).statistic
    assert rows[0].spearman.value == pytest.approx(expected, abs=1e-12)
    assert not report.correlations.notes
