"""The automated side of the report and where it meets people: metrics per model, correlations.

Metrics per model: the latest done run of each metric on each model's set (against the
campaign's reference set where the metric needs one; a run against another reference is used
only when none against the campaign's exists, and is marked).

Correlations (:func:`ratings.stats.system_correlation`, :func:`~ratings.stats.item_correlation`):

- system level, one point per model: each criterion's model means (Bradley-Terry scores for
  pairwise criteria) against each metric. Intervals are prompt-bootstrap intervals with the
  report's shared resamples; a per-image metric (CLIP score, SSIM, PSNR, LPIPS, novelty) is
  recomputed on the same resampled prompts, a set-level one (FID, KID...) is held fixed.
- item level, one point per image: each rate criterion's per-image mean rating against each
  per-image metric, all models pooled.

Sign convention: a lower-is-better metric is negated before correlating, so a positive
coefficient always means "the metric agrees with people"; every row says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.engine.metadata import metric_info
from metrics.services.recipes import RECIPES
from ratings.models.campaigns import Protocol
from ratings.report.human import Frame, criterion_id
from ratings.report.preference import pairwise_agreement_rows
from ratings.stats import group_means, item_correlation, model_means_bootstrap, system_correlation
from ratings.stats._common import to_plain


def metric_label(metric: str) -> str:
    """The human name of a metric (its declared label; the key for undeclared metrics)."""
    return metric_info(metric).label


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better, as declared in the engine's metadata."""
    return metric_info(metric).lower_is_better


def _metric_order(names: set[str]) -> list[str]:
    known = [m for m in RECIPES if m in names]
    return known + sorted(names - set(known))


def metrics_section(frame: Frame) -> dict[str, Any]:
    """Per metric and model: value, spread, interval, run id and provenance; what is missing."""
    d = frame.data
    by_metric: dict[str, dict[int, dict]] = {}
    for run in d.runs:
        by_metric.setdefault(run["metric"], {})[run["model"]] = run
    rows = []
    for metric in _metric_order(set(by_metric)):
        runs = by_metric[metric]
        rows.append(
            {
                "metric": metric,
                "label": metric_label(metric),
                "lower_is_better": lower_is_better(metric),
                "direction": metric_info(metric).direction_text,
                "unit": metric_info(metric).unit,
                "per_image": any(r["id"] in d.run_items for r in runs.values()),
                "models": [_metric_cell(runs.get(k), d.run_items) for k in range(len(d.models))],
            }
        )
    active = {(r["set_id"], r["metric"]) for r in d.active_runs}
    failed = {(r["set_id"], r["metric"]): r for r in d.failed_runs}
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
                {
                    "model": k,
                    "label": model["label"],
                    "metric": name,
                    "metric_label": recipe.label,
                    "running": (model["set_id"], name) in active,
                    "failed": failed.get((model["set_id"], name)),
                    "needs": {"pairs": "source images", "set+reference": "the reference set"}.get(
                        recipe.inputs, ""
                    ),
                }
            )
    return to_plain(
        {
            "reference_set_id": d.campaign["reference_set_id"],
            "rows": rows,
            "missing": missing,
            "active_runs": d.active_runs,
        }
    )


def _metric_cell(run: dict | None, run_items: dict) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "run": run["id"],
        "value": run["value"],
        "std": run["std"],
        "low": run["low"],
        "high": run["high"],
        "reference_set": run["reference_set"],
        "reference_matches": run["reference_matches"],
        # The run's own sample count; per-image values where the result does not say.
        "n_images": run["n_images"]
        if run["n_images"] is not None
        else (int(run_items[run["id"]][0].size) if run["id"] in run_items else None),
        "finished_at": run["finished_at"],
        "params": run["params"],
        "provenance": run["provenance"],
    }


def _metric_replicates(frame: Frame, runs: dict[int, dict]) -> np.ndarray | None:
    """Per-model means of a per-image metric on the report's resampled prompts, or None."""
    d = frame.data
    if frame.counts is None or not runs:
        return None
    models, clusters, values = [], [], []
    n_prompts = len(d.prompts)
    for k, run in runs.items():
        if run["id"] not in d.run_items:
            return None  # a set-level value for some model: hold the metric fixed
        images, vals = d.run_items[run["id"]]
        prompt = np.array([d.image_prompt.get(int(i), -1) for i in images], dtype=np.int64)
        if frame.n_clusters > n_prompts:
            prompt = np.where(prompt < 0, n_prompts, prompt)
        keep = (prompt >= 0) & np.isfinite(vals)
        models.append(np.full(int(keep.sum()), k))
        clusters.append(prompt[keep])
        values.append(vals[keep])
    means = model_means_bootstrap(
        np.concatenate(models),
        np.concatenate(clusters),
        np.concatenate(values),
        n_models=frame.n_models,
        n_prompts=frame.n_clusters,
        counts=frame.counts,
        keep_replicates=True,
    )
    return means.replicates


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


def correlations_section(
    frame: Frame,
    scores: list[dict[str, Any]],
    pairwise: list[dict[str, Any]],
    human_reps: dict[tuple[str, str], np.ndarray],
) -> dict[str, Any]:
    """System-level and item-level correlations of every criterion with every metric."""
    d = frame.data
    by_metric: dict[str, dict[int, dict]] = {}
    for run in d.runs:
        by_metric.setdefault(run["metric"], {})[run["model"]] = run
    metric_reps = {m: _metric_replicates(frame, runs) for m, runs in by_metric.items()}

    notes = []
    humans = []
    for s in scores:
        humans.append((s, "mean rating", [r["mean"] for r in s["models"]]))
    for p in pairwise:
        if p.get("ranking") is not None:
            humans.append((p, "Bradley-Terry score", [r.get("score") for r in p["models"]]))
        elif len(p.get("groups") or []) > 1:
            notes.append(
                f"{p['name']}: no system-level correlation with Bradley-Terry scores, because "
                "groups of models were never compared with each other (their scores are not on "
                "one scale)."
            )
    if frame.n_models < 3:
        notes.append(
            f"With {frame.n_models} model{'s' if frame.n_models != 1 else ''} no system-level "
            "correlation can be computed: it needs at least 3 models."
        )
        humans = []
    dropped = 0

    system = []
    for section, measure, values in humans:
        human = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        reps = human_reps.get(criterion_id(section))
        pairwise_bt = section["protocol"] == Protocol.COMPARE
        if (
            pairwise_bt
            and reps is not None
            and (frame.counts is None or reps.shape[0] != frame.n_resamples)
        ):
            reps = None
        for metric in _metric_order(set(by_metric)):
            runs = by_metric[metric]
            metric_values = np.array(
                [
                    runs[k]["value"] if k in runs and runs[k]["value"] is not None else np.nan
                    for k in range(frame.n_models)
                ],
                dtype=np.float64,
            )
            m_reps = metric_reps.get(metric)
            if pairwise_bt:
                # Bradley-Terry resamples its own prompts: only the human side is resampled.
                m_reps = None
            if np.count_nonzero(np.isfinite(human) & np.isfinite(metric_values)) < 3:
                dropped += 1  # fewer than 3 models with both numbers: nothing to correlate
                continue
            corr = system_correlation(
                human,
                metric_values,
                lower_is_better=lower_is_better(metric),
                metric_name=metric_label(metric),
                human_replicates=reps,
                metric_replicates=m_reps,
                confidence=frame.confidence,
            )
            system.append(
                to_plain(
                    {
                        "criterion": section["criterion"],
                        "protocol": section["protocol"],
                        "criterion_name": section["name"],
                        "human_measure": measure,
                        "metric": metric,
                        "metric_label": metric_label(metric),
                        "points": [
                            {"model": k, "label": d.models[k]["label"], "human": human[k],
                             "metric": metric_values[k]}
                            for k in range(frame.n_models)
                        ],
                        **corr.to_dict(),
                    }
                )
            )  # fmt: skip

    item = []
    for c, crit in enumerate(d.criteria):
        if crit["protocol"] != Protocol.RATE:
            continue
        ids, mean, _ = per_image_ratings(frame, c)
        if ids.size == 0:
            continue
        for metric in _metric_order(set(by_metric)):
            pairs_h, pairs_m = [], []
            for run in by_metric[metric].values():
                if run["id"] not in d.run_items:
                    continue
                images, vals = d.run_items[run["id"]]
                pos = np.clip(np.searchsorted(ids, images), 0, ids.size - 1)
                hit = ids[pos] == images
                pairs_h.append(mean[pos[hit]])
                pairs_m.append(vals[hit])
            if not pairs_h:
                continue
            corr = item_correlation(
                np.concatenate(pairs_h),
                np.concatenate(pairs_m),
                lower_is_better=lower_is_better(metric),
                metric_name=metric_label(metric),
                confidence=frame.confidence,
            )
            item.append(
                to_plain(
                    {
                        "criterion": crit["key"],
                        "protocol": crit["protocol"],
                        "criterion_name": crit["name"],
                        "human_measure": "mean rating of the image",
                        "metric": metric,
                        "metric_label": metric_label(metric),
                        **corr.to_dict(),
                    }
                )
            )
    item += _grid_item_correlations(frame, by_metric)
    if dropped:
        notes.append(
            f"{dropped} criterion and metric pair(s) have fewer than 3 models with both a human "
            "score and a metric value: no correlation is shown for them."
        )
    if any(c["protocol"] == Protocol.GRID for c in d.criteria) and not any(
        r["per_prompt"] for r in d.runs
    ):
        notes.append(
            "Grid (diversity) criteria get an item-level correlation once a Vendi run exists "
            "for the models' sets (it stores the diversity of each prompt's images)."
        )
    pairs = pairwise_agreement_rows(frame, by_metric, _metric_order(set(by_metric)), metric_info)
    return {
        "system": system,
        "item": item,
        "pairwise": pairs,
        "summary": correlation_summary(system, item, pairs),
        "notes": notes,
    }


def correlation_summary(
    system: list[dict], item: list[dict], pairs: list[dict]
) -> list[dict[str, Any]]:
    """One row per criterion and metric: system-level Spearman beside the item-level measure.

    Item level is Spearman per image for ratings and pairwise accuracy (with the judges'
    ceiling) for comparisons: together they answer "which metric best predicts our judges".
    """
    rows: dict[tuple, dict[str, Any]] = {}

    def row(r: dict) -> dict[str, Any]:
        ident = (r["protocol"], r["criterion"], r["metric"])
        return rows.setdefault(ident, {
            "criterion": r["criterion"], "protocol": r["protocol"],
            "criterion_name": r["criterion_name"], "metric": r["metric"],
            "metric_label": r["metric_label"], "metric_negated": r["metric_negated"],
            "system": None, "item": None, "pairwise": None,
        })  # fmt: skip

    for r in system:
        row(r)["system"] = {k: r["spearman"][k] for k in ("value", "low", "high")} | {"n": r["n"]}
    for r in item:
        row(r)["item"] = {k: r["spearman"][k] for k in ("value", "low", "high")} | {"n": r["n"]}
    for r in pairs:
        row(r)["pairwise"] = {k: r[k] for k in ("accuracy", "low", "high", "ceiling", "n_votes")}
    return list(rows.values())


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


def _grid_item_correlations(frame: Frame, by_metric: dict[str, dict[int, dict]]) -> list[dict]:
    """Grid ratings of each (model, prompt) against the metric's value for that prompt's images."""
    d = frame.data
    out = []
    for c, crit in enumerate(d.criteria):
        if crit["protocol"] != Protocol.GRID:
            continue
        models, prompts, mean = per_grid_ratings(frame, c)
        for metric in _metric_order(set(by_metric)):
            human, values = [], []
            for k, p, h in zip(models, prompts, mean, strict=True):
                run = by_metric[metric].get(int(k))
                value = run["per_prompt"].get(int(p)) if run else None
                if value is not None:
                    human.append(h)
                    values.append(value)
            if len(values) < 3:
                continue
            corr = item_correlation(
                np.asarray(human),
                np.asarray(values, dtype=np.float64),
                lower_is_better=lower_is_better(metric),
                metric_name=metric_label(metric),
                confidence=frame.confidence,
            )
            out.append(
                to_plain(
                    {
                        "criterion": crit["key"],
                        "protocol": crit["protocol"],
                        "criterion_name": crit["name"],
                        "human_measure": "mean grid rating of a model's images of one prompt",
                        "metric": metric,
                        "metric_label": f"{metric_label(metric)} per prompt",
                        **corr.to_dict(),
                    }
                )
            )
    return out
