"""Precision / recall and density / coverage of a generated set against a reference set.

- Precision and recall: Kynkaanniemi et al. 2019, "Improved Precision and Recall
  Metric for Assessing Generative Models". Each sample's k-NN ball (radius = the
  distance to its k-th nearest neighbour within its own set, itself excluded)
  approximates its set's manifold. Precision = fraction of generated samples inside
  at least one reference ball; recall = fraction of reference samples inside at
  least one generated ball.
- Density and coverage: Naeem et al. 2020, "Reliable Fidelity and Diversity
  Metrics for Generative Models". Density = (1 / k) x mean over generated samples of
  the number of reference balls containing it (can exceed 1); coverage = fraction of
  reference samples whose own ball contains at least one generated sample.

Conventions follow the authors' ``prdc`` package (clovaai/generative-evaluation-prdc):
Euclidean distances on raw features, "inside" is a strict ``<``, the radius is the
k-th smallest non-self distance. Defaults k = 5 (Naeem et al.; Kynkaanniemi et al. use
3, which ``k=3`` gives).

Memory stays bounded: distances are computed ``chunk`` rows at a time against the
other set (``chunk x m`` float64), never as a full ``n x m`` matrix, so 50,000 x
50,000 runs in a few hundred MB. Distances in float64 because the strict ``<``
comparisons against radii decide ties.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from metrics.engine.embeddings import feature_rows
from metrics.engine.result import MetricResult

DEFAULT_K = 5
# Rows per distance block: 1024 x 50,000 float64 = 400 MB would be too much on a
# shared worker, so the block is sized from the other set's size (see _rows_per_chunk).
_CHUNK_BYTES = 64 * 1024 * 1024


def _rows_per_chunk(m: int, chunk: int | None) -> int:
    if chunk is not None:
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")
        return chunk
    return max(1, min(4096, _CHUNK_BYTES // (8 * max(m, 1))))


def distance_blocks(
    a: np.ndarray, b: np.ndarray, chunk: int | None = None
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, D)`` with ``D[i, j] = ||a[rows][i] - b[j]||`` for successive row blocks of ``a``."""
    b_sq = np.einsum("ij,ij->i", b, b)
    rows = _rows_per_chunk(b.shape[0], chunk)
    for start in range(0, a.shape[0], rows):
        block = a[start : start + rows]
        a_sq = np.einsum("ij,ij->i", block, block)
        sq = a_sq[:, None] + b_sq[None, :] - 2.0 * (block @ b.T)
        # Rounding can make a zero distance slightly negative.
        np.maximum(sq, 0.0, out=sq)
        yield slice(start, start + block.shape[0]), np.sqrt(sq, out=sq)


def knn_radii(x: np.ndarray, k: int = DEFAULT_K, *, chunk: int | None = None) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest other row (Euclidean, float64)."""
    x = feature_rows(x, "features")
    n = x.shape[0]
    if not 1 <= k < n:
        raise ValueError(
            f"k = {k} needs more than k samples in each set (got {n}); use a smaller k"
        )
    radii = np.empty(n, dtype=np.float64)
    for rows, d in distance_blocks(x, x, chunk):
        # Each row's own distance is 0 (or a rounding speck): set it exactly, then the
        # k-th smallest of the row (index k, self at index 0) is the k-th neighbour.
        local = np.arange(d.shape[0])
        d[local, rows.start + local] = 0.0
        radii[rows] = np.partition(d, k, axis=1)[:, k]
    return radii


@dataclass(frozen=True)
class PRDC:
    """The four numbers plus their per-sample indicators."""

    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    n_generated: int
    n_reference: int
    # Per generated sample: inside some reference ball (precision) / number of balls (density).
    generated_in_reference: np.ndarray
    generated_ball_count: np.ndarray
    # Per reference sample: inside some generated ball (recall) / covered (coverage).
    reference_in_generated: np.ndarray
    reference_covered: np.ndarray


def prdc(
    generated: np.ndarray,
    reference: np.ndarray,
    *,
    k: int = DEFAULT_K,
    chunk: int | None = None,
) -> PRDC:
    """Precision, recall, density and coverage of ``generated`` against ``reference`` features."""
    gen = feature_rows(generated, "generated features")
    ref = feature_rows(reference, "reference features")
    if gen.shape[1] != ref.shape[1]:
        raise ValueError(
            f"generated features are {gen.shape[1]}-d but reference features are {ref.shape[1]}-d; "
            "compute both with the same extractor"
        )
    ref_radii = knn_radii(ref, k, chunk=chunk)
    gen_radii = knn_radii(gen, k, chunk=chunk)

    in_ref = np.zeros(gen.shape[0], dtype=bool)
    ball_count = np.zeros(gen.shape[0], dtype=np.int64)
    for rows, d in distance_blocks(gen, ref, chunk):
        inside = d < ref_radii[None, :]
        in_ref[rows] = inside.any(axis=1)
        ball_count[rows] = inside.sum(axis=1)

    in_gen = np.zeros(ref.shape[0], dtype=bool)
    covered = np.zeros(ref.shape[0], dtype=bool)
    for rows, d in distance_blocks(ref, gen, chunk):
        in_gen[rows] = (d < gen_radii[None, :]).any(axis=1)
        covered[rows] = d.min(axis=1) < ref_radii[rows]

    return PRDC(
        precision=float(in_ref.mean()),
        recall=float(in_gen.mean()),
        density=float(ball_count.mean() / k),
        coverage=float(covered.mean()),
        k=k,
        n_generated=int(gen.shape[0]),
        n_reference=int(ref.shape[0]),
        generated_in_reference=in_ref,
        generated_ball_count=ball_count,
        reference_in_generated=in_gen,
        reference_covered=covered,
    )


PRDC_METRICS = ("precision", "recall", "density", "coverage")


def prdc_from_features(
    generated: np.ndarray,
    reference: np.ndarray,
    *,
    k: int = DEFAULT_K,
    embedding: str = "inception",
    chunk: int | None = None,
    provenance: dict | None = None,
) -> dict[str, MetricResult]:
    """The four metrics as :class:`MetricResult` objects keyed by name (precision, recall, ...)."""
    r = prdc(generated, reference, k=k, chunk=chunk)
    n = {"generated": r.n_generated, "reference": r.n_reference}
    prov = {
        "k": k,
        "distance": "euclidean",
        "embedding": embedding,
        "dim": int(np.asarray(generated).shape[1]),
        **(provenance or {}),
    }
    refs = {
        "precision": "Kynkaanniemi et al. 2019",
        "recall": "Kynkaanniemi et al. 2019",
        "density": "Naeem et al. 2020",
        "coverage": "Naeem et al. 2020",
    }
    values = {
        "precision": r.precision,
        "recall": r.recall,
        "density": r.density,
        "coverage": r.coverage,
    }
    return {
        name: MetricResult(
            metric=name,
            value=values[name],
            n=dict(n),
            provenance={"reference": refs[name], **prov},
        )
        for name in PRDC_METRICS
    }
