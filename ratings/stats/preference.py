"""Item-level agreement of a metric with pairwise human votes, beside the human ceiling.

The measure the human-preference literature reports (Pick-a-Pic / PickScore, Kirstain et al.
2023; HPS v2, Wu et al. 2023; ImageReward, Xu et al. 2023): for each decisive human vote
("first better" or "second better"), does the metric's per-image score prefer the same image?
Accuracy is the share of agreeing votes among those where the metric prefers one image;
votes on pairs the metric scores equal are counted apart (``n_metric_ties``), as are votes on
pairs with a missing metric value (``n_missing``).

Human ceiling: how often one held-out judge agrees with the majority of the *other* judges'
decisive votes on the same pair (pairs where the others split evenly, or where no other judge
voted decisively, are left out). A metric cannot be expected to predict judges better than
they predict each other.

Intervals: percentile cluster bootstrap over prompts (votes on one prompt are correlated),
with the caller's shared prompt-count matrix; each resample's accuracy is a ratio of
resampled sums, so 1,000 resamples cost two matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import DEFAULT_CONFIDENCE, Exportable, as_index, percentile_interval
from .pairwise import A_BETTER, B_BETTER


@dataclass(frozen=True)
class PairAgreement(Exportable):
    """Metric-vs-judges accuracy on decisive votes, and the judges' own ceiling."""

    accuracy: float
    low: float
    high: float
    n_votes: int  # decisive votes where the metric prefers one image
    n_agree: int
    n_metric_ties: int
    n_missing: int
    ceiling: float
    ceiling_low: float
    ceiling_high: float
    n_ceiling: int  # votes with a strict majority among the other judges of the pair
    confidence: float
    n_resamples: int


def _ratio_interval(
    hit: np.ndarray, used: np.ndarray, cluster: np.ndarray, counts: np.ndarray | None,
    n_clusters: int, confidence: float,
) -> tuple[float, float, float]:  # fmt: skip
    n = int(used.sum())
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    point = float(hit[used].sum() / n)
    if counts is None:
        return point, float("nan"), float("nan")
    hits = np.bincount(cluster[used], weights=hit[used].astype(float), minlength=n_clusters)
    sizes = np.bincount(cluster[used], minlength=n_clusters).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = (counts @ hits) / (counts @ sizes)
    low, high = percentile_interval(reps, confidence)
    return point, float(low), float(high)


def pairwise_agreement(
    item: np.ndarray,
    cluster: np.ndarray,
    choice: np.ndarray,
    metric_first: np.ndarray,
    metric_second: np.ndarray,
    *,
    lower_is_better: bool,
    counts: np.ndarray | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> PairAgreement:
    """Accuracy of the metric's preference on decisive votes, and the held-out-judge ceiling.

    One entry per vote: ``item`` (pair index), ``cluster`` (prompt index, the bootstrap's
    unit), ``choice`` (outcome code: only ``A_BETTER``/``B_BETTER`` votes are used), and the
    metric's per-image value of the pair's first and second image (NaN when missing).
    ``counts`` is the (n_resamples x n_clusters) prompt-count matrix; None: no interval.
    """
    item = as_index("item", item)
    cluster = as_index("cluster", cluster, item.size)
    choice = as_index("choice", choice, item.size)
    first = np.asarray(metric_first, dtype=np.float64)
    second = np.asarray(metric_second, dtype=np.float64)
    if first.shape != item.shape or second.shape != item.shape:
        raise ValueError("metric_first and metric_second need one value per vote.")
    n_clusters = max(int(cluster.max()) + 1 if cluster.size else 0,
                     counts.shape[1] if counts is not None else 0)  # fmt: skip
    decisive = (choice == A_BETTER) | (choice == B_BETTER)
    people_first = choice == A_BETTER
    sign = -1.0 if lower_is_better else 1.0
    diff = sign * (first - second)
    missing = decisive & ~np.isfinite(diff)
    ties = decisive & (diff == 0)
    used = decisive & np.isfinite(diff) & (diff != 0)
    agree = (diff > 0) == people_first
    acc, low, high = _ratio_interval(agree, used, cluster, counts, n_clusters, confidence)

    # The ceiling: each decisive vote against the majority of the other decisive votes on its pair.
    n_items = int(item.max()) + 1 if item.size else 0
    firsts = np.bincount(item[decisive & people_first], minlength=n_items)
    seconds = np.bincount(item[decisive & ~people_first], minlength=n_items)
    other_first = firsts[item] - people_first
    other_second = seconds[item] - (decisive & ~people_first)
    ceiling_used = decisive & (other_first != other_second)
    ceiling_hit = (other_first > other_second) == people_first
    ceil, ceil_low, ceil_high = _ratio_interval(
        ceiling_hit, ceiling_used, cluster, counts, n_clusters, confidence
    )
    return PairAgreement(
        accuracy=acc,
        low=low,
        high=high,
        n_votes=int(used.sum()),
        n_agree=int((agree & used).sum()),
        n_metric_ties=int(ties.sum()),
        n_missing=int(missing.sum()),
        ceiling=ceil,
        ceiling_low=ceil_low,
        ceiling_high=ceil_high,
        n_ceiling=int(ceiling_used.sum()),
        confidence=confidence,
        n_resamples=0 if counts is None else int(counts.shape[0]),
    )
