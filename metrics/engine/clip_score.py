"""CLIP score and CLIP directional similarity.

- CLIP score (Hessel et al. 2021, "CLIPScore"; as computed by torchmetrics'
  ``CLIPScore`` and the diffusers evaluation guide): per image
  ``100 x max(cos(E_img, E_txt), 0)``, averaged. The CLIPScore paper scales by
  w = 2.5 instead of 100; we use 100, like torchmetrics and diffusers. We clamp each
  image's score at 0, as the paper defines it; torchmetrics clamps only the mean, so
  the two agree per image wherever the cosine is positive (and on the mean when all are).
- Directional similarity (Gal et al. 2022 "StyleGAN-NADA"; the InstructPix2Pix
  evaluation and the diffusers guide): per pair
  ``cos(E_img(edited) - E_img(source), E_txt(edited caption) - E_txt(source caption))``,
  averaged; not clamped (it lies in [-1, 1]).

The maths take embeddings (numpy arrays, as the feature cache holds them); the
``*_paths`` functions embed files with :mod:`metrics.engine.clip` first. Cosines in
float64 from the raw float32 embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from metrics.engine.bootstrap import bootstrap_mean_ci
from metrics.engine.embeddings import feature_rows
from metrics.engine.result import MetricResult

SCALE = 100.0


def _same_shape(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{a_name} {a.shape} and {b_name} {b.shape} must have the same shape (one row per image)"
        )


def rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b`` (float64; 0 for a zero row)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    dot = np.einsum("ij,ij->i", a, b)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), 0.0)
    return np.clip(cos, -1.0, 1.0)


def clip_scores(image_embeddings: np.ndarray, text_embeddings: np.ndarray) -> np.ndarray:
    """Per-image CLIP scores ``100 x max(cos, 0)`` (float64)."""
    img = feature_rows(image_embeddings, "image embeddings")
    txt = feature_rows(text_embeddings, "text embeddings")
    _same_shape(img, txt, "image embeddings", "text embeddings")
    return SCALE * np.maximum(rowwise_cosine(img, txt), 0.0)


def _names(names: Sequence[str] | None, n: int) -> list[str]:
    out = [str(x) for x in names] if names is not None else [str(i) for i in range(n)]
    if len(out) != n:
        raise ValueError(f"{len(out)} names for {n} items")
    return out


def clip_score_from_embeddings(
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    provenance: dict | None = None,
) -> MetricResult:
    """Mean CLIP score with per-image values and a seeded 95% bootstrap interval."""
    scores = clip_scores(image_embeddings, text_embeddings)
    raw = rowwise_cosine(image_embeddings, text_embeddings)
    keys = _names(names, scores.shape[0])
    return MetricResult(
        metric="clip_score",
        value=float(scores.mean()),
        n=int(scores.shape[0]),
        std=float(scores.std(ddof=1)) if scores.shape[0] > 1 else None,
        interval=bootstrap_mean_ci(scores, resamples=resamples, seed=seed),
        per_item=dict(zip(keys, (float(s) for s in scores), strict=True)),
        extra={"clamped": int((raw < 0).sum()), "mean_cosine": float(raw.mean())},
        provenance={
            "reference": "100 x max(cos, 0) per image, as torchmetrics CLIPScore / Hessel et al. 2021",
            "scale": SCALE,
            "clamp": "per image",
            "bootstrap": {"resamples": resamples, "level": 0.95, "seed": seed},
            **(provenance or {}),
        },
    )


def directional_similarities(
    source_images: np.ndarray,
    edited_images: np.ndarray,
    source_texts: np.ndarray,
    edited_texts: np.ndarray,
) -> np.ndarray:
    """Per pair ``cos(E_img(edited) - E_img(source), E_txt(edited) - E_txt(source))`` (float64).

    Embeddings are L2-normalised before the differences are taken, as the diffusers
    guide and InstructPix2Pix do. A pair whose images (or captions) embed identically
    has no direction and gets 0.
    """
    arrays = []
    for arr, what in (
        (source_images, "source image embeddings"),
        (edited_images, "edited image embeddings"),
        (source_texts, "source caption embeddings"),
        (edited_texts, "edited caption embeddings"),
    ):
        rows = feature_rows(arr, what)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError(f"{what} has an all-zero row")
        arrays.append(rows / norms)
    for arr, what in zip(
        arrays[1:], ("edited images", "source captions", "edited captions"), strict=True
    ):
        _same_shape(arrays[0], arr, "source images", what)
    src_i, edit_i, src_t, edit_t = arrays
    return rowwise_cosine(edit_i - src_i, edit_t - src_t)


def directional_similarity_from_embeddings(
    source_images: np.ndarray,
    edited_images: np.ndarray,
    source_texts: np.ndarray,
    edited_texts: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    provenance: dict | None = None,
) -> MetricResult:
    """Mean CLIP directional similarity with per-pair values and a bootstrap interval."""
    sims = directional_similarities(source_images, edited_images, source_texts, edited_texts)
    keys = _names(names, sims.shape[0])
    return MetricResult(
        metric="clip_directional_similarity",
        value=float(sims.mean()),
        n=int(sims.shape[0]),
        std=float(sims.std(ddof=1)) if sims.shape[0] > 1 else None,
        interval=bootstrap_mean_ci(sims, resamples=resamples, seed=seed),
        per_item=dict(zip(keys, (float(s) for s in sims), strict=True)),
        provenance={
            "reference": "cos(dE_img, dE_txt): Gal et al. 2022, InstructPix2Pix, diffusers guide",
            "bootstrap": {"resamples": resamples, "level": 0.95, "seed": seed},
            **(provenance or {}),
        },
    )


# ----------------------------------------------------------------------------- over files


def clip_score_paths(
    paths: Sequence[str | Path],
    prompts: Sequence[str],
    *,
    bundle,
    batch_size: int = 32,
    workers: int = 0,
    resamples: int = 1000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    provenance: dict | None = None,
) -> MetricResult:
    """CLIP score of image files against their prompts (same order), with ``bundle`` from ``load_clip``."""
    from metrics.engine.clip import (
        clip_image_embeddings,
        clip_text_embeddings_counted,
        truncation_extra,
    )

    if len(paths) != len(prompts):
        raise ValueError(
            f"{len(paths)} images but {len(prompts)} prompts; give one prompt per image"
        )
    img = clip_image_embeddings(
        bundle, paths, batch_size=batch_size, workers=workers, progress=progress
    )
    txt, truncated = clip_text_embeddings_counted(bundle, prompts)
    result = clip_score_from_embeddings(
        img,
        txt,
        names=[Path(p).name for p in paths],
        resamples=resamples,
        seed=seed,
        provenance={**bundle.provenance(), **(provenance or {})},
    )
    result.extra.update(truncation_extra(bundle, truncated, len(prompts)))
    return result


def directional_similarity_paths(
    source_paths: Sequence[str | Path],
    edited_paths: Sequence[str | Path],
    source_captions: Sequence[str],
    edited_captions: Sequence[str],
    *,
    bundle,
    batch_size: int = 32,
    workers: int = 0,
    resamples: int = 1000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    provenance: dict | None = None,
) -> MetricResult:
    """Directional similarity of (source, edited) image files and their captions, pair by pair."""
    from metrics.engine.clip import (
        clip_image_embeddings,
        clip_text_embeddings_counted,
        truncation_extra,
    )

    n = len(source_paths)
    if not (len(edited_paths) == len(source_captions) == len(edited_captions) == n):
        raise ValueError(
            f"{n} source images, {len(edited_paths)} edited images, {len(source_captions)} source "
            f"captions and {len(edited_captions)} edited captions: give one of each per pair"
        )
    src = clip_image_embeddings(
        bundle, source_paths, batch_size=batch_size, workers=workers, progress=progress
    )
    edit = clip_image_embeddings(
        bundle, edited_paths, batch_size=batch_size, workers=workers, progress=progress
    )
    texts, truncated = clip_text_embeddings_counted(bundle, [*source_captions, *edited_captions])
    result = directional_similarity_from_embeddings(
        src,
        edit,
        texts[:n],
        texts[n:],
        names=[Path(p).name for p in edited_paths],
        resamples=resamples,
        seed=seed,
        provenance={**bundle.provenance(), **(provenance or {})},
    )
    result.extra.update(truncation_extra(bundle, truncated, 2 * n))
    return result
