"""Judges' image copies are made on a worker when a campaign opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from evalsite.celery import app as celery_app
from ratings.models import ItemImage
from ratings.services.images import campaign_images_warm
from tests.ratings.factories import make_campaign


def derivative_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "derivatives"
    return sorted(root.rglob("*.jpg")) if root.exists() else []


@pytest.fixture
def eager():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_opening_a_campaign_prepares_the_judges_copy_of_each_image_at_its_one_size(
    catalog, eager, django_capture_on_commit_callbacks
):
    sets, reference = catalog
    assert derivative_files() == []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        campaign = make_campaign(sets, reference)
    assert len(callbacks) == 1
    shas = set(
        ItemImage.objects.filter(item__campaign=campaign).values_list("image__sha256", flat=True)
    )
    made = {tuple(p.stem.split("-")) for p in derivative_files()}
    assert made == {(sha, str(campaign.image_side), campaign.image_fit) for sha in shas}


def test_warming_again_rewrites_nothing_and_a_missing_campaign_is_quiet(catalog):
    sets, reference = catalog
    campaign = make_campaign(sets, reference)
    count = campaign_images_warm(campaign_id=campaign.pk)
    before = {p: p.stat().st_mtime_ns for p in derivative_files()}
    assert count > 0 and campaign_images_warm(campaign_id=campaign.pk) == count
    assert {p: p.stat().st_mtime_ns for p in derivative_files()} == before
    assert campaign_images_warm(campaign_id=10**9) == 0


@pytest.mark.parametrize("fit", ["pad", "crop"])
def test_judges_copies_of_different_sizes_and_shapes_come_out_identical_in_size(db, tmp_path, fit):
    """Blinding by size: 1024 x 512, 300 x 600 and 64 x 64 originals all become one square."""
    from PIL import Image as PILImage

    from metrics.services.derivatives import image_derivative
    from metrics.services.imports import image_set_import

    folder = tmp_path / "mixed"
    folder.mkdir()
    for name, size in {
        "wide.png": (1024, 512),
        "tall.png": (300, 600),
        "tiny.png": (64, 64),
    }.items():
        PILImage.new("RGB", size, (200, 30, 30)).save(folder / name)
    image_set = image_set_import(path=folder, set_name="mixed", kind="reference").image_set
    images = list(image_set.images.all())
    assert len(images) == 3
    shapes = set()
    for image in images:
        path = image_derivative(image=image, max_side=768, fit=fit)
        assert path.name.startswith(image.sha256)
        with PILImage.open(path) as copy:
            shapes.add(copy.size)
            corner = copy.convert("RGB").getpixel((0, 0))
        if fit == "pad" and image.width != image.height:
            assert max(abs(a - b) for a, b in zip(corner, (128, 128, 128), strict=True)) < 8
    assert shapes == {(768, 768)}
