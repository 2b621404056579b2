"""Feature extractors as a worker sees them: cache keys computed cheaply, models loaded once.

A worker process keeps each model it loaded (one Inception per resize mode, one CLIP
per checkpoint, one LPIPS per backbone) for the next task, on the device
:func:`metrics.engine.device.resolve_device` picks (``EVALSITE_CUDA_DEVICE``, honouring
``CUDA_VISIBLE_DEVICES``; the first visible GPU, else the CPU).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

_LOCK = threading.Lock()
# Human-preference scorers' features (metrics/services/preference.py).
PREFERENCE_KINDS = ("pickscore", "pickscore-text", "hpsv2", "hpsv2-text", "imagereward")
_MODELS: dict[tuple, Any] = {}


@dataclass(frozen=True)
class FeatureKey:
    """The cache key of one extractor's features (without the content hash)."""

    kind: str  # "inception" | "clip" | "clip-text"
    extractor_id: str
    preprocessing: str
    weights_sha256: str
    layout: tuple[tuple[str, int], ...]

    @property
    def layout_dict(self) -> dict[str, int]:
        return dict(self.layout)


def _setting(name: str) -> str | None:
    """An explicit weights file from settings (unchecked against the published hash)."""
    from django.conf import settings

    return getattr(settings, name, "") or None


def device_auto() -> str:
    """This worker's device as a string (``cuda:N`` or ``cpu``), from the engine's one rule."""
    from metrics.engine.device import resolve_device

    return str(resolve_device("auto"))


def _clip_name(params: dict) -> str:
    from metrics.engine.clip import DEFAULT_CLIP_MODEL

    return params.get("clip_model") or DEFAULT_CLIP_MODEL


def feature_key(kind: str, params: dict) -> FeatureKey:
    """The key of ``kind``'s features for ``params``, without loading the network."""
    if kind in PREFERENCE_KINDS:
        from metrics.services.preference import feature_key as preference_key

        return preference_key(kind, params)
    if kind == "inception":
        from metrics.engine.extractors import InceptionExtractor
        from metrics.engine.resize import preprocessing_id
        from metrics.engine.weights import FID_INCEPTION, file_sha256, weights_path

        path = weights_path(FID_INCEPTION, _setting("EVALSITE_INCEPTION_WEIGHTS"))
        return FeatureKey(
            kind,
            "fid-inception",
            preprocessing_id(params["resize"]),
            file_sha256(path),
            tuple(InceptionExtractor.outputs.items()),
        )
    if kind in ("clip", "clip-text"):
        from metrics.engine.clip import PREPROCESSING, resolve_clip_dir, weights_sha256

        name = _clip_name(params)
        directory = resolve_clip_dir(name)
        dim = int(json.loads((directory / "config.json").read_text())["projection_dim"])
        if kind == "clip":
            return FeatureKey(
                kind, f"clip-image:{name}", PREPROCESSING, weights_sha256(directory),
                (("embedding", dim),),
            )  # fmt: skip
        return FeatureKey(
            kind, f"clip-text:{name}", "clip-tokenizer-77", weights_sha256(directory),
            (("embedding", dim),),
        )  # fmt: skip
    raise ValueError(f"unknown feature kind {kind!r}")


def _cached(key: tuple, build):
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _MODELS[key] = build()
        return model


def inception_extractor(params: dict):
    """The FID Inception for ``params['resize']`` on this worker's device (loaded once)."""
    from metrics.engine.extractors import InceptionExtractor

    device = device_auto()
    return _cached(
        ("inception", params["resize"], device),
        lambda: InceptionExtractor(
            _setting("EVALSITE_INCEPTION_WEIGHTS"), resize=params["resize"], device=device
        ),
    )


def clip_extractor(params: dict):
    """The CLIP image extractor of ``params['clip_model']`` (loaded once)."""
    from metrics.engine.clip import ClipImageExtractor

    name = _clip_name(params)
    device = device_auto()
    return _cached(("clip", name, device), lambda: ClipImageExtractor(name, device=device))


def clip_texts(params: dict, texts: list[str]):
    """CLIP text embeddings ``[n, dim]`` of ``texts`` (float32)."""
    from metrics.engine.clip import clip_text_embeddings

    return clip_text_embeddings(clip_extractor(params).bundle, texts)


def extractor_for(kind: str, params: dict):
    """The image feature extractor of ``kind`` on this worker (loaded once)."""
    if kind == "inception":
        return inception_extractor(params)
    if kind == "clip":
        return clip_extractor(params)
    from metrics.services import preference

    return preference.extractor(kind, params)


def texts_for(kind: str, params: dict, texts: list[str]):
    """Text embeddings ``[n, dim]`` of ``texts`` for text feature ``kind`` (float32)."""
    if kind == "clip-text":
        return clip_texts(params, texts)
    from metrics.services import preference

    return preference.texts(kind, params, texts)


def lpips_model(net: str):
    """The LPIPS network ``net`` (alex or vgg), loaded once."""
    from metrics.engine.lpips import load_lpips

    device = device_auto()
    return _cached(
        ("lpips", net, device),
        lambda: load_lpips(
            net,
            lpips_weights=_setting("EVALSITE_LPIPS_WEIGHTS"),
            backbone_weights=_setting("EVALSITE_LPIPS_BACKBONE_WEIGHTS"),
            device=device,
        ),
    )


def forget_models() -> None:
    """Drop every loaded model, the engine's caches included, and give their memory back."""
    from metrics.engine import clip, hpsv2, imagereward, pickscore
    from metrics.engine.device import free_memory

    with _LOCK:
        _MODELS.clear()
    clip.clear_cache()
    for scorer in (pickscore, hpsv2, imagereward):
        scorer._CACHE.clear()
    # Without these the GPU memory stays with torch's caching allocator (and cycles keep models).
    free_memory()
