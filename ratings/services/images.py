"""The images judges are shown: sized, metadata-free copies made ahead of the first request."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from metrics.engine.images import ImageError
from metrics.services.derivatives import image_derivative
from ratings.models import Assignment, Campaign, ItemImage

log = logging.getLogger(__name__)


def judge_copy(*, campaign: Campaign, image):
    """Path of the judges' copy of ``image`` in ``campaign``: its one square box (made if missing)."""
    return image_derivative(image=image, max_side=campaign.image_side, fit=campaign.image_fit)


def campaign_images_warm(*, campaign_id: int) -> int:
    """Make the judges' copy of every image of the campaign's items; return how many images.

    Judges' pages ask for these copies; made here, on a worker, the first judge to see
    an image does not wait for its decode and re-encode. Existing copies are kept, so
    running this twice costs only the checks.
    """
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return 0
    images = {
        item_image.image_id: item_image.image
        for item_image in ItemImage.objects.filter(item__campaign=campaign).select_related("image")
    }
    for image in images.values():
        try:
            judge_copy(campaign=campaign, image=image)
        except (ImageError, OSError) as exc:
            # The judge's request will fail the same way; the researcher sees it in the log.
            log.warning("campaign %s: cannot prepare %s: %s", campaign_id, image, exc)
    return len(images)


class ImageWithheld(Exception):
    """A judge may not have this image (now): not theirs, or its exposure time is over."""


# The images of one task load in parallel, the later ones a little after the first: the
# exposure window starts at the first request and allows this much for the rest to arrive.
EXPOSURE_GRACE_MS = 2000


def task_image_release(*, campaign: Campaign, judge, token: str, now=None):
    """The item image behind ``token`` for ``judge``; with an exposure limit, only in time.

    The exposure limit is kept by the server, not only by the page hiding the images:
    the first request of a task's image starts its window (``Assignment.shown_at``); after
    ``exposure_ms`` (plus a grace for the other images of the task) and once the task is
    answered or lapsed, its images are refused, so reloading or reopening them shows nothing.
    """
    item_image = (
        ItemImage.objects.filter(token=token, item__campaign=campaign)
        .select_related("image", "item")
        .first()
    )
    if item_image is None:
        raise ImageWithheld("no such image")
    assignments = Assignment.objects.filter(judge=judge, item_id=item_image.item_id)
    if campaign.exposure_ms is None:
        if not assignments.exists():
            raise ImageWithheld("no such image")
        return item_image
    now = now or timezone.now()
    live = assignments.filter(status=Assignment.Status.LEASED, expires_at__gt=now)
    live.filter(shown_at__isnull=True).update(shown_at=now)
    shown_at = live.values_list("shown_at", flat=True).first()
    if shown_at is None:
        raise ImageWithheld("this task is over")
    if now > shown_at + timedelta(milliseconds=campaign.exposure_ms + EXPOSURE_GRACE_MS):
        raise ImageWithheld("the time for looking at this image is over")
    return item_image
