"""A run's steps: recorded in the database, sent to the broker, claimed under a lease.

Liveness has one mechanism. Every unit of work is a :class:`RunStep` row; a broker
message only carries its id. A worker claims a step before working on it and a thread
of the executing process renews the claim's lease (:class:`StepLease`). The sweeper
(:mod:`metrics.services.runs.sweep`) sends again what is lost: a step never sent, a
step whose lease ran out, a step the broker dropped. Claims are guarded, so a message
delivered twice is a no-op, never a second computation of the same step.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from metrics.models import MetricRun, RunStep

log = logging.getLogger(__name__)

State = RunStep.State
Kind = RunStep.Kind


def _task(kind: str):
    from metrics import tasks

    return {
        Kind.PLAN: tasks.metric_run_plan_task,
        Kind.CHUNK: tasks.metric_run_chunk_task,
        Kind.AGGREGATE: tasks.metric_run_aggregate_task,
    }[kind]


def lease_seconds() -> float:
    return max(1.0, float(settings.EVALSITE_STEP_LEASE_SECONDS))


# --- record and send ------------------------------------------------------------------


def step_add(*, run_id: int, kind: str, queue: str, unit: str = "", keys=None) -> RunStep:
    """Record a step and send it once the current transaction commits."""
    step = RunStep.objects.create(run_id=run_id, kind=kind, queue=queue, unit=unit, keys=keys or [])
    steps_send_on_commit([step.pk])
    return step


def steps_add_chunks(*, run_id: int, queue: str, chunks: list[tuple[str, list]]) -> list[int]:
    """Record chunk steps in bulk and send them after commit; returns their ids."""
    rows = RunStep.objects.bulk_create(
        [
            RunStep(run_id=run_id, kind=Kind.CHUNK, queue=queue, unit=unit, keys=keys)
            for unit, keys in chunks
        ]
    )
    ids = [row.pk for row in rows]
    if any(pk is None for pk in ids):  # backends that do not return ids from bulk inserts
        ids = list(
            RunStep.objects.filter(run_id=run_id, kind=Kind.CHUNK, state=State.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    steps_send_on_commit(ids)
    return ids


def steps_send_on_commit(step_ids: list[int]) -> None:
    if step_ids:
        transaction.on_commit(lambda: steps_send(step_ids))


def steps_send(step_ids: list[int]) -> int:
    """Publish the steps' messages; a step whose publish fails stays PENDING for the sweeper.

    Never raises for a broker that is down: the request that created the run has
    committed it, and the sweeper sends it once the broker is back.
    """
    sent = 0
    for step in RunStep.objects.filter(pk__in=step_ids, state=State.PENDING):
        # SENT before the publish: a worker may claim (and even release) the step before
        # apply_async returns, and that later state must not be overwritten.
        if not RunStep.objects.filter(pk=step.pk, state=State.PENDING).update(
            state=State.SENT, sent_at=timezone.now()
        ):
            continue
        try:
            _task(step.kind).apply_async(
                (step.pk,),
                queue=step.queue,
                retry=True,
                retry_policy=settings.EVALSITE_PUBLISH_RETRY_POLICY,
            )
        except Exception as exc:  # kombu raises several types for a broker that is away
            RunStep.objects.filter(pk=step.pk, state=State.SENT).update(state=State.PENDING)
            log.warning(
                "could not send step %s of run %s (%s: %s); the sweeper sends it once the "
                "broker is back",
                step.pk,
                step.run_id,
                type(exc).__name__,
                exc,
            )
            continue
        RunStep.objects.filter(pk=step.pk).update(sends=F("sends") + 1)
        sent += 1
    return sent


# --- claim, lease, finish ---------------------------------------------------------------


def step_claim(*, step_id: int, worker: str) -> RunStep | None:
    """Take the step for this process, or None when it is done, held by a live lease, or
    its run has ended."""
    now = timezone.now()
    claimable = Q(state__in=(State.PENDING, State.SENT)) | Q(
        state=State.RUNNING, lease_until__lt=now
    )
    active_runs = MetricRun.objects.filter(status__in=MetricRun.ACTIVE).values("pk")
    updated = (
        RunStep.objects.filter(pk=step_id, run_id__in=active_runs)
        .filter(claimable)
        .update(
            state=State.RUNNING,
            lease_until=now + timedelta(seconds=lease_seconds()),
            worker=worker[:200],
            attempts=F("attempts") + 1,
        )
    )
    if not updated:
        return None
    return RunStep.objects.get(pk=step_id)


def step_done(*, step_id: int) -> None:
    RunStep.objects.filter(pk=step_id).update(state=State.DONE, lease_until=None)


def step_release(*, step_id: int, batch_size: int | None = None) -> None:
    """Give a claimed step back (sent again now), e.g. to retry it with a smaller batch."""
    fields = {"state": State.PENDING, "lease_until": None}
    if batch_size is not None:
        fields["batch_size"] = batch_size
    RunStep.objects.filter(pk=step_id, state=State.RUNNING).update(**fields)
    steps_send_on_commit([step_id])


def run_steps_drop(*, run_id: int) -> None:
    """Forget the open steps of a run that ended (failed or cancelled)."""
    RunStep.objects.filter(run_id=run_id).exclude(state=State.DONE).delete()


class StepLease:
    """Renews a claimed step's lease (and the run's heartbeat) from a thread while the
    step runs: the lease ends with the process, whatever kills it."""

    def __init__(self, step: RunStep):
        self.step_id, self.run_id, self.worker = step.pk, step.run_id, step.worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{step.pk}", daemon=True)

    def __enter__(self) -> StepLease:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        every = lease_seconds() / 3
        try:
            while not self._stop.wait(every):
                try:
                    self.renew()
                except Exception as exc:  # the database is away: the lease may lapse
                    log.warning("could not renew the lease of step %s: %s", self.step_id, exc)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection

    def renew(self) -> None:
        now = timezone.now()
        RunStep.objects.filter(pk=self.step_id, state=State.RUNNING, worker=self.worker).update(
            lease_until=now + timedelta(seconds=lease_seconds())
        )
        MetricRun.objects.filter(pk=self.run_id).update(heartbeat_at=now)
