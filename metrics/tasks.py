"""Celery tasks of metric runs: thin wrappers that take a step id and call one service.

Queues: ``cpu`` for planning and aggregation, ``gpu`` for chunks through a network
(``cpu`` for pixel metrics). A task first claims its step (see
``metrics/services/runs/steps.py``); a step that is done, held by a live process or
whose run ended makes the task a no-op, so a message delivered twice costs nothing.
Nothing is retried through Celery's countdowns: a step whose process died, or that
met a database outage, is sent again by the sweeper once its lease runs out.

Failures are told apart: errors of input or set-up (bad images, missing weights, too
few images) fail the run with their message; CUDA out of memory sends the step again
with half the batch, down to 1; anything else is a bug, logged with its traceback
under a reference that the run's error shows.
"""

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from metrics import housekeeping  # noqa: F401  (registers the worker's heartbeat and sweep)
from metrics.services import runs
from metrics.services.runs.steps import StepLease, step_claim, step_done, step_release

log = logging.getLogger(__name__)


def _input_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input or set-up: written on the run as they are, never retried."""
    from metrics.engine.fid import TooFewSamplesError
    from metrics.engine.images import ImageError
    from metrics.engine.lpips import LPIPSWeightsError
    from metrics.engine.pairs import PixelInputError
    from metrics.engine.weights import WeightsChecksumError, WeightsMissingError

    return (
        runs.RunRefused,
        ImageError,
        WeightsMissingError,
        WeightsChecksumError,
        TooFewSamplesError,
        LPIPSWeightsError,
        PixelInputError,
    )


def _is_cuda_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError)


def _free_accelerator_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def batch_sizes_tried(last: int) -> list[int]:
    """The configured batch size halved down to ``last``: what an OOM-failed step tried."""
    sizes, size = [], max(1, settings.EVALSITE_BATCH_SIZE)
    while size > last:
        sizes.append(size)
        size = max(1, size // 2)
    return [*sizes, last]


def _out_of_memory(step) -> None:
    tried = step.batch_size or max(1, settings.EVALSITE_BATCH_SIZE)
    _free_accelerator_memory()
    if tried <= 1:
        sizes = ", ".join(str(s) for s in batch_sizes_tried(1))
        runs.metric_run_fail(
            run_id=step.run_id,
            message=f"the accelerator ran out of memory at every batch size tried ({sizes}); "
            "free the GPU (other processes, a smaller model) or run on a larger one",
        )
        return
    smaller = max(1, tried // 2)
    log.warning(
        "run %s step %s: CUDA out of memory at batch size %s, sending it again with %s",
        step.run_id,
        step.pk,
        tried,
        smaller,
    )
    step_release(step_id=step.pk, batch_size=smaller)


def _run_step(task, step_id: int, work) -> None:
    """Claim the step, do ``work(step)`` under a lease, then mark it done; sort failures."""
    step = step_claim(step_id=step_id, worker=task.request.hostname or "eager")
    if step is None:
        return  # done, held by a live process, or its run ended
    try:
        with StepLease(step):
            work(step)
        step_done(step_id=step.pk)
    except (OperationalError, InterfaceError) as exc:
        # The database is away: nothing to write to. The step's lease runs out and the
        # sweeper sends it again once the database is back.
        log.warning("run %s step %s: database unavailable (%s)", step.run_id, step.pk, exc)
    except SoftTimeLimitExceeded:
        runs.metric_run_fail(
            run_id=step.run_id,
            message=f"{task.name.rsplit('.', 1)[-1]} took longer than its time limit "
            f"({task.soft_time_limit} s); try smaller chunks (EVALSITE_FEATURE_CHUNK_SIZE)",
        )
    except Exception as exc:
        if _is_cuda_oom(exc):
            _out_of_memory(step)
        elif isinstance(exc, _input_errors()):
            runs.metric_run_fail(run_id=step.run_id, message=str(exc))
        else:
            reference = uuid.uuid4().hex[:10]
            log.exception(
                "metric run %s step %s (%s) failed: internal error, reference %s",
                step.run_id,
                step.pk,
                step.kind,
                reference,
            )
            runs.metric_run_fail(
                run_id=step.run_id,
                message=f"internal error (reference {reference}): {type(exc).__name__}: {exc}. "
                "This is a bug, not a problem with your images; the worker log has the "
                "traceback under this reference.",
            )


@shared_task(bind=True, acks_late=True, soft_time_limit=300, time_limit=360)
def metric_run_plan_task(self, step_id: int) -> None:
    _run_step(self, step_id, lambda step: runs.metric_run_plan(run_id=step.run_id))


@shared_task(bind=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def metric_run_chunk_task(self, step_id: int) -> None:
    def work(step):
        runs.metric_run_compute_chunk(
            run_id=step.run_id, kind=step.unit, keys=step.keys, batch_size=step.batch_size
        )

    _run_step(self, step_id, work)
    runs.metric_run_aggregate_if_complete(step_id=step_id)


@shared_task(bind=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def metric_run_aggregate_task(self, step_id: int) -> None:
    _run_step(self, step_id, lambda step: runs.metric_run_aggregate(run_id=step.run_id))


# --- imports and the blob collector: the default queue, cpu ------------------------------------


@shared_task(bind=True, acks_late=True, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 300)
def import_job_run_task(self, job_id: int) -> None:
    from metrics.services.import_jobs import import_job_run

    try:
        import_job_run(job_id=job_id)
    except (OperationalError, InterfaceError) as exc:
        # The database went away: the job stays queued (or its heartbeat goes stale) and
        # the sweep sends it again once the database is back. No countdown messages.
        log.warning("import job %s: database unavailable (%s)", job_id, exc)


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
