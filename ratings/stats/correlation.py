"""Do the metrics track human judgement? Spearman, Kendall tau-b and Pearson, per model and per image.

Coefficients are SciPy's (``spearmanr``, ``kendalltau`` with its default tau-b, ``pearsonr``).
p-values are two-sided. With few points (``n <= EXACT_MAX_N``, the usual system level of 3 to 8
models) the asymptotic p of Spearman and Kendall is far off (3 models in perfect agreement give
Spearman's asymptotic p = 0, the exact one is 1/3), so their p comes from the exact permutation
distribution: every one of the ``n!`` orderings of the metric values is enumerated (ties kept
as they are), and the two-sided p is ``min(1, 2 min(P(T >= t), P(T <= t)))``, SciPy's
``permutation_test`` definition. Above that, SciPy's asymptotic p. Pearson keeps SciPy's
t-distribution p. Each coefficient says which p it carries (``p_method``).

Sign convention: the metric is oriented so that a *positive* correlation always means "the
metric agrees with people": a lower-is-better metric (FID, KID, CMMD, LPIPS...) is negated
before correlating, and the result says so in ``sign_note``.

System level (one point per model; HEIM, Lee et al. 2023, reports these). Resampling models
would be meaningless with 3 to 10 models, so the intervals come from the prompt bootstrap
instead: the caller passes bootstrap replicates of the per-model human means and, where the
metric is a per-image average (CLIP score, SSIM, PSNR, LPIPS), of the per-model metric values,
both made with *the same* prompt counts (:func:`ratings.stats.resample_counts` and
``model_means_bootstrap(..., counts=..., keep_replicates=True)``); the coefficient is
recomputed on every resample and a 95% percentile interval taken. A set-level metric (FID,
KID, IS, precision/recall, Vendi) cannot be recomputed per resample here, so it is held fixed
and the interval reflects the human side's uncertainty only; ``interval_method`` says which.
Under 5 models the result carries a plain warning: rank correlations on so few points can
reach +-1 by chance.

Item level (one point per image: per-image metric against the image's mean rating). Thousands
of points make a per-resample Kendall too slow for a report, so the intervals use the Fisher
z-transform: standard error ``1 / sqrt(n - 3)`` for Pearson, ``sqrt((1 + r^2 / 2) / (n - 3))``
for Spearman (Bonett and Wright 2000) and ``sqrt(0.437 / (n - 4))`` for Kendall (Fieller,
Hartley and Pearson 1957).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from ._common import DEFAULT_CONFIDENCE, Exportable, percentile_interval

FEW_MODELS = 5
# Kendall on bootstrap replicates builds (B x n x n) sign arrays: fine for models, not images.
_MAX_SYSTEM_POINTS = 200
# Up to 8 points the exact permutation distribution has at most 40,320 orderings: enumerate it.
EXACT_MAX_N = 8
P_EXACT = "exact (all n! orderings of the metric)"
P_ASYMPTOTIC = {
    "spearman": "asymptotic (t approximation)",
    "kendall": "asymptotic (normal approximation)",
    "pearson": "t distribution (assumes normality)",
}


@dataclass(frozen=True)
class Coefficient(Exportable):
    """One correlation coefficient with its interval and two-sided p-value."""

    value: float
    low: float
    high: float
    p_value: float
    p_method: str = ""  # how p was obtained: exact enumeration or an asymptotic formula


@dataclass(frozen=True)
class Correlation(Exportable):
    """Spearman, Kendall tau-b and Pearson between human scores and an (oriented) metric."""

    level: str  # "system" (one point per model) or "item" (one point per image)
    n: int  # points used (pairs where both values are known)
    spearman: Coefficient
    kendall: Coefficient
    pearson: Coefficient
    metric_negated: bool
    sign_note: str
    interval_method: str
    warning: str  # empty when there is nothing to warn about
    confidence: float
    n_resamples: int  # 0 without bootstrap


def _clean_pairs(
    human: np.ndarray, metric: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(human, dtype=np.float64)
    y = np.asarray(metric, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"human and metric must be 1-d arrays of the same length; got {x.shape} and {y.shape}."
        )
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep], keep


def _sign_note(metric_name: str, lower_is_better: bool) -> str:
    if lower_is_better:
        return (
            f"{metric_name} is lower-is-better, so it was negated before correlating: a "
            "positive correlation means the metric agrees with people."
        )
    return f"{metric_name} is higher-is-better: a positive correlation means the metric agrees with people."


@lru_cache(maxsize=EXACT_MAX_N + 1)
def _orderings(n: int) -> np.ndarray:
    """Every permutation of ``range(n)`` as an (n! x n) index array."""
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64)


@lru_cache(maxsize=EXACT_MAX_N + 1)
def _pair_cells(n: int) -> np.ndarray:
    """(n! x n(n-1)/2) flat cells ``perm[i] * n + perm[j]`` of every ordering's pairs i < j."""
    perm = _orderings(n)
    i, j = np.triu_indices(n, k=1)
    return perm[:, i] * n + perm[:, j]


def exact_p_values(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Two-sided exact permutation p of Spearman and Kendall tau-b (all n! orderings of ``y``).

    As SciPy's ``permutation_test(..., permutation_type="pairings")`` with every ordering
    enumerated: ``p = min(1, 2 min(P(T >= t), P(T <= t)))`` under the uniform permutation null,
    with a relative tolerance so that rounding never splits equal statistics.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.size
    if n > EXACT_MAX_N:
        raise ValueError(f"exact p-values enumerate n! orderings; n={n} > {EXACT_MAX_N}.")
    untied = np.unique(x).size == n and np.unique(y).size == n
    # Without ties the null distribution depends on n alone (ranks are 1..n whatever the
    # values): it is enumerated once per n and searched; with ties it is enumerated here.
    nulls = _sorted_nulls(n) if untied else _nulls(x, y)
    observed = _nulls(x, y, identity_only=True)
    out = {}
    for name, null in nulls.items():
        t = observed[name]
        if null is None or not np.isfinite(t):
            out[name] = float("nan")
            continue
        tol = 1e-12 * max(abs(t), 1.0)
        greater = 1.0 - np.searchsorted(null, t - tol, side="left") / null.size
        less = np.searchsorted(null, t + tol, side="right") / null.size
        out[name] = float(min(1.0, 2.0 * min(greater, less)))
    return out


@lru_cache(maxsize=EXACT_MAX_N + 1)
def _sorted_nulls(n: int) -> dict[str, np.ndarray | None]:
    ranks = np.arange(1.0, n + 1.0)
    return _nulls(ranks, ranks)


def _nulls(x: np.ndarray, y: np.ndarray, *, identity_only: bool = False):
    """Spearman and Kendall tau-b of ``x`` against every ordering of ``y``, sorted (or the data only).

    Both are linear in the permuted side once its ranks (Spearman) or pair signs (Kendall) are
    known, and ties move with the values, so the denominators are the same for every ordering:
    the whole null distribution is one matrix-vector product each.
    """
    n = x.size
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rxc, ryc = rx - rx.mean(), ry - ry.mean()
    i, j = np.triu_indices(n, k=1)
    sx = np.sign(x[i] - x[j])
    sy = np.sign(y[i] - y[j])
    dens = {
        "spearman": np.sqrt((rxc @ rxc) * (ryc @ ryc)),
        "kendall": np.sqrt(np.count_nonzero(sx) * np.count_nonzero(sy)),
    }
    if identity_only:
        nums = {"spearman": ryc @ rxc, "kendall": sy @ sx}
        return {k: float(nums[k] / dens[k]) if dens[k] > 0 else float("nan") for k in nums}
    sign_y = np.sign(y[:, None] - y[None, :]).ravel()
    nums = {"spearman": ryc[_orderings(n)] @ rxc, "kendall": sign_y[_pair_cells(n)] @ sx}
    return {k: np.sort(num / dens[k]) if dens[k] > 0 else None for k, num in nums.items()}


def _point(x: np.ndarray, y: np.ndarray) -> dict[str, tuple[float, float, str]]:
    """The three coefficients with their p-value and how it was obtained; NaN when undefined."""
    nan = (float("nan"), float("nan"), "")
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"spearman": nan, "kendall": nan, "pearson": nan}
    s = stats.spearmanr(x, y)
    k = stats.kendalltau(x, y)
    p = stats.pearsonr(x, y)
    out = {
        "spearman": (float(s.statistic), float(s.pvalue), P_ASYMPTOTIC["spearman"]),
        "kendall": (float(k.statistic), float(k.pvalue), P_ASYMPTOTIC["kendall"]),
        "pearson": (float(p.statistic), float(p.pvalue), P_ASYMPTOTIC["pearson"]),
    }
    if x.size <= EXACT_MAX_N:
        exact = exact_p_values(x, y)
        for name in ("spearman", "kendall"):
            out[name] = (out[name][0], exact[name], P_EXACT)
    return out


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair of two (B x n) arrays; NaN for a constant row."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    sxx, syy = (xc * xc).sum(axis=1), (yc * yc).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=1) / np.sqrt(sxx * syy)
    # Rounding can make a constant row look slightly non-constant: call it constant.
    tiny = 1e-24 * np.maximum(np.abs(x).max(axis=1) ** 2, 1.0)
    flat = (sxx <= tiny) | (syy <= 1e-24 * np.maximum(np.abs(y).max(axis=1) ** 2, 1.0))
    return np.where(flat, np.nan, np.clip(r, -1.0, 1.0))


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (Pearson of average ranks, as SciPy)."""
    return pearson_rows(stats.rankdata(x, axis=1), stats.rankdata(y, axis=1))


def kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair: sum sign(dx) sign(dy) / sqrt(untied_x * untied_y)."""
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    # Summing over all ordered pairs counts each unordered pair twice, top and bottom alike.
    num = (sx * sy).sum(axis=(1, 2))
    den = np.sqrt(np.abs(sx).sum(axis=(1, 2)) * np.abs(sy).sum(axis=(1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def system_correlation(
    human: np.ndarray,
    metric: np.ndarray,
    *,
    lower_is_better: bool,
    metric_name: str = "The metric",
    human_replicates: np.ndarray | None = None,
    metric_replicates: np.ndarray | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Correlation:
    """Correlations between per-model human means and per-model metric values, with bootstrap intervals.

    ``human_replicates`` / ``metric_replicates`` are (n_resamples x n_models) prompt-bootstrap
    replicates made with the same prompt counts; either may be None (that side held fixed).
    Models with a NaN human mean or metric value are left out.
    """
    sign = -1.0 if lower_is_better else 1.0
    x, y, keep = _clean_pairs(human, sign * np.asarray(metric, dtype=np.float64))
    n = int(x.size)
    if n > _MAX_SYSTEM_POINTS:
        raise ValueError(
            f"system_correlation is for one point per model; got {n} points. Use item_correlation."
        )
    point = _point(x, y)
    reps = [r for r in (human_replicates, metric_replicates) if r is not None]
    n_resamples = 0
    bounds = {name: (float("nan"), float("nan")) for name in point}
    if human_replicates is None and metric_replicates is None:
        method = "none (no bootstrap replicates given)"
    else:
        shapes = {np.shape(r) for r in reps}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[1] != keep.size:
            raise ValueError(
                f"replicates must be (n_resamples x {keep.size} models), both the same shape; "
                f"got {sorted(shapes)}."
            )
        n_resamples = next(iter(shapes))[0]
        hx = np.broadcast_to(
            human_replicates if human_replicates is not None else human, (n_resamples, keep.size)
        )
        my = np.broadcast_to(
            metric_replicates
            if metric_replicates is not None
            else np.asarray(metric, dtype=np.float64),
            (n_resamples, keep.size),
        )
        hx, my = hx[:, keep], sign * my[:, keep]
        if human_replicates is not None and metric_replicates is not None:
            method = "percentile bootstrap over prompts, human means and metric resampled together"
        elif human_replicates is not None:
            method = "percentile bootstrap over prompts on the human side; the metric held fixed"
        else:
            method = "percentile bootstrap over prompts on the metric side; human means held fixed"
        if n >= 3:
            # A resample where a side has NaN (a model with no drawn prompt) gives NaN: left out.
            for name, fn in (
                ("spearman", spearman_rows),
                ("kendall", kendall_rows),
                ("pearson", pearson_rows),
            ):
                r = fn(hx, my)
                r[np.isnan(hx).any(axis=1) | np.isnan(my).any(axis=1)] = np.nan
                low, high = percentile_interval(r, confidence)
                bounds[name] = (float(low), float(high))

    return Correlation(
        level="system",
        n=n,
        spearman=_coefficient(point["spearman"], bounds["spearman"]),
        kendall=_coefficient(point["kendall"], bounds["kendall"]),
        pearson=_coefficient(point["pearson"], bounds["pearson"]),
        metric_negated=lower_is_better,
        sign_note=_sign_note(metric_name, lower_is_better),
        interval_method=method,
        warning=_few_points_warning(n, "models"),
        confidence=confidence,
        n_resamples=int(n_resamples),
    )


def _coefficient(point: tuple[float, float, str], bounds: tuple[float, float]) -> Coefficient:
    value, p, method = point
    return Coefficient(value, bounds[0], bounds[1], p, method)


def _few_points_warning(n: int, what: str) -> str:
    if n < 3:
        return f"With {n} {what} no correlation can be computed; at least 3 are needed."
    if what == "models" and n < FEW_MODELS:
        return (
            f"With {n} models a correlation is weak evidence: even a perfect ranking agreement "
            f"can happen by chance. Compare at least {FEW_MODELS} models before trusting it."
        )
    return ""


def _fisher_interval(r: float, se: float, confidence: float) -> tuple[float, float]:
    if not np.isfinite(r) or not np.isfinite(se):
        return float("nan"), float("nan")
    if abs(r) >= 1.0:
        return float(r), float(r)
    z = np.arctanh(r)
    half = stats.norm.ppf(0.5 + confidence / 2.0) * se
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def item_correlation(
    human: np.ndarray,
    metric: np.ndarray,
    *,
    lower_is_better: bool,
    metric_name: str = "The metric",
    confidence: float = DEFAULT_CONFIDENCE,
) -> Correlation:
    """Correlations between per-image mean ratings and per-image metric values (Fisher-z intervals)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence!r}.")
    sign = -1.0 if lower_is_better else 1.0
    x, y, _ = _clean_pairs(human, sign * np.asarray(metric, dtype=np.float64))
    n = int(x.size)
    point = _point(x, y)
    nan = float("nan")
    rs, rk, rp = point["spearman"][0], point["kendall"][0], point["pearson"][0]
    se_s = np.sqrt((1.0 + rs * rs / 2.0) / (n - 3)) if n > 3 else nan
    se_k = np.sqrt(0.437 / (n - 4)) if n > 4 else nan
    se_p = 1.0 / np.sqrt(n - 3) if n > 3 else nan
    return Correlation(
        level="item",
        n=n,
        spearman=_coefficient(point["spearman"], _fisher_interval(rs, se_s, confidence)),
        kendall=_coefficient(point["kendall"], _fisher_interval(rk, se_k, confidence)),
        pearson=_coefficient(point["pearson"], _fisher_interval(rp, se_p, confidence)),
        metric_negated=lower_is_better,
        sign_note=_sign_note(metric_name, lower_is_better),
        interval_method="Fisher z-transform (Bonett-Wright for Spearman, Fieller et al. for Kendall)",
        warning=_few_points_warning(n, "images"),
        confidence=confidence,
        n_resamples=0,
    )
