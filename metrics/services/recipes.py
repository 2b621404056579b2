"""Which inputs, features and engine function each metric of a run needs.

A recipe says what a metric reads:

- ``inputs``: ``set`` (one set), ``set+reference`` (a set against a reference set)
  or ``pairs`` (each image of the set against its source image);
- ``extractor``: the image features it needs from the cache (``inception`` or
  ``clip``), or None for pixel metrics computed pair by pair;
- ``texts``: the text embeddings it needs (``prompts`` or ``captions``);

and how to turn cached features into a :class:`MetricResult` (``aggregate``) or one
pair of images into a number (``pair_value``). The engine does the maths; this
module only wires catalog rows to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metrics.engine.metadata import MetricInfo, metric_info
from metrics.engine.result import MetricResult
from metrics.services.preference import HPS_DEFAULTS, IMAGEREWARD_DEFAULTS, PICKSCORE_DEFAULTS


@dataclass
class RunInputs:
    """What an aggregation receives: features in catalog order plus names."""

    params: dict[str, Any]
    names: list[str]  # file names of the set's images, in order
    features: dict[str, np.ndarray]  # output name -> [n, d] for the set
    prompt_ids: list[int | None] = field(default_factory=list)  # each image's prompt, in order
    reference_features: dict[str, np.ndarray] = field(default_factory=dict)
    reference_names: list[str] = field(default_factory=list)
    texts: dict[str, np.ndarray] = field(default_factory=dict)  # "prompt" / "caption" / ...
    source_features: dict[str, np.ndarray] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """How to compute a metric; its label, unit and direction are its declared metadata."""

    name: str
    inputs: str  # "set" | "set+reference" | "pairs"
    extractor: str | None = None  # "inception" | "clip" | None
    texts: str | None = None  # "prompts" | "captions" | None
    defaults: dict[str, Any] = field(default_factory=dict)
    aggregate: Callable[[RunInputs], MetricResult] | None = None
    # Pair metrics: a value per (edited, source) uint8 image pair, then a mean result.
    pair_value: Callable[[np.ndarray, np.ndarray, dict], float] | None = None
    # Pair metrics on a network (LPIPS): many pairs per forward pass; see recipe_pair_values.
    pair_batch: Callable[[list[tuple[np.ndarray, np.ndarray]], dict], list[float]] | None = None
    pair_result: Callable[[dict[str, float], dict], MetricResult] | None = None
    queue: str = "gpu"  # where its chunks run
    text_extractor: str = "clip-text"  # the feature kind of its texts ("": none cached)

    @property
    def info(self) -> MetricInfo:
        """Name, label, unit and direction, from :mod:`metrics.engine.metadata`."""
        return metric_info(self.name)

    @property
    def label(self) -> str:
        return self.info.label

    @property
    def higher_is_better(self) -> bool:
        return self.info.higher_is_better

    @property
    def needs_reference(self) -> bool:
        return self.inputs == "set+reference"

    @property
    def pairs_by_name(self) -> bool:
        """A pixel pair metric can also pair the set with another set by file name."""
        return self.inputs == "pairs" and self.extractor is None

    @property
    def takes_reference(self) -> bool:
        """The run keeps a second set: its reference, or the set to pair with by file name."""
        return self.needs_reference or self.pairs_by_name


# --- aggregations (engine calls) ------------------------------------------------------------


def _fid(x: RunInputs) -> MetricResult:
    from metrics.engine.fid import fid_from_features

    return fid_from_features(
        x.features["pool3"],
        x.reference_features["pool3"],
        force=bool(x.params.get("force")),
        params=x.provenance,
    )


def _kid(x: RunInputs) -> MetricResult:
    from metrics.engine.kid import kid_from_features

    return kid_from_features(
        x.features["pool3"],
        x.reference_features["pool3"],
        subsets=int(x.params["subsets"]),
        subset_size=int(x.params["subset_size"]),
        seed=int(x.params["seed"]),
        params=x.provenance,
    )


def _is(x: RunInputs) -> MetricResult:
    from metrics.engine.inception_score import inception_score_from_logits

    return inception_score_from_logits(
        x.features["logits_unbiased"],
        splits=int(x.params["splits"]),
        seed=int(x.params["seed"]),
        params=x.provenance,
    )


def _class_kl(x: RunInputs) -> MetricResult:
    from metrics.engine.class_kl import class_kl_from_logits

    return class_kl_from_logits(
        x.features["logits_unbiased"], x.reference_features["logits_unbiased"], params=x.provenance
    )


def _prdc(metric: str) -> Callable[[RunInputs], MetricResult]:
    def aggregate(x: RunInputs) -> MetricResult:
        from metrics.engine.prdc import prdc_from_features

        results = prdc_from_features(
            x.features["pool3"],
            x.reference_features["pool3"],
            k=int(x.params["k"]),
            embedding="inception",
            provenance=x.provenance,
        )
        main = results[metric]
        main.extra = {
            **main.extra,
            "all": {name: r.value for name, r in results.items()},
        }
        return main

    return aggregate


def _cmmd(x: RunInputs) -> MetricResult:
    from metrics.engine.cmmd import cmmd_from_embeddings

    return cmmd_from_embeddings(
        x.features["embedding"], x.reference_features["embedding"], provenance=x.provenance
    )


def _vendi(x: RunInputs) -> MetricResult:
    """Vendi of the whole set, plus Vendi per prompt (the diversity a grid of one prompt shows)."""
    from metrics.engine.vendi import vendi_from_embeddings, vendi_score

    embeddings = x.features["embedding"]
    result = vendi_from_embeddings(embeddings, embedding="clip", provenance=x.provenance)
    groups: dict[int, list[int]] = {}
    for i, prompt_id in enumerate(x.prompt_ids):
        if prompt_id is not None:
            groups.setdefault(prompt_id, []).append(i)
    per_prompt = {
        str(prompt_id): vendi_score(embeddings[rows])
        for prompt_id, rows in sorted(groups.items())
        if len(rows) >= 2  # one image has no diversity to measure
    }
    if per_prompt:
        result.extra = {**result.extra, "per_prompt": per_prompt}
    return result


def _novelty(x: RunInputs) -> MetricResult:
    from metrics.engine.novelty import novelty_from_embeddings

    return novelty_from_embeddings(
        x.features["embedding"],
        x.reference_features["embedding"],
        threshold=float(x.params["threshold"]),
        generated_names=x.names,
        reference_names=x.reference_names,
        embedding="clip",
        seed=int(x.params["seed"]),
        provenance=x.provenance,
    )


def _clip_score(x: RunInputs) -> MetricResult:
    from metrics.engine.clip_score import clip_score_from_embeddings

    return clip_score_from_embeddings(
        x.features["embedding"],
        x.texts["prompt"],
        names=x.names,
        seed=int(x.params["seed"]),
        provenance=x.provenance,
    )


def _clip_direction(x: RunInputs) -> MetricResult:
    from metrics.engine.clip_score import directional_similarity_from_embeddings

    return directional_similarity_from_embeddings(
        x.source_features["embedding"],
        x.features["embedding"],
        x.texts["source_caption"],
        x.texts["caption"],
        names=x.names,
        seed=int(x.params["seed"]),
        provenance=x.provenance,
    )


# --- pair metrics ------------------------------------------------------------------------------


def _ssim_value(a: np.ndarray, b: np.ndarray, params: dict) -> float:
    from metrics.engine.ssim import ssim

    return ssim(a, b)


def _ms_ssim_value(a: np.ndarray, b: np.ndarray, params: dict) -> float:
    from metrics.engine.ssim import ms_ssim

    return ms_ssim(a, b)


def _mse_value(a: np.ndarray, b: np.ndarray, params: dict) -> float:
    from metrics.engine.psnr import mse

    return mse(a, b)


def _lpips_value(a: np.ndarray, b: np.ndarray, params: dict) -> float:
    from metrics.engine.lpips import lpips_distance
    from metrics.services.extractors import lpips_model

    return lpips_distance(lpips_model(params["net"]), a, b)


def _lpips_batch(pairs: list[tuple[np.ndarray, np.ndarray]], params: dict) -> list[float]:
    from django.conf import settings

    from metrics.engine.lpips import lpips_distances
    from metrics.services.extractors import lpips_model

    model = lpips_model(params["net"])
    return lpips_distances(model, pairs, batch_size=settings.EVALSITE_BATCH_SIZE).tolist()


def recipe_pair_values(
    recipe: Recipe, pairs: list[tuple[np.ndarray, np.ndarray]], params: dict
) -> list[float]:
    """One value per ``(image, source)`` uint8 pair, in order: batched when the metric has a network."""
    if recipe.pair_batch is not None:
        return [float(v) for v in recipe.pair_batch(pairs, params)]
    if recipe.pair_value is None:
        raise ValueError(f"{recipe.name} is not a pair metric")
    return [float(recipe.pair_value(a, b, params)) for a, b in pairs]


def _mean_result(metric: str):
    def result(per_item: dict[str, float], params: dict) -> MetricResult:
        from metrics.engine.pairs import mean_result

        return mean_result(
            metric,
            per_item,
            seed=int(params.get("seed", 0)),
            params=params,
        )

    return result


def _psnr_result(per_item_mse: dict[str, float], params: dict) -> MetricResult:
    from metrics.engine.psnr import psnr_mse_results

    psnr, _ = psnr_mse_results(per_item_mse, seed=int(params.get("seed", 0)), params=params)
    return psnr


def _preference(name: str) -> Callable[[RunInputs], MetricResult]:
    def aggregate(x: RunInputs) -> MetricResult:
        from metrics.services import preference

        return getattr(preference, name)(x)

    return aggregate


INCEPTION_DEFAULTS = {"resize": "legacy-tf"}
CLIP_DEFAULTS = {"clip_model": None}  # None: the engine's default checkpoint

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe("fid", "set+reference", "inception",
               defaults={**INCEPTION_DEFAULTS, "force": False}, aggregate=_fid),
        Recipe("kid", "set+reference", "inception",
               defaults={**INCEPTION_DEFAULTS, "subsets": 100, "subset_size": 1000, "seed": 2020},
               aggregate=_kid),
        Recipe("is", "set", "inception",
               defaults={**INCEPTION_DEFAULTS, "splits": 10, "seed": 2020}, aggregate=_is),
        Recipe("class_kl", "set+reference", "inception",
               defaults=INCEPTION_DEFAULTS, aggregate=_class_kl),
        Recipe("precision", "set+reference", "inception",
               defaults={**INCEPTION_DEFAULTS, "k": 5}, aggregate=_prdc("precision")),
        Recipe("recall", "set+reference", "inception",
               defaults={**INCEPTION_DEFAULTS, "k": 5}, aggregate=_prdc("recall")),
        Recipe("density", "set+reference", "inception",
               defaults={**INCEPTION_DEFAULTS, "k": 5}, aggregate=_prdc("density")),
        Recipe("coverage", "set+reference", "inception",
               defaults={**INCEPTION_DEFAULTS, "k": 5}, aggregate=_prdc("coverage")),
        Recipe("clip_score", "set", "clip", texts="prompts",
               defaults={**CLIP_DEFAULTS, "seed": 0}, aggregate=_clip_score),
        Recipe("clip_direction", "pairs", "clip",
               texts="captions", defaults={**CLIP_DEFAULTS, "seed": 0}, aggregate=_clip_direction),
        Recipe("cmmd", "set+reference", "clip",
               defaults=CLIP_DEFAULTS, aggregate=_cmmd),
        Recipe("vendi", "set", "clip", defaults=CLIP_DEFAULTS, aggregate=_vendi),
        Recipe("novelty", "set+reference", "clip",
               defaults={**CLIP_DEFAULTS, "threshold": 0.9, "seed": 0}, aggregate=_novelty),
        # Human-preference scorers (metrics/services/preference.py); aesthetic reuses CLIP's cache.
        Recipe("aesthetic", "set", "clip",
               defaults={**CLIP_DEFAULTS, "seed": 0}, aggregate=_preference("aesthetic")),
        Recipe("pickscore", "set", "pickscore", texts="prompts",
               text_extractor="pickscore-text", defaults={**PICKSCORE_DEFAULTS, "seed": 0},
               aggregate=_preference("pickscore")),
        Recipe("hpsv2", "set", "hpsv2", texts="prompts", text_extractor="hpsv2-text",
               defaults={**HPS_DEFAULTS, "seed": 0}, aggregate=_preference("hpsv2")),
        # Its features are (image, prompt) rewards: no separate text features.
        Recipe("imagereward", "set", "imagereward", texts="prompts",
               text_extractor="", defaults={**IMAGEREWARD_DEFAULTS, "seed": 0},
               aggregate=_preference("imagereward")),
        Recipe("ssim", "pairs", None, defaults={"seed": 0}, pair_value=_ssim_value,
               pair_result=_mean_result("ssim"), queue="cpu"),
        Recipe("ms_ssim", "pairs", None, defaults={"seed": 0},
               pair_value=_ms_ssim_value, pair_result=_mean_result("ms_ssim"), queue="cpu"),
        Recipe("psnr", "pairs", None, defaults={"seed": 0}, pair_value=_mse_value,
               pair_result=_psnr_result, queue="cpu"),
        Recipe("lpips", "pairs", None,
               defaults={"net": "alex", "seed": 0}, pair_value=_lpips_value,
               pair_batch=_lpips_batch, pair_result=_mean_result("lpips")),
    ]
}  # fmt: skip


def recipe_get(name: str) -> Recipe:
    """The recipe of ``name``, or a ValueError naming the metrics there are."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(RECIPES)}") from None


def recipe_params(recipe: Recipe, given: dict[str, Any] | None) -> dict[str, Any]:
    """The recipe's defaults updated with ``given``; unknown keys are an error."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(recipe.defaults))
    if unknown:
        known = ", ".join(sorted(recipe.defaults)) or "none"
        raise ValueError(f"{recipe.name} has no parameter {', '.join(unknown)} (it takes: {known})")
    return {**recipe.defaults, **given}
