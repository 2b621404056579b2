"""Judges' image copies are made on a worker when a campaign opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from evalsite.celery import app as celery_app
from metrics.services.derivatives import DERIVATIVE_SIZES
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


def test_opening_a_campaign_prepares_every_size_of_its_images(
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
    made = {(p.name.split("-")[0], int(p.stem.split("-")[1])) for p in derivative_files()}
    assert made == {(sha, size) for sha in shas for size in DERIVATIVE_SIZES}


def test_warming_again_rewrites_nothing_and_a_missing_campaign_is_quiet(catalog):
    sets, reference = catalog
    campaign = make_campaign(sets, reference)
    count = campaign_images_warm(campaign_id=campaign.pk)
    before = {p: p.stat().st_mtime_ns for p in derivative_files()}
    assert count > 0 and campaign_images_warm(campaign_id=campaign.pk) == count
    assert {p: p.stat().st_mtime_ns for p in derivative_files()} == before
    assert campaign_images_warm(campaign_id=10**9) == 0
