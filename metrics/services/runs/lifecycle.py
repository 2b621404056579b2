"""A run's life outside the workers' computing: create, cancel, fail, resume, watchdog."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from metrics.models import ImageSet, MetricRun
from metrics.services.recipes import Recipe, recipe_get, recipe_params
from metrics.services.runs.queue import enqueue_plan, enqueue_watchdog

log = logging.getLogger(__name__)

Status = MetricRun.Status


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
    enqueue_plan(run.pk)
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
            enqueue_plan(run.pk)
            resumed.append(run.pk)
        else:
            enqueue_watchdog(run.pk)
    return resumed


def metric_run_watchdog(*, run_id: int, stale_after_s: float | None = None) -> str:
    """Re-plan the run if it went stale, keep watching while it is active; returns what it did."""
    run = MetricRun.objects.filter(pk=run_id, status__in=MetricRun.ACTIVE).first()
    if run is None:
        return "ended"
    if _is_stale(run, _stale_cutoff(stale_after_s)):
        log.info("resuming stale metric run %s", run_id)
        enqueue_plan(run_id)
        return "resumed"
    enqueue_watchdog(run_id)
    return "watching"


def metric_run_fail(*, run_id: int, message: str) -> bool:
    """Mark an active run FAILED with a readable message."""
    return bool(
        MetricRun.objects.filter(pk=run_id, status__in=MetricRun.ACTIVE).update(
            status=Status.FAILED, error=message[:5000], finished_at=timezone.now()
        )
    )
