"""A run's life outside the workers' computing: create, cancel, fail."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from metrics.models import ImageSet, MetricRun
from metrics.selectors import metric_run_by_idempotency_key
from metrics.services.recipes import Recipe, recipe_get, recipe_params
from metrics.services.runs.queue import step_add_plan
from metrics.services.runs.steps import run_steps_drop

log = logging.getLogger(__name__)

Status = MetricRun.Status


class RunRefused(ValueError):
    """A run that cannot be started as asked; the message says why."""


# --- create / cancel / fail ---------------------------------------------------------------


def metric_run_create(
    *,
    metric: str,
    image_set: ImageSet,
    reference_set: ImageSet | None = None,
    params: dict | None = None,
    user=None,
    idempotency_key: str = "",
) -> MetricRun:
    """Validate and store a QUEUED run with its plan step, sent to the broker after commit.

    The run is recorded even if the broker is down: the sweeper sends its plan once the
    broker is back. With an ``idempotency_key`` (per user), asking again returns the run
    the first request created instead of a second one.
    """
    creator = user if getattr(user, "is_authenticated", False) else None
    idempotency_key = (idempotency_key or "").strip()
    if len(idempotency_key) > 100:
        raise RunRefused("the idempotency key is longer than 100 characters")
    earlier = metric_run_by_idempotency_key(user=user, key=idempotency_key)
    if earlier is not None:
        return earlier
    try:
        recipe = recipe_get(metric)
        full_params = recipe_params(recipe, params)
    except ValueError as exc:
        raise RunRefused(str(exc)) from None
    _check_inputs(recipe, image_set, reference_set)
    try:
        with transaction.atomic():
            run = MetricRun.objects.create(
                metric=recipe.name,
                image_set=image_set,
                reference_set=reference_set if recipe.takes_reference else None,
                params=full_params,
                created_by=creator,
                idempotency_key=idempotency_key,
            )
            step_add_plan(run.pk)
    except IntegrityError:
        if not idempotency_key:
            raise
        # The same key in a concurrent request: that one won.
        return MetricRun.objects.get(created_by=creator, idempotency_key=idempotency_key)
    return run


def _check_pairs_by_name(recipe: Recipe, image_set: ImageSet, other: ImageSet) -> None:
    """Every image of the set has a same-named image in ``other`` (as ``python -m metrics``)."""
    if other.pk == image_set.pk:
        raise RunRefused("the set to pair with must differ from the set")
    names = set(other.images.values_list("filename", flat=True))
    unmatched = sorted(
        n for n in image_set.images.values_list("filename", flat=True) if n not in names
    )
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
        raise RunRefused(
            f"{recipe.label} pairs images by file name, and {len(unmatched)} images of "
            f"{image_set.name!r} have no same-named image in {other.name!r}: {shown}"
        )


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
    if recipe.pairs_by_name and reference_set is not None:
        _check_pairs_by_name(recipe, image_set, reference_set)
    elif recipe.inputs == "pairs":
        unpaired = images.filter(source__isnull=True).count()
        if unpaired:
            raise RunRefused(
                f"{recipe.label} compares each image with its source image, and {unpaired} "
                f"images of {image_set.name!r} have none (import them with a manifest 'source' "
                "column and --source-set, or choose a set to pair with by file name)"
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
    """Cancel a queued or running run; its pending steps then do nothing. False if it ended."""
    cancelled = MetricRun.objects.filter(pk=run.pk, status__in=MetricRun.ACTIVE).update(
        status=Status.CANCELLED, finished_at=timezone.now()
    )
    if cancelled:
        run_steps_drop(run_id=run.pk)
    return bool(cancelled)


def metric_run_fail(*, run_id: int, message: str) -> bool:
    """Mark an active run FAILED with a readable message."""
    failed = MetricRun.objects.filter(pk=run_id, status__in=MetricRun.ACTIVE).update(
        status=Status.FAILED, error=message[:5000], finished_at=timezone.now()
    )
    if failed:
        run_steps_drop(run_id=run_id)
    return bool(failed)
