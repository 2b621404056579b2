"""Metric runs and the per-image feature cache."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from metrics.models.catalog import Image, ImageSet


class MetricRun(models.Model):
    """One request for one metric over image sets, with its result and provenance."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    metric = models.CharField(max_length=40)
    image_set = models.ForeignKey(ImageSet, on_delete=models.CASCADE, related_name="metric_runs")
    reference_set = models.ForeignKey(
        ImageSet,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="metric_runs_as_reference",
    )
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    value = models.FloatField(null=True, blank=True)
    std = models.FloatField(null=True, blank=True)
    interval_low = models.FloatField(null=True, blank=True)
    interval_high = models.FloatField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life from a worker; a stale active run is resumed when a worker starts.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    features_computed = models.PositiveIntegerField(
        default=0, help_text="features this run had to compute (0 when all were cached)"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["metric", "image_set"])]

    def __str__(self) -> str:
        return f"{self.metric} on {self.image_set} #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("metrics:run_detail", args=[self.pk])

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class MetricRunItem(models.Model):
    """A per-image value of a run (CLIP score of one image, SSIM of one pair...)."""

    run = models.ForeignKey(MetricRun, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="metric_items")
    value = models.FloatField(null=True, help_text="null for +/- infinity (PSNR of identical)")
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run_id", "image_id"]
        constraints = [models.UniqueConstraint(fields=["run", "image"], name="run_item_unique")]

    def __str__(self) -> str:
        return f"run {self.run_id} image {self.image_id}: {self.value}"


class Feature(models.Model):
    """A cached feature vector of one image (or prompt) under one extractor.

    Keyed by the content's sha256 (image bytes, or prompt text for text features), the
    extractor id, its preprocessing and its weights hash: change any of them and the
    feature is a different one. Written with upserts, so concurrent workers never
    duplicate a row.
    """

    content_sha256 = models.CharField(max_length=64)
    extractor_id = models.CharField(max_length=120)
    preprocessing = models.CharField(max_length=60)
    weights_sha256 = models.CharField(max_length=64)
    # Output name -> dimension, in the order the vectors are concatenated in ``data``.
    layout = models.JSONField()
    data = models.BinaryField()  # float32, little endian
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["content_sha256", "extractor_id", "preprocessing", "weights_sha256"],
                name="feature_unique_per_content_and_extractor",
            )
        ]

    def __str__(self) -> str:
        return f"{self.extractor_id} {self.preprocessing} of {self.content_sha256[:12]}"
