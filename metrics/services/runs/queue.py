"""Enqueueing the tasks of a run, always after the current transaction commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

if TYPE_CHECKING:
    from metrics.services.runs.compute import Chunk


def enqueue_plan(run_id: int) -> None:
    from metrics.tasks import metric_run_plan_task

    transaction.on_commit(lambda: metric_run_plan_task.apply_async((run_id,), queue="cpu"))


def enqueue_chunk(run_id: int, chunk: Chunk, *, queue: str) -> None:
    from metrics.tasks import metric_run_chunk_task

    transaction.on_commit(
        lambda: metric_run_chunk_task.apply_async((run_id, chunk.kind, chunk.keys), queue=queue)
    )


def enqueue_watchdog(run_id: int) -> None:
    from metrics.tasks import metric_run_watchdog_task

    if metric_run_watchdog_task.app.conf.task_always_eager:
        return  # eager tasks ignore countdowns: a watchdog would call itself forever
    countdown = max(1, settings.EVALSITE_RUN_STALE_SECONDS)
    transaction.on_commit(
        lambda: metric_run_watchdog_task.apply_async((run_id,), queue="cpu", countdown=countdown)
    )


def enqueue_aggregate(run_id: int) -> None:
    from metrics.tasks import metric_run_aggregate_task

    transaction.on_commit(lambda: metric_run_aggregate_task.apply_async((run_id,), queue="cpu"))
