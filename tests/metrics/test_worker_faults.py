"""Metric runs under real faults, with real worker processes on the prefork pool.

- a worker SIGKILLed while computing features, and while aggregating: the run finishes
  on a new worker within 60 s, with the command line's value and no duplicate feature;
- a Redis broker restarted (losing every queued message) under live workers: they
  survive it and the run finishes with nobody restarting anything;
- a run asked for while the broker is down: recorded, then run once the broker is back.

The kill tests use the suite's broker (filesystem locally, Redis in CI); the Redis
tests start a private ``redis-server`` on a free port so they can restart it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest

from evalsite.celery import app as celery_app
from metrics.models import Feature, ImageSet, MetricRun, RunStep
from metrics.services.runs import metric_run_create
from tests.metrics.workers import INCEPTION, cli_json, wait_done, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RECOVERY_S = 60


@pytest.fixture
def expected_fid(fid_sets, worker_env, weights_dir) -> float:
    a, b = fid_sets
    out = cli_json("fid", str(a), str(b), "--force", "--inception-weights",
                   str(weights_dir / INCEPTION), env=worker_env)  # fmt: skip
    return out["value"]


def fid_run() -> MetricRun:
    gen, ref = ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")
    return metric_run_create(metric="fid", image_set=gen, reference_set=ref, params={"force": True})


def assert_each_feature_once():
    shas = set(ImageSet.objects.get(name="gen").images.values_list("sha256", flat=True))
    shas |= set(ImageSet.objects.get(name="ref").images.values_list("sha256", flat=True))
    assert Feature.objects.count() == len(shas) == 24
    assert set(Feature.objects.values_list("content_sha256", flat=True)) == shas


# --- SIGKILL ------------------------------------------------------------------------------


def test_a_worker_killed_while_computing_features_is_replaced_within_a_minute(
    fid_sets, expected_fid, workers
):
    first = workers()
    run = fid_run()
    wait_for(lambda: Feature.objects.count() >= 4, 180, "the first features", first.log)
    first.kill()
    assert MetricRun.objects.get(pk=run.pk).status == "running"
    assert Feature.objects.count() < 24

    second = workers()
    started = time.monotonic()
    finished = wait_done(run, second.log, timeout=RECOVERY_S + 60)
    took = time.monotonic() - started
    assert finished.value == pytest.approx(expected_fid, rel=1e-6)
    assert_each_feature_once()
    assert took < RECOVERY_S, f"finished {took:.0f} s after the new worker started"
    assert "lost steps again" in second.log.read_text()


def test_a_worker_killed_while_aggregating_is_replaced_within_a_minute(
    fid_sets, expected_fid, workers
):
    first = workers()
    run = fid_run()

    def aggregating():
        return RunStep.objects.filter(run=run, kind="aggregate", state="running").exists()

    # The FID of 2048-d features takes a few seconds: time enough to catch it.
    wait_for(aggregating, 240, "the aggregation to start", first.log)
    first.kill()
    assert MetricRun.objects.get(pk=run.pk).status == "running"

    second = workers()
    started = time.monotonic()
    finished = wait_done(run, second.log, timeout=RECOVERY_S + 60)
    took = time.monotonic() - started
    assert finished.value == pytest.approx(expected_fid, rel=1e-6)
    assert finished.features_computed == 24
    assert_each_feature_once()
    assert took < RECOVERY_S, f"finished {took:.0f} s after the new worker started"


# --- a private Redis that can be restarted --------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A ``redis-server`` of this test alone, without persistence (a restart loses all)."""

    def __init__(self, folder):
        self.port, self.folder, self.proc = _free_port(), folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed for the broker fault tests (apt install redis-server)")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


@contextmanager
def publishing_to(url: str):
    """This test process publishes to ``url`` (Celery opens its broker pool lazily)."""
    conf = celery_app.conf
    urls = ("broker_url", "broker_read_url", "broker_write_url")
    saved = {name: conf[name] for name in (*urls, "broker_transport_options")}
    pools = celery_app._pool, celery_app.amqp._producer_pool
    # Fresh pools for the private broker; the suite's own are put back untouched after.
    celery_app._pool = celery_app.amqp._producer_pool = None
    for name in urls:  # Celery copies the broker URL into the read and write URLs
        conf[name] = url
    conf.broker_transport_options = {"visibility_timeout": 3600}
    try:
        yield
    finally:
        if celery_app._pool is not None:
            celery_app._pool.force_close_all()
        for name, value in saved.items():
            conf[name] = value
        celery_app._pool, celery_app.amqp._producer_pool = pools


def test_workers_ride_out_a_redis_restart_and_the_run_finishes(
    fid_sets, expected_fid, workers, private_redis
):
    with publishing_to(private_redis.url):
        worker = workers(CELERY_BROKER_URL=private_redis.url)
        run = fid_run()
        wait_for(lambda: Feature.objects.count() >= 4, 180, "the first features", worker.log)
        private_redis.kill()  # every queued and reserved message is gone with it
        time.sleep(2)
        private_redis.start()

        finished = wait_done(run, worker.log, timeout=180)
        assert finished.value == pytest.approx(expected_fid, rel=1e-6)
        assert_each_feature_once()
        assert worker.alive, worker.log.read_text()[-3000:]
        log = worker.log.read_text()
        assert "Unrecoverable error" not in log

        # And the worker still takes new work after the restart.
        again = wait_done(fid_run(), worker.log, timeout=120)
        assert again.value == pytest.approx(expected_fid, rel=1e-6)


def test_a_run_asked_for_while_the_broker_is_down_runs_once_it_is_back(
    fid_sets, expected_fid, workers, private_redis, admin_client
):
    body = {"metric": "fid", "image_set": "gen", "reference_set": "ref", "params": {"force": True}}
    with publishing_to(private_redis.url):
        private_redis.kill()
        started = time.monotonic()
        response = admin_client.post(
            "/api/runs/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="try-1"
        )
        assert response.status_code == 201, response.content
        assert time.monotonic() - started < 15  # no hanging request
        retry = admin_client.post(
            "/api/runs/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="try-1"
        )
        assert retry.status_code == 200 and retry.json()["id"] == response.json()["id"]
        run = MetricRun.objects.get()  # one run, not two
        assert run.steps.get().state == "pending"

        private_redis.start()
        worker = workers(CELERY_BROKER_URL=private_redis.url)
        finished = wait_done(run, worker.log, timeout=180)
        assert finished.value == pytest.approx(expected_fid, rel=1e-6)
        assert MetricRun.objects.count() == 1
