"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"), as torch-fidelity
computes it.

KID is the unbiased estimate of the squared MMD between two feature sets with the
cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets:

    MMD^2 = (sum_{i!=j} k(x_i, x_j) + sum_{i!=j} k(y_i, y_j)) / (m (m - 1)) - 2 sum_{i,j} k(x_i, y_j) / m^2

(the estimator of the MMD-GAN reference code and torch-fidelity: the cross term
keeps its diagonal). Defaults as torch-fidelity: 100 subsets of 1,000 samples,
drawn without replacement by ``np.random.RandomState(seed)`` in the same order
(set 1 then set 2 for each subset), seed 2020; the value is the mean over
subsets, the spread their standard deviation (population, ddof 0). Kernels are
computed in float64 (torch-fidelity uses float32). A subset size larger than a
set is capped at the set's size, with a note in the result.
"""

from __future__ import annotations

import numpy as np

from metrics.engine.provenance import provenance
from metrics.engine.result import MetricResult

DEFAULT_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000
DEFAULT_SEED = 2020
# Above this many kernel entries the full Gram matrices are not precomputed (memory).
_MAX_PRECOMPUTED_ENTRIES = 40_000_000


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x.y / d + 1)^3 for all pairs of rows, in float64."""
    d = x.shape[1]
    k = x @ y.T
    k /= d
    k += 1.0
    return k**3


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD^2 from the three kernel matrices of two samples of equal size m."""
    m = k_xx.shape[0]
    if m < 2 or k_xx.shape != (m, m) or k_yy.shape != (m, m) or k_xy.shape != (m, m):
        raise ValueError("MMD^2 needs square kernel matrices of one size m >= 2")
    off_xx = k_xx.sum() - np.trace(k_xx)
    off_yy = k_yy.sum() - np.trace(k_yy)
    return float((off_xx + off_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid_from_features(
    features1: np.ndarray,
    features2: np.ndarray,
    subsets: int = DEFAULT_SUBSETS,
    subset_size: int = DEFAULT_SUBSET_SIZE,
    seed: int | None = DEFAULT_SEED,
    *,
    params: dict | None = None,
) -> MetricResult:
    """KID between two feature arrays ``[n, d]``: mean and std of MMD^2 over seeded subsets."""
    x = np.asarray(features1, dtype=np.float64)
    y = np.asarray(features2, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"KID needs two [n, d] arrays of one d, got {x.shape} and {y.shape}")
    if subsets < 1:
        raise ValueError(f"subsets must be at least 1, got {subsets}")
    seed = DEFAULT_SEED if seed is None else seed
    n1, n2 = x.shape[0], y.shape[0]
    notes = []
    m = subset_size
    if m > min(n1, n2):
        m = min(n1, n2)
        notes.append(
            f"subset size {subset_size} is more than the smaller set ({m} images): used {m}"
        )
    if m < 2:
        raise ValueError(f"KID needs at least 2 images in each set, got {n1} and {n2}")

    rng = np.random.RandomState(seed)
    precompute = n1 * n1 + n2 * n2 + n1 * n2 <= _MAX_PRECOMPUTED_ENTRIES and (
        n1 * n1 + n2 * n2 + n1 * n2 <= 3 * subsets * m * m
    )
    if precompute:
        # Each kernel entry is computed once and subsets index into it: cheaper whenever
        # the subsets together cover more pairs than the full matrices hold.
        k_xx_full, k_yy_full = polynomial_kernel(x, x), polynomial_kernel(y, y)
        k_xy_full = polynomial_kernel(x, y)
    values = np.empty(subsets)
    for s in range(subsets):
        i = rng.choice(n1, m, replace=False)
        j = rng.choice(n2, m, replace=False)
        if precompute:
            k_xx = k_xx_full[np.ix_(i, i)]
            k_yy = k_yy_full[np.ix_(j, j)]
            k_xy = k_xy_full[np.ix_(i, j)]
        else:
            xs, ys = x[i], y[j]
            k_xx, k_yy, k_xy = (
                polynomial_kernel(xs, xs),
                polynomial_kernel(ys, ys),
                polynomial_kernel(xs, ys),
            )
        values[s] = mmd2_unbiased(k_xx, k_xy, k_yy)
    return MetricResult(
        metric="kid",
        value=float(values.mean()),
        n={"a": n1, "b": n2},
        std=float(values.std()),
        extra={"subset_values": values.tolist(), **({"notes": notes} if notes else {})},
        provenance=provenance(
            metric="kid",
            subsets=subsets,
            subset_size=m,
            subset_size_asked=subset_size if m != subset_size else None,
            seed=seed,
            kernel="polynomial (x.y/d + 1)^3",
            estimator="unbiased",
            **(params or {}),
        ),
    )
