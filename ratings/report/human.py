"""The human side of the report: scores, pairwise preferences, significance and agreement.

Every number comes from :mod:`ratings.stats` (tested there against choix, krippendorff,
statsmodels and SciPy); this module only selects the ratings of each criterion and arranges
the results. All prompt bootstraps of one report share one count matrix
(:func:`ratings.stats.resample_counts`, seeded): every criterion's model means, the paired
tests and the per-image metrics are recomputed on *the same* resampled prompts, which is what
lets the correlation intervals resample both sides together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ratings.models.campaigns import Protocol
from ratings.report.builder import NO_CHOICE, ReportData
from ratings.report.model import (
    AgreementSection,
    AlphaRow,
    JudgeRow,
    PairedTests,
    ScoreRow,
    ScoreSection,
)
from ratings.stats import (
    judge_agreement,
    krippendorff_alpha_bootstrap,
    krippendorff_alpha_units,
    model_means_bootstrap,
    paired_tests,
    resample_counts,
)


def criterion_id(crit: dict[str, Any]) -> tuple[str, str]:
    """A criterion's identity in a report: its protocol and key (one key may exist per protocol)."""
    return (str(crit["protocol"]), str(crit["criterion"] if "criterion" in crit else crit["key"]))


@dataclass
class Frame:
    """The ratings in use (after the exclusion switch) and the shared prompt resamples."""

    data: ReportData
    mask: np.ndarray  # ratings used
    n_models: int
    n_clusters: int  # prompts, plus one cluster for items without a prompt
    cluster: np.ndarray  # per item: its prompt cluster
    counts: np.ndarray | None  # (n_resamples x n_clusters), None without prompts
    n_resamples: int
    seed: int
    confidence: float
    include_flagged: bool

    def of_criterion(self, c: int) -> np.ndarray:
        """Positions of the used ratings of criterion ``c``."""
        return np.flatnonzero(self.mask & (self.data.rating_criterion == c))


def frame_make(
    data: ReportData, *, include_flagged: bool, n_resamples: int, seed: int, confidence: float
) -> Frame:
    """The frame of one report: exclusion mask, prompt clusters and one resample matrix."""
    n_prompts = len(data.prompts)
    cluster = np.where(data.item_prompt >= 0, data.item_prompt, n_prompts)
    n_clusters = n_prompts + int(bool((data.item_prompt < 0).any()))
    counts = resample_counts(n_clusters, n_resamples, seed) if n_clusters else None
    return Frame(
        data=data,
        mask=data.included(include_flagged),
        n_models=len(data.models),
        n_clusters=n_clusters,
        cluster=cluster,
        counts=counts,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
        include_flagged=include_flagged,
    )


def _scale_ratings(frame: Frame, c: int) -> tuple[np.ndarray, ...]:
    """(model, cluster, judge, item, value) of the used scale ratings of criterion ``c``."""
    d = frame.data
    rows = frame.of_criterion(c)
    rows = rows[~np.isnan(d.rating_value[rows])]
    items = d.rating_item[rows]
    keep = d.item_model[items] >= 0
    rows, items = rows[keep], items[keep]
    return (
        d.item_model[items],
        frame.cluster[items],
        d.rating_judge[rows],
        items,
        d.rating_value[rows],
    )


def _n_distinct(group: np.ndarray, member: np.ndarray, n_groups: int) -> np.ndarray:
    if group.size == 0:
        return np.zeros(n_groups, dtype=np.int64)
    pairs = np.unique(group * (int(member.max()) + 1) + member)
    return np.bincount(pairs // (int(member.max()) + 1), minlength=n_groups)


def scores_section(frame: Frame) -> tuple[list[ScoreSection], dict[tuple[str, str], np.ndarray]]:
    """Per rate/grid criterion: each model's mean rating with its prompt-bootstrap interval.

    Also returns the bootstrap replicates (n_resamples x models) per criterion identity
    ``(protocol, key)``, for the system-level correlation intervals: a campaign may ask one key
    both as a rating and as a comparison, and those are two different measures.
    """
    d = frame.data
    out, replicates = [], {}
    for c, crit in enumerate(d.criteria):
        if crit["protocol"] == Protocol.COMPARE:
            continue
        model, cluster, judge, _, value = _scale_ratings(frame, c)
        means = model_means_bootstrap(
            model,
            cluster,
            value,
            n_models=frame.n_models,
            n_prompts=frame.n_clusters,
            counts=frame.counts,
            n_resamples=frame.n_resamples,
            seed=frame.seed,
            confidence=frame.confidence,
            keep_replicates=True,
        )
        replicates[criterion_id(crit)] = means.replicates
        used = frame.of_criterion(c)
        cant = d.rating_cant_tell[used]
        cant_models = d.item_model[d.rating_item[used][cant]]
        n_cant = np.bincount(cant_models[cant_models >= 0], minlength=frame.n_models)
        n_judges = _n_distinct(model, judge, frame.n_models)
        rows = [
            ScoreRow(
                model=k,
                label=m["label"],
                mean=means.mean[k],
                low=means.low[k],
                high=means.high[k],
                n_ratings=int(means.n_ratings[k]),
                n_judges=int(n_judges[k]),
                n_prompts=int(means.n_prompts[k]),
                n_cant_tell=int(n_cant[k]),
            )
            for k, m in enumerate(d.models)
        ]
        order = np.argsort(-np.nan_to_num(means.mean, nan=-np.inf), kind="stable")
        out.append(
            ScoreSection(
                criterion=crit["key"],
                name=crit["name"],
                protocol=crit["protocol"],
                scale=[1, crit["points"]],
                labels=crit["labels"],
                models=rows,
                ranking=[int(k) for k in order if np.isfinite(means.mean[k])],
                confidence=frame.confidence,
                n_resamples=frame.n_resamples,
                seed=frame.seed,
                resampled="prompts (cluster bootstrap, percentile interval)",
            )
        )
    return out, replicates


def significance_section(frame: Frame) -> list[PairedTests]:
    """Per rate/grid criterion: paired tests over prompts for every pair of models (Holm)."""
    d = frame.data
    out = []
    for c, crit in enumerate(d.criteria):
        if crit["protocol"] == Protocol.COMPARE:
            continue
        model, cluster, _, _, value = _scale_ratings(frame, c)
        if frame.counts is None:
            continue
        tests = paired_tests(
            model,
            cluster,
            value,
            n_models=frame.n_models,
            n_prompts=frame.n_clusters,
            counts=frame.counts,
            confidence=frame.confidence,
        )
        out.append(
            PairedTests(
                criterion=crit["key"],
                protocol=crit["protocol"],
                name=crit["name"],
                method="per pair of models, the mean difference over shared prompts: "
                "Wilcoxon signed-rank test and paired bootstrap over prompts, both "
                "Holm-adjusted over all pairs",
                **{**tests.to_dict(), "seed": frame.seed},
            )
        )
    return out


def agreement_section(frame: Frame) -> AgreementSection:
    """Krippendorff's alpha per criterion (bootstrap over items) and the judge table."""
    d = frame.data
    criteria = []
    for c, crit in enumerate(d.criteria):
        rows = frame.of_criterion(c)
        if crit["protocol"] == Protocol.COMPARE:
            rows = rows[d.rating_choice[rows] != NO_CHOICE]
            values = d.rating_choice[rows].astype(np.float64)
            level, check = "nominal", None
        else:
            rows = rows[~np.isnan(d.rating_value[rows])]
            values = d.rating_value[rows]
            level, check = "ordinal", "interval"
        units = d.rating_item[rows]
        alpha = krippendorff_alpha_bootstrap(
            units,
            values,
            level=level,
            n_resamples=frame.n_resamples,
            seed=frame.seed,
            confidence=frame.confidence,
        )
        criteria.append(
            AlphaRow(
                criterion=crit["key"],
                protocol=crit["protocol"],
                name=crit["name"],
                **alpha.to_dict(),
                band=_band(alpha.alpha),
                alpha_interval=(
                    krippendorff_alpha_units(units, values, level=check) if check else None
                ),
            )
        )
    return AgreementSection(
        criteria=criteria,
        units="items (one unit per item and criterion); intervals resample items",
        judges=_judge_table(frame),
    )


def _band(alpha: float) -> str:
    if not np.isfinite(alpha):
        return "undefined"
    if alpha >= 0.8:
        return "reliable"
    if alpha >= 0.667:
        return "tentative"
    return "weak"


def _judge_table(frame: Frame) -> list[JudgeRow]:
    """Ratings, gold accuracy, median time and agreement of every judge (included or not).

    Agreement is computed over every judge's scale ratings, so that a judge left out of the
    scores can still be compared with the others before deciding on exclusion.
    """
    d = frame.data
    n_j = len(d.judges)
    scale = ~np.isnan(d.rating_value)
    n_crit = max(len(d.criteria), 1)
    if scale.any():
        agreement = judge_agreement(
            d.rating_judge[scale],
            d.rating_item[scale] * n_crit + d.rating_criterion[scale],
            d.rating_value[scale],
            n_judges=n_j,
        )
        spearman, mean_abs, bias = agreement.spearman, agreement.mean_abs_diff, agreement.mean_diff
    else:
        # ratings.stats.judge_agreement fails on empty input (grouped ranks of nothing).
        spearman = mean_abs = bias = np.full(n_j, np.nan)
    n_ratings = np.bincount(d.rating_judge, minlength=n_j)
    n_cant = np.bincount(d.rating_judge[d.rating_cant_tell], minlength=n_j)
    used = np.bincount(d.rating_judge[frame.mask], minlength=n_j)
    out = []
    for k, j in enumerate(d.judges):
        times = d.rating_time_ms[d.rating_judge == k] if n_j < 2000 else np.empty(0)
        median = j["median_ms"]
        if median is None and times.size and np.isfinite(times).any():
            median = float(np.nanmedian(times))
        out.append(
            JudgeRow(
                judge=j["label"],
                id=j["id"],
                n_ratings=int(n_ratings[k]),
                n_cant_tell=int(n_cant[k]),
                gold_answered=j["gold_answered"],
                gold_accuracy=(
                    j["gold_correct"] / j["gold_answered"] if j["gold_answered"] else None
                ),
                median_ms=median,
                spearman_vs_others=spearman[k],
                mean_abs_diff=mean_abs[k],
                bias=bias[k],
                flagged=j["flagged"],
                flag_reasons=j["flag_reasons"],
                excluded=j["excluded"],
                included=frame.include_flagged or not (j["flagged"] or j["excluded"]),
                n_used=int(used[k]),
            )
        )
    return out
