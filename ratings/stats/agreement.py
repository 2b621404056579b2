"""Rater agreement: Krippendorff's alpha with a bootstrap interval, and each judge against the rest.

Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"; Hayes and
Krippendorff 2007) is ``1 - D_o / D_e``, observed over expected disagreement, computed from the
coincidence matrix of pairable values: a unit (an item and a criterion) with ``m >= 2`` values
adds each ordered pair of values from different raters with weight ``1 / (m - 1)``; units with
a single value are not pairable and are dropped. Difference functions: nominal (0 or 1),
ordinal (squared sums of the marginal frequencies between two ranks, with half of each end),
interval (squared difference), ratio (squared difference over squared sum). This is the same
definition as the ``krippendorff`` package (Castro 2017), which the tests check against.
Interval alpha uses the equivalent closed form in per-unit sums, so continuous values cost
nothing extra. Alpha is NaN when the expected disagreement is 0 (every value the same).

Interval: a nonparametric bootstrap over units (units drawn with replacement, alpha recomputed,
95% percentile interval), as recommended by Zapf et al. (2016, BMC Med Res Methodol 16:93);
this is not Hayes and Krippendorff's (2007) resampling of pairable values. Alpha is a function
of per-unit sums, so a resample is a multinomial draw over the distinct kinds of unit (with a
5-point scale and 3 ratings per item there are only 35) and 1,000 resamples cost milliseconds.

Judge agreement: for each judge, Spearman's rho between the judge's ratings and the mean of the
other judges' ratings on the same units (leave-one-out), over the units that someone else rated
too, with the mean absolute difference and the mean signed difference (bias).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._common import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Exportable,
    as_index,
    as_scores,
    check_resampling,
    kind_count_blocks,
    percentile_interval,
)

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS = ("nominal", "ordinal", "interval", "ratio")
# Nominal, ordinal and ratio alpha build a K x K coincidence matrix over the distinct values.
MAX_CATEGORIES = 200


@dataclass(frozen=True)
class Alpha(Exportable):
    """Krippendorff's alpha with a bootstrap interval over units."""

    alpha: float
    low: float
    high: float
    level: str
    n_units: int  # pairable units (two values or more)
    n_values: int  # pairable values
    confidence: float
    n_resamples: int
    seed: int


@dataclass(frozen=True)
class JudgeAgreement(Exportable):
    """Per judge (arrays indexed by judge): agreement with the mean of the other judges."""

    n_ratings: np.ndarray
    n_shared: np.ndarray  # ratings on units that at least one other judge rated
    spearman: np.ndarray  # rho with the others' mean; NaN under 3 shared units or constant input
    mean_abs_diff: np.ndarray
    mean_diff: np.ndarray  # judge minus others: > 0 means the judge rates higher


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}.")


def _long_from_matrix(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"reliability data must be a (raters x units) matrix with NaN for missing; got shape {arr.shape}."
        )
    if np.isinf(arr).any():
        raise ValueError("reliability data holds infinite values; use NaN for missing ratings.")
    raters, units = np.nonzero(~np.isnan(arr))
    return units, arr[raters, units]


def _unit_features(
    unit_idx: np.ndarray, value: np.ndarray, level: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per pairable unit, the sums alpha is a function of; plus the distinct values (categories)."""
    unit_idx = as_index("unit_idx", unit_idx)
    value = as_scores("value", value, unit_idx.size)
    if level == "ratio" and value.size and value.min() < 0:
        raise ValueError("ratio alpha needs non-negative values; use level='interval'.")
    n_units = int(unit_idx.max()) + 1 if unit_idx.size else 0
    m = np.bincount(unit_idx, minlength=n_units).astype(np.float64)
    keep = m[unit_idx] >= 2
    unit_idx, value = unit_idx[keep], value[keep]
    pairable = np.flatnonzero(m >= 2)
    compact = np.searchsorted(pairable, unit_idx)
    m = m[pairable]
    if pairable.size == 0:
        return np.empty((0, 4 if level == "interval" else 0)), np.empty(0)
    if level == "interval":
        # Interval alpha does not change under a shift; centring avoids cancellation in s2.
        value = value - value.mean()
        s1 = np.bincount(compact, weights=value, minlength=pairable.size)
        s2 = np.bincount(compact, weights=value * value, minlength=pairable.size)
        dev = value - (s1 / m)[compact]
        # Sum over ordered pairs of (x_i - x_j)^2 in a unit is 2 m * sum of squared deviations.
        within = 2.0 * m * np.bincount(compact, weights=dev * dev, minlength=pairable.size)
        return np.column_stack([within / (m - 1.0), m, s1, s2]), np.empty(0)
    categories, code = np.unique(value, return_inverse=True)
    k = categories.size
    if k > MAX_CATEGORIES:
        raise ValueError(
            f"{level} alpha expects a rating scale with few distinct values; got {k}. "
            "Use level='interval' for continuous scores."
        )
    counts = np.bincount(compact * k + code, minlength=pairable.size * k).reshape(-1, k)
    pairs = counts[:, :, None] * counts[:, None, :]
    diag = np.arange(k)
    pairs[:, diag, diag] -= counts
    return (pairs / (m - 1.0)[:, None, None]).reshape(pairable.size, k * k), categories


def _distinct_rows(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows and how often each occurs (a lexsort: much faster than np.unique(axis=0))."""
    order = np.lexsort(features.T[::-1])
    ordered = features[order]
    first = np.r_[True, np.any(ordered[1:] != ordered[:-1], axis=1)]
    starts = np.flatnonzero(first)
    return ordered[starts], np.diff(np.r_[starts, ordered.shape[0]])


def _alpha_from_sums(sums: np.ndarray, level: str, categories: np.ndarray) -> np.ndarray:
    """Alpha for each row of summed unit features (B x features)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if level == "interval":
            within, n, s1, s2 = sums.T
            expected = 2.0 * (n * s2 - s1 * s1)
            alpha = 1.0 - (n - 1.0) * within / expected
            return np.where(expected > 1e-12 * np.maximum(n * s2, 1.0), alpha, np.nan)
        k = categories.size
        o = sums.reshape(-1, k, k)
        nc = o.sum(axis=2)
        n = nc.sum(axis=1)
        delta = _difference(level, categories, nc)
        observed = (o * delta).sum(axis=(1, 2))
        expected = (nc[:, :, None] * nc[:, None, :] * delta).sum(axis=(1, 2))
        alpha = 1.0 - (n - 1.0) * observed / expected
        return np.where(expected > 0, alpha, np.nan)


def _difference(level: str, categories: np.ndarray, nc: np.ndarray) -> np.ndarray:
    """Squared difference function delta^2 between categories, (B x K x K)."""
    k = categories.size
    c = categories
    if level == "nominal":
        return np.broadcast_to(1.0 - np.eye(k), (nc.shape[0], k, k))
    if level == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((c[:, None] - c[None, :]) / (c[:, None] + c[None, :])) ** 2
        return np.broadcast_to(np.nan_to_num(d), (nc.shape[0], k, k))
    # Ordinal: (sum of n_g for g between c and k inclusive - (n_c + n_k) / 2)^2.
    cum = np.cumsum(nc, axis=1)
    lo = np.minimum.outer(np.arange(k), np.arange(k))
    hi = np.maximum.outer(np.arange(k), np.arange(k))
    below = np.where(lo > 0, cum[:, np.maximum(lo - 1, 0)], 0.0)
    between = cum[:, hi] - below
    return (between - (nc[:, :, None] + nc[:, None, :]) / 2.0) ** 2


def krippendorff_alpha(data: np.ndarray, *, level: Level = "ordinal") -> float:
    """Krippendorff's alpha of a (raters x units) matrix with NaN for missing values."""
    _check_level(level)
    units, values = _long_from_matrix(data)
    return krippendorff_alpha_units(units, values, level=level)


def krippendorff_alpha_units(
    unit_idx: np.ndarray, value: np.ndarray, *, level: Level = "ordinal"
) -> float:
    """Krippendorff's alpha from one entry per rating: the unit (item) index and the value."""
    _check_level(level)
    features, categories = _unit_features(unit_idx, value, level)
    if features.shape[0] == 0:
        return float("nan")
    return float(_alpha_from_sums(features.sum(axis=0)[None], level, categories)[0])


def krippendorff_alpha_bootstrap(
    unit_idx: np.ndarray,
    value: np.ndarray,
    *,
    level: Level = "ordinal",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Alpha:
    """Krippendorff's alpha with a percentile bootstrap interval, resampling units."""
    _check_level(level)
    check_resampling(n_resamples, confidence)
    features, categories = _unit_features(unit_idx, value, level)
    n_units = features.shape[0]
    if n_units == 0:
        nan = float("nan")
        return Alpha(nan, nan, nan, level, 0, 0, confidence, int(n_resamples), seed)
    alpha = float(_alpha_from_sums(features.sum(axis=0)[None], level, categories)[0])
    n_values = int(round(_pairable_values(features, level, categories)))
    # Units with identical features are interchangeable: resample their kinds (multinomial).
    kinds, freq = _distinct_rows(features)
    rng = np.random.default_rng(seed)
    reps = np.empty(n_resamples)
    for lo, hi, counts in kind_count_blocks(freq, n_resamples, rng):
        reps[lo:hi] = _alpha_from_sums(counts @ kinds, level, categories)
    low, high = percentile_interval(reps, confidence)
    return Alpha(
        alpha=alpha,
        low=float(low),
        high=float(high),
        level=level,
        n_units=int(n_units),
        n_values=n_values,
        confidence=confidence,
        n_resamples=int(n_resamples),
        seed=seed,
    )


def _pairable_values(features: np.ndarray, level: str, categories: np.ndarray) -> float:
    if level == "interval":
        return float(features[:, 1].sum())
    # Row sums of the coincidence matrix are the value counts.
    return float(features.sum())


def judge_agreement(
    judge_idx: np.ndarray,
    unit_idx: np.ndarray,
    score: np.ndarray,
    *,
    n_judges: int | None = None,
) -> JudgeAgreement:
    """Each judge's Spearman rho, mean absolute and signed difference against the others' mean."""
    judge_idx = as_index("judge_idx", judge_idx)
    unit_idx = as_index("unit_idx", unit_idx, judge_idx.size)
    score = as_scores("score", score, judge_idx.size)
    top = int(judge_idx.max()) + 1 if judge_idx.size else 0
    n_judges = top if n_judges is None else n_judges
    if top > n_judges:
        raise ValueError(f"judge_idx holds {top - 1} but n_judges is {n_judges}.")
    n_units = int(unit_idx.max()) + 1 if unit_idx.size else 0
    pair = judge_idx * max(n_units, 1) + unit_idx
    if np.unique(pair).size != pair.size:
        raise ValueError(
            "A judge rated the same unit twice; pass one rating per judge and unit "
            "(e.g. per item and criterion)."
        )
    unit_sum = np.bincount(unit_idx, weights=score, minlength=n_units)
    unit_n = np.bincount(unit_idx, minlength=n_units)
    others_n = unit_n[unit_idx] - 1
    shared = others_n > 0
    others = np.full(score.size, np.nan)
    others[shared] = (unit_sum[unit_idx[shared]] - score[shared]) / others_n[shared]

    n_ratings = np.bincount(judge_idx, minlength=n_judges)
    n_shared = np.bincount(judge_idx[shared], minlength=n_judges)
    diff = score[shared] - others[shared]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_diff = np.bincount(judge_idx[shared], weights=diff, minlength=n_judges) / n_shared
        mean_abs = (
            np.bincount(judge_idx[shared], weights=np.abs(diff), minlength=n_judges) / n_shared
        )
    js, x, y = judge_idx[shared], score[shared], others[shared]
    rho = _grouped_spearman(js, x, y, n_judges)
    return JudgeAgreement(
        n_ratings=n_ratings,
        n_shared=n_shared,
        spearman=rho,
        mean_abs_diff=mean_abs,
        mean_diff=mean_diff,
    )


def _grouped_ranks(group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties share their mean rank) of ``value`` within each group."""
    if group.size == 0:
        return np.empty(0)
    order = np.lexsort((value, group))
    g, v = group[order], value[order]
    n = g.size
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_run = new_group | np.r_[True, v[1:] != v[:-1]]
    position = np.arange(n) - np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    run = np.cumsum(new_run) - 1
    run_start = np.bincount(run, weights=position)
    run_size = np.bincount(run)
    # A run of ties from position a to b (0-based) shares rank (a + b) / 2 + 1.
    mean_rank = run_start / run_size + 1.0
    ranks = np.empty(n)
    ranks[order] = mean_rank[run]
    return ranks


def _grouped_spearman(group: np.ndarray, x: np.ndarray, y: np.ndarray, n_groups: int) -> np.ndarray:
    """Spearman's rho (Pearson of average ranks, as SciPy) within each group, all at once.

    NaN for a group with fewer than 3 points or a constant side (no rank correlation).
    """
    rx, ry = _grouped_ranks(group, x), _grouped_ranks(group, y)
    n = np.bincount(group, minlength=n_groups).astype(np.float64)

    def total(w: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=w, minlength=n_groups)

    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = total(rx) / n, total(ry) / n
        dx, dy = rx - mx[group], ry - my[group]
        sxx, syy, sxy = total(dx * dx), total(dy * dy), total(dx * dy)
        rho = sxy / np.sqrt(sxx * syy)
    # Ranks are exact halves: a constant side has exactly zero spread.
    ok = (n >= 3) & (sxx > 0) & (syy > 0)
    return np.where(ok, np.clip(rho, -1.0, 1.0), np.nan)
