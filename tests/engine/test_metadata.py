"""One source of truth for a metric's direction: engine results, recipes, run pages and report agree."""

from __future__ import annotations

import pytest

from metrics.engine.metadata import METRICS, metric_declare, metric_info
from metrics.engine.result import MetricResult
from metrics.forms_runs import recipe_rows
from metrics.services.recipes import RECIPES


def test_every_recipe_is_declared_and_reads_its_direction_from_the_declaration():
    for name, recipe in RECIPES.items():
        info = metric_info(name)
        assert info.known, name
        assert recipe.higher_is_better is info.higher_is_better
        assert recipe.label == info.label


def test_novelty_is_lower_is_better_on_the_run_start_page_the_engine_and_the_report():
    from ratings.report.automated import lower_is_better

    row = next(r for r in recipe_rows() if r["name"] == "novelty")
    assert row["better"] == "lower"
    assert MetricResult(metric="novelty", value=0.5, n=3).higher_is_better is False
    assert lower_is_better("novelty") is True


def test_engine_aliases_resolve_to_the_catalogue_metric():
    assert metric_info("inception_score") is METRICS["is"]
    assert MetricResult(metric="clip_directional_similarity", value=0.1, n=2).higher_is_better


def test_a_result_contradicting_the_declared_direction_is_refused():
    with pytest.raises(ValueError, match="lower-is-better"):
        MetricResult(metric="fid", value=1.0, n=2, higher_is_better=True)


def test_a_new_metric_joins_by_declaring_itself_and_cannot_be_redeclared_differently():
    info = metric_declare("test_only_metric", "Test metric", higher_is_better=False)
    assert metric_info("test_only_metric") is info and info.direction_text.startswith("↓")
    with pytest.raises(ValueError, match="already declared"):
        metric_declare("test_only_metric", "Test metric", higher_is_better=True)
    METRICS.pop("test_only_metric")
    unknown = metric_info("nobody_declared_this")
    assert not unknown.known and "assumed" in unknown.direction_text
