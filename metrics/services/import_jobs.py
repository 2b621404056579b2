"""Import jobs: the web form and the REST API store the upload and a worker imports it.

A request never runs the import itself (a 50,000-image set takes longer than any
web timeout): :func:`import_job_create` streams the upload to
``MEDIA_ROOT/imports/<token>/``, refuses at once what is over the limits, and enqueues
:func:`import_job_run` on the ``cpu`` queue after commit. The job's row carries the
progress, then either the created set or every problem. The job's result is written
in the same transaction as the images, so a job is ``done`` exactly when its rows
exist; a job run again after a killed worker finds the same answer.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from metrics.models import ImageSet, ImportJob
from metrics.services.import_checks import API_WORDS, FORM_WORDS
from metrics.services.imports import ImportFailed, ImportResult, image_set_import, import_entries
from metrics.storage import folder_local, folder_pull, folder_push, folder_remove

log = logging.getLogger(__name__)

# The progress on the row is written at most this often (seconds): one UPDATE a second
# is nothing to the database, one per image would be 50,000.
PROGRESS_EVERY_S = 1.0
UPLOADS = "imports"


def import_job_create(
    *,
    archive,
    manifest=None,
    set_name: str,
    kind: str = "",
    model_name: str = "",
    model_version: str = "",
    source_set: ImageSet | None = None,
    door: str = ImportJob.Door.FORM,
    user=None,
) -> ImportJob:
    """Store the uploaded zip (and manifest) and queue their import; return the job.

    Raises :class:`ImportFailed` (and keeps nothing) when the zip cannot be read or is
    over the limits of files and bytes: those need no worker to know.
    """
    token = secrets.token_hex(12)
    folder = folder_local(f"{UPLOADS}/{token}")
    folder.mkdir(parents=True)
    archive_label = _label(archive.name, "upload.zip")
    manifest_label = _label(manifest.name, "manifest.csv") if manifest else ""
    try:
        archive_path = _save(archive, folder / "archive.zip")
        if manifest:
            _save(manifest, folder / ("manifest" + Path(manifest_label).suffix.lower()[:10]))
        # Unreadable or over the limits: said at once, no worker needed to know.
        import_entries(archive_path, archive_label)
        with transaction.atomic():
            job = ImportJob.objects.create(
                door=door,
                set_name=set_name,
                kind=kind or "",
                model_name=model_name or "",
                model_version=model_version or "",
                source_set=source_set,
                archive_name=archive_label,
                manifest_name=manifest_label,
                upload_dir=f"{UPLOADS}/{token}",
                created_by=user if user and user.is_authenticated else None,
            )
            from metrics.tasks import import_job_run_task

            # On a bucket the worker may be on another host: the upload goes there too.
            folder_push(job.upload_dir)
            transaction.on_commit(lambda: import_job_run_task.delay(job.pk))
    except BaseException:
        folder_remove(f"{UPLOADS}/{token}")
        raise
    return job


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued job (or a running one whose worker stopped beating); None if not ours."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.EVALSITE_IMPORT_STALE_SECONDS)
    claimed = (
        ImportJob.objects.filter(pk=job_id)
        .filter(
            Q(status=ImportJob.Status.QUEUED)
            | Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale)
        )
        .update(status=ImportJob.Status.RUNNING, started_at=now, heartbeat_at=now)
    )
    if not claimed:
        return None
    job = ImportJob.objects.get(pk=job_id)
    folder = folder_pull(job.upload_dir)
    manifests = sorted(folder.glob("manifest*"))
    try:
        image_set_import(
            path=folder / "archive.zip",
            set_name=job.set_name,
            kind=job.kind or None,
            model_name=job.model_name or None,
            model_version=job.model_version,
            manifest=manifests[0] if manifests else None,
            source_set=job.source_set,
            progress=_progress_writer(job.pk),
            words=API_WORDS if job.door == ImportJob.Door.API else FORM_WORDS,
            archive_label=job.archive_name,
            manifest_label=job.manifest_name or None,
            before_commit=lambda result: _record_done(job.pk, result),
        )
    except ImportFailed as exc:
        _finish(job.pk, status=ImportJob.Status.FAILED, problems=exc.problems)
    except (OperationalError, InterfaceError):
        # The database went away: transient. Queued again for the task's retry to claim;
        # the upload stays. (If even that fails, the stale-job sweep takes it up.)
        try:
            ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
                status=ImportJob.Status.QUEUED
            )
        except (OperationalError, InterfaceError):
            pass
        raise
    except Exception as exc:
        log.exception("import job %s failed", job.pk)
        _finish(
            job.pk,
            status=ImportJob.Status.FAILED,
            problems=[f"internal error ({type(exc).__name__}); nothing was imported, "
                      "see the worker log"],
        )  # fmt: skip
    folder_remove(job.upload_dir)
    return ImportJob.objects.get(pk=job_id)


def import_jobs_resume(*, queue_size=None) -> list[int]:
    """Send again jobs no worker is on: running without a heartbeat for
    ``EVALSITE_IMPORT_STALE_SECONDS``, or queued that long while the ``cpu`` queue is
    empty (their message was lost). Called by the workers' sweep."""
    from metrics.services.runs.sweep import broker_queue_size
    from metrics.tasks import import_job_run_task

    stale = timezone.now() - timedelta(seconds=settings.EVALSITE_IMPORT_STALE_SECONDS)
    jobs = ImportJob.objects.filter(
        Q(status=ImportJob.Status.QUEUED, created_at__lt=stale)
        | Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale)
    )
    found = list(jobs.values_list("pk", "status"))
    if not found:
        return []
    ids = [pk for pk, _status in found]
    queued = {pk for pk, status in found if status == ImportJob.Status.QUEUED}
    if queued and (queue_size or broker_queue_size)("cpu") != 0:
        ids = [pk for pk in ids if pk not in queued]  # still waiting in the queue
    for pk in ids:
        import_job_run_task.apply_async((pk,), queue="cpu")
    return ids


def _record_done(job_id: int, result: ImportResult) -> None:
    _finish(
        job_id,
        status=ImportJob.Status.DONE,
        image_set=result.image_set,
        created=result.created,
        unchanged=result.unchanged,
        problems=[],
    )


def _finish(job_id: int, **fields) -> None:
    ImportJob.objects.filter(pk=job_id).update(finished_at=timezone.now(), **fields)


def _progress_writer(job_id: int):
    last = {"at": 0.0, "stage": ""}

    def write(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == last["stage"] and done < total and now - last["at"] < PROGRESS_EVERY_S:
            return
        last.update(at=now, stage=stage)
        ImportJob.objects.filter(pk=job_id).update(
            stage=stage, progress_done=done, progress_total=total, heartbeat_at=timezone.now()
        )

    return write


def _label(name: str | None, default: str) -> str:
    """The user's file name, as messages show it: no folders, at most 255 characters."""
    name = Path(name or "").name.strip() or default
    return name if len(name) <= 255 else name[:120] + "..." + name[-120:]


def _save(upload, target: Path) -> Path:
    with open(target, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    return target
