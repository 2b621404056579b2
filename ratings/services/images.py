"""The images judges are shown: sized, metadata-free copies made ahead of the first request."""

from __future__ import annotations

import logging

from metrics.engine.images import ImageError
from metrics.services.derivatives import DERIVATIVE_SIZES, image_derivative
from ratings.models import Campaign, ItemImage

log = logging.getLogger(__name__)


def campaign_images_warm(*, campaign_id: int, sizes: tuple[int, ...] = DERIVATIVE_SIZES) -> int:
    """Make every size of every image of the campaign's items; return how many images.

    Judges' pages ask for these copies (``srcset``); made here, on a worker, the first
    judge to see an image does not wait for its decode and re-encode. Existing copies
    are kept, so running this twice costs only the checks.
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
            for size in sizes:
                image_derivative(image=image, max_side=size)
        except (ImageError, OSError) as exc:
            # The judge's request will fail the same way; the researcher sees it in the log.
            log.warning("campaign %s: cannot prepare %s: %s", campaign_id, image, exc)
    return len(images)
