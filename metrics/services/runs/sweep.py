"""The sweeper: the one liveness mechanism of metric runs.

Every few seconds one worker (whichever takes the turn, see
:mod:`metrics.housekeeping`) looks at the open steps of active runs and sends again
those that nothing will ever deliver:

- PENDING: recorded but never sent (the broker was down when the run was created);
- RUNNING with a lapsed lease: the process holding it died (SIGKILL, OOM killer, a
  lost machine), since a live one renews its lease every few seconds;
- SENT a while ago while its queue in the broker is empty: the message was lost
  (a broker restarted without persistence, a worker died holding it reserved).

A step that waits in a queue behind other work keeps its message and is left alone;
an extra message for a step is harmless anyway, since claims are guarded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from metrics.models import MetricRun, RunStep, WorkerBeat
from metrics.services.runs.queue import step_add_aggregate, step_add_once, step_add_plan
from metrics.services.runs.steps import steps_send

log = logging.getLogger(__name__)

State = RunStep.State
Kind = RunStep.Kind


@dataclass
class SweepReport:
    resent: list[int] = field(default_factory=list)  # step ids sent again
    planned: list[int] = field(default_factory=list)  # runs given a plan step
    aggregated: list[int] = field(default_factory=list)  # runs given an aggregation step

    def __bool__(self) -> bool:
        return bool(self.resent or self.planned or self.aggregated)


def broker_queue_size(queue: str) -> int | None:
    """Messages waiting in ``queue`` (0 when the broker does not know it); None if unknown."""
    from kombu.exceptions import ChannelError

    from evalsite.celery import app

    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1)
            try:
                return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError:
                return 0  # a queue the broker does not have holds nothing
    except Exception as exc:
        log.warning("could not read the size of queue %r: %s", queue, exc)
        return None


def metric_runs_sweep(
    *, queue_size: Callable[[str], int | None] = broker_queue_size, now=None
) -> SweepReport:
    """Send again every lost step of an active run (see the module docstring)."""
    now = now or timezone.now()
    report = SweepReport()
    # Heartbeats of workers gone for a day (killed, never shut down) are history.
    WorkerBeat.objects.filter(seen_at__lt=now - timedelta(days=1)).delete()
    _give_orphans_a_plan(report)
    _give_finished_runs_an_aggregation(report)
    grace = timedelta(seconds=settings.EVALSITE_SEND_GRACE_SECONDS)
    sizes: dict[str, int | None] = {}
    lost: list[int] = []
    open_steps = RunStep.objects.filter(run__status__in=MetricRun.ACTIVE).exclude(state=State.DONE)
    for step in open_steps.only("pk", "state", "queue", "sent_at", "lease_until"):
        if step.state == State.PENDING:
            lost.append(step.pk)
        elif step.state == State.RUNNING:
            if step.lease_until is None or step.lease_until < now:
                lost.append(step.pk)
        elif step.sent_at is None or step.sent_at < now - grace:
            if step.queue not in sizes:
                sizes[step.queue] = queue_size(step.queue)
            if sizes[step.queue] == 0:
                lost.append(step.pk)
    guard = Q(state__in=(State.PENDING, State.SENT)) | Q(state=State.RUNNING, lease_until__lt=now)
    for pk in lost:
        # Back to PENDING only if still as seen: a claim made meanwhile wins.
        if (
            RunStep.objects.filter(pk=pk)
            .filter(guard)
            .update(state=State.PENDING, lease_until=None)
        ):
            report.resent.append(pk)
    if report.resent:
        steps_send(report.resent)
        log.info("sweeper: sent %d lost steps again: %s", len(report.resent), report.resent[:20])
    return report


def _give_orphans_a_plan(report: SweepReport) -> None:
    """Active runs with no step at all (created before steps existed) get their plan."""
    orphans = MetricRun.objects.filter(status__in=MetricRun.ACTIVE, steps__isnull=True)
    for run_id in orphans.values_list("pk", flat=True):
        if step_add_once(step_add_plan, run_id):
            report.planned.append(run_id)


def _give_finished_runs_an_aggregation(report: SweepReport) -> None:
    """Runs whose plan and chunks are all done but have no aggregation step get one.

    Chunk completion adds it already; this covers a process that died in between.
    """
    candidates = (
        MetricRun.objects.filter(status=MetricRun.Status.RUNNING)
        .annotate(
            open_steps=Count("steps", filter=~Q(steps__state=State.DONE)),
            plans_done=Count("steps", filter=Q(steps__kind=Kind.PLAN, steps__state=State.DONE)),
            aggregations=Count("steps", filter=Q(steps__kind=Kind.AGGREGATE)),
        )
        .filter(open_steps=0, plans_done=1, aggregations=0)
    )
    for run_id in candidates.values_list("pk", flat=True):
        if step_add_once(step_add_aggregate, run_id):
            report.aggregated.append(run_id)


def live_workers(*, within_s: float | None = None) -> list[WorkerBeat]:
    """Workers whose main process wrote a heartbeat recently."""
    within_s = within_s if within_s is not None else settings.EVALSITE_WORKER_DEAD_SECONDS
    cutoff = timezone.now() - timedelta(seconds=within_s)
    return list(WorkerBeat.objects.filter(seen_at__gte=cutoff).order_by("hostname"))


def queues_without_worker(queues: set[str]) -> set[str]:
    """Those of ``queues`` that no live worker consumes (what the run page warns about)."""
    served: set[str] = set()
    for beat in live_workers():
        served.update(q for q in beat.queues.split(",") if q)
    return {q for q in queues if q not in served}


def run_waiting_reason(run: MetricRun) -> str:
    """Why an active run is not moving, in words for its page; "" when nothing is wrong."""
    if not run.is_active:
        return ""
    open_steps = RunStep.objects.filter(run=run).exclude(state=State.DONE)
    if open_steps.filter(state=State.PENDING, sends=0).exists():
        return (
            "waiting for the message broker: the run is recorded and starts as soon as the "
            "broker can be reached again"
        )
    waiting = set(open_steps.values_list("queue", flat=True))
    idle = sorted(queues_without_worker(waiting))
    if idle:
        names = ", ".join(f"'{q}'" for q in idle)
        return (
            f"waiting for a worker: no live worker consumes the {names} queue "
            f"(start one with `celery -A evalsite worker -Q {','.join(idle)}`)"
        )
    return ""
