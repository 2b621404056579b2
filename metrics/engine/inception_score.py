"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs"), as
torch-fidelity computes it.

    IS = exp(E_x KL(p(y|x) || p(y)))

per split, from the FID Inception's unbiased logits (pool3 @ fc.weight.T, no
bias; see ``inception.py``), softmax in float64. As torch-fidelity: the samples
are shuffled with ``np.random.RandomState(seed).permutation(n)`` (seed 2020) unless
``shuffle=False``, cut into ``splits`` contiguous parts at ``i * n // splits``,
and the value is the mean over splits with the population standard deviation
(ddof 0) as spread.
"""

from __future__ import annotations

import numpy as np

from metrics.engine.provenance import provenance
from metrics.engine.result import MetricResult

DEFAULT_SPLITS = 10
DEFAULT_SEED = 2020


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def split_scores(logits: np.ndarray, splits: int) -> np.ndarray:
    """exp(mean KL(p(y|x) || p(y))) for each of ``splits`` contiguous parts of ``logits``."""
    log_p = log_softmax(logits)
    p = np.exp(log_p)
    n = log_p.shape[0]
    scores = np.empty(splits)
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        p_part, log_p_part = p[lo:hi], log_p[lo:hi]
        marginal = p_part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = p_part * (log_p_part - np.log(marginal))
        # 0 log 0 = 0: a class no image of the split predicts contributes nothing
        # (torch-fidelity gives NaN there; everywhere else the two agree).
        kl = np.where(p_part > 0, terms, 0.0).sum(axis=1)
        scores[i] = np.exp(kl.mean())
    return scores


def inception_score_from_logits(
    logits: np.ndarray,
    splits: int = DEFAULT_SPLITS,
    seed: int | None = DEFAULT_SEED,
    *,
    shuffle: bool = True,
    params: dict | None = None,
) -> MetricResult:
    """Inception Score of unbiased logits ``[n, classes]``: mean and std over ``splits``."""
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must be a 2-D array [n, classes], got shape {logits.shape}")
    n = logits.shape[0]
    if splits < 1:
        raise ValueError(f"splits must be at least 1, got {splits}")
    if n < splits:
        raise ValueError(
            f"Inception Score with {splits} splits needs at least {splits} images, got {n}"
        )
    seed = DEFAULT_SEED if seed is None else seed
    if shuffle:
        logits = logits[np.random.RandomState(seed).permutation(n)]
    scores = split_scores(logits, splits)
    return MetricResult(
        metric="inception_score",
        value=float(scores.mean()),
        n=n,
        std=float(scores.std()),
        extra={"split_values": scores.tolist()},
        provenance=provenance(
            metric="inception_score",
            splits=splits,
            shuffle=shuffle,
            seed=seed if shuffle else None,
            logits="unbiased (pool3 @ fc.weight.T, no bias)",
            **(params or {}),
        ),
    )
