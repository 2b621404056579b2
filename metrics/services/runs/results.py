"""Aggregation: cached features (or pair values) -> the engine -> the run's stored result."""

from __future__ import annotations

import numpy as np
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from metrics.models import Image, MetricRun, MetricRunItem
from metrics.services.extractors import feature_key
from metrics.services.preference import PROMPTED_KINDS, prompted_features
from metrics.services.recipes import Recipe, RunInputs, recipe_get
from metrics.services.runs.cache import features_of, text_sha256

Status = MetricRun.Status


def metric_run_aggregate(*, run_id: int) -> MetricRun | None:
    """Compute the run's result from cached features (or pair values) and mark it DONE."""
    run = (
        MetricRun.objects.select_related("image_set", "reference_set")
        .filter(pk=run_id, status=Status.RUNNING)
        .first()
    )
    if run is None:
        return None
    recipe = recipe_get(run.metric)
    images = list(run.image_set.images.select_related("prompt", "source").order_by("filename"))
    names = [img.filename for img in images]
    if recipe.extractor is None:
        result = _pair_aggregate(run, recipe, images)
        key_prov = {}
    else:
        key = feature_key(recipe.extractor, run.params)
        key_prov = {
            "extractor": key.extractor_id,
            "preprocessing": key.preprocessing,
            "weights_sha256": key.weights_sha256,
        }
        inputs = RunInputs(
            params=run.params,
            names=names,
            prompt_ids=[img.prompt_id for img in images],
            features=(
                prompted_features(key, images)
                if recipe.extractor in PROMPTED_KINDS
                else features_of(key, [img.sha256 for img in images], "set")
            ),
            # Only what the engine does not record itself (it adds its own parameters).
            provenance={
                **key_prov,
                **{k: run.params[k] for k in ("resize", "clip_model") if run.params.get(k)},
            },
        )
        if recipe.needs_reference:
            refs = list(run.reference_set.images.order_by("filename"))
            inputs.reference_names = [img.filename for img in refs]
            inputs.reference_features = features_of(
                key, [img.sha256 for img in refs], "reference set"
            )
        if recipe.inputs == "pairs":
            inputs.source_features = features_of(
                key, [img.source.sha256 for img in images], "source images"
            )
        if recipe.texts and recipe.text_extractor:
            tkey = feature_key(recipe.text_extractor, run.params)
            fields = ("prompt",) if recipe.texts == "prompts" else ("caption", "source_caption")
            for field_name in fields:
                texts = [
                    img.prompt.text if field_name == "prompt" else getattr(img, field_name)
                    for img in images
                ]
                inputs.texts[field_name] = features_of(
                    tkey, [text_sha256(t) for t in texts], f"{field_name}s"
                )["embedding"]
        result = recipe.aggregate(inputs)
    _store_result(run, result, images, key_prov)
    return MetricRun.objects.get(pk=run_id)


def _pair_aggregate(run: MetricRun, recipe: Recipe, images: list[Image]):
    values = dict(MetricRunItem.objects.filter(run=run).values_list("image__filename", "value"))
    per_item = {img.filename: values[img.filename] for img in images}
    return recipe.pair_result(per_item, dict(run.params))


def _finite_or_none(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _store_result(run: MetricRun, result, images: list[Image], key_prov: dict) -> None:
    data = result.to_dict()
    by_name = {img.filename: img for img in images}
    with transaction.atomic():
        updated = MetricRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
            status=Status.DONE,
            value=_finite_or_none(result.value),
            std=_finite_or_none(result.std),
            interval_low=_finite_or_none(result.interval[0]) if result.interval else None,
            interval_high=_finite_or_none(result.interval[1]) if result.interval else None,
            result=data,
            provenance={**data.get("provenance", {}), **key_prov},
            progress_done=F("progress_total"),
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            error="",
        )
        if updated and result.per_item:
            _store_per_item(run, result.per_item, by_name)


def _store_per_item(run: MetricRun, per_item: dict, by_name: dict[str, Image]) -> None:
    """Per-image values of the result; pair metrics keep their raw pair value in ``raw``."""
    existing = {item.image_id: item for item in run.items.all()}
    new, changed = [], []
    for name, value in per_item.items():
        image = by_name.get(name)
        if image is None:
            continue
        item = existing.get(image.pk)
        if item is None:
            new.append(MetricRunItem(run=run, image=image, value=_finite_or_none(value)))
        else:
            item.value = _finite_or_none(value)
            changed.append(item)
    MetricRunItem.objects.bulk_create(new, ignore_conflicts=True)
    MetricRunItem.objects.bulk_update(changed, ["value"], batch_size=500)
