"""Real Celery worker processes for tests: on the test database and broker, on Celery's
default prefork pool (what `make run` and the compose stack start), killed or stopped at
the end. Liveness settings are short so that fault tests finish in seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from evalsite.celery import app as celery_app
from metrics.models import MetricRun

ROOT = Path(__file__).resolve().parents[2]
INCEPTION = "pt_inception-2015-12-05-6726825d.pth"


def database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    """A `celery worker` process on the test database; killed or stopped at the end."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 2):
        self.env, self.log, self.proc, self.concurrency = env, log, None, concurrency

    def start(self) -> Worker:
        self.hostname = f"test{time.monotonic_ns()}@localhost"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "evalsite", "worker", "-Q", "gpu,cpu",
             "--concurrency", str(self.concurrency), "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--hostname", self.hostname],
            cwd=ROOT, env=self.env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker_env(weights_dir, tmp_path, settings) -> dict[str, str]:
    settings.EVALSITE_INCEPTION_WEIGHTS = str(weights_dir / INCEPTION)
    settings.EVALSITE_FEATURE_CHUNK_SIZE = 4
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        celery_app.control.purge()
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "EVALSITE_INCEPTION_WEIGHTS": str(weights_dir / INCEPTION),
        "EVALSITE_WEIGHTS_DIR": str(weights_dir),
        "EVALSITE_OFFLINE": "1",
        "EVALSITE_FEATURE_CHUNK_SIZE": "4",
        "EVALSITE_STEP_LEASE_SECONDS": "6",
        "EVALSITE_SWEEP_SECONDS": "1",
        "EVALSITE_SEND_GRACE_SECONDS": "4",
        "EVALSITE_WORKER_DEAD_SECONDS": "6",
        "EVALSITE_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "OMP_NUM_THREADS": "1",
    }


@pytest.fixture
def workers(worker_env, tmp_path):
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        """A new worker process; keyword arguments override its environment."""
        w = Worker({**worker_env, **env}, tmp_path / f"worker{len(started)}.log").start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def wait_for(predicate, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def wait_done(run: MetricRun, log: Path, timeout: float = 240) -> MetricRun:
    def finished():
        fresh = MetricRun.objects.get(pk=run.pk)
        return fresh if fresh.status in ("done", "failed", "cancelled") else None

    fresh = wait_for(finished, timeout, f"run {run.pk}", log)
    assert fresh.status == "done", fresh.error
    return fresh


def cli_json(*args: str, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "metrics", *args, "--json", "--no-progress"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def fid_sets(tmp_path):
    """Two imported sets of 12 images (``gen`` of model ``m``, reference ``ref``): FID's inputs."""
    from metrics.services.imports import image_set_import
    from tests.engine.inception_fixtures import write_image_set

    a, b = tmp_path / "a", tmp_path / "b"
    write_image_set(a, seed=1, count=12)
    write_image_set(b, seed=2, count=12, tint=(30, -20, 10))
    image_set_import(path=a, set_name="gen", model_name="m")
    image_set_import(path=b, set_name="ref", kind="reference")
    return a, b
