"""The report says what the data cannot tell: few prompts, few models, never-lost models."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.models import Rating
from ratings.report import report_build, report_compute
from ratings.report.present import report_view
from ratings.stats import A_BETTER, B_BETTER, resample_counts
from ratings.stats.preference import pairwise_agreement
from tests.ratings.report.helpers import build_campaign


def test_a_small_study_is_told_its_intervals_are_approximate(db):
    built = build_campaign(n_prompts=10, name="small study")
    report = report_compute(campaign=built.campaign, n_resamples=50)
    assert any("Only 10 prompts" in w and "too narrow" in w for w in report.warnings)
    big = build_campaign(n_prompts=30, name="big enough")
    assert not any("prompts:" in w for w in report_compute(campaign=big.campaign,
                                                           n_resamples=20).warnings)  # fmt: skip


def test_two_models_get_one_sentence_instead_of_a_table_of_dashes_and_no_scatter(db):
    built = build_campaign(true_means=(2.5, 3.5), n_prompts=6, name="two models",
                           compare_scores=(0.0, 0.5), metrics={"fid": [30.0, 20.0]})  # fmt: skip
    report = report_build(campaign=built.campaign, n_resamples=30, use_cache=False)
    assert report.correlations.system == []
    assert any("With 2 models no system-level correlation" in n
               for n in report.correlations.notes)  # fmt: skip
    assert not any("weak evidence" in w for w in report.warnings)
    assert not [k for k in report.plots if k.startswith("scatter-")]
    view = report_view(report, thumb=lambda i: None)
    assert view["system_rows"] == []


def test_a_model_that_never_lost_is_shown_with_a_one_sided_bound(db):
    built = build_campaign(true_means=(2.5, 3.5), n_prompts=6, name="never lost",
                           compare_scores=(0.0, 0.5))  # fmt: skip
    votes = Rating.objects.filter(item__campaign=built.campaign, criterion__protocol="compare")
    # Make the second model win every vote, wherever it was shown.
    for rating in votes.select_related("item"):
        first_set = rating.item.images.get(position=0).image.image_set_id
        rating.choice = "second" if first_set == built.sets[0].pk else "first"
        rating.save(update_fields=["choice"])
    report = report_compute(campaign=built.campaign, n_resamples=50)
    (pairwise,) = report.pairwise
    rows = pairwise.models
    assert rows[1].bound == "lower" and rows[1].high is None
    assert rows[0].bound == "upper" and rows[0].low is None
    assert "never lost" in pairwise.note
    view = report_view(report, thumb=lambda i: None)
    cells = view["pairwise"][0]["rows"][1]
    assert any(c.startswith("≥") for c in cells)


def test_comparison_criteria_get_item_level_agreement_with_the_human_ceiling(db):
    rng = np.random.default_rng(4)
    clip = 25 + rng.normal(0, 2.0, (4, 12))
    built = build_campaign(n_prompts=12, compare_scores=(-0.6, -0.2, 0.2, 0.6),
                           metrics={"clip_score": clip.mean(axis=1), "fid": [4, 3, 2, 1]},
                           per_image={"clip_score": clip}, name="pairs")  # fmt: skip
    report = report_compute(campaign=built.campaign, n_resamples=200, seed=0)
    (row,) = report.correlations.pairwise  # FID is set-level: no per-pair opinion
    assert row.metric == "clip_score" and row.criterion == "preference"
    # The same numbers straight from the ratings.
    votes = Rating.objects.filter(item__campaign=built.campaign, criterion__protocol="compare")
    item, prompt, choice, first, second = [], [], [], [], []
    value = {int(i): v for i, v in zip(built.images.ravel(), clip.ravel(), strict=True)}
    prompt_index = {p.pk: k for k, p in enumerate(built.prompts)}
    for r in votes.select_related("item").order_by("id"):
        images = {ii.position: ii.image_id for ii in r.item.images.all()}
        item.append(r.item_id)
        prompt.append(prompt_index[r.item.prompt_id])
        choice.append({"first": A_BETTER, "second": B_BETTER}[r.choice])
        first.append(value[images[0]])
        second.append(value[images[1]])
    _, item = np.unique(item, return_inverse=True)
    direct = pairwise_agreement(item, np.array(prompt), np.array(choice), np.array(first),
                                np.array(second), lower_is_better=False,
                                counts=resample_counts(12, 200, 0))  # fmt: skip
    assert row.accuracy == pytest.approx(direct.accuracy, abs=1e-12)
    assert row.low == pytest.approx(direct.low, abs=1e-12)
    assert row.ceiling == pytest.approx(direct.ceiling, abs=1e-12)
    assert row.n_votes == direct.n_votes > 0
    view = report_view(report, thumb=lambda i: None)
    assert len(view["pair_rows"]) == 1 and "judge vs other judges" in view["pair_head"]
