"""Vendi score: the effective number of distinct items in a set (Friedman & Dieng 2023).

``VS(X) = exp(-sum_i lambda_i log lambda_i)`` where ``lambda_i`` are the eigenvalues
of ``K / n`` and ``K`` is a positive semi-definite similarity kernel with unit
diagonal, here the cosine kernel ``K_ij = <x_i, x_j>`` on L2-normalised embeddings
(CLIP or Inception pool3), as in the paper's image experiments and the
``vendi_score`` package's ``embedding_vendi_score``. ``n`` identical items give 1,
``n`` mutually orthogonal items give ``n``.

With ``X`` the ``n x d`` matrix of normalised rows, ``K / n = X X^T / n`` has the same
non-zero eigenvalues as ``X^T X / n`` (``d x d``), so we take whichever is smaller:
the cost is ``O(n d min(n, d))`` and memory ``min(n, d)^2``, which keeps 50,000
CLIP images (768-d) cheap.
"""

from __future__ import annotations

import numpy as np

from metrics.engine.embeddings import unit_rows
from metrics.engine.result import MetricResult


def entropy_exp(eigenvalues: np.ndarray) -> float:
    """``exp(Shannon entropy)`` of eigenvalues summing to 1 (tiny negatives from rounding dropped)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    lam = lam[lam > 1e-15]
    lam = lam / lam.sum()
    return float(np.exp(-np.sum(lam * np.log(lam))))


def vendi_score(embeddings: np.ndarray) -> float:
    """Vendi score of ``embeddings`` [n, d] with the cosine kernel (between 1 and min(n, d))."""
    x = unit_rows(embeddings, "embeddings")
    n, d = x.shape
    # float64 throughout: eigenvalues of a near-rank-one K are tiny and their log matters.
    gram = x @ x.T if n <= d else x.T @ x
    eigenvalues = np.linalg.eigvalsh(gram / n)
    return entropy_exp(eigenvalues)


def vendi_score_from_kernel(kernel: np.ndarray) -> float:
    """Vendi score of a precomputed similarity matrix with unit diagonal (e.g. from LPIPS)."""
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] == 0:
        raise ValueError(f"kernel must be a non-empty square matrix, got shape {k.shape}")
    if not np.allclose(np.diag(k), 1.0, atol=1e-6):
        raise ValueError("kernel must have a unit diagonal (each item fully similar to itself)")
    if not np.allclose(k, k.T, atol=1e-6):
        raise ValueError("kernel must be symmetric")
    return entropy_exp(np.linalg.eigvalsh(k / k.shape[0]))


def vendi_from_embeddings(
    embeddings: np.ndarray,
    *,
    embedding: str = "clip",
    provenance: dict | None = None,
) -> MetricResult:
    """Vendi score of one set as a :class:`MetricResult` (higher is more diverse)."""
    x = np.asarray(embeddings)
    value = vendi_score(x)
    n, d = x.shape
    return MetricResult(
        metric="vendi",
        value=value,
        n=int(n),
        extra={"max_possible": int(min(n, d)), "per_item_fraction": value / n},
        provenance={
            "reference": "Friedman & Dieng 2023, cosine kernel on L2-normalised embeddings",
            "kernel": "cosine",
            "embedding": embedding,
            "dim": int(d),
            **(provenance or {}),
        },
    )
