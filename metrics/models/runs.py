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
    # A client's retry of the same request (header Idempotency-Key) returns this run.
    idempotency_key = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["metric", "image_set"])]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="run_idempotency_key_unique_per_user",
            )
        ]

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


class RunStep(models.Model):
    """One message's worth of a run's work (its plan, one chunk, its aggregation).

    The database, not the broker, holds the truth about what is left to do: a broker
    message only wakes a worker up. A worker claims a step (SENT -> RUNNING) and holds
    a lease on it that a thread of the executing process renews; the sweeper
    (``metric_runs_sweep``) sends again any step whose lease ran out (its process died),
    that was never sent (the broker was down), or that the broker lost (sent a while
    ago, and its queue is empty). Claims are guarded, so a duplicate message is a no-op.
    """

    class Kind(models.TextChoices):
        PLAN = "plan"
        CHUNK = "chunk"
        AGGREGATE = "aggregate"

    class State(models.TextChoices):
        PENDING = "pending", "waiting to be sent"
        SENT = "sent", "in the queue"
        RUNNING = "running"
        DONE = "done"

    run = models.ForeignKey(MetricRun, on_delete=models.CASCADE, related_name="steps")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Chunks: what to compute ("inception", "clip", "clip-text", "pairs") and on which keys
    # (image ids, or texts for "clip-text").
    unit = models.CharField(max_length=20, blank=True, default="")
    keys = models.JSONField(default=list, blank=True)
    queue = models.CharField(max_length=20)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # Set after a CUDA out-of-memory error: the next attempt uses this smaller batch.
    batch_size = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="times a worker claimed it")
    sends = models.PositiveIntegerField(default=0, help_text="times it was sent to the broker")
    sent_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["run_id", "id"]
        indexes = [models.Index(fields=["state"])]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "kind"],
                condition=~models.Q(kind="chunk"),
                name="run_step_one_plan_and_one_aggregate",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.kind} {self.unit} #{self.pk} ({self.state})"


class WorkerBeat(models.Model):
    """A Celery worker's sign of life, written every few seconds by its main process."""

    hostname = models.CharField(max_length=200, unique=True)
    queues = models.CharField(max_length=200, blank=True, default="")
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} ({self.queues}) seen {self.seen_at:%H:%M:%S}"


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
    # Room for long ids: a checkpoint's folder, a scorer's preprocessing with its prompt
    # tokenisation (PostgreSQL refuses what does not fit; SQLite would not notice).
    extractor_id = models.CharField(max_length=255)
    preprocessing = models.CharField(max_length=255)
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
