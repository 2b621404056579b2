"""Worker side of the human-preference scorers: feature keys, loaded models, aggregations.

- ``aesthetic`` reads the ``clip`` image embeddings (the same cache rows as CLIP score
  with the same checkpoint) and applies the predictor head at aggregation time, on the
  ``cpu`` queue: no second pass over the images.
- ``imagereward`` scores an image *with* its prompt (cross-attention): its cached "feature"
  is the reward itself, keyed by the sha256 of (image sha256, prompt), so a second run over
  the same images and prompts computes nothing; chunks run on the ``gpu`` queue.
- ``pickscore`` and ``hpsv2`` have their own image features (``pickscore`` / ``hpsv2``,
  computed on the ``gpu`` queue) and prompt features (``pickscore-text`` / ``hpsv2-text``);
  the aggregation is ``scale x cos`` (PickScore's ``logit_scale.exp()``, read from the
  checkpoint; 1 for HPS v2.1).

Explicit weights files come from settings (``EVALSITE_AESTHETIC_WEIGHTS``,
``EVALSITE_HPS_WEIGHTS``), as the FID Inception's; otherwise the weights manager finds them.
"""

from __future__ import annotations

import functools
from typing import Any

PROMPTED_KINDS = ("imagereward",)  # features of (image, prompt) pairs
PICKSCORE_DEFAULTS = {"pickscore_model": None, "pickscore_processor": None}
HPS_DEFAULTS = {"hps_tokenizer": None}
IMAGEREWARD_DEFAULTS = {"imagereward_tokenizer": None}


def _setting(name: str) -> str | None:
    from django.conf import settings

    return getattr(settings, name, "") or None


def _pickscore_names(params: dict) -> tuple[str, str]:
    from metrics.engine.pickscore import PICKSCORE_MODEL, PICKSCORE_PROCESSOR

    return (
        params.get("pickscore_model") or PICKSCORE_MODEL,
        params.get("pickscore_processor") or PICKSCORE_PROCESSOR,
    )


def _hps_tokenizer(params: dict) -> str:
    from metrics.engine.hpsv2 import TOKENIZER

    return params.get("hps_tokenizer") or TOKENIZER


@functools.lru_cache(maxsize=8)
def _hps_dim(path: str, sha256: str) -> int:
    import torch

    # mmap: the shape of one tensor without reading 2 GB (the sha256 keys the cache); files
    # in torch's legacy (non-zip) format cannot be mapped and are read whole.
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint.get("state_dict", checkpoint)
    key = next(k for k in state if k.removeprefix("module.") == "text_projection")
    return int(state[key].shape[1])


def feature_key(kind: str, params: dict):
    """The cache key of a preference scorer's image or prompt features (no model loaded)."""
    import json

    from metrics.services.extractors import FeatureKey

    if kind.startswith("pickscore"):
        from metrics.engine.clip import resolve_clip_dir, weights_sha256
        from metrics.engine.pickscore import PREPROCESSING

        model, processor = _pickscore_names(params)
        directory = resolve_clip_dir(model)
        dim = int(json.loads((directory / "config.json").read_text())["projection_dim"])
        layout = (("embedding", dim),)
        if kind == "pickscore":
            return FeatureKey(
                kind, f"pickscore-image:{model}", f"{PREPROCESSING}:{processor}",
                weights_sha256(directory), layout,
            )  # fmt: skip
        return FeatureKey(
            kind, f"pickscore-text:{model}", f"clip-tokenizer-77:{processor}",
            weights_sha256(directory), layout,
        )  # fmt: skip
    if kind.startswith("hpsv2"):
        from metrics.engine.hpsv2 import HPS_V21, PREPROCESSING
        from metrics.engine.weights import file_sha256, weights_path

        path = weights_path(HPS_V21, _setting("EVALSITE_HPS_WEIGHTS"))
        sha = file_sha256(path)
        layout = (("embedding", _hps_dim(str(path), sha)),)
        if kind == "hpsv2":
            return FeatureKey(kind, "hpsv2-image", PREPROCESSING, sha, layout)
        return FeatureKey(
            kind, "hpsv2-text", f"clip-tokenizer-77:{_hps_tokenizer(params)}", sha, layout
        )
    if kind == "imagereward":
        from metrics.engine.imagereward import IMAGEREWARD, MAX_TOKENS, PREPROCESSING
        from metrics.engine.weights import file_sha256, weights_path

        path = weights_path(IMAGEREWARD, _setting("EVALSITE_IMAGEREWARD_WEIGHTS"))
        return FeatureKey(
            kind, "imagereward-v1.0", f"{PREPROCESSING}+bert-{MAX_TOKENS}:{_ir_tokenizer(params)}",
            file_sha256(path), (("reward", 1),),
        )  # fmt: skip
    raise ValueError(f"unknown feature kind {kind!r}")


def _ir_tokenizer(params: dict) -> str:
    from metrics.engine.imagereward import TOKENIZER

    return params.get("imagereward_tokenizer") or TOKENIZER


# --- (image, prompt) features: ImageReward --------------------------------------------------


def prompted_sha(image_sha256: str, prompt: str) -> str:
    """The cache key of one image scored with one prompt."""
    import hashlib

    return hashlib.sha256(f"{image_sha256}\n{prompt}".encode()).hexdigest()


def prompted_missing(run, key) -> tuple[list[int], int, int]:
    """(ids of the set's images whose (image, prompt) feature is missing, total, present)."""
    from metrics.services.runs.cache import present_shas

    by_key: dict[str, int] = {}
    for img in run.image_set.images.select_related("prompt").order_by("filename"):
        by_key.setdefault(prompted_sha(img.sha256, img.prompt.text), img.pk)
    present = present_shas(key, list(by_key))
    missing = [pk for sha, pk in by_key.items() if sha not in present]
    return missing, len(by_key), len(present)


def prompted_compute(run, key, ids: list[int], batch_size: int) -> int:
    """Score the images ``ids`` with their prompts and upsert the rewards; returns rows written."""
    import numpy as np

    from metrics.engine.images import decode_rgb
    from metrics.models import Feature, Image
    from metrics.services.runs.cache import feature_row, present_shas
    from metrics.storage import blob_local

    images = list(Image.objects.filter(pk__in=ids).select_related("prompt").order_by("pk"))
    keys = {prompted_sha(img.sha256, img.prompt.text): img for img in images}
    present = present_shas(key, list(keys))
    todo = [(sha, img) for sha, img in keys.items() if sha not in present]
    if not todo:
        return 0
    scorer = imagereward_scorer(run.params)
    if scorer.weights_sha256 != key.weights_sha256:
        raise RuntimeError(f"extractor key mismatch: planned {key}, loaded {scorer.weights_sha256}")
    rows = []
    for start in range(0, len(todo), batch_size):
        part = todo[start : start + batch_size]
        rewards = scorer.score_images(
            [decode_rgb(blob_local(img.blob)) for _, img in part],
            [img.prompt.text for _, img in part],
        )
        rows += [
            feature_row(key, sha, np.asarray([r], dtype="<f4"))
            for (sha, _), r in zip(part, rewards, strict=True)
        ]
    Feature.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def prompted_features(key, images) -> dict:
    """The cached (image, prompt) features of ``images`` (with their prompts), in order."""
    from metrics.services.runs.cache import features_of

    return features_of(key, [prompted_sha(img.sha256, img.prompt.text) for img in images], "set")


def imagereward_scorer(params: dict):
    """ImageReward on this worker's device (loaded once)."""
    from metrics.engine.imagereward import load_imagereward
    from metrics.services.extractors import _cached, device_auto

    device, tokenizer = device_auto(), _ir_tokenizer(params)
    weights = _setting("EVALSITE_IMAGEREWARD_WEIGHTS")
    return _cached(
        ("imagereward", weights, tokenizer, device),
        lambda: load_imagereward(weights, tokenizer=tokenizer, device=device),
    )


def bundle(kind: str, params: dict):
    """The loaded scorer (a ClipBundle) behind ``kind``, on this worker's device."""
    from metrics.services.extractors import _cached, device_auto

    device = device_auto()
    if kind.startswith("pickscore"):
        from metrics.engine.pickscore import load_pickscore

        model, processor = _pickscore_names(params)
        return _cached(
            ("pickscore", model, processor, device),
            lambda: load_pickscore(model, processor, device=device),
        )
    from metrics.engine.hpsv2 import load_hpsv2

    tokenizer = _hps_tokenizer(params)
    weights = _setting("EVALSITE_HPS_WEIGHTS")
    return _cached(
        ("hpsv2", weights, tokenizer, device),
        lambda: load_hpsv2(weights, tokenizer=tokenizer, device=device),
    )


def extractor(kind: str, params: dict):
    """The image :class:`FeatureExtractor` of ``kind`` (``pickscore`` or ``hpsv2``)."""
    from metrics.engine.clip import ClipImageExtractor

    key = feature_key(kind, params)
    ext = ClipImageExtractor(bundle=bundle(kind, params))
    # Same embeddings code as CLIP's, under this scorer's own cache key.
    ext.extractor_id, ext.preprocessing = key.extractor_id, key.preprocessing
    return ext


def texts(kind: str, params: dict, prompts: list[str]):
    """Raw prompt embeddings ``[n, dim]`` of the scorer behind ``kind`` (float32)."""
    from metrics.engine.preference import prompt_embeddings

    return prompt_embeddings(bundle(kind, params), prompts)[0]


# --- aggregations --------------------------------------------------------------------------


def aesthetic(x) -> Any:
    """The aesthetic head over the run's cached CLIP image embeddings."""
    from metrics.engine.aesthetic import aesthetic_from_embeddings, load_aesthetic_head

    head = load_aesthetic_head(_setting("EVALSITE_AESTHETIC_WEIGHTS"))
    return aesthetic_from_embeddings(
        x.features["embedding"],
        head,
        names=x.names,
        seed=int(x.params["seed"]),
        provenance=x.provenance,
    )


def pickscore(x) -> Any:
    """``logit_scale.exp() x cos`` over the cached PickScore image and prompt embeddings."""
    from metrics.engine.clip import resolve_clip_dir
    from metrics.engine.pickscore import checkpoint_logit_scale
    from metrics.engine.preference import per_image_result, scaled_cosines

    model, processor = _pickscore_names(x.params)
    scale = checkpoint_logit_scale(resolve_clip_dir(model))
    return per_image_result(
        "pickscore",
        scaled_cosines(x.features["embedding"], x.texts["prompt"], scale),
        names=x.names,
        seed=int(x.params["seed"]),
        provenance={
            "reference": "PickScore model card: logit_scale.exp() * cos(image, prompt)",
            "pickscore_model": model,
            "pickscore_processor": processor,
            "scale": scale,
            **x.provenance,
        },
    )


def hpsv2(x) -> Any:
    """The cosine of the cached HPS v2.1 image and prompt embeddings."""
    from metrics.engine.hpsv2 import HPS_V21
    from metrics.engine.preference import per_image_result, scaled_cosines

    return per_image_result(
        "hpsv2",
        scaled_cosines(x.features["embedding"], x.texts["prompt"], 1.0),
        names=x.names,
        seed=int(x.params["seed"]),
        provenance={
            "reference": "tgxs002/HPSv2 img_score: cos(image, prompt)",
            "hps_weights_file": HPS_V21.name,
            "tokenizer": _hps_tokenizer(x.params),
            "scale": 1.0,
            **x.provenance,
        },
    )


def imagereward(x) -> Any:
    """The cached normalised rewards of the run's (image, prompt) pairs."""
    from metrics.engine.imagereward import IMAGEREWARD, REWARD_MEAN, REWARD_STD
    from metrics.engine.preference import per_image_result

    return per_image_result(
        "imagereward",
        x.features["reward"][:, 0],
        names=x.names,
        seed=int(x.params["seed"]),
        provenance={
            "reference": "THUDM/ImageReward ImageReward.score, rebuilt from transformers' BLIP",
            "imagereward_weights_file": IMAGEREWARD.name,
            "tokenizer": _ir_tokenizer(x.params),
            "normalisation": {"mean": REWARD_MEAN, "std": REWARD_STD},
            **x.provenance,
        },
    )
