"""Background import jobs: an upload stored on disk, imported by a worker on the cpu queue."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from metrics.models.catalog import ImageSet


class ImportJob(models.Model):
    """One import request from the web form or the API; its progress, problems and result."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Door(models.TextChoices):
        FORM = "form", "upload form"
        API = "api", "REST API"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    # Which door the request came through: messages name its fields.
    door = models.CharField(max_length=8, choices=Door.choices, default=Door.FORM)
    # The request, as the user gave it (names shown back in the user's own words).
    set_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=ImageSet.Kind.choices, blank=True, default="")
    model_name = models.CharField(max_length=200, blank=True, default="")
    model_version = models.CharField(max_length=100, blank=True, default="")
    source_set = models.ForeignKey(
        ImageSet, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archive_name = models.CharField(max_length=255)
    manifest_name = models.CharField(max_length=255, blank=True, default="")
    # Folder of the stored upload, relative to MEDIA_ROOT ("imports/<token>"); removed at the end.
    upload_dir = models.CharField(max_length=100, unique=True)
    # Progress: "check" (reading and verifying files), "store", "rows".
    stage = models.CharField(max_length=10, blank=True, default="")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True)
    image_set = models.ForeignKey(
        ImageSet, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    created = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"import #{self.pk} into {self.set_name}"

    def get_absolute_url(self) -> str:
        return reverse("metrics:import_job", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))
