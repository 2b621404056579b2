"""Metric runs: create, plan (what is missing), compute chunks, aggregate, cancel, resume.

The flow (tasks in ``metrics/tasks.py`` call these functions with ids):

1. :func:`metric_run_create` validates the request, stores a QUEUED run and enqueues
   the plan after commit.
2. :func:`metric_run_plan` (``cpu`` queue) marks the run RUNNING, finds which features
   (or pair values) are missing, and enqueues chunks of them; none missing: aggregate.
3. :func:`metric_run_compute_chunk` (``gpu`` queue for networks, ``cpu`` for pixel
   metrics) computes one chunk and upserts its rows; whoever finds the run complete
   enqueues the aggregation.
4. :func:`metric_run_aggregate` (``cpu``) reads the cached features, calls the engine
   and stores the result with its provenance.

Every step is idempotent: features are keyed by content and upserted, per-pair values
are unique per run and image, and the final write is guarded by the run's status. A
chunk done twice (a redelivered task) costs time, never correctness.
"""

from metrics.services.runs.cache import text_sha256
from metrics.services.runs.compute import Chunk, metric_run_compute_chunk, metric_run_plan
from metrics.services.runs.lifecycle import (
    RunRefused,
    metric_run_cancel,
    metric_run_create,
    metric_run_fail,
    metric_run_watchdog,
    metric_runs_resume,
)
from metrics.services.runs.results import metric_run_aggregate

__all__ = [
    "Chunk",
    "RunRefused",
    "metric_run_aggregate",
    "metric_run_cancel",
    "metric_run_compute_chunk",
    "metric_run_create",
    "metric_run_fail",
    "metric_run_plan",
    "metric_run_watchdog",
    "metric_runs_resume",
    "text_sha256",
]
