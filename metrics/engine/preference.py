"""Pieces the human-preference scorers share (aesthetic, PickScore, HPS v2.1).

- :func:`per_image_result`: a mean with per-image values and a seeded bootstrap interval,
  the one result shape of every per-image scorer;
- :func:`scaled_cosines`: ``scale x cos(image, prompt)`` per image, the score of the
  CLIP-like preference models (PickScore: the model's ``logit_scale.exp()``; HPS v2.1: 1);
- :func:`resolve_processor_dir`: a hub repository read for its preprocessing and tokenizer
  files only (PickScore's authors preprocess with ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``'s
  processor, whose 3.9 GB of weights are not needed);
- :func:`prompt_scores_paths`: embed files and prompts with a :class:`ClipBundle`, then score.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from metrics.engine.bootstrap import bootstrap_mean_ci
from metrics.engine.embeddings import feature_rows
from metrics.engine.result import MetricResult
from metrics.engine.weights import WeightsMissingError, offline

PROCESSOR_FILES = ("preprocessor_config.json", "vocab.json", "merges.txt")


def per_image_result(
    metric: str,
    scores: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    provenance: dict | None = None,
    extra: dict | None = None,
) -> MetricResult:
    """Mean of per-image ``scores`` (higher is better) with a seeded 95% bootstrap interval."""
    scores = np.asarray(scores, dtype=np.float64)
    keys = [str(x) for x in names] if names is not None else [str(i) for i in range(scores.size)]
    if len(keys) != scores.size:
        raise ValueError(f"{len(keys)} names for {scores.size} images")
    return MetricResult(
        metric=metric,
        value=float(scores.mean()),
        n=int(scores.size),
        std=float(scores.std(ddof=1)) if scores.size > 1 else None,
        interval=bootstrap_mean_ci(scores, resamples=resamples, seed=seed),
        per_item=dict(zip(keys, (float(s) for s in scores), strict=True)),
        extra=dict(extra or {}),
        provenance={
            "bootstrap": {"resamples": resamples, "level": 0.95, "seed": seed},
            **(provenance or {}),
        },
        higher_is_better=True,
    )


def scaled_cosines(
    image_embeddings: np.ndarray, text_embeddings: np.ndarray, scale: float
) -> np.ndarray:
    """``scale x cos(image_i, text_i)`` per row, in float64 from the raw embeddings."""
    img = feature_rows(image_embeddings, "image embeddings")
    txt = feature_rows(text_embeddings, "prompt embeddings")
    if img.shape != txt.shape:
        raise ValueError(
            f"image embeddings {img.shape} and prompt embeddings {txt.shape} must have the same "
            "shape (one prompt per image)"
        )
    for arr, what in ((img, "image"), (txt, "prompt")):
        if np.any(np.linalg.norm(arr, axis=1) == 0):
            raise ValueError(f"an all-zero {what} embedding has no direction to compare")
    img = img / np.linalg.norm(img, axis=1, keepdims=True)
    txt = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    return float(scale) * np.einsum("ij,ij->i", img, txt)


# ----------------------------------------------------------------------------- processor files


def _has(path: Path, files: Sequence[str]) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in files)


def _processor_missing(name: str, why: str, files: Sequence[str]) -> WeightsMissingError:
    return WeightsMissingError(
        f"preprocessing files of {name!r} ({', '.join(files)}) are not available: {why}. Fetch "
        "them on a machine with internet with `python -m metrics fetch-weights`, or put them in "
        f"$EVALSITE_WEIGHTS_DIR/{name}."
    )


def resolve_processor_dir(
    name: str, *, download: bool | None = None, files: Sequence[str] = PROCESSOR_FILES
) -> Path:
    """A directory with ``name``'s preprocessing/tokenizer ``files`` (a local dir or a hub id)."""
    as_path = Path(name).expanduser()
    if as_path.exists():
        if not _has(as_path, files):
            raise _processor_missing(name, f"{as_path} lacks one of {', '.join(files)}", files)
        return as_path
    weights_dir = os.environ.get("EVALSITE_WEIGHTS_DIR")
    if weights_dir and _has(Path(weights_dir).expanduser() / name, files):
        return Path(weights_dir).expanduser() / name
    from huggingface_hub import snapshot_download

    from metrics.engine.clip import _HUB_PATTERNS

    local_only = True
    while True:
        try:
            path = Path(
                snapshot_download(
                    repo_id=name,
                    allow_patterns=[*_HUB_PATTERNS, "vocab.txt"],
                    local_files_only=local_only,
                )
            )
            if _has(path, files):
                return path
            why = f"the snapshot {path} lacks them"
        except Exception as exc:  # cache miss offline, no network, unknown repo
            first = (str(exc).strip().splitlines() or [""])[0]
            why = f"{type(exc).__name__}: {first}"
        if not local_only or download is False or (download is None and offline()):
            raise _processor_missing(name, why, files)
        local_only = False


# ----------------------------------------------------------------------------- over files


def prompt_embeddings(
    bundle, prompts: Sequence[str], *, batch_size: int = 256
) -> tuple[np.ndarray, int]:
    """Raw prompt embeddings of ``bundle`` and how many prompts were truncated at its limit."""
    from metrics.engine.clip import clip_text_embeddings, count_truncated

    truncated = count_truncated(bundle, prompts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # counted in the result instead
        return clip_text_embeddings(bundle, prompts, batch_size=batch_size), truncated


def prompt_scores_paths(
    metric: str,
    paths: Sequence[str | Path],
    prompts: Sequence[str],
    *,
    bundle,
    scale: float,
    batch_size: int = 32,
    workers: int = 0,
    resamples: int = 1000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    provenance: dict | None = None,
) -> MetricResult:
    """``scale x cos(image, prompt)`` of image files against their prompts (same order)."""
    from metrics.engine.clip import clip_image_embeddings

    if len(paths) != len(prompts):
        raise ValueError(f"{len(paths)} images but {len(prompts)} prompts; give one per image")
    img = clip_image_embeddings(
        bundle, paths, batch_size=batch_size, workers=workers, progress=progress
    )
    txt, truncated = prompt_embeddings(bundle, list(prompts))
    notes = []
    if truncated:
        notes.append(
            f"{truncated} of {len(prompts)} prompts are longer than {bundle.max_text_tokens} "
            "tokens and were truncated"
        )
    return per_image_result(
        metric,
        scaled_cosines(img, txt, scale),
        names=[Path(p).name for p in paths],
        resamples=resamples,
        seed=seed,
        provenance={**bundle.provenance(), "scale": float(scale), **(provenance or {})},
        extra={"truncated_prompts": truncated, "notes": notes},
    )
