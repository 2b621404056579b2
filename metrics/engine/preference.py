"""Pieces the human-preference scorers share (aesthetic, PickScore, HPS v2.1, ImageReward).

- :func:`per_image_result`: a mean with per-image values and a seeded bootstrap interval,
  the one result shape of every per-image scorer;
- :func:`scaled_cosines`: ``scale x cos(image, prompt)`` per image, the score of the
  CLIP-like preference models (PickScore: the model's ``logit_scale.exp()``; HPS v2.1: 1);
- :func:`resolve_processor_dir`: a hub repository read for its preprocessing and tokenizer
  files only (PickScore's authors preprocess with ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``'s
  processor, whose 3.9 GB of weights are not needed);
- :func:`prompt_scores_paths`: embed files and prompts with a :class:`ClipBundle`, then score;
- checkpoints rebuilt from state dicts (HPS v2.1, ImageReward, the aesthetic head):
  :func:`read_checkpoint`, :func:`load_checked`, and :func:`openai_normalised` pixels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metrics.engine.bootstrap import bootstrap_mean_ci
from metrics.engine.clip import (
    _HUB_PATTERNS,
    clip_image_embeddings,
    clip_text_embeddings_counted,
    truncation_extra,
)
from metrics.engine.embeddings import unit_rows
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
    )


def scaled_cosines(
    image_embeddings: np.ndarray, text_embeddings: np.ndarray, scale: float
) -> np.ndarray:
    """``scale x cos(image_i, text_i)`` per row, in float64 from the raw embeddings."""
    img = unit_rows(image_embeddings, "image embeddings")
    txt = unit_rows(text_embeddings, "prompt embeddings")
    if img.shape != txt.shape:
        raise ValueError(
            f"image embeddings {img.shape} and prompt embeddings {txt.shape} must have the same "
            "shape (one prompt per image)"
        )
    return float(scale) * np.einsum("ij,ij->i", img, txt)


# ----------------------------------------------------------------------------- checkpoints

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def openai_normalised(image) -> np.ndarray:
    """An RGB PIL image as float32 ``[3, H, W]``: ``/ 255``, then OpenAI CLIP's mean and std
    (torchvision's ``ToTensor`` and ``Normalize``, in float32)."""
    x = np.asarray(image, dtype=np.float32) / np.float32(255)
    mean = np.asarray(OPENAI_MEAN, dtype=np.float32)
    std = np.asarray(OPENAI_STD, dtype=np.float32)
    return np.ascontiguousarray(((x - mean) / std).transpose(2, 0, 1))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state dict of a ``torch.save``d checkpoint (``{"state_dict": ...}`` or a bare one)."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path} is not a readable torch checkpoint ({type(exc).__name__}: {exc})"
        ) from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict")
    return state


def load_checked(model, state: dict[str, Any], what: str) -> None:
    """Load ``state`` (as float32) into ``model``, built on the meta device, once every tensor
    is known to fit; the non-persistent position ids no checkpoint holds are rebuilt."""
    import torch

    expected = {
        k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("position_ids")
    }
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != expected[k])
    if missing or unexpected or wrong:
        raise ValueError(
            f"the {what} of the checkpoint does not fit: missing {missing[:4]}, unexpected "
            f"{unexpected[:4]}, wrong shape {wrong[:4]}"
        )
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False, assign=True)
    for module in model.modules():
        ids = getattr(module, "position_ids", None)
        if isinstance(ids, torch.Tensor) and ids.is_meta:
            module.register_buffer(
                "position_ids", torch.arange(ids.shape[-1]).expand((1, -1)), persistent=False
            )


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

# Raw prompt embeddings and how many prompts were truncated (metrics.services.preference uses it).
prompt_embeddings = clip_text_embeddings_counted


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
    if len(paths) != len(prompts):
        raise ValueError(f"{len(paths)} images but {len(prompts)} prompts; give one per image")
    img = clip_image_embeddings(
        bundle, paths, batch_size=batch_size, workers=workers, progress=progress
    )
    txt, truncated = clip_text_embeddings_counted(bundle, prompts)
    return per_image_result(
        metric,
        scaled_cosines(img, txt, scale),
        names=[Path(p).name for p in paths],
        resamples=resamples,
        seed=seed,
        provenance={**bundle.provenance(), "scale": float(scale), **(provenance or {})},
        extra=truncation_extra(bundle, truncated, len(prompts)),
    )
