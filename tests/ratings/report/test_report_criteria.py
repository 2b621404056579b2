"""One criterion key asked both as a rating and as a comparison: two measures, never mixed."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.report import report_compute
from ratings.stats import model_means_bootstrap, resample_counts, system_correlation
from tests.ratings.report.helpers import build_campaign

RESAMPLES = 300
N_PROMPTS = 12


@pytest.fixture
def shared_key(db):
    rng = np.random.default_rng(3)
    clip = 25 + rng.normal(0, 2.0, (4, N_PROMPTS))
    built = build_campaign(
        true_means=(2.2, 2.8, 3.4, 4.0),
        n_prompts=N_PROMPTS,
        rate_criteria=("realism",),
        compare_scores=(0.6, 0.2, -0.2, -0.6),
        compare_key="realism",
        metrics={"clip_score": clip.mean(axis=1)},
        per_image={"clip_score": clip},
        name="shared key",
    )
    return built, clip


def test_a_rating_and_a_comparison_sharing_a_key_keep_their_own_resamples(shared_key):
    built, clip = shared_key
    report = report_compute(campaign=built.campaign, n_resamples=RESAMPLES, seed=0)
    sim = built.simulated["realism"]
    counts = resample_counts(N_PROMPTS, RESAMPLES, 0)
    human = model_means_bootstrap(
        sim.model_idx, sim.prompt_idx, sim.score, counts=counts, keep_replicates=True
    )
    models = np.repeat(np.arange(4), N_PROMPTS)
    prompts = np.tile(np.arange(N_PROMPTS), 4)
    metric = model_means_bootstrap(
        models, prompts, clip.ravel(), counts=counts, keep_replicates=True
    )
    expected = system_correlation(
        human.mean,
        clip.mean(axis=1),
        lower_is_better=False,
        human_replicates=human.replicates,
        metric_replicates=metric.replicates,
    )
    rows = [
        c
        for c in report.correlations.system
        if c.criterion == "realism" and c.metric == "clip_score"
    ]
    by_protocol = {r.protocol: r for r in rows}
    assert set(by_protocol) == {"rate", "compare"}
    rating = by_protocol["rate"]
    assert rating.human_measure == "mean rating"
    for name in ("spearman", "kendall", "pearson"):
        coef = getattr(expected, name)
        assert getattr(rating, name).low == pytest.approx(coef.low, abs=1e-12), name
        assert getattr(rating, name).high == pytest.approx(coef.high, abs=1e-12), name
    # The comparison's row is the Bradley-Terry score, with its own (different) interval.
    assert by_protocol["compare"].human_measure == "Bradley-Terry score"
    assert by_protocol["compare"].pearson.low != pytest.approx(rating.pearson.low)


def test_tables_are_rendered_from_one_column_specification_for_page_and_csv(shared_key):
    import csv
    import io
    import zipfile

    from ratings.report import report_build
    from ratings.report.exports import report_export
    from ratings.report.present import report_view
    from ratings.report.tables import CORRELATIONS, JUDGES

    built, _ = shared_key
    report = report_build(campaign=built.campaign, n_resamples=50, use_cache=False)
    view = report_view(report, thumb=lambda i: None)
    assert "human measure" in view["system_head"]
    assert all(len(row) == len(view["system_head"]) for row in view["system_rows"])
    measures = {row[view["system_head"].index("human measure")] for row in view["system_rows"]}
    assert measures == {"mean rating", "Bradley-Terry score"}
    bundle = zipfile.ZipFile(io.BytesIO(report_export(report, campaign=built.campaign, fmt="csv")))
    for name, table in (("correlations.csv", CORRELATIONS), ("judges.csv", JUDGES)):
        header = next(csv.reader(io.StringIO(bundle.read(name).decode())))
        assert header == table.csv_header()
