"""Helpers shared by the statistics modules: input checks, resampling counts, intervals, export.

Every bootstrap in this package draws its resamples as a *count matrix* (resamples x
clusters: how many times each prompt, unit or comparison type was drawn) and turns
per-cluster sufficient statistics into per-resample statistics with one matrix product.
That is what makes 1,000 resamples of 100,000 ratings cost milliseconds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95

# Resamples are drawn in blocks so that a count matrix never holds more than this many cells
# (8 bytes each: 32 MB), whatever the number of clusters.
_MAX_CELLS = 4_000_000


def as_index(name: str, values: Any, size: int | None = None) -> np.ndarray:
    """Check that ``values`` is a 1-d array of non-negative integers (an index) and return it."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of integer indices; got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer indices (0, 1, 2...); got {arr.dtype}.")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must hold non-negative indices; found {arr.min()}.")
    if size is not None and arr.size != size:
        raise ValueError(f"{name} has {arr.size} entries but the other arrays have {size}.")
    return arr


def as_scores(name: str, values: Any, size: int | None = None) -> np.ndarray:
    """Check that ``values`` is a 1-d array of finite numbers and return it as float64."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of numbers; got shape {arr.shape}.")
    if size is not None and arr.size != size:
        raise ValueError(f"{name} has {arr.size} entries but the other arrays have {size}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name} holds NaN or infinite values; drop missing ratings before calling."
        )
    return arr


def check_resampling(n_resamples: int, confidence: float) -> None:
    """Refuse a resample count or confidence level that cannot give an interval."""
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer; got {n_resamples!r}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(
            f"confidence must lie strictly between 0 and 1 (e.g. 0.95); got {confidence!r}."
        )


def resample_counts(
    n_clusters: int, n_resamples: int, seed: int | np.random.Generator
) -> np.ndarray:
    """Counts (n_resamples x n_clusters, float64) of a uniform bootstrap of ``n_clusters`` clusters.

    Row ``b`` says how many times each cluster was drawn in resample ``b``; rows sum to
    ``n_clusters``. The same seed and sizes always give the same matrix, so two statistics
    computed from counts made with one seed use *the same* resampled prompts.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, n_clusters))
    for lo, hi in blocks(n_resamples, n_clusters):
        out[lo:hi] = _uniform_block(n_clusters, hi - lo, rng)
    return out


def _uniform_block(n: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    draws = rng.integers(0, n, size=(rows, n))
    # One bincount over row-offset indices counts every row at once.
    draws += (np.arange(rows, dtype=np.int64) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n)


def kind_count_blocks(
    frequencies: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(lo, hi, counts)``: bootstrap counts per kind for resamples ``lo`` to ``hi``.

    Drawing ``n`` items with replacement and counting them by kind is a multinomial draw with
    the observed kind frequencies, so resampling 100,000 votes that fall into 30 kinds costs 30
    numbers per resample instead of 100,000. When kinds are nearly as many as items, drawing
    items uniformly and counting their kinds is cheaper (a binomial draw per kind costs about
    ten uniform draws), so that exact alternative is used instead.
    """
    freq = np.asarray(frequencies, dtype=np.int64)
    n, kinds = int(freq.sum()), freq.size
    if kinds * 10 <= n:
        p = freq / n
        for lo, hi in blocks(n_resamples, kinds):
            yield lo, hi, rng.multinomial(n, p, size=hi - lo).astype(np.float64)
        return
    kind_of_item = np.repeat(np.arange(kinds), freq)
    for lo, hi in blocks(n_resamples, max(n, kinds)):
        draws = kind_of_item[rng.integers(0, n, size=(hi - lo, n))]
        draws += (np.arange(hi - lo, dtype=np.int64) * kinds)[:, None]
        counts = np.bincount(draws.ravel(), minlength=(hi - lo) * kinds)
        yield lo, hi, counts.reshape(hi - lo, kinds).astype(np.float64)


def blocks(n_resamples: int, width: int) -> list[tuple[int, int]]:
    """Split ``range(n_resamples)`` into blocks whose count matrices stay under ``_MAX_CELLS``."""
    step = max(1, _MAX_CELLS // max(width, 1))
    return [(lo, min(lo + step, n_resamples)) for lo in range(0, n_resamples, step)]


def percentile_interval(
    replicates: np.ndarray, confidence: float, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval (Efron and Tibshirani 1993, ch. 13), NaN replicates ignored.

    A replicate is NaN when the statistic does not exist in that resample (a model with no
    ratings among the drawn prompts, a constant vector in a correlation). Where every
    replicate is NaN the bounds are NaN.
    """
    tail = (1.0 - confidence) / 2.0 * 100.0
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.size == 0:
        shape = list(reps.shape)
        del shape[axis]
        empty = np.full(shape, np.nan)
        return empty, empty.copy()
    if not np.isnan(reps).any():
        low, high = np.percentile(reps, [tail, 100.0 - tail], axis=axis)
        return low, high
    # nanpercentile warns on all-NaN slices; those slices are meant to come out NaN.
    all_nan = np.all(np.isnan(reps), axis=axis)
    filled = np.where(np.isnan(reps) & np.expand_dims(all_nan, axis), 0.0, reps)
    low, high = np.nanpercentile(filled, [tail, 100.0 - tail], axis=axis)
    low = np.where(all_nan, np.nan, low)
    high = np.where(all_nan, np.nan, high)
    return low, high


def to_plain(value: Any) -> Any:
    """Turn arrays, numpy scalars and dataclasses into JSON-ready Python values (NaN -> None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return [to_plain(v) for v in value.tolist()] if value.ndim else to_plain(value.item())
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, np.generic):
        return to_plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Exportable:
    """Mixin for result dataclasses: ``to_dict()`` gives a JSON-ready dict (NaN becomes null)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain Python values, ready for ``json.dumps``."""
        return to_plain(self)
