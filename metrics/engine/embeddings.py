"""Shared checks on embedding arrays (CLIP or Inception features) before set metrics."""

from __future__ import annotations

import numpy as np


def feature_rows(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as a finite, non-empty float64 ``[n, d]`` array; a clear ValueError otherwise."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty 2-d array [n, d], got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr


def unit_rows(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as float64 ``[n, d]`` with every row scaled to unit L2 norm; clear errors otherwise."""
    arr = feature_rows(x, what)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{what} has an all-zero row: it cannot be L2-normalised")
    return arr / norms
