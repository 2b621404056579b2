"""Functions that read the metrics app's data. The ratings app reads the catalog through these."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from metrics.models import Image, ImageSet, ModelUnderTest


def image_set_list() -> QuerySet[ImageSet]:
    """Every image set with its model and image count."""
    return (
        ImageSet.objects.select_related("model")
        .annotate(image_count=Count("images"))
        .order_by("name")
    )


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
