"""Per-model mean ratings with cluster-bootstrap intervals that resample prompts.

Method: the nonparametric cluster (block) bootstrap of Davison and Hinkley (1997, "Bootstrap
Methods and their Application", section 3.8) with prompts as clusters, and the percentile
interval (Efron and Tibshirani 1993, ch. 13). Ratings of one prompt are correlated (a hard
prompt is hard for every judge and every model), so resampling single ratings would give
intervals that are too narrow; resampling prompts keeps that dependence. GenAI-Arena and
Chatbot Arena report 95% percentile bootstrap intervals the same way.

The statistic is each model's mean over all its ratings (a ratio estimator: sum of scores over
number of ratings), recomputed in every resample from the drawn prompts. Implementation: the
per-(model, prompt) sums and counts are built once with ``np.bincount``; a resample is a row of
prompt counts, so all resamples' sums and counts are two matrix products
``counts @ sums.T`` and ``counts @ n.T``. 100,000 ratings, 8 models and 1,000 resamples take
about 15 ms on a 2-core machine (benchmarks/report_stats.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Exportable,
    as_index,
    as_scores,
    check_resampling,
    percentile_interval,
    resample_counts,
)


@dataclass(frozen=True)
class ModelMeans(Exportable):
    """Per-model mean rating with a percentile bootstrap interval (arrays indexed by model)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_ratings: np.ndarray
    n_prompts: np.ndarray
    confidence: float
    n_resamples: int
    seed: int | None
    resampled: str
    replicates: np.ndarray | None = None  # (n_resamples x n_models), kept when asked for


def cell_sums(
    model_idx: np.ndarray, prompt_idx: np.ndarray, score: np.ndarray, n_models: int, n_prompts: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of scores and number of ratings per (model, prompt) cell, each (n_models x n_prompts)."""
    cell = model_idx * n_prompts + prompt_idx
    size = n_models * n_prompts
    sums = np.bincount(cell, weights=score, minlength=size).reshape(n_models, n_prompts)
    counts = np.bincount(cell, minlength=size).reshape(n_models, n_prompts).astype(np.float64)
    return sums, counts


def _sizes(
    model_idx: np.ndarray, prompt_idx: np.ndarray, n_models: int | None, n_prompts: int | None
) -> tuple[int, int]:
    top_m = int(model_idx.max()) + 1 if model_idx.size else 0
    top_p = int(prompt_idx.max()) + 1 if prompt_idx.size else 0
    if n_models is None:
        n_models = top_m
    elif top_m > n_models:
        raise ValueError(f"model_idx holds {top_m - 1} but n_models is {n_models}.")
    if n_prompts is None:
        n_prompts = top_p
    elif top_p > n_prompts:
        raise ValueError(f"prompt_idx holds {top_p - 1} but n_prompts is {n_prompts}.")
    return n_models, n_prompts


def model_means_bootstrap(
    model_idx: np.ndarray,
    prompt_idx: np.ndarray,
    score: np.ndarray,
    *,
    n_models: int | None = None,
    n_prompts: int | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    counts: np.ndarray | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    keep_replicates: bool = False,
) -> ModelMeans:
    """Mean rating per model with a 95% cluster-bootstrap interval over prompts.

    ``model_idx``, ``prompt_idx`` and ``score`` hold one entry per rating (indices start at 0).
    ``counts`` (n_resamples x n_prompts, from :func:`resample_counts`) replaces ``seed`` when
    several statistics must share the very same resampled prompts. A model with no rating has
    NaN everywhere; a resample that draws none of a model's prompts is left out of that
    model's interval.
    """
    model_idx = as_index("model_idx", model_idx)
    prompt_idx = as_index("prompt_idx", prompt_idx, model_idx.size)
    score = as_scores("score", score, model_idx.size)
    n_models, n_prompts = _sizes(model_idx, prompt_idx, n_models, n_prompts)
    if counts is None:
        check_resampling(n_resamples, confidence)
        counts = resample_counts(n_prompts, n_resamples, seed) if n_prompts else None
    else:
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 2 or counts.shape[1] != n_prompts:
            raise ValueError(
                f"counts must be (n_resamples x {n_prompts} prompts); got shape {counts.shape}."
            )
        n_resamples = counts.shape[0]
        check_resampling(n_resamples, confidence)
        seed = None

    sums, n = cell_sums(model_idx, prompt_idx, score, n_models, n_prompts)
    total_n = n.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums.sum(axis=1) / total_n
        if counts is None:
            reps = np.full((n_resamples, n_models), np.nan)
        else:
            reps = (counts @ sums.T) / (counts @ n.T)
    low, high = percentile_interval(reps, confidence)
    return ModelMeans(
        mean=mean,
        low=low,
        high=high,
        n_ratings=total_n.astype(np.int64),
        n_prompts=(n > 0).sum(axis=1),
        confidence=confidence,
        n_resamples=int(n_resamples),
        seed=seed,
        resampled="prompts",
        replicates=reps if keep_replicates else None,
    )


def group_means(
    group_idx: np.ndarray, value: np.ndarray, n_groups: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean value and count per group (e.g. mean rating per image); NaN for empty groups."""
    group_idx = as_index("group_idx", group_idx)
    value = as_scores("value", value, group_idx.size)
    size = (int(group_idx.max()) + 1 if group_idx.size else 0) if n_groups is None else n_groups
    sums = np.bincount(group_idx, weights=value, minlength=size)
    n = np.bincount(group_idx, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / n, n
