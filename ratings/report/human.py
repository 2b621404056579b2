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
from scipy import stats as sps

from ratings.models.campaigns import Protocol
from ratings.report.builder import NO_CHOICE, ReportData
from ratings.stats import (
    A_BETTER,
    B_BETTER,
    TIE,
    bradley_terry,
    holm,
    judge_agreement,
    krippendorff_alpha_bootstrap,
    krippendorff_alpha_units,
    model_means_bootstrap,
    paired_tests,
    resample_counts,
    win_rates,
)
from ratings.stats._common import to_plain


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


def scores_section(frame: Frame) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
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
            {
                "model": k,
                "label": m["label"],
                "mean": means.mean[k],
                "low": means.low[k],
                "high": means.high[k],
                "n_ratings": int(means.n_ratings[k]),
                "n_judges": int(n_judges[k]),
                "n_prompts": int(means.n_prompts[k]),
                "n_cant_tell": int(n_cant[k]),
            }
            for k, m in enumerate(d.models)
        ]
        order = np.argsort(-np.nan_to_num(means.mean, nan=-np.inf), kind="stable")
        out.append(
            to_plain(
                {
                    "criterion": crit["key"],
                    "name": crit["name"],
                    "protocol": crit["protocol"],
                    "scale": [1, crit["points"]],
                    "labels": crit["labels"],
                    "models": rows,
                    "ranking": [int(k) for k in order if np.isfinite(means.mean[k])],
                    "confidence": frame.confidence,
                    "n_resamples": frame.n_resamples,
                    "seed": frame.seed,
                    "resampled": "prompts (cluster bootstrap, percentile interval)",
                }
            )
        )
    return out, replicates


def _votes(frame: Frame, c: int) -> tuple[np.ndarray, ...]:
    d = frame.data
    rows = frame.of_criterion(c)
    rows = rows[d.rating_choice[rows] != NO_CHOICE]
    items = d.rating_item[rows]
    keep = (d.item_model[items] >= 0) & (d.item_model_b[items] >= 0)
    keep &= d.item_model[items] != d.item_model_b[items]
    rows, items = rows[keep], items[keep]
    return d.item_model[items], d.item_model_b[items], d.rating_choice[rows], frame.cluster[items]


def pairwise_section(frame: Frame) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Per compare criterion: win-rate matrix, Bradley-Terry scores and sign tests (Holm)."""
    d = frame.data
    m = frame.n_models
    out, replicates = [], {}
    for c, crit in enumerate(d.criteria):
        if crit["protocol"] != Protocol.COMPARE:
            continue
        a, b, outcome, cluster = _votes(frame, c)
        table = win_rates(a, b, outcome, n_models=m)
        entry: dict[str, Any] = {
            "criterion": crit["key"],
            "name": crit["name"],
            "protocol": crit["protocol"],
            "labels": crit["labels"],
            "n_votes": table.n_votes,
            "n_ties": table.n_ties,
            "n_both_bad": table.n_both_bad,
            "win_rate": table.win_rate,
            "games": table.games,
            "both_bad": table.both_bad,
            "models": [],
            "note": "",
            "confidence": frame.confidence,
            "n_resamples": frame.n_resamples,
            "seed": frame.seed,
        }
        try:
            bt = bradley_terry(
                a,
                b,
                outcome,
                n_models=m,
                prompt_idx=cluster,
                n_resamples=frame.n_resamples,
                seed=frame.seed,
                confidence=frame.confidence,
                keep_replicates=True,
            )
        except ValueError as exc:
            entry["note"] = str(exc)
            bt = None
        n_votes = np.bincount(np.r_[a, b], minlength=m)
        for k, model in enumerate(d.models):
            row = {"model": k, "label": model["label"], "n_votes": int(n_votes[k])}
            if bt is not None:
                row.update(
                    score=bt.score[k],
                    low=bt.low[k],
                    high=bt.high[k],
                    elo=bt.elo[k],
                    elo_low=bt.elo_low[k],
                    elo_high=bt.elo_high[k],
                    win_rate=bt.win_rate[k],
                    win_rate_low=bt.win_rate_low[k],
                    win_rate_high=bt.win_rate_high[k],
                    bound=bt.bound[k],
                )
            entry["models"].append(row)
        if bt is not None:
            entry.update(_bt_summary(bt, d.models))
            replicates[criterion_id(crit)] = bt.replicates
        entry["significance"] = _sign_tests(a, b, outcome, m)
        out.append(to_plain(entry))
    return out, replicates


def _bt_summary(bt, models: list[dict[str, Any]]) -> dict[str, Any]:
    """Ranking within each comparison group, and plain notes on what the votes cannot tell."""
    groups = []
    for group in bt.groups:
        order = sorted(group, key=lambda k: -bt.score[k])
        groups.append({"models": list(group), "ranking": order,
                       "labels": [models[k]["label"] for k in order]})  # fmt: skip
    notes = [bt.note] if bt.note else []
    for side, verb, word in (("lower", "never lost", "below"), ("upper", "never won", "above")):
        names = [models[k]["label"] for k, b in enumerate(bt.bound) if b == side]
        if names:
            notes.append(
                f"{', '.join(names)} {verb}: the votes bound the score from {word} only, so the "
                f"interval is one-sided ({'≥' if side == 'lower' else '≤'} the bound, exact given "
                "the other models' scores); the point score itself comes from the small prior."
            )
    if len(groups) > 1:
        notes.append(
            "These groups of models were never compared with each other, so the votes cannot "
            "order one group against another: "
            + "; ".join("{" + ", ".join(g["labels"]) + "}" for g in groups)
            + ". Rankings and scores hold within a group only."
        )
    return {
        "note": " ".join(notes),
        "prior": bt.prior,
        "resampled": bt.resampled,
        "groups": groups,
        # One flat ranking only means something when every model was compared with every other.
        "ranking": groups[0]["ranking"] if len(groups) == 1 else None,
    }


def _sign_tests(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, m: int) -> dict[str, Any]:
    """Two-sided exact binomial (sign) test on decisive votes of every pair, Holm-adjusted."""
    wins = np.zeros((m, m))
    decisive_a = outcome == A_BETTER
    decisive_b = outcome == B_BETTER
    np.add.at(wins, (a[decisive_a], b[decisive_a]), 1)
    np.add.at(wins, (b[decisive_b], a[decisive_b]), 1)
    first, second = np.triu_indices(m, k=1)
    p = np.full(first.size, np.nan)
    for k, (i, j) in enumerate(zip(first, second, strict=True)):
        n = int(wins[i, j] + wins[j, i])
        if n:
            p[k] = sps.binomtest(int(wins[i, j]), n, 0.5).pvalue
    raw = np.full((m, m), np.nan)
    adjusted = np.full((m, m), np.nan)
    raw[first, second] = raw[second, first] = p
    adj = holm(p)
    adjusted[first, second] = adjusted[second, first] = adj
    return {
        "method": "exact two-sided sign test on decisive votes (ties and 'both bad' left out), "
        "Holm-adjusted over all pairs",
        "decisive_wins": wins,
        "p_value": raw,
        "p_holm": adjusted,
        "n_ties": int((outcome == TIE).sum()),
    }


def significance_section(frame: Frame) -> list[dict[str, Any]]:
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
            to_plain(
                {
                    "criterion": crit["key"],
                    "protocol": crit["protocol"],
                    "name": crit["name"],
                    "method": "per pair of models, the mean difference over shared prompts: "
                    "Wilcoxon signed-rank test and paired bootstrap over prompts, both "
                    "Holm-adjusted over all pairs",
                    **tests.to_dict(),
                    "seed": frame.seed,
                }
            )
        )
    return out


def agreement_section(frame: Frame) -> dict[str, Any]:
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
        entry = {"criterion": crit["key"], "name": crit["name"], **alpha.to_dict()}
        entry["band"] = _band(alpha.alpha)
        if check:
            entry["alpha_" + check] = krippendorff_alpha_units(units, values, level=check)
        criteria.append(to_plain(entry))
    return {
        "criteria": criteria,
        "units": "items (one unit per item and criterion); intervals resample items",
        "judges": _judge_table(frame),
    }


def _band(alpha: float) -> str:
    if not np.isfinite(alpha):
        return "undefined"
    if alpha >= 0.8:
        return "reliable"
    if alpha >= 0.667:
        return "tentative"
    return "weak"


def _judge_table(frame: Frame) -> list[dict[str, Any]]:
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
            to_plain(
                {
                    "judge": j["label"],
                    "id": j["id"],
                    "n_ratings": int(n_ratings[k]),
                    "n_cant_tell": int(n_cant[k]),
                    "gold_answered": j["gold_answered"],
                    "gold_accuracy": (
                        j["gold_correct"] / j["gold_answered"] if j["gold_answered"] else None
                    ),
                    "median_ms": median,
                    "spearman_vs_others": spearman[k],
                    "mean_abs_diff": mean_abs[k],
                    "bias": bias[k],
                    "flagged": j["flagged"],
                    "flag_reasons": j["flag_reasons"],
                    "excluded": j["excluded"],
                    "included": frame.include_flagged or not (j["flagged"] or j["excluded"]),
                    "n_used": int(used[k]),
                }
            )
        )
    return out
