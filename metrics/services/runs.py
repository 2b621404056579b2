"""Metric runs: create, plan (what is missing), compute chunks, aggregate, cancel, resume.

The flow (tasks in ``metrics/tasks.py`` call these functions with ids):

1. :func:`metric_run_create` validates the request, stores a QUEUED run and enqueues
   the plan after commit.
2. :func:`metric_run_plan` (``cpu`` queue) marks the run RUNNING, finds which features
   (or pair values) are missing, and enqueues chunks of them; none missing: aggregate.
3. :func:`metric_run_compute_chunk` (``gpu`` queue for networks, ``cpu`` for pixel
   metrics) computes one chunk and upserts its rows; whoever finds the run complete
   enqueues the aggregation.
4. :func:`metric_run_aggregate` (``cpu``) reads the cached features, calls the engine
   and stores the result with its provenance.

Every step is idempotent: features are keyed by content and upserted, per-pair values
are unique per run and image, and the final write is guarded by the run's status. A
chunk done twice (a redelivered task) costs time, never correctness.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from metrics.models import Feature, Image, ImageSet, MetricRun, MetricRunItem
from metrics.services.extractors import FeatureKey, feature_key
from metrics.services.recipes import Recipe, RunInputs, recipe_get, recipe_params
from metrics.storage import blob_path

log = logging.getLogger(__name__)

Status = MetricRun.Status
# SQLite allows ~32k bound variables per query; stay well under it everywhere.
IN_BATCH = 900


class RunRefused(ValueError):
    """A run that cannot be started as asked; the message says why."""


# --- create / cancel / resume -------------------------------------------------------------


def metric_run_create(
    *,
    metric: str,
    image_set: ImageSet,
    reference_set: ImageSet | None = None,
    params: dict | None = None,
    user=None,
) -> MetricRun:
    """Validate and store a QUEUED run; its plan task is enqueued after commit."""
    try:
        recipe = recipe_get(metric)
        full_params = recipe_params(recipe, params)
    except ValueError as exc:
        raise RunRefused(str(exc)) from None
    _check_inputs(recipe, image_set, reference_set)
    run = MetricRun.objects.create(
        metric=recipe.name,
        image_set=image_set,
        reference_set=reference_set if recipe.needs_reference else None,
        params=full_params,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    _enqueue_plan(run.pk)
    return run


def _check_inputs(recipe: Recipe, image_set: ImageSet, reference_set: ImageSet | None) -> None:
    images = image_set.images.all()
    if not images.exists():
        raise RunRefused(f"set {image_set.name!r} has no images")
    if recipe.needs_reference:
        if reference_set is None:
            raise RunRefused(f"{recipe.label} compares two sets: choose a reference set")
        if reference_set.pk == image_set.pk:
            raise RunRefused("the reference set must differ from the set")
        if not reference_set.images.exists():
            raise RunRefused(f"reference set {reference_set.name!r} has no images")
    if recipe.inputs == "pairs":
        unpaired = images.filter(source__isnull=True).count()
        if unpaired:
            raise RunRefused(
                f"{recipe.label} compares each image with its source image, and {unpaired} "
                f"images of {image_set.name!r} have none (import them with a manifest 'source' "
                "column and --source-set)"
            )
    if recipe.texts == "prompts":
        missing = images.filter(prompt__isnull=True).count()
        if missing:
            raise RunRefused(
                f"{recipe.label} needs a prompt for every image; {missing} images of "
                f"{image_set.name!r} have none"
            )
    if recipe.texts == "captions":
        missing = images.filter(caption="").count() + images.filter(source_caption="").count()
        if missing:
            raise RunRefused(
                f"{recipe.label} needs 'caption' and 'source_caption' for every image "
                f"of {image_set.name!r}"
            )


def metric_run_cancel(*, run: MetricRun) -> bool:
    """Cancel a queued or running run; its pending chunks then do nothing. False if it ended."""
    return bool(
        MetricRun.objects.filter(pk=run.pk, status__in=MetricRun.ACTIVE).update(
            status=Status.CANCELLED, finished_at=timezone.now()
        )
    )


def _stale_cutoff(stale_after_s: float | None):
    if stale_after_s is None:
        stale_after_s = settings.EVALSITE_RUN_STALE_SECONDS
    return timezone.now() - timedelta(seconds=stale_after_s)


def _is_stale(run: MetricRun, cutoff) -> bool:
    last = run.heartbeat_at or run.created_at
    return last <= cutoff


def metric_runs_resume(*, stale_after_s: float | None = None) -> list[int]:
    """Re-plan active runs no worker has touched for ``stale_after_s`` seconds; watch the others.

    Called when a worker starts. A run whose worker was killed (and whose task the
    broker will not redeliver, like the filesystem broker's) finishes all the same:
    re-planning enqueues only what is still missing. Runs that are not stale yet get
    a watchdog that checks them again later.
    """
    cutoff = _stale_cutoff(stale_after_s)
    resumed = []
    for run in MetricRun.objects.filter(status__in=MetricRun.ACTIVE):
        if _is_stale(run, cutoff):
            log.info("resuming metric run %s", run.pk)
            _enqueue_plan(run.pk)
            resumed.append(run.pk)
        else:
            _enqueue_watchdog(run.pk)
    return resumed


def metric_run_watchdog(*, run_id: int, stale_after_s: float | None = None) -> str:
    """Re-plan the run if it went stale, keep watching while it is active; returns what it did."""
    run = MetricRun.objects.filter(pk=run_id, status__in=MetricRun.ACTIVE).first()
    if run is None:
        return "ended"
    if _is_stale(run, _stale_cutoff(stale_after_s)):
        log.info("resuming stale metric run %s", run_id)
        _enqueue_plan(run_id)
        return "resumed"
    _enqueue_watchdog(run_id)
    return "watching"


# --- plan --------------------------------------------------------------------------------------


@dataclass
class Chunk:
    kind: str  # "inception" | "clip" | "clip-text" | "pairs"
    keys: list  # image ids, or texts for clip-text


def metric_run_plan(*, run_id: int) -> list[Chunk]:
    """Mark the run RUNNING, enqueue chunks for what is missing (or the aggregation)."""
    now = timezone.now()
    updated = MetricRun.objects.filter(pk=run_id, status__in=MetricRun.ACTIVE).update(
        status=Status.RUNNING, heartbeat_at=now
    )
    if not updated:
        return []
    MetricRun.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=now)
    run = MetricRun.objects.select_related("image_set", "reference_set").get(pk=run_id)
    recipe = recipe_get(run.metric)
    chunks, total, done = _missing_chunks(run, recipe)
    MetricRun.objects.filter(pk=run_id).update(progress_total=total, progress_done=done)
    # Chunks can be lost with their worker (the filesystem broker never redelivers).
    _enqueue_watchdog(run_id)
    if not chunks:
        _enqueue_aggregate(run_id)
        return []
    for chunk in chunks:
        _enqueue_chunk(run_id, chunk, queue=recipe.queue)
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


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _present(key: FeatureKey, shas: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(shas), IN_BATCH):
        found.update(
            Feature.objects.filter(
                content_sha256__in=shas[start : start + IN_BATCH],
                extractor_id=key.extractor_id,
                preprocessing=key.preprocessing,
                weights_sha256=key.weights_sha256,
            ).values_list("content_sha256", flat=True)
        )
    return found


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
    by_sha: dict[str, int] = {}
    for img in _needed_images(run, recipe):
        by_sha.setdefault(img.sha256, img.pk)
    present = _present(key, list(by_sha))
    missing_ids = [pk for sha, pk in by_sha.items() if sha not in present]
    chunks = [Chunk(recipe.extractor, c) for c in _split(missing_ids, size)]
    total, done = len(by_sha), len(present)
    texts = _texts(run, recipe)
    if texts:
        tkey = feature_key("clip-text", run.params)
        tpresent = _present(tkey, [text_sha256(t) for t in texts])
        tmissing = [t for t in texts if text_sha256(t) not in tpresent]
        chunks += [Chunk("clip-text", c) for c in _split(tmissing, 256)]
        total += len(texts)
        done += len(texts) - len(tmissing)
    return chunks, total, done


# --- chunks ------------------------------------------------------------------------------------


class Heartbeat:
    """A progress callback that refreshes the run's heartbeat at most every few seconds."""

    def __init__(self, run_id: int, every_s: float = 3.0):
        self.run_id, self.every_s, self.last = run_id, every_s, 0.0

    def __call__(self, n: int = 0) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        MetricRun.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())


def metric_run_compute_chunk(
    *, run_id: int, kind: str, keys: list, batch_size: int | None = None
) -> int:
    """Compute one chunk (features or pair values); returns how many rows it wrote."""
    run = MetricRun.objects.filter(pk=run_id, status=Status.RUNNING).first()
    if run is None:  # cancelled, failed, done, or deleted: nothing to do
        return 0
    beat = Heartbeat(run_id)
    beat.flush()
    batch_size = batch_size or settings.EVALSITE_BATCH_SIZE
    if kind == "pairs":
        written = _compute_pairs(run, keys, beat)
    elif kind == "clip-text":
        written = _compute_texts(run, keys)
    else:
        written = _compute_features(run, kind, keys, batch_size, beat)
    MetricRun.objects.filter(pk=run_id).update(
        progress_done=F("progress_done") + written,
        features_computed=F("features_computed") + (0 if kind == "pairs" else written),
        heartbeat_at=timezone.now(),
    )
    _aggregate_if_complete(run_id)
    return written


def _compute_features(run: MetricRun, kind: str, ids: list[int], batch_size: int, beat) -> int:
    from metrics.services.extractors import clip_extractor, inception_extractor

    key = feature_key(kind, run.params)
    images = list(Image.objects.filter(pk__in=ids).order_by("pk"))
    present = _present(key, [img.sha256 for img in images])
    todo = {img.sha256: img for img in images if img.sha256 not in present}
    if not todo:
        return 0
    extractor = (
        inception_extractor(run.params) if kind == "inception" else clip_extractor(run.params)
    )
    actual = (extractor.extractor_id, extractor.preprocessing, extractor.weights_sha256)
    if actual != (key.extractor_id, key.preprocessing, key.weights_sha256):
        raise RuntimeError(f"extractor key mismatch: planned {key}, loaded {actual}")
    todo_images = list(todo.values())
    paths = [blob_path(img.blob) for img in todo_images]
    try:
        arrays = extractor.extract_paths(
            paths, batch_size=batch_size, workers=settings.EVALSITE_DECODE_WORKERS, progress=beat
        )
    except Exception as exc:
        raise _with_filenames(exc, todo_images) from None
    rows = []
    for i, img in enumerate(todo_images):
        vector = np.concatenate([arrays[name][i] for name, _ in key.layout]).astype("<f4")
        rows.append(_feature_row(key, img.sha256, vector))
    Feature.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _feature_row(key: FeatureKey, sha: str, vector: np.ndarray) -> Feature:
    return Feature(
        content_sha256=sha,
        extractor_id=key.extractor_id,
        preprocessing=key.preprocessing,
        weights_sha256=key.weights_sha256,
        layout=key.layout_dict,
        data=vector.tobytes(),
    )


def _compute_texts(run: MetricRun, texts: list[str]) -> int:
    from metrics.services.extractors import clip_texts

    key = feature_key("clip-text", run.params)
    present = _present(key, [text_sha256(t) for t in texts])
    todo = [t for t in texts if text_sha256(t) not in present]
    if not todo:
        return 0
    emb = clip_texts(run.params, todo)
    rows = [_feature_row(key, text_sha256(t), emb[i].astype("<f4")) for i, t in enumerate(todo)]
    Feature.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _compute_pairs(run: MetricRun, ids: list[int], beat) -> int:
    from metrics.engine.images import decode_rgb_array

    recipe = recipe_get(run.metric)
    done = set(
        MetricRunItem.objects.filter(run=run, image_id__in=ids).values_list("image_id", flat=True)
    )
    images = Image.objects.filter(pk__in=ids).exclude(pk__in=done).select_related("source")
    rows = []
    for img in images.order_by("filename"):
        a = decode_rgb_array(blob_path(img.blob))
        b = decode_rgb_array(blob_path(img.source.blob))
        if a.shape != b.shape:
            raise RunRefused(
                f"{img.filename} is {a.shape[1]}x{a.shape[0]} but its source "
                f"{img.source.filename} is {b.shape[1]}x{b.shape[0]}: pair metrics need equal sizes"
            )
        value = float(recipe.pair_value(a, b, run.params))
        rows.append(MetricRunItem(run=run, image=img, value=value, raw={"pair_value": value}))
        beat(1)
    MetricRunItem.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _with_filenames(exc: Exception, images: list[Image]) -> Exception:
    """Rewrite blob paths in an engine error as the images' file names in their set."""
    message = str(exc)
    for img in images:
        path = str(blob_path(img.blob))
        if path in message:
            message = message.replace(path, f"{img.image_set.name}/{img.filename}")
    return exc if message == str(exc) else RunRefused(message)


# --- aggregate ---------------------------------------------------------------------------------


def _aggregate_if_complete(run_id: int) -> None:
    run = MetricRun.objects.filter(pk=run_id, status=Status.RUNNING).first()
    if run is None or run.progress_done < run.progress_total:
        return
    # progress_done is a hint (a duplicated chunk counts twice); check for real.
    chunks, total, done = _missing_chunks(run, recipe_get(run.metric))
    if not chunks:
        _enqueue_aggregate(run_id)


def _features_of(key: FeatureKey, shas: list[str], what: str) -> dict[str, np.ndarray]:
    rows: dict[str, Feature] = {}
    for start in range(0, len(shas), IN_BATCH):
        for f in Feature.objects.filter(
            content_sha256__in=shas[start : start + IN_BATCH],
            extractor_id=key.extractor_id,
            preprocessing=key.preprocessing,
            weights_sha256=key.weights_sha256,
        ):
            rows[f.content_sha256] = f
    missing = [s for s in shas if s not in rows]
    if missing:
        raise RuntimeError(f"{len(missing)} features of the {what} are missing from the cache")
    out = {}
    for name, dim in key.layout:
        out[name] = np.stack([rows[s].arrays()[name] for s in shas]) if shas else np.zeros((0, dim))
    return out


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
            features=_features_of(key, [img.sha256 for img in images], "set"),
            # Only what the engine does not record itself (it adds its own parameters).
            provenance={
                **key_prov,
                **{k: run.params[k] for k in ("resize", "clip_model") if run.params.get(k)},
            },
        )
        if recipe.needs_reference:
            refs = list(run.reference_set.images.order_by("filename"))
            inputs.reference_names = [img.filename for img in refs]
            inputs.reference_features = _features_of(
                key, [img.sha256 for img in refs], "reference set"
            )
        if recipe.inputs == "pairs":
            inputs.source_features = _features_of(
                key, [img.source.sha256 for img in images], "source images"
            )
        if recipe.texts:
            tkey = feature_key("clip-text", run.params)
            fields = ("prompt",) if recipe.texts == "prompts" else ("caption", "source_caption")
            for field_name in fields:
                texts = [
                    img.prompt.text if field_name == "prompt" else getattr(img, field_name)
                    for img in images
                ]
                inputs.texts[field_name] = _features_of(
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


# --- failure -----------------------------------------------------------------------------------


def metric_run_fail(*, run_id: int, message: str) -> bool:
    """Mark an active run FAILED with a readable message."""
    return bool(
        MetricRun.objects.filter(pk=run_id, status__in=MetricRun.ACTIVE).update(
            status=Status.FAILED, error=message[:5000], finished_at=timezone.now()
        )
    )


# --- enqueueing (after commit) -----------------------------------------------------------------


def _enqueue_plan(run_id: int) -> None:
    from metrics.tasks import metric_run_plan_task

    transaction.on_commit(lambda: metric_run_plan_task.apply_async((run_id,), queue="cpu"))


def _enqueue_chunk(run_id: int, chunk: Chunk, *, queue: str) -> None:
    from metrics.tasks import metric_run_chunk_task

    transaction.on_commit(
        lambda: metric_run_chunk_task.apply_async((run_id, chunk.kind, chunk.keys), queue=queue)
    )


def _enqueue_watchdog(run_id: int) -> None:
    from metrics.tasks import metric_run_watchdog_task

    if metric_run_watchdog_task.app.conf.task_always_eager:
        return  # eager tasks ignore countdowns: a watchdog would call itself forever
    countdown = max(1, settings.EVALSITE_RUN_STALE_SECONDS)
    transaction.on_commit(
        lambda: metric_run_watchdog_task.apply_async((run_id,), queue="cpu", countdown=countdown)
    )


def _enqueue_aggregate(run_id: int) -> None:
    from metrics.tasks import metric_run_aggregate_task

    transaction.on_commit(lambda: metric_run_aggregate_task.apply_async((run_id,), queue="cpu"))
