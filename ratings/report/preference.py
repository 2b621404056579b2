"""Item-level agreement for comparison criteria: does a metric prefer the image people prefer?

For every compare criterion and every metric with per-image values, each decisive vote is
checked against the metric's values of the pair's two images
(:func:`ratings.stats.preference.pairwise_agreement`), with a bootstrap over the report's
shared prompt resamples and the judges' own ceiling beside it. Any metric that stores
per-image values joins here by itself: nothing lists metrics by name.
"""

from __future__ import annotations

import numpy as np

from metrics.engine.metadata import metric_info
from ratings.models.campaigns import Protocol
from ratings.report.builder import NO_CHOICE
from ratings.report.human import Frame
from ratings.report.model import PairAgreementRow
from ratings.stats.preference import pairwise_agreement


def _image_values(frame: Frame, runs: dict[int, dict]) -> tuple[np.ndarray, np.ndarray]:
    """(sorted image ids, values) of one metric's per-image values over every model's run."""
    d = frame.data
    ids, vals = [], []
    for run in runs.values():
        if run["id"] in d.run_items:
            images, values = d.run_items[run["id"]]
            ids.append(images)
            vals.append(values)
    if not ids:
        return np.empty(0, dtype=np.int64), np.empty(0)
    ids_all, vals_all = np.concatenate(ids), np.concatenate(vals)
    order = np.argsort(ids_all, kind="stable")
    return ids_all[order], vals_all[order]


def _lookup(ids: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    if ids.size == 0:
        return np.full(wanted.shape, np.nan)
    pos = np.clip(np.searchsorted(ids, wanted), 0, ids.size - 1)
    return np.where((ids[pos] == wanted) & (wanted >= 0), values[pos], np.nan)


def pairwise_agreement_rows(
    frame: Frame, by_metric: dict[str, dict[int, dict]]
) -> list[PairAgreementRow]:
    """One row per compare criterion and per-image metric: accuracy, interval, ties, ceiling."""
    d = frame.data
    out = []
    for c, crit in enumerate(d.criteria):
        if crit["protocol"] != Protocol.COMPARE:
            continue
        rows = frame.of_criterion(c)
        rows = rows[d.rating_choice[rows] != NO_CHOICE]
        items = d.rating_item[rows]
        keep = (d.item_image[items] >= 0) & (d.item_image_b[items] >= 0)
        rows, items = rows[keep], items[keep]
        if rows.size == 0:
            continue
        for metric, runs in by_metric.items():
            ids, values = _image_values(frame, runs)
            if ids.size == 0:
                continue  # a set-level metric has no per-image opinion on a pair
            meta = metric_info(metric)
            result = pairwise_agreement(
                items,
                frame.cluster[items],
                d.rating_choice[rows],
                _lookup(ids, values, d.item_image[items]),
                _lookup(ids, values, d.item_image_b[items]),
                lower_is_better=meta.lower_is_better,
                counts=frame.counts,
                confidence=frame.confidence,
            )
            out.append(
                PairAgreementRow(
                    criterion=crit["key"],
                    protocol=crit["protocol"],
                    criterion_name=crit["name"],
                    metric=metric,
                    metric_label=meta.label,
                    metric_negated=meta.lower_is_better,
                    **result.to_dict(),
                )
            )
    return out
