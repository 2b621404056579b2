"""Metric runs: create, plan (what is missing), compute chunks, aggregate, cancel, sweep.

The flow (tasks in ``metrics/tasks.py`` call these functions with step ids):

1. :func:`metric_run_create` validates the request and stores a QUEUED run with its
   plan step (``steps.py``), sent to the broker after commit.
2. :func:`metric_run_plan` (``cpu`` queue) marks the run RUNNING, finds which features
   (or pair values) are missing, and records a step per chunk of them; none missing:
   the aggregation step.
3. :func:`metric_run_compute_chunk` (``gpu`` queue for networks, ``cpu`` for pixel
   metrics) computes one chunk and upserts its rows; the last chunk to finish records
   the aggregation step.
4. :func:`metric_run_aggregate` (``cpu``) reads the cached features, calls the engine
   and stores the result with its provenance.
5. :func:`metric_runs_sweep` (every few seconds, in a worker) sends again the steps
   that were lost with a process or a broker (``sweep.py``).

Every step is idempotent: features are keyed by content and upserted, per-pair values
are unique per run and image, claims and the final write are guarded by status. A
step done twice costs time, never correctness.
"""

from metrics.services.runs.cache import text_sha256
from metrics.services.runs.compute import (
    Chunk,
    metric_run_aggregate_if_complete,
    metric_run_compute_chunk,
    metric_run_plan,
)
from metrics.services.runs.lifecycle import (
    RunRefused,
    metric_run_cancel,
    metric_run_create,
    metric_run_fail,
)
from metrics.services.runs.results import metric_run_aggregate
from metrics.services.runs.sweep import metric_runs_sweep

__all__ = [
    "Chunk",
    "RunRefused",
    "metric_run_aggregate",
    "metric_run_aggregate_if_complete",
    "metric_run_cancel",
    "metric_run_compute_chunk",
    "metric_run_create",
    "metric_run_fail",
    "metric_run_plan",
    "metric_runs_sweep",
    "text_sha256",
]
