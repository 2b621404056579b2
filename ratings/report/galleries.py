"""Galleries: the images behind the numbers.

- per model and rate criterion, the best and worst rated images (mean rating, then most
  ratings first among equals);
- per rate criterion and per-image metric, the images where people and the metric disagree
  most: both are turned into percentile ranks over all rated images (the metric oriented so
  that higher is better), and the largest rank gaps either way are shown;
- per model, the generated images closest to the reference/training set (highest
  nearest-neighbour similarity of the latest novelty run), possible memorisation.

Images are referred to by catalog id; the page links them, the HTML export inlines small
thumbnails.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from ratings.models.campaigns import Protocol
from ratings.report.automated import lower_is_better, metric_label, per_image_ratings
from ratings.report.human import Frame
from ratings.report.model import (
    ClosestGallery,
    DisagreementGallery,
    Galleries,
    GapTile,
    NearTile,
    RatedGallery,
    RatedTile,
)

PER_GALLERY = 4


def galleries_section(frame: Frame, *, per_gallery: int = PER_GALLERY) -> Galleries:
    """Best/worst rated, human-vs-metric disagreements and closest-to-reference images."""
    d = frame.data
    rated: list[RatedGallery] = []
    disagreements: list[DisagreementGallery] = []
    per_image = _per_image_values(frame)  # once per report, not per criterion
    for c, crit in enumerate(d.criteria):
        if crit["protocol"] != Protocol.RATE:
            continue
        ids, mean, n = per_image_ratings(frame, c)
        if ids.size == 0:
            continue
        model = np.array([d.image_model.get(int(i), -1) for i in ids], dtype=np.int64)
        for k, m in enumerate(d.models):
            mine = np.flatnonzero(model == k)
            if mine.size == 0:
                continue
            order = mine[np.lexsort((-n[mine], -mean[mine]))]
            worst = mine[np.lexsort((-n[mine], mean[mine]))]
            rated.append(
                RatedGallery(
                    criterion=crit["key"],
                    criterion_name=crit["name"],
                    model=k,
                    label=m["label"],
                    best=[
                        RatedTile(image=ids[i], mean=mean[i], n=n[i]) for i in order[:per_gallery]
                    ],
                    worst=[
                        RatedTile(image=ids[i], mean=mean[i], n=n[i]) for i in worst[:per_gallery]
                    ],
                )
            )
        disagreements += _disagreements(crit, ids, mean, per_image, per_gallery)
    return Galleries(
        rated=rated,
        disagreements=disagreements,
        closest_to_reference=_closest(frame, per_gallery),
    )


def _per_image_values(frame: Frame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric (by name): the image ids and values of every model's run, run after run."""
    d = frame.data
    by_metric: dict[str, list[dict]] = {}
    for run in d.runs:
        if run["id"] in d.run_items:
            by_metric.setdefault(run["metric"], []).append(run)
    return {
        metric: (
            np.concatenate([d.run_items[r["id"]][0] for r in runs]),
            np.concatenate([d.run_items[r["id"]][1] for r in runs]),
        )
        for metric, runs in sorted(by_metric.items())
    }


def _disagreements(
    crit: dict,
    ids: np.ndarray,
    mean: np.ndarray,
    per_image: dict[str, tuple[np.ndarray, np.ndarray]],
    per_gallery: int,
) -> list[DisagreementGallery]:
    out = []
    for metric, (images, values) in per_image.items():
        pos = np.clip(np.searchsorted(ids, images), 0, ids.size - 1)
        hit = (ids[pos] == images) & np.isfinite(values)
        if hit.sum() < 3:
            continue
        human = mean[pos[hit]]
        metric_values = values[hit] * (-1.0 if lower_is_better(metric) else 1.0)
        # Percentile ranks in (0, 1]: the two scales become comparable.
        rh = rankdata(human) / human.size
        rm = rankdata(metric_values) / metric_values.size
        gap = rm - rh
        img = images[hit]
        raw = values[hit]
        metric_high = np.argsort(-gap, kind="stable")[:per_gallery]
        people_high = np.argsort(gap, kind="stable")[:per_gallery]
        out.append(
            DisagreementGallery(
                criterion=crit["key"],
                criterion_name=crit["name"],
                metric=metric,
                metric_label=metric_label(metric),
                metric_higher_people_lower=[
                    GapTile(image=img[i], human=human[i], metric=raw[i], gap=gap[i])
                    for i in metric_high
                    if gap[i] > 0
                ],
                people_higher_metric_lower=[
                    GapTile(image=img[i], human=human[i], metric=raw[i], gap=-gap[i])
                    for i in people_high
                    if gap[i] < 0
                ],
            )
        )
    return out


def _closest(frame: Frame, per_gallery: int) -> list[ClosestGallery]:
    d = frame.data
    out = []
    for run in d.runs:
        if run["metric"] != "novelty" or run["id"] not in d.run_items:
            continue
        images, values = d.run_items[run["id"]]
        finite = np.flatnonzero(np.isfinite(values))
        top = finite[np.argsort(-values[finite], kind="stable")[:per_gallery]]
        threshold = (run["params"] or {}).get("threshold")
        out.append(
            ClosestGallery(
                model=run["model"],
                label=d.models[run["model"]]["label"],
                run=run["id"],
                threshold=threshold,
                reference_set=run["reference_set"],
                images=[
                    NearTile(
                        image=images[i],
                        similarity=values[i],
                        memorised=bool(threshold is not None and values[i] >= threshold),
                    )
                    for i in top
                ],
            )
        )
    return out
