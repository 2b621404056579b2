"""Seeded percentile bootstrap confidence intervals (Efron & Tibshirani 1993, ch. 13).

Used for every per-image metric (CLIP score, SSIM, PSNR, LPIPS, novelty...): resample
the per-item values with replacement, recompute the statistic, and take the
``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the resampled statistics.

The resampling is vectorised: the indices of all resamples are drawn at once, in
chunks so that memory stays bounded for large sets (``resamples x n`` int64 indices
would be 80 MB at 1000 x 10,000). The same seed gives the same interval on every
machine (numpy's PCG64 ``default_rng``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95
# At most this many indices drawn per chunk (8 MB of int64).
_CHUNK_ELEMENTS = 1 << 20


def _check(values: np.ndarray, resamples: int, level: float) -> None:
    if values.ndim != 1:
        raise ValueError(
            f"bootstrap needs a 1-d array of per-item values, got shape {values.shape}"
        )
    if values.size == 0:
        raise ValueError("bootstrap needs at least one value")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level}")


def _percentiles(stats: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(stats, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


def _index_chunks(n: int, resamples: int, rng: np.random.Generator):
    rows = max(1, _CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < resamples:
        take = min(rows, resamples - done)
        yield rng.integers(0, n, size=(take, n))
        done += take


def bootstrap_means(
    values: np.ndarray | list[float], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> np.ndarray:
    """The ``resamples`` bootstrap means of ``values`` (float64), seeded."""
    arr = np.asarray(values, dtype=np.float64)
    _check(arr, resamples, 0.5)
    rng = np.random.default_rng(seed)
    # Means in float64: per-image values are float32 and sums over 10^4 items lose digits.
    return np.concatenate(
        [arr[idx].mean(axis=1) for idx in _index_chunks(arr.size, resamples, rng)]
    )


def bootstrap_mean_ci(
    values: np.ndarray | list[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap ``level`` interval of the mean of ``values`` (seeded, vectorised).

    Non-finite values (an infinite PSNR of identical images) make the interval
    non-finite too; callers that want otherwise filter first.
    """
    arr = np.asarray(values, dtype=np.float64)
    _check(arr, resamples, level)
    if arr.size == 1:
        return float(arr[0]), float(arr[0])
    return _percentiles(bootstrap_means(arr, resamples=resamples, seed=seed), level)


def bootstrap_ci(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of any ``statistic(values[indices])``.

    ``values`` may have more than one dimension (items along axis 0, e.g. pairs of
    human and metric scores for a correlation); ``statistic`` receives the resampled
    rows. Slower than :func:`bootstrap_mean_ci` (one Python call per resample).
    """
    arr = np.asarray(values)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ValueError("bootstrap needs at least one item")
    _check(np.zeros(1), resamples, level)
    rng = np.random.default_rng(seed)
    n = arr.shape[0]
    stats = np.empty(resamples, dtype=np.float64)
    i = 0
    for idx in _index_chunks(n, resamples, rng):
        for row in idx:
            stats[i] = float(statistic(arr[row]))
            i += 1
    return _percentiles(stats, level)
