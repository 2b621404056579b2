"""The comparison report of a campaign: human scores, agreement, metrics, correlations, plots.

:func:`report_build` is the one entry point (pages, exports, API and the ``export_report``
command all call it). It returns a :class:`~ratings.report.model.Report`, the one typed model
every output is rendered from (``report.to_json_dict()`` is the JSON export); ``report.plots``
holds the SVGs.

Caching (Django's cache framework, ``default`` cache; LocMem per process unless CACHES is
configured, e.g. Redis in production): a built report is stored under a key made of the
campaign (id, status, reference set), the number and largest id of its ratings, the judges
that are flagged or excluded, the ids and statuses of the metric runs on its sets, the switch
and the bootstrap settings. New ratings, a judge excluded, or a metric run finishing change
the key, so a cached report is never stale; nothing needs invalidating. Computing the key
costs three small queries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time

import numpy as np
import scipy
from django.core.cache import cache
from django.db.models import Count, Max, Q
from django.utils import timezone

from metrics import selectors as catalog
from ratings.models import Campaign, Judge, Rating
from ratings.report.automated import metrics_section
from ratings.report.builder import report_data_collect
from ratings.report.correlations import correlations_section
from ratings.report.galleries import galleries_section
from ratings.report.human import (
    agreement_section,
    frame_make,
    scores_section,
    significance_section,
)
from ratings.report.model import (
    SCHEMA_DIGEST,
    BootstrapInfo,
    CampaignRef,
    Counts,
    CriterionEntry,
    DroppedJudge,
    Exclusions,
    ItemRow,
    Meta,
    ModelEntry,
    Report,
    RunUsed,
)
from ratings.report.pairwise import pairwise_section
from ratings.report.plots import report_plots

# 2: criterion identity, one-sided bounds, pairwise agreement; 3: failed runs; 4: typed model
# (items as objects, protocol on agreement and item rows).
REPORT_VERSION = 4
logger = logging.getLogger(__name__)
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95
CACHE_SECONDS = 7 * 24 * 3600
SECTIONS = (
    "scores",
    "pairwise",
    "significance",
    "agreement",
    "metrics",
    "correlations",
    "galleries",
    "provenance",
)


def report_cache_key(
    *,
    campaign: Campaign,
    include_flagged: bool,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> str:
    """The cache key of a report: changes whenever anything the report reads changes."""
    ratings = Rating.objects.filter(item__campaign=campaign).aggregate(
        n=Count("id"), last=Max("id")
    )
    judges = list(
        Judge.objects.filter(Q(flagged=True) | Q(excluded=True), campaign=campaign)
        .order_by("id")
        .values_list("id", "flagged", "excluded")
    )
    set_ids = list(campaign.image_sets.values_list("id", flat=True))
    runs = sorted(catalog.metric_runs_for_sets(set_ids=set_ids).values_list("id", "status"))
    state = [
        REPORT_VERSION,
        SCHEMA_DIGEST,
        campaign.pk,
        campaign.status,
        campaign.reference_set_id,
        sorted(set_ids),
        ratings["n"],
        ratings["last"],
        judges,
        runs,
        bool(include_flagged),
        int(n_resamples),
        int(seed),
        float(confidence),
    ]
    digest = hashlib.sha256(json.dumps(state, default=str).encode()).hexdigest()[:32]
    return f"evalsite:report:{campaign.pk}:{digest}"


def report_build(
    *,
    campaign: Campaign,
    include_flagged: bool = False,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    use_cache: bool = True,
    plots: bool = True,
) -> Report:
    """The campaign's report (from the cache when nothing changed since it was built)."""
    key = report_cache_key(
        campaign=campaign,
        include_flagged=include_flagged,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
    )
    if use_cache:
        try:
            cached = cache.get(key)
        except Exception:  # noqa: BLE001 - an entry that no longer unpickles is a miss
            logger.warning("report cache entry %s unreadable; rebuilding", key, exc_info=True)
            cached = None
        if isinstance(cached, Report) and (cached.plots or not plots):
            return cached
    report = report_compute(
        campaign=campaign,
        include_flagged=include_flagged,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
    )
    report.meta.cache_key = key
    if plots:
        started = time.perf_counter()
        report.plots = report_plots(report)
        report.meta.plot_seconds = round(time.perf_counter() - started, 3)
    if use_cache:
        cache.set(key, report, CACHE_SECONDS)
    return report


def report_compute(
    *,
    campaign: Campaign,
    include_flagged: bool = False,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Report:
    """Compute every section of the report (no cache, no plots)."""
    started = time.perf_counter()
    data = report_data_collect(campaign=campaign)
    queried = time.perf_counter()
    frame = frame_make(
        data,
        include_flagged=include_flagged,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
    )
    scores, score_reps = scores_section(frame)
    pairwise, bt_reps = pairwise_section(frame)
    report = Report(
        models=[ModelEntry(**m) for m in data.models],
        criteria=[CriterionEntry(**c) for c in data.criteria],
        scores=scores,
        pairwise=pairwise,
        significance=significance_section(frame),
        agreement=agreement_section(frame),
        metrics=metrics_section(frame),
        correlations=correlations_section(frame, scores, pairwise, {**score_reps, **bt_reps}),
        galleries=galleries_section(frame),
        items=_item_aggregates(frame),
        meta=_meta(frame, campaign, include_flagged),
    )
    report.meta.query_seconds = round(queried - started, 3)
    report.meta.build_seconds = round(time.perf_counter() - started, 3)
    report.warnings = _warnings(report)
    return report


def _item_aggregates(frame) -> list[ItemRow]:
    """Per item and criterion: model(s), prompt, number of answers, mean rating or choices."""
    d = frame.data
    used = frame.mask
    n_crit = max(len(d.criteria), 1)
    cell = d.rating_item[used] * n_crit + d.rating_criterion[used]
    size = d.item_id.size * n_crit
    value = d.rating_value[used]
    scale = ~np.isnan(value)
    n_scale = np.bincount(cell[scale], minlength=size)
    sums = np.bincount(cell[scale], weights=value[scale], minlength=size)
    n_cant = np.bincount(cell[d.rating_cant_tell[used]], minlength=size)
    choice = d.rating_choice[used]
    by_choice = [np.bincount(cell[choice == k], minlength=size) for k in range(4)]
    answered = np.flatnonzero(n_scale + n_cant + sum(by_choice))
    rows = []
    for flat in answered:
        i, c = divmod(int(flat), n_crit)
        ma, mb, p = d.item_model[i], d.item_model_b[i], d.item_prompt[i]
        first, second, tie, both_bad = (int(b[flat]) for b in by_choice)
        rows.append(
            ItemRow(
                item_id=int(d.item_id[i]),
                kind=str(d.item_kind[i]),
                criterion=d.criteria[c]["key"],
                protocol=d.criteria[c]["protocol"],
                model=d.models[ma]["label"] if ma >= 0 else "",
                model_b=d.models[mb]["label"] if mb >= 0 else "",
                image_id=int(d.item_image[i]) if d.item_image[i] >= 0 else None,
                image_b_id=int(d.item_image_b[i]) if d.item_image_b[i] >= 0 else None,
                prompt=d.prompts[p] if p >= 0 else "",
                n_ratings=int(n_scale[flat]),
                mean_rating=float(sums[flat] / n_scale[flat]) if n_scale[flat] else None,
                n_cant_tell=int(n_cant[flat]),
                n_first_better=first,
                n_second_better=second,
                n_tie=tie,
                n_both_bad=both_bad,
            )
        )
    return rows


def _meta(frame, campaign: Campaign, include_flagged: bool) -> Meta:
    d = frame.data
    dropped = [j for j in d.judges if (j["flagged"] or j["excluded"])]
    return Meta(
        report_version=REPORT_VERSION,
        campaign=CampaignRef(
            id=campaign.pk,
            name=campaign.name,
            status=campaign.status,
            reference_set_id=campaign.reference_set_id,
        ),
        generated_at=timezone.now().isoformat(),
        include_flagged=include_flagged,
        counts=Counts(
            models=len(d.models),
            prompts=len(d.prompts),
            items=int(d.item_id.size),
            judges=len(d.judges),
            ratings=int(d.rating_id.size),
            ratings_used=int(frame.mask.sum()),
            ratings_left_out=int((~frame.mask).sum()),
            cant_tell=int(d.rating_cant_tell[frame.mask].sum()),
            last_rating_id=int(d.rating_id.max()) if d.rating_id.size else None,
        ),
        exclusions=Exclusions(
            rule=(
                "every judge included (switch on)"
                if include_flagged
                else "ratings of flagged and excluded judges left out; gold items never analysed"
            ),
            judges_flagged_or_excluded=[
                DroppedJudge(
                    judge=j["label"],
                    flagged=j["flagged"],
                    excluded=j["excluded"],
                    reasons=j["flag_reasons"]
                    + ([j["excluded_reason"]] if j["excluded_reason"] else []),
                )
                for j in dropped
            ],
        ),
        bootstrap=BootstrapInfo(
            n_resamples=frame.n_resamples,
            seed=frame.seed,
            confidence=frame.confidence,
            clusters="prompts",
        ),
        metric_runs=[
            RunUsed(
                id=r["id"],
                metric=r["metric"],
                set_id=r["set_id"],
                reference_set=r["reference_set"],
                finished_at=r["finished_at"],
                provenance=r["provenance"] or {},
            )
            for r in d.runs
        ],
        software={
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
    )


# Under this many prompts the percentile intervals undercover (benchmarks/interval_coverage.py:
# 95% intervals held the truth 90% of the time at 10 prompts, 93% at 20, 94% at 50).
SMALL_STUDY_PROMPTS = 30


def _warnings(report: Report) -> list[str]:
    out = []
    n_models = len(report.models)
    counts = report.meta.counts
    n_prompts = counts.prompts
    if 0 < n_prompts < SMALL_STUDY_PROMPTS and counts.ratings_used:
        out.append(
            f"Only {n_prompts} prompts: the bootstrap intervals are approximate and tend to be "
            "too narrow with fewer than 30 prompts (in simulations a 95% interval held the "
            "truth about 90% of the time with 10 prompts and 93% with 20). Read them as rough, "
            "or add prompts."
        )
    if n_models < 5 and report.correlations.system:
        out.append(
            f"Only {n_models} models: system-level correlations over so few points are weak "
            "evidence (even perfect agreement can happen by chance). Compare at least 5 models."
        )
    if counts.ratings_used == 0:
        out.append("No ratings yet (after exclusions): the human side of this report is empty.")
    for section in report.pairwise:
        if section.note:
            out.append(f"{section.name} (comparison): {section.note}")
    return out


__all__ = ["SECTIONS", "Report", "report_build", "report_cache_key", "report_compute"]
