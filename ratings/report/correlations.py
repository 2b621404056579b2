"""Where people and metrics meet: correlations at system and item level, and their summary.

Correlations (:func:`ratings.stats.system_correlation`, :func:`~ratings.stats.item_correlation`):

- system level, one point per model: each criterion's model means (Bradley-Terry scores for
  pairwise criteria) against each metric. Intervals are prompt-bootstrap intervals with the
  report's shared resamples; a per-image metric (CLIP score, SSIM, PSNR, LPIPS, novelty) is
  recomputed on the same resampled prompts, a set-level one (FID, KID...) is held fixed.
- item level, one point per image: each rate criterion's per-image mean rating against each
  per-image metric, all models pooled; grid criteria per (model, prompt) against a metric's
  per-prompt value (Vendi);
- comparisons, item level: does a per-image metric prefer the image judges preferred
  (:mod:`ratings.report.preference`), beside the judges' own ceiling;
- the summary: per criterion and metric, system-level Spearman beside the item-level measure.

Sign convention: a lower-is-better metric is negated before correlating, so a positive
coefficient always means "the metric agrees with people"; every row says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ratings.models.campaigns import Protocol
from ratings.report.automated import (
    lower_is_better,
    metric_label,
    per_grid_ratings,
    per_image_ratings,
    runs_by_metric,
)
from ratings.report.human import Frame
from ratings.report.model import (
    Coef,
    CorrelationRow,
    CorrelationsSection,
    PairAgreementRow,
    PairwiseSection,
    Point,
    ScoreSection,
    SummaryPair,
    SummaryRow,
    SummaryStat,
)
from ratings.report.preference import pairwise_agreement_rows
from ratings.stats import item_correlation, model_means_bootstrap, system_correlation


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


def correlations_section(
    frame: Frame,
    scores: list[ScoreSection],
    pairwise: list[PairwiseSection],
    human_reps: dict[tuple[str, str], np.ndarray],
) -> CorrelationsSection:
    """System-level and item-level correlations of every criterion with every metric."""
    d = frame.data
    by_metric = runs_by_metric(d.runs)
    metric_reps = {m: _metric_replicates(frame, runs) for m, runs in by_metric.items()}

    notes = []
    humans: list[tuple[ScoreSection | PairwiseSection, str, list]] = []
    for s in scores:
        humans.append((s, "mean rating", [r.mean for r in s.models]))
    for p in pairwise:
        if p.ranking is not None:
            humans.append((p, "Bradley-Terry score", [r.score for r in p.models]))
        elif len(p.groups) > 1:
            notes.append(
                f"{p.name}: no system-level correlation with Bradley-Terry scores, because "
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
        reps = human_reps.get((section.protocol, section.criterion))
        pairwise_bt = section.protocol == Protocol.COMPARE
        if (
            pairwise_bt
            and reps is not None
            and (frame.counts is None or reps.shape[0] != frame.n_resamples)
        ):
            reps = None
        for metric, runs in by_metric.items():
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
                _correlation_row(
                    corr,
                    criterion=section.criterion,
                    protocol=section.protocol,
                    criterion_name=section.name,
                    human_measure=measure,
                    metric=metric,
                    metric_label=metric_label(metric),
                    points=[
                        Point(model=k, label=d.models[k]["label"], human=human[k],
                              metric=metric_values[k])
                        for k in range(frame.n_models)
                    ],
                )
            )  # fmt: skip

    item = []
    for c, crit in enumerate(d.criteria):
        if crit["protocol"] != Protocol.RATE:
            continue
        ids, mean, _ = per_image_ratings(frame, c)
        if ids.size == 0:
            continue
        for metric, runs in by_metric.items():
            pairs_h, pairs_m = [], []
            for run in runs.values():
                if run["id"] not in d.run_items:
                    continue
                images, vals = d.run_items[run["id"]]
                pos = np.clip(np.searchsorted(ids, images), 0, ids.size - 1)
                hit = ids[pos] == images
                pairs_h.append(mean[pos[hit]])
                pairs_m.append(vals[hit])
            if not pairs_h:
                continue
            item.append(
                _item_row(
                    frame, crit, metric, np.concatenate(pairs_h), np.concatenate(pairs_m),
                    measure="mean rating of the image", label=metric_label(metric),
                )
            )  # fmt: skip
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
    pairs = pairwise_agreement_rows(frame, by_metric)
    return CorrelationsSection(
        system=system,
        item=item,
        pairwise=pairs,
        summary=correlation_summary(system, item, pairs),
        notes=notes,
    )


def _correlation_row(corr, **fields: Any) -> CorrelationRow:
    """A correlation result (:class:`ratings.stats.Correlation`) with what it correlates."""
    plain = corr.to_dict()
    for name in ("spearman", "kendall", "pearson"):
        plain[name] = Coef(**plain[name])
    return CorrelationRow(**fields, **plain)


def _item_row(
    frame: Frame, crit: dict, metric: str, human: np.ndarray, values: np.ndarray, *,
    measure: str, label: str,
) -> CorrelationRow:  # fmt: skip
    """Item-level correlation of one criterion's human measure with one metric."""
    corr = item_correlation(
        human,
        values,
        lower_is_better=lower_is_better(metric),
        metric_name=metric_label(metric),
        confidence=frame.confidence,
    )
    return _correlation_row(
        corr,
        criterion=crit["key"],
        protocol=crit["protocol"],
        criterion_name=crit["name"],
        human_measure=measure,
        metric=metric,
        metric_label=label,
    )


def correlation_summary(
    system: list[CorrelationRow], item: list[CorrelationRow], pairs: list[PairAgreementRow]
) -> list[SummaryRow]:
    """One row per criterion and metric: system-level Spearman beside the item-level measure.

    Item level is Spearman per image for ratings and pairwise accuracy (with the judges'
    ceiling) for comparisons: together they answer "which metric best predicts our judges".
    """
    rows: dict[tuple, SummaryRow] = {}

    def row(r: CorrelationRow | PairAgreementRow) -> SummaryRow:
        ident = (r.protocol, r.criterion, r.metric)
        if ident not in rows:
            rows[ident] = SummaryRow(
                criterion=r.criterion, protocol=r.protocol, criterion_name=r.criterion_name,
                metric=r.metric, metric_label=r.metric_label, metric_negated=r.metric_negated,
            )  # fmt: skip
        return rows[ident]

    def spearman(r: CorrelationRow) -> SummaryStat:
        return SummaryStat(value=r.spearman.value, low=r.spearman.low, high=r.spearman.high, n=r.n)

    for r in system:
        row(r).system = spearman(r)
    for r in item:
        row(r).item = spearman(r)
    for r in pairs:
        row(r).pairwise = SummaryPair(
            accuracy=r.accuracy, low=r.low, high=r.high, ceiling=r.ceiling, n_votes=r.n_votes
        )
    return list(rows.values())


def _grid_item_correlations(
    frame: Frame, by_metric: dict[str, dict[int, dict]]
) -> list[CorrelationRow]:
    """Grid ratings of each (model, prompt) against the metric's value for that prompt's images."""
    d = frame.data
    out = []
    for c, crit in enumerate(d.criteria):
        if crit["protocol"] != Protocol.GRID:
            continue
        models, prompts, mean = per_grid_ratings(frame, c)
        for metric, runs in by_metric.items():
            human, values = [], []
            for k, p, h in zip(models, prompts, mean, strict=True):
                run = runs.get(int(k))
                value = run["per_prompt"].get(int(p)) if run else None
                if value is not None:
                    human.append(h)
                    values.append(value)
            if len(values) < 3:
                continue
            out.append(
                _item_row(
                    frame, crit, metric, np.asarray(human), np.asarray(values, dtype=np.float64),
                    measure="mean grid rating of a model's images of one prompt",
                    label=f"{metric_label(metric)} per prompt",
                )
            )  # fmt: skip
    return out
