"""Is model i rated better than model j? Paired tests over prompts with Holm's correction.

For each pair of models the unit of analysis is the prompt: on every prompt both models were
rated on, ``d_p`` = (mean rating of i on p) - (mean rating of j on p). Pairing by prompt
removes prompt difficulty from the comparison. Two tests, both two-sided:

- Wilcoxon signed-rank test on the ``d_p`` (Wilcoxon 1945), exactly ``scipy.stats.wilcoxon``
  with its defaults (zero differences dropped, exact distribution for small samples without
  ties, normal approximation otherwise). Effect size: the matched-pairs rank-biserial
  correlation ``(T+ - T-) / (T+ + T-)`` (Kerby 2014), between -1 and 1.
- Paired bootstrap over prompts (Efron and Tibshirani 1993, section 16.4; Koehn 2004 for
  system comparisons): prompts are resampled, the mean difference recomputed, and the p-value
  is the share of resamples whose deviation from the observed mean difference is at least as
  large as the observed difference itself, ``(1 + #{|d*_b - d| >= |d|}) / (B + 1)`` (the
  bootstrap distribution shifted to the null). Effect size: the mean difference with its
  percentile interval.

A report tests every pair of M models, so each family of ``M (M - 1) / 2`` p-values is adjusted
with Holm's step-down method (Holm 1979), which controls the family-wise error rate without
assumptions about dependence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

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
from .bootstrap import _sizes, cell_sums


@dataclass(frozen=True)
class PairedTests(Exportable):
    """(M x M) matrices; entry [i, j] compares model i with model j (diagonal NaN).

    ``mean_diff``, ``low``, ``high`` and ``rank_biserial`` are antisymmetric (> 0: i rated
    higher); p-values and ``n_prompts`` are symmetric.
    """

    mean_diff: np.ndarray
    low: np.ndarray
    high: np.ndarray
    rank_biserial: np.ndarray
    n_prompts: np.ndarray
    p_wilcoxon: np.ndarray
    p_bootstrap: np.ndarray
    p_wilcoxon_holm: np.ndarray
    p_bootstrap_holm: np.ndarray
    confidence: float
    n_resamples: int
    seed: int | None


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values, same shape; NaN entries are not in the family."""
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    ok = np.flatnonzero(~np.isnan(flat))
    out = np.full(flat.shape, np.nan)
    if ok.size == 0:
        return out.reshape(p.shape)
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise ValueError("p-values must lie between 0 and 1.")
    m = ok.size
    order = np.argsort(flat[ok], kind="stable")
    # The k-th smallest p-value (k from 0) is multiplied by m - k; a running maximum keeps the
    # adjusted values in the same order as the raw ones.
    scaled = np.minimum(1.0, (m - np.arange(m)) * flat[ok][order])
    adjusted = np.maximum.accumulate(scaled)
    out[ok[order]] = adjusted
    return out.reshape(p.shape)


def _rank_biserial(d: np.ndarray) -> float:
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return 0.0
    ranks = stats.rankdata(np.abs(nonzero))
    plus, minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
    return float((plus - minus) / (plus + minus))


def _wilcoxon(d: np.ndarray) -> float:
    if d.size == 0:
        return float("nan")
    if not np.any(d != 0):
        # No prompt separates the two models: no evidence of a difference (scipy gives NaN).
        return 1.0
    return float(stats.wilcoxon(d).pvalue)


def paired_tests(
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
) -> PairedTests:
    """Wilcoxon and paired-bootstrap tests over prompts for every pair of models, Holm-adjusted.

    One entry per rating, as in :func:`~ratings.stats.bootstrap.model_means_bootstrap`;
    ``counts`` (from :func:`resample_counts`) replaces ``seed`` to share resampled prompts.
    """
    model_idx = as_index("model_idx", model_idx)
    prompt_idx = as_index("prompt_idx", prompt_idx, model_idx.size)
    score = as_scores("score", score, model_idx.size)
    m, p = _sizes(model_idx, prompt_idx, n_models, n_prompts)
    if counts is None:
        check_resampling(n_resamples, confidence)
        counts = resample_counts(p, n_resamples, seed)
    else:
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 2 or counts.shape[1] != p:
            raise ValueError(
                f"counts must be (n_resamples x {p} prompts); got shape {counts.shape}."
            )
        n_resamples = counts.shape[0]
        check_resampling(n_resamples, confidence)
        seed = None

    sums, n = cell_sums(model_idx, prompt_idx, score, m, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        prompt_mean = sums / n
    rated = n > 0
    first, second = np.triu_indices(m, k=1)
    shared = rated[first] & rated[second]  # (pairs x prompts)
    diff = np.where(shared, prompt_mean[first] - prompt_mean[second], 0.0)
    n_shared = shared.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = diff.sum(axis=1) / n_shared
        boot = (counts @ diff.T) / (counts @ shared.T.astype(np.float64))  # (B x pairs)
    low, high = percentile_interval(boot, confidence)
    valid = ~np.isnan(boot)
    extreme = (np.abs(boot - observed) >= np.abs(observed) - 1e-12) & valid
    with np.errstate(invalid="ignore", divide="ignore"):
        p_boot = (1.0 + extreme.sum(axis=0)) / (1.0 + valid.sum(axis=0))
    p_boot = np.where(n_shared > 0, p_boot, np.nan)

    p_wil = np.array([_wilcoxon(diff[k][shared[k]]) for k in range(first.size)])
    rbc = np.array(
        [_rank_biserial(diff[k][shared[k]]) if n_shared[k] else np.nan for k in range(first.size)]
    )

    def square(values: np.ndarray, sign: float) -> np.ndarray:
        out = np.full((m, m), np.nan)
        out[first, second] = values
        out[second, first] = sign * values
        return out

    low_matrix, high_matrix = _antisymmetric_bounds(low, high, first, second, m)
    shared_matrix = np.zeros((m, m), dtype=np.int64)
    shared_matrix[first, second] = shared_matrix[second, first] = n_shared
    return PairedTests(
        mean_diff=square(observed, -1.0),
        low=low_matrix,
        high=high_matrix,
        rank_biserial=square(rbc, -1.0),
        n_prompts=shared_matrix,
        p_wilcoxon=square(p_wil, 1.0),
        p_bootstrap=square(p_boot, 1.0),
        p_wilcoxon_holm=square(holm(p_wil), 1.0),
        p_bootstrap_holm=square(holm(p_boot), 1.0),
        confidence=confidence,
        n_resamples=int(n_resamples),
        seed=seed,
    )


def _antisymmetric_bounds(
    low: np.ndarray, high: np.ndarray, first: np.ndarray, second: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Interval of i - j above the diagonal; below it, the interval of j - i is (-high, -low)."""
    lo = np.full((m, m), np.nan)
    hi = np.full((m, m), np.nan)
    lo[first, second], hi[first, second] = low, high
    lo[second, first], hi[second, first] = -high, -low
    return lo, hi
