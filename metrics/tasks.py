"""Celery tasks of metric runs: thin wrappers that take ids and call one service.

Queues: ``cpu`` for planning and aggregation, ``gpu`` for chunks through a network
(``cpu`` for pixel metrics). All tasks are ``acks_late`` (a killed worker's task is
redelivered by brokers that can) and idempotent; a worker that starts also resumes
runs no worker has touched for a while (the filesystem broker redelivers nothing).
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

from metrics.services import runs

log = logging.getLogger(__name__)

MAX_RETRIES = 5


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input or set-up: written on the run, never retried."""
    from metrics.engine.fid import TooFewSamplesError
    from metrics.engine.images import ImageError
    from metrics.engine.weights import WeightsChecksumError, WeightsMissingError

    return (
        runs.RunRefused,
        ImageError,
        WeightsMissingError,
        WeightsChecksumError,
        TooFewSamplesError,
        ValueError,
    )


def _is_cuda_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError)


def _guarded(task, run_id: int, call, *, batch_size: int | None = None):
    try:
        return call()
    except (OperationalError, InterfaceError) as exc:
        # A lost or locked database: transient, retried with backoff.
        raise task.retry(
            exc=exc, countdown=min(60, 2**task.request.retries), max_retries=MAX_RETRIES
        ) from exc
    except SoftTimeLimitExceeded:
        runs.metric_run_fail(
            run_id=run_id,
            message=f"{task.name.rsplit('.', 1)[-1]} took longer than its time limit "
            f"({task.soft_time_limit} s); try smaller chunks (EVALSITE_FEATURE_CHUNK_SIZE)",
        )
    except Exception as exc:
        if _is_cuda_oom(exc) and (batch_size or 2) > 1 and task.request.retries < MAX_RETRIES:
            smaller = max(1, (batch_size or 32) // 2)
            log.warning("run %s: CUDA out of memory, retrying with batch size %s", run_id, smaller)
            raise task.retry(kwargs={"batch_size": smaller}, countdown=1) from None
        if isinstance(exc, _user_errors()):
            runs.metric_run_fail(run_id=run_id, message=str(exc))
            return None
        log.exception("metric run %s failed", run_id)
        runs.metric_run_fail(
            run_id=run_id,
            message=f"internal error ({type(exc).__name__}: {exc}); see the worker log",
        )
    return None


@shared_task(bind=True, acks_late=True, soft_time_limit=300, time_limit=360)
def metric_run_plan_task(self, run_id: int) -> None:
    _guarded(self, run_id, lambda: runs.metric_run_plan(run_id=run_id))


@shared_task(bind=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def metric_run_chunk_task(self, run_id: int, kind: str, keys: list, batch_size: int | None = None):
    _guarded(
        self,
        run_id,
        lambda: runs.metric_run_compute_chunk(
            run_id=run_id, kind=kind, keys=keys, batch_size=batch_size
        ),
        batch_size=batch_size,
    )


@shared_task(bind=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def metric_run_aggregate_task(self, run_id: int) -> None:
    _guarded(self, run_id, lambda: runs.metric_run_aggregate(run_id=run_id))


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def metric_run_watchdog_task(run_id: int) -> None:
    try:
        runs.metric_run_watchdog(run_id=run_id)
    except (OperationalError, InterfaceError):
        log.warning("watchdog of run %s could not reach the database", run_id)


@worker_ready.connect
def _resume_stale_runs(**kwargs) -> None:
    try:
        resumed = runs.metric_runs_resume()
    except Exception:  # a worker must start even if the database is briefly away
        log.exception("could not look for stale metric runs")
        return
    if resumed:
        log.info("resumed %d stale metric runs: %s", len(resumed), resumed)


# --- imports and the blob collector: the default queue, cpu ------------------------------------


@shared_task(bind=True, acks_late=True, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 300)
def import_job_run_task(self, job_id: int) -> None:
    from metrics.services.import_jobs import import_job_run

    try:
        import_job_run(job_id=job_id)
    except (OperationalError, InterfaceError) as exc:
        # The database went away before the job could be claimed or recorded: transient.
        raise self.retry(
            exc=exc, countdown=min(60, 2**self.request.retries), max_retries=MAX_RETRIES
        ) from exc


@shared_task(acks_late=True, soft_time_limit=3000, time_limit=3300)
def collect_blobs_task() -> dict:
    """Delete stored files nothing references, older than EVALSITE_BLOB_GRACE_SECONDS."""
    from metrics.services.blobs import blobs_collect

    report = blobs_collect()
    log.info(
        "collected %d files (%d originals, %d derivatives, %d temporary, %d uploads), %d bytes",
        report.removed, len(report.originals), len(report.derivatives),
        len(report.temporary), len(report.uploads), report.bytes_freed,
    )  # fmt: skip
    return {"removed": report.removed, "bytes_freed": report.bytes_freed}


@worker_ready.connect
def _resume_stale_imports(**kwargs) -> None:
    try:
        from metrics.services.import_jobs import import_jobs_resume

        resumed = import_jobs_resume()
    except Exception:  # a worker must start even if the database is briefly away
        log.exception("could not look for stale import jobs")
        return
    if resumed:
        log.info("resumed %d stale import jobs: %s", len(resumed), resumed)
