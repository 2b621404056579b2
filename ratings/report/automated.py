"""The automated side of the report: metrics per model, metric names and directions.

Metrics per model: the latest done run of each metric on each model's set (against the
campaign's reference set where the metric needs one; a run against another reference is used
only when none against the campaign's exists, and is marked). Names, units and directions come
from the engine's metric metadata (:mod:`metrics.engine.metadata`), nowhere else.

Also the per-image and per-prompt human aggregates the correlations and galleries share.
"""

from __future__ import annotations

import numpy as np

from metrics.engine.metadata import metric_info
from metrics.services.recipes import RECIPES
from ratings.models.campaigns import Protocol
from ratings.report.human import Frame
from ratings.report.model import MetricCell, MetricRow, MetricsSection, MissingMetric, RunRef
from ratings.stats import group_means


def metric_label(metric: str) -> str:
    """The human name of a metric (its declared label; the key for undeclared metrics)."""
    return metric_info(metric).label


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better, as declared in the engine's metadata."""
    return metric_info(metric).lower_is_better


def metric_order(names: set[str]) -> list[str]:
    known = [m for m in RECIPES if m in names]
    return known + sorted(names - set(known))


def runs_by_metric(runs: list[dict]) -> dict[str, dict[int, dict]]:
    """The runs a report uses, by metric (in the catalogue's order), then by model index."""
    grouped: dict[str, dict[int, dict]] = {}
    for run in runs:
        grouped.setdefault(run["metric"], {})[run["model"]] = run
    return {metric: grouped[metric] for metric in metric_order(set(grouped))}


def metrics_section(frame: Frame) -> MetricsSection:
    """Per metric and model: value, spread, interval, run id and provenance; what is missing."""
    d = frame.data
    by_metric = runs_by_metric(d.runs)
    rows = []
    for metric, runs in by_metric.items():
        info = metric_info(metric)
        rows.append(
            MetricRow(
                metric=metric,
                label=info.label,
                lower_is_better=info.lower_is_better,
                direction=info.direction_text,
                unit=info.unit,
                per_image=any(r["id"] in d.run_items for r in runs.values()),
                models=[_metric_cell(runs.get(k), d.run_items) for k in range(len(d.models))],
            )
        )
    active = {(r["set_id"], r["metric"]) for r in d.active_runs}
    failed = {(r["set_id"], r["metric"]): RunRef(**r) for r in d.failed_runs}
    missing = []
    has_reference = d.campaign["reference_set_id"] is not None
    for k, model in enumerate(d.models):
        for name, recipe in RECIPES.items():
            if name in by_metric and k in by_metric[name]:
                continue
            if recipe.needs_reference and not has_reference:
                continue
            if recipe.inputs == "pairs" and not model.get("paired"):
                continue  # image-to-image metrics need source images this set does not have
            missing.append(
                MissingMetric(
                    model=k,
                    label=model["label"],
                    metric=name,
                    metric_label=recipe.label,
                    running=(model["set_id"], name) in active,
                    failed=failed.get((model["set_id"], name)),
                    needs={"pairs": "source images", "set+reference": "the reference set"}.get(
                        recipe.inputs, ""
                    ),
                )
            )
    return MetricsSection(
        reference_set_id=d.campaign["reference_set_id"],
        rows=rows,
        missing=missing,
        active_runs=[RunRef(**r) for r in d.active_runs],
    )


def _metric_cell(run: dict | None, run_items: dict) -> MetricCell | None:
    if run is None:
        return None
    return MetricCell(
        run=run["id"],
        value=run["value"],
        std=run["std"],
        low=run["low"],
        high=run["high"],
        reference_set=run["reference_set"],
        reference_matches=run["reference_matches"],
        # The run's own sample count; per-image values where the result does not say.
        n_images=run["n_images"]
        if run["n_images"] is not None
        else (int(run_items[run["id"]][0].size) if run["id"] in run_items else None),
        finished_at=run["finished_at"],
        params=run["params"] or {},
        provenance=run["provenance"] or {},
    )


def per_image_ratings(frame: Frame, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image ids, mean rating, number of ratings) of criterion ``c`` on rate items."""
    d = frame.data
    rows = frame.of_criterion(c)
    rows = rows[~np.isnan(d.rating_value[rows])]
    items = d.rating_item[rows]
    keep = (d.item_kind[items] == Protocol.RATE) & (d.item_image[items] >= 0)
    images = d.item_image[items[keep]]
    if images.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int64)
    ids, inverse = np.unique(images, return_inverse=True)
    mean, n = group_means(inverse, d.rating_value[rows[keep]], ids.size)
    return ids, mean, n


def per_grid_ratings(frame: Frame, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(model index, prompt index, mean rating) per (model, prompt) of grid criterion ``c``."""
    d = frame.data
    rows = frame.of_criterion(c)
    rows = rows[~np.isnan(d.rating_value[rows])]
    items = d.rating_item[rows]
    keep = (d.item_kind[items] == Protocol.GRID) & (d.item_model[items] >= 0)
    keep &= d.item_prompt[items] >= 0
    models, prompts = d.item_model[items[keep]], d.item_prompt[items[keep]]
    if models.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
    cell = models * len(d.prompts) + prompts
    cells, inverse = np.unique(cell, return_inverse=True)
    mean, _ = group_means(inverse, d.rating_value[rows[keep]], cells.size)
    return cells // len(d.prompts), cells % len(d.prompts), mean
