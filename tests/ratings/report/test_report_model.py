"""The report is one typed model: plain values, and the JSON export loads back into it."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import types
import typing
from typing import Any

import numpy as np
import pytest

from metrics.models import MetricRun
from ratings.report import report_build
from ratings.report.exports import report_json
from ratings.report.model import (
    AlphaRow,
    ItemRow,
    MetricCell,
    MissingMetric,
    Report,
    RunRef,
    ScoreSection,
    Typed,
)
from tests.ratings.report.helpers import build_campaign

RESAMPLES = 50


@pytest.fixture
def built(db):
    rng = np.random.default_rng(7)
    built = build_campaign(
        n_prompts=6,
        compare_scores=(-0.5, 0.0, 0.2, 0.5),
        metrics={"fid": [40, 30, 20, 10], "clip_score": [20, 21, 22, 23], "novelty": [0.5] * 4},
        per_image={
            "clip_score": rng.normal(22, 2, (4, 6)),
            "novelty": rng.uniform(0.4, 0.95, (4, 6)),
        },
        name="typed model",
    )
    # A metric whose newest run failed and one still queued: RunRef in both places.
    MetricRun.objects.create(
        metric="kid", image_set=built.sets[0], reference_set=built.reference, status="failed",
        error="boom\nsecond line",
    )  # fmt: skip
    MetricRun.objects.create(
        metric="kid", image_set=built.sets[1], reference_set=built.reference, status="queued"
    )
    return built


@pytest.fixture
def report(built):
    return report_build(campaign=built.campaign, n_resamples=RESAMPLES, use_cache=False)


def test_the_report_is_typed_and_its_json_export_loads_back_into_the_same_model(report):
    assert isinstance(report, Report)
    assert report.plots  # drawn, and left out of the JSON
    loaded = Report.from_dict(json.loads(report_json(report)))
    assert isinstance(loaded, Report)
    assert loaded == dataclasses.replace(report, plots={})
    # Nested sections come back as their classes, not as dicts.
    assert isinstance(loaded.scores[0], ScoreSection)
    assert isinstance(loaded.items[0], ItemRow)
    assert all(isinstance(c, MetricCell) for c in loaded.metrics.rows[0].models)


def test_to_json_dict_is_what_the_json_export_holds(report):
    assert json.loads(report_json(report)) == json.loads(json.dumps(report.to_json_dict()))
    assert "plots" not in report.to_json_dict()


def _check(hint: Any, value: Any, where: str, problems: list[str]) -> None:
    """``value`` has the type ``hint`` names, in plain Python (no numpy, no NaN, no tuple)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        _check_json(value, where, problems)
    elif origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None:
            if type(None) not in args:
                problems.append(f"{where}: None where {hint} is expected")
            return
        options = [a for a in args if a is not type(None)]
        trial: list[list[str]] = []
        for option in options:
            trial.append([])
            _check(option, value, where, trial[-1])
            if not trial[-1]:
                return
        problems.extend(trial[0])
    elif origin is list:
        if type(value) is not list:
            problems.append(f"{where}: {type(value).__name__} where a list is expected")
            return
        (arg,) = typing.get_args(hint)
        for k, v in enumerate(value):
            _check(arg, v, f"{where}[{k}]", problems)
    elif origin is dict:
        if type(value) is not dict:
            problems.append(f"{where}: {type(value).__name__} where a dict is expected")
            return
        key_type, arg = typing.get_args(hint)
        for k, v in value.items():
            if type(k) is not key_type:
                problems.append(f"{where}: key {k!r} is a {type(k).__name__}")
            _check(arg, v, f"{where}[{k!r}]", problems)
    elif isinstance(hint, type) and issubclass(hint, Typed):
        if type(value) is not hint:
            problems.append(f"{where}: {type(value).__name__} where {hint.__name__} is expected")
            return
        hints = typing.get_type_hints(hint)
        for f in dataclasses.fields(value):
            _check(hints[f.name], getattr(value, f.name), f"{where}.{f.name}", problems)
    elif hint is float:
        if type(value) not in (float, int):
            problems.append(f"{where}: {type(value).__name__} where a float is expected")
        elif not math.isfinite(value):
            problems.append(f"{where}: {value!r}")
    elif hint in (int, str, bool):
        if type(value) is not hint:
            problems.append(f"{where}: {type(value).__name__} where {hint.__name__} is expected")
    elif hint is type(None):
        if value is not None:
            problems.append(f"{where}: {value!r} where None is expected")
    else:
        problems.append(f"{where}: no check for {hint!r}")


def _check_json(value: Any, where: str, problems: list[str]) -> None:
    """A free-form JSON value (params, provenance): plain Python all the way down."""
    if type(value) in (int, str, bool, type(None)):
        return
    if type(value) is float:
        if not math.isfinite(value):
            problems.append(f"{where}: {value!r}")
    elif type(value) is list:
        for k, v in enumerate(value):
            _check_json(v, f"{where}[{k}]", problems)
    elif type(value) is dict:
        for k, v in value.items():
            if type(k) is not str:
                problems.append(f"{where}: key {k!r} is a {type(k).__name__}")
            _check_json(v, f"{where}[{k!r}]", problems)
    else:
        problems.append(f"{where}: {type(value).__module__}.{type(value).__name__}")


def test_every_field_of_every_section_holds_plain_python_of_its_declared_type(report):
    # Every section is filled, so the walk below visits every kind of row.
    assert report.scores and report.pairwise and report.significance and report.items
    assert report.agreement.criteria and report.agreement.judges
    assert report.metrics.rows and report.metrics.active_runs
    assert report.correlations.system and report.correlations.item
    assert report.correlations.pairwise and report.correlations.summary
    assert report.galleries.rated and report.galleries.closest_to_reference
    failed = [m for m in report.metrics.missing if m.failed is not None]
    assert [(m.metric, m.model, m.failed.error) for m in failed] == [("kid", 0, "boom")]
    assert all(isinstance(m, MissingMetric) for m in report.metrics.missing)
    assert [(r.metric, type(r)) for r in report.metrics.active_runs] == [("kid", RunRef)]

    problems: list[str] = []
    _check(Report, report, "report", problems)
    assert problems == []


def test_the_plain_value_check_catches_numpy_nan_and_untyped_sections(report):
    broken = copy.deepcopy(report)
    broken.scores[0].models[0].mean = np.float64(3.0)  # set after construction: not converted
    broken.scores[0].models[1].low = float("nan")
    broken.items = [dataclasses.asdict(report.items[0])]  # a dict where an ItemRow belongs
    problems: list[str] = []
    _check(Report, broken, "report", problems)
    assert any("models[0].mean: float64" in p for p in problems), problems
    assert any("models[1].low: nan" in p for p in problems), problems
    assert any("items[0]: dict where ItemRow" in p for p in problems), problems


def test_construction_turns_numpy_and_nan_into_plain_values():
    row = AlphaRow(
        criterion="realism", protocol="rate", name="Realism", alpha=np.float64(0.5),
        low=float("nan"), high=np.float32(0.75), level="ordinal", n_units=np.int64(3),
        n_values=9, confidence=0.95, n_resamples=10, seed=0, band="weak",
    )  # fmt: skip
    assert type(row.alpha) is float and row.alpha == 0.5
    assert row.low is None
    assert type(row.high) is float and row.high == 0.75
    assert type(row.n_units) is int and row.n_units == 3


def test_from_dict_refuses_an_unknown_key_and_names_it(report):
    body = report.to_json_dict()
    with pytest.raises(ValueError, match="surprise"):
        Report.from_dict({**body, "surprise": 1})
    body["meta"]["counts"]["ratings_counted_twice"] = 3
    with pytest.raises(ValueError, match=r"Counts.*ratings_counted_twice"):
        Report.from_dict(body)
    body = report.to_json_dict()
    body["items"][0]["colour"] = "red"
    with pytest.raises(ValueError, match=r"ItemRow.*colour"):
        Report.from_dict(body)


def test_the_json_holds_every_field_of_the_model(report):
    loaded = json.loads(report_json(report))
    assert set(loaded) == {f.name for f in dataclasses.fields(Report)} - {"plots"}
    assert isinstance(loaded["items"], list) and loaded["items"]
    fields = {f.name for f in dataclasses.fields(ItemRow)}
    for row in loaded["items"]:
        assert set(row) == fields
    assert {f.name for f in dataclasses.fields(AlphaRow)} == set(loaded["agreement"]["criteria"][0])
    assert loaded["meta"]["report_version"] == 4


def test_a_key_asked_as_rating_and_as_comparison_keeps_its_protocol_in_every_row(db):
    built = build_campaign(
        n_prompts=5,
        rate_criteria=("realism",),
        compare_scores=(0.6, 0.2, -0.2, -0.6),
        compare_key="realism",
        name="shared key model",
    )
    report = report_build(
        campaign=built.campaign, n_resamples=RESAMPLES, use_cache=False, plots=False
    )
    alpha = [a for a in report.agreement.criteria if a.criterion == "realism"]
    assert sorted(a.protocol for a in alpha) == ["compare", "rate"]
    assert {a.protocol: a.level for a in alpha} == {"rate": "ordinal", "compare": "nominal"}

    items = [r for r in report.items if r.criterion == "realism"]
    by_protocol: dict[str, list[ItemRow]] = {}
    for row in items:
        by_protocol.setdefault(row.protocol, []).append(row)
    assert set(by_protocol) == {"rate", "compare"}
    # A rating row has a mean and no choices; a comparison row has choices and no mean.
    for row in by_protocol["rate"]:
        assert row.kind == "rate" and row.mean_rating is not None and row.n_first_better == 0
    for row in by_protocol["compare"]:
        assert row.kind == "compare" and row.mean_rating is None
        assert row.n_first_better + row.n_second_better + row.n_tie + row.n_both_bad > 0
    assert len(by_protocol["rate"]) == 4 * 5  # one per model and prompt
    assert len(by_protocol["compare"]) == 6 * 5  # one per pair of models and prompt

    loaded = json.loads(report_json(report))
    json_protocols = {(r["criterion"], r["protocol"]) for r in loaded["items"]}
    assert json_protocols == {("realism", "rate"), ("realism", "compare")}


def test_the_cache_key_follows_the_models_shape(built, monkeypatch):
    """A cached report of another shape is never read back as this one."""
    import ratings.report as report_pkg
    from ratings.report.model import _schema_digest

    assert report_pkg.SCHEMA_DIGEST == _schema_digest()
    key = report_pkg.report_cache_key(campaign=built.campaign, include_flagged=False)
    monkeypatch.setattr(report_pkg, "SCHEMA_DIGEST", "another-shape")
    assert report_pkg.report_cache_key(campaign=built.campaign, include_flagged=False) != key


def test_an_unreadable_cache_entry_is_a_miss(built, monkeypatch):
    """An entry that no longer unpickles (a class renamed) is rebuilt, not a traceback page."""
    import ratings.report as report_pkg

    def broken(key, default=None):
        raise AttributeError("Can't get attribute 'OldRow' on <module 'ratings.report.model'>")

    monkeypatch.setattr(report_pkg.cache, "get", broken)
    report = report_build(campaign=built.campaign, n_resamples=RESAMPLES, plots=False)
    assert isinstance(report, Report) and report.meta.counts.ratings > 0
