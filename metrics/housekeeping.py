"""What every worker's main process does beside consuming: heartbeats and the sweep.

A daemon thread, started when the worker is ready, writes the worker's heartbeat
(:class:`~metrics.models.WorkerBeat`) every ``EVALSITE_SWEEP_SECONDS`` and, when this
worker is the sweeper of the moment, runs :func:`metric_runs_sweep`, sends again
import jobs whose worker died, and sends the blob collector every hour. The sweeper is
the live worker with the smallest host name: no lock, no extra service, and when it
dies the next one takes over as soon as its heartbeat is old. It lives in the main
process, so a sweep never waits for a free pool slot, and it works the same under
the prefork, threads and solo pools and on every broker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection
from django.utils import timezone

log = logging.getLogger(__name__)

_state: dict = {}


def heartbeat(*, hostname: str, queues: str) -> None:
    """Record that this worker is alive."""
    from metrics.models import WorkerBeat

    now = timezone.now()
    updated = WorkerBeat.objects.filter(hostname=hostname).update(
        seen_at=now, queues=queues, pid=os.getpid()
    )
    if not updated:
        WorkerBeat.objects.update_or_create(
            hostname=hostname,
            defaults={"queues": queues, "pid": os.getpid(), "started_at": now, "seen_at": now},
        )


def is_sweeper(hostname: str) -> bool:
    """True when ``hostname`` is the live worker whose turn it is to sweep."""
    from metrics.models import WorkerBeat

    recent = timezone.now() - timedelta(seconds=3 * max(1, settings.EVALSITE_SWEEP_SECONDS))
    first = (
        WorkerBeat.objects.filter(seen_at__gte=recent)
        .order_by("hostname")
        .values_list("hostname", flat=True)
        .first()
    )
    return first == hostname


def _periodic(clock: dict) -> None:
    """The sweeper's timed chores: the blob collector every EVALSITE_BLOB_COLLECT_SECONDS."""
    from metrics.tasks import collect_blobs_task

    every = settings.EVALSITE_BLOB_COLLECT_SECONDS
    now = time.monotonic()
    clock.setdefault("collect", now)  # the first collection one period after taking over
    if every > 0 and now - clock["collect"] >= every:
        clock["collect"] = now
        collect_blobs_task.apply_async(queue="cpu")


def tick(*, hostname: str, queues: str, clock: dict | None = None) -> None:
    """One round: heartbeat, then, if it is this worker's turn, the sweeps and chores."""
    from metrics.services.import_jobs import import_jobs_resume
    from metrics.services.runs import metric_runs_sweep

    try:
        heartbeat(hostname=hostname, queues=queues)
        if is_sweeper(hostname):
            metric_runs_sweep()
            import_jobs_resume()
            _periodic(clock if clock is not None else {})
    except Exception as exc:  # the database or the broker is away: try again next round
        log.warning("housekeeping: %s: %s", type(exc).__name__, exc)
    finally:
        # Never keep a connection open between rounds: the pool forks children from
        # this process, and they must not inherit a live one.
        connection.close()


def _loop(stop: threading.Event, hostname: str, queues: str) -> None:
    every = max(1, settings.EVALSITE_SWEEP_SECONDS)
    clock: dict = {}
    while True:
        tick(hostname=hostname, queues=queues, clock=clock)
        if stop.wait(every):
            return


@worker_ready.connect
def _start(sender=None, **kwargs) -> None:
    hostname = getattr(sender, "hostname", None) or "worker"
    try:
        queues = ",".join(sorted(sender.app.amqp.queues.consume_from))
    except Exception:
        queues = ""
    stop = threading.Event()
    thread = threading.Thread(
        target=_loop, args=(stop, hostname, queues), name="evalsite-housekeeping", daemon=True
    )
    _state.update(stop=stop, thread=thread, hostname=hostname)
    thread.start()
    log.info("housekeeping started for %s (queues %s)", hostname, queues)


@worker_shutdown.connect
def _stop(**kwargs) -> None:
    stop, thread = _state.get("stop"), _state.get("thread")
    if stop is None:
        return
    stop.set()
    thread.join(timeout=10)
    try:
        from metrics.models import WorkerBeat

        WorkerBeat.objects.filter(hostname=_state["hostname"]).delete()
    except Exception as exc:
        log.warning("could not remove the heartbeat of %s: %s", _state["hostname"], exc)
    finally:
        connection.close()
