"""Celery tasks of the ratings app (thin: ids in, one service called)."""

from __future__ import annotations

from celery import shared_task

from ratings.services.images import campaign_images_warm


@shared_task(acks_late=True, soft_time_limit=3600, time_limit=3700, ignore_result=True)
def campaign_images_warm_task(campaign_id: int) -> None:
    campaign_images_warm(campaign_id=campaign_id)
