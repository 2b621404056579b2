"""The workers' side of a run: plan what is missing, compute chunks, spot completion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from metrics.models import Feature, Image, MetricRun, MetricRunItem, RunStep
from metrics.services.extractors import feature_key
from metrics.services.preference import PROMPTED_KINDS, prompted_compute, prompted_missing
from metrics.services.recipes import Recipe, recipe_get, recipe_pair_values
from metrics.services.runs.cache import feature_row, present_shas, text_sha256
from metrics.services.runs.lifecycle import RunRefused
from metrics.services.runs.queue import step_add_aggregate, step_add_once, steps_add_for_chunks
from metrics.storage import blob_local

Status = MetricRun.Status


@dataclass
class Chunk:
    kind: str  # "inception" | "clip" | "clip-text" | "pairs"
    keys: list  # image ids, or texts for clip-text


def metric_run_plan(*, run_id: int) -> list[Chunk]:
    """Mark the run RUNNING and record a step per missing chunk (or the aggregation step)."""
    now = timezone.now()
    with transaction.atomic():
        updated = MetricRun.objects.filter(pk=run_id, status__in=MetricRun.ACTIVE).update(
            status=Status.RUNNING, heartbeat_at=now
        )
        if not updated:
            return []
        if RunStep.objects.filter(run_id=run_id).exclude(kind=RunStep.Kind.PLAN).exists():
            return []  # planned already by a process that died before marking its plan done
        MetricRun.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=now)
        run = MetricRun.objects.select_related("image_set", "reference_set").get(pk=run_id)
        recipe = recipe_get(run.metric)
        chunks, total, done = _missing_chunks(run, recipe)
        MetricRun.objects.filter(pk=run_id).update(progress_total=total, progress_done=done)
        if chunks:
            steps_add_for_chunks(run_id, chunks, queue=recipe.queue)
        else:
            step_add_aggregate(run_id)
    return chunks


def _needed_images(run: MetricRun, recipe: Recipe) -> list[Image]:
    images = list(run.image_set.images.select_related("prompt", "source").order_by("filename"))
    if recipe.needs_reference:
        images += list(run.reference_set.images.order_by("filename"))
    if recipe.inputs == "pairs" and recipe.extractor:
        images += [img.source for img in images if img.source is not None]
    return images


def _texts(run: MetricRun, recipe: Recipe) -> list[str]:
    images = run.image_set.images.select_related("prompt")
    if recipe.texts == "prompts":
        return sorted({img.prompt.text for img in images})
    if recipe.texts == "captions":
        return sorted({t for img in images for t in (img.caption, img.source_caption)})
    return []


def _chunk_size() -> int:
    return max(1, settings.EVALSITE_FEATURE_CHUNK_SIZE)


def _split(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _missing_chunks(run: MetricRun, recipe: Recipe) -> tuple[list[Chunk], int, int]:
    """(chunks to compute, total units, units already there)."""
    size = _chunk_size()
    if recipe.extractor is None:  # pair metrics: one value per image of the set
        ids = list(run.image_set.images.order_by("filename").values_list("pk", flat=True))
        done = set(MetricRunItem.objects.filter(run=run).values_list("image_id", flat=True))
        missing = [pk for pk in ids if pk not in done]
        return [Chunk("pairs", c) for c in _split(missing, size)], len(ids), len(ids) - len(missing)

    key = feature_key(recipe.extractor, run.params)
    if recipe.extractor in PROMPTED_KINDS:  # features of (image, prompt) pairs
        ids, total, done = prompted_missing(run, key)
        return [Chunk(recipe.extractor, c) for c in _split(ids, size)], total, done
    by_sha: dict[str, int] = {}
    for img in _needed_images(run, recipe):
        by_sha.setdefault(img.sha256, img.pk)
    present = present_shas(key, list(by_sha))
    missing_ids = [pk for sha, pk in by_sha.items() if sha not in present]
    chunks = [Chunk(recipe.extractor, c) for c in _split(missing_ids, size)]
    total, done = len(by_sha), len(present)
    texts = _texts(run, recipe)
    if texts:
        tkey = feature_key(recipe.text_extractor, run.params)
        tpresent = present_shas(tkey, [text_sha256(t) for t in texts])
        tmissing = [t for t in texts if text_sha256(t) not in tpresent]
        chunks += [Chunk(recipe.text_extractor, c) for c in _split(tmissing, 256)]
        total += len(texts)
        done += len(texts) - len(tmissing)
    return chunks, total, done


def metric_run_compute_chunk(
    *, run_id: int, kind: str, keys: list, batch_size: int | None = None
) -> int:
    """Compute one chunk (features or pair values); returns how many rows it wrote."""
    run = MetricRun.objects.filter(pk=run_id, status=Status.RUNNING).first()
    if run is None:  # cancelled, failed, done, or deleted: nothing to do
        return 0
    batch_size = batch_size or settings.EVALSITE_BATCH_SIZE
    if kind == "pairs":
        written = _compute_pairs(run, keys)
    elif kind.endswith("-text"):
        written = _compute_texts(run, kind, keys)
    else:
        written = _compute_features(run, kind, keys, batch_size)
    MetricRun.objects.filter(pk=run_id).update(
        progress_done=F("progress_done") + written,
        features_computed=F("features_computed") + (0 if kind == "pairs" else written),
        heartbeat_at=timezone.now(),
    )
    return written


def _compute_features(run: MetricRun, kind: str, ids: list[int], batch_size: int) -> int:
    from metrics.services.extractors import extractor_for

    key = feature_key(kind, run.params)
    if kind in PROMPTED_KINDS:
        return prompted_compute(run, key, ids, batch_size)
    images = list(Image.objects.filter(pk__in=ids).order_by("pk"))
    present = present_shas(key, [img.sha256 for img in images])
    todo = {img.sha256: img for img in images if img.sha256 not in present}
    if not todo:
        return 0
    extractor = extractor_for(kind, run.params)
    actual = (extractor.extractor_id, extractor.preprocessing, extractor.weights_sha256)
    if actual != (key.extractor_id, key.preprocessing, key.weights_sha256):
        raise RuntimeError(f"extractor key mismatch: planned {key}, loaded {actual}")
    todo_images = list(todo.values())
    # Local files either way: the store itself, or the bucket's read-through cache (a
    # second metric over the same images downloads nothing).
    paths = [blob_local(img.blob) for img in todo_images]
    try:
        arrays = extractor.extract_paths(
            paths, batch_size=batch_size, workers=settings.EVALSITE_DECODE_WORKERS
        )
    except Exception as exc:
        raise _with_filenames(exc, todo_images, paths) from None
    rows = []
    for i, img in enumerate(todo_images):
        vector = np.concatenate([arrays[name][i] for name, _ in key.layout]).astype("<f4")
        rows.append(feature_row(key, img.sha256, vector))
    Feature.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _compute_texts(run: MetricRun, kind: str, texts: list[str]) -> int:
    from metrics.services.extractors import texts_for

    key = feature_key(kind, run.params)
    present = present_shas(key, [text_sha256(t) for t in texts])
    todo = [t for t in texts if text_sha256(t) not in present]
    if not todo:
        return 0
    emb = texts_for(kind, run.params, todo)
    rows = [feature_row(key, text_sha256(t), emb[i].astype("<f4")) for i, t in enumerate(todo)]
    Feature.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _compute_pairs(run: MetricRun, ids: list[int]) -> int:
    """Pair values of the chunk, a batch of pairs at a time (LPIPS: one forward pass each)."""
    recipe = recipe_get(run.metric)
    done = set(
        MetricRunItem.objects.filter(run=run, image_id__in=ids).values_list("image_id", flat=True)
    )
    images = list(
        Image.objects.filter(pk__in=ids).exclude(pk__in=done).select_related("source")
        .order_by("filename")
    )  # fmt: skip
    partners = _pair_partners(run, images)
    rows = []
    size = max(1, settings.EVALSITE_BATCH_SIZE)
    for start in range(0, len(images), size):
        batch = images[start : start + size]
        pairs = [_decoded_pair(img, partners[img.pk]) for img in batch]
        values = recipe_pair_values(recipe, pairs, run.params)
        rows += [
            MetricRunItem(run=run, image=img, value=value, raw={"pair_value": value})
            for img, value in zip(batch, values, strict=True)
        ]
    MetricRunItem.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _pair_partners(run: MetricRun, images: list[Image]) -> dict[int, Image]:
    """Each image's partner: the same-named image of the run's second set, or its source."""
    if run.reference_set_id is None:
        return {img.pk: img.source for img in images}
    by_name = {
        img.filename: img
        for img in Image.objects.filter(
            image_set_id=run.reference_set_id, filename__in=[i.filename for i in images]
        )
    }
    missing = [img.filename for img in images if img.filename not in by_name]
    if missing:  # the other set changed since the run was asked for
        raise RunRefused(
            f"{len(missing)} images have no same-named image in the set to pair with: "
            + ", ".join(missing[:5])
        )
    return {img.pk: by_name[img.filename] for img in images}


def _decoded_pair(img: Image, partner: Image) -> tuple[np.ndarray, np.ndarray]:
    from metrics.engine.images import decode_rgb_array

    a = decode_rgb_array(blob_local(img.blob))
    b = decode_rgb_array(blob_local(partner.blob))
    if a.shape != b.shape:
        raise RunRefused(
            f"{img.filename} is {a.shape[1]}x{a.shape[0]} but its partner "
            f"{partner.filename} is {b.shape[1]}x{b.shape[0]}: pair metrics need equal sizes"
        )
    return a, b


def _with_filenames(exc: Exception, images: list[Image], paths: list) -> Exception:
    """Rewrite blob paths in an engine error as the images' file names in their set."""
    message = str(exc)
    for img, local in zip(images, paths, strict=True):
        path = str(local)
        if path in message:
            message = message.replace(path, f"{img.image_set.name}/{img.filename}")
    return exc if message == str(exc) else RunRefused(message)


def metric_run_aggregate_if_complete(*, step_id: int) -> bool:
    """After a chunk step: record the aggregation once every step of the run is done.

    Each chunk commits its own DONE before looking, so the last one to finish always
    sees every other one done; two that finish together are stopped by the unique
    constraint (and the sweeper covers a process that died in between).
    """
    run_id = RunStep.objects.filter(pk=step_id).values_list("run_id", flat=True).first()
    if run_id is None or not MetricRun.objects.filter(pk=run_id, status=Status.RUNNING).exists():
        return False
    # The plan step may not be marked done yet (it commits its chunks first): chunks only
    # exist once their plan has committed all of them, so the chunks alone decide.
    steps = RunStep.objects.filter(run_id=run_id).exclude(kind=RunStep.Kind.PLAN)
    if steps.exclude(state=RunStep.State.DONE).exists():
        return False
    if steps.filter(kind=RunStep.Kind.AGGREGATE).exists():
        return False
    return step_add_once(step_add_aggregate, run_id)
