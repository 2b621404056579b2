"""Novelty and memorisation: how close each generated image is to its nearest training/reference image.

For each generated embedding we find the nearest reference embedding by cosine
similarity (embeddings L2-normalised, CLIP by default). Reported:

- ``value``: the mean nearest-neighbour similarity (lower = more novel);
- ``extra["memorised_fraction"]``: the fraction of generated images whose nearest
  neighbour similarity is at or above ``threshold``;
- per image: the similarity and the name/index of its nearest reference.

The default threshold 0.9 is the similarity form of MIFID's memorisation rule
(Bai et al. 2021, "On Training Sample Memorization"; torchmetrics'
``MemorizationInformedFrechetInceptionDistance`` with ``cosine_distance_eps=0.1``,
i.e. cosine distance ``1 - cos < 0.1``). Unlike MIFID we use the signed cosine (an
anti-correlated embedding is not a copy) and report per image instead of one
set-level mean.

The search is exact and chunked: ``chunk x m`` similarities at a time, never the
full ``n x m`` matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metrics.engine.bootstrap import bootstrap_mean_ci
from metrics.engine.embeddings import unit_rows
from metrics.engine.result import MetricResult

DEFAULT_THRESHOLD = 0.9
_CHUNK_BYTES = 64 * 1024 * 1024


def nearest_neighbours(
    generated: np.ndarray, reference: np.ndarray, *, chunk: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For each generated row: (cosine similarity to its nearest reference row, that row's index)."""
    gen = unit_rows(generated, "generated embeddings")
    ref = unit_rows(reference, "reference embeddings")
    if gen.shape[1] != ref.shape[1]:
        raise ValueError(
            f"generated embeddings are {gen.shape[1]}-d but reference embeddings are "
            f"{ref.shape[1]}-d; compute both with the same model"
        )
    rows = chunk or max(1, min(4096, _CHUNK_BYTES // (8 * ref.shape[0])))
    best = np.empty(gen.shape[0], dtype=np.float64)
    index = np.empty(gen.shape[0], dtype=np.int64)
    for start in range(0, gen.shape[0], rows):
        sim = gen[start : start + rows] @ ref.T
        idx = sim.argmax(axis=1)
        index[start : start + rows] = idx
        best[start : start + rows] = sim[np.arange(sim.shape[0]), idx]
    # Rounding can push the similarity of an exact copy a hair above 1.
    return np.clip(best, -1.0, 1.0), index


def novelty_from_embeddings(
    generated: np.ndarray,
    reference: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    generated_names: Sequence[str] | None = None,
    reference_names: Sequence[str] | None = None,
    embedding: str = "clip",
    resamples: int = 1000,
    seed: int = 0,
    chunk: int | None = None,
    provenance: dict | None = None,
) -> MetricResult:
    """Mean nearest-neighbour cosine similarity, memorised fraction and per-image values."""
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
    sims, index = nearest_neighbours(generated, reference, chunk=chunk)
    n = sims.shape[0]
    names = list(generated_names) if generated_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} generated names for {n} generated embeddings")
    ref_n = np.asarray(reference).shape[0]
    ref_names = list(reference_names) if reference_names is not None else None
    if ref_names is not None and len(ref_names) != ref_n:
        raise ValueError(f"{len(ref_names)} reference names for {ref_n} reference embeddings")
    memorised = sims >= threshold
    nearest = {
        name: (ref_names[i] if ref_names is not None else int(i))
        for name, i in zip(names, index, strict=True)
    }
    return MetricResult(
        metric="novelty",
        value=float(sims.mean()),
        n={"generated": n, "reference": int(ref_n)},
        interval=bootstrap_mean_ci(sims, resamples=resamples, seed=seed),
        per_item={name: float(s) for name, s in zip(names, sims, strict=True)},
        extra={
            "memorised_fraction": float(memorised.mean()),
            "memorised": [name for name, m in zip(names, memorised, strict=True) if m],
            "threshold": threshold,
            "nearest": nearest,
        },
        provenance={
            "reference": "nearest-neighbour cosine similarity; threshold as MIFID (Bai et al. 2021)",
            "similarity": "cosine",
            "embedding": embedding,
            "threshold": threshold,
            "bootstrap": {"resamples": resamples, "level": 0.95, "seed": seed},
            **(provenance or {}),
        },
        # The value is a similarity to the training data: lower means more novel.
    )
