"""Functions that read the metrics app's data. The ratings app reads the catalog through these."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from metrics.models import Image, ImageSet, ImportJob, ModelUnderTest


def image_set_list() -> QuerySet[ImageSet]:
    """Every image set with its model and image count."""
    return (
        ImageSet.objects.select_related("model")
        .annotate(image_count=Count("images"))
        .order_by("name")
    )


def import_jobs_recent(*, limit: int = 10) -> QuerySet[ImportJob]:
    """The latest import jobs, newest first (the import page lists them)."""
    return ImportJob.objects.select_related("image_set").order_by("-created_at", "-id")[:limit]


def model_under_test_list() -> QuerySet[ModelUnderTest]:
    """Every model under test with its number of sets."""
    return ModelUnderTest.objects.annotate(set_count=Count("image_sets")).order_by(
        "name", "version"
    )


def image_set_images(*, image_set: ImageSet) -> QuerySet[Image]:
    """The images of a set, with prompt and source, in file-name order."""
    return image_set.images.select_related("prompt", "source").order_by("filename")


def image_get(*, image_id: int) -> Image | None:
    """One image with its set, model, prompt and source, or None."""
    return (
        Image.objects.select_related("image_set__model", "prompt", "source")
        .filter(pk=image_id)
        .first()
    )


# --- read by the ratings app (campaign items are made from these) ----------------------------


def images_in_sets(*, set_ids: list[int]) -> QuerySet[Image]:
    """The images of the given sets with set, model and prompt, by set then file name."""
    return (
        Image.objects.filter(image_set_id__in=set_ids)
        .select_related("image_set__model", "prompt")
        .order_by("image_set_id", "filename")
    )


def image_sets_of_kind(*, kind: str) -> QuerySet[ImageSet]:
    """The sets of one kind (generated, reference, source) with their model, by name."""
    return ImageSet.objects.filter(kind=kind).select_related("model").order_by("name")


# --- read by the comparison report (ratings.report) ------------------------------------------


def metric_runs_for_sets(*, set_ids: list[int], statuses: list[str] | None = None) -> QuerySet:
    """Metric runs on the given sets (as the evaluated set), newest first; all statuses if None."""
    from metrics.models import MetricRun

    runs = MetricRun.objects.filter(image_set_id__in=set_ids).select_related(
        "image_set", "reference_set"
    )
    if statuses is not None:
        runs = runs.filter(status__in=statuses)
    return runs.order_by("-finished_at", "-id")


def run_item_values(*, run_ids: list[int]) -> list[tuple[int, int, float | None]]:
    """(run id, image id, value) of every per-image value of the given runs, in one query."""
    from metrics.models import MetricRunItem

    if not run_ids:
        return []
    return list(
        MetricRunItem.objects.filter(run_id__in=run_ids)
        .order_by("run_id", "image_id")
        .values_list("run_id", "image_id", "value")
    )


def image_rows_in_sets(*, set_ids: list[int]) -> list[tuple[int, int, int | None, int | None]]:
    """(image id, set id, prompt id, source image id) of every image of the sets, in one query."""
    return list(
        Image.objects.filter(image_set_id__in=set_ids)
        .order_by("id")
        .values_list("id", "image_set_id", "prompt_id", "source_id")
    )


def images_brief(*, image_ids: list[int]) -> dict[int, dict]:
    """Id -> {filename, set, prompt} of the given images (a few, for galleries), in one query."""
    rows = Image.objects.filter(pk__in=list(image_ids)).values_list(
        "id", "filename", "image_set__name", "prompt__text"
    )
    return {
        pk: {"filename": name, "set": set_name, "prompt": prompt or ""}
        for pk, name, set_name, prompt in rows
    }


def image_thumbnail_jpeg(*, image_id: int, max_side: int = 256) -> bytes | None:
    """JPEG bytes of a metadata-free thumbnail of an image, or None if it cannot be read."""
    from metrics.services.derivatives import image_derivative

    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        return None
    try:
        return image_derivative(image=image, max_side=max_side).read_bytes()
    except (OSError, ValueError):
        # A missing or unreadable blob: the gallery shows the file name instead.
        return None


def metric_run_by_idempotency_key(*, user, key: str):
    """The run ``user`` created with this Idempotency-Key, or None."""
    from metrics.models import MetricRun

    key = (key or "").strip()
    if not key:
        return None
    creator = user if getattr(user, "is_authenticated", False) else None
    return MetricRun.objects.filter(created_by=creator, idempotency_key=key).first()
