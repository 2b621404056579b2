"""Metric runs through a real Celery worker process (filesystem broker locally, Redis in CI).

The worker is a separate process on the same test database and broker: what a user
gets from `make run` or the compose stack.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from evalsite.celery import app as celery_app
from metrics.models import Feature, ImageSet, MetricRun
from metrics.services.imports import image_set_import
from metrics.services.runs import metric_run_create
from tests.engine.clip_fixtures import make_test_images
from tests.engine.inception_fixtures import write_image_set

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

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

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log, self.proc = env, log, None

    def start(self) -> Worker:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "evalsite", "worker", "-Q", "gpu,cpu",
             "--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--hostname", f"test{time.monotonic_ns()}@%h"],
            cwd=ROOT, env=self.env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return self

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
        "EVALSITE_RUN_STALE_SECONDS": "1",
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "EVALSITE_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "OMP_NUM_THREADS": "1",
    }


@pytest.fixture
def workers(worker_env, tmp_path):
    started: list[Worker] = []

    def start() -> Worker:
        w = Worker(worker_env, tmp_path / "worker.log").start()
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
    a, b = tmp_path / "a", tmp_path / "b"
    write_image_set(a, seed=1, count=12)
    write_image_set(b, seed=2, count=12, tint=(30, -20, 10))
    image_set_import(path=a, set_name="gen", model_name="m")
    image_set_import(path=b, set_name="ref", kind="reference")
    return a, b


def create(**kwargs) -> MetricRun:
    run = metric_run_create(**kwargs)  # autocommit: the plan is enqueued at once
    return run


def test_a_worker_computes_fid_equal_to_the_command_line_and_caches_features(
    fid_sets, workers, worker_env, weights_dir, tmp_path
):
    a, b = fid_sets
    worker = workers()
    gen, ref = ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")
    run = wait_done(create(metric="fid", image_set=gen, reference_set=ref,
                           params={"force": True}), worker.log)  # fmt: skip
    expected = cli_json("fid", str(a), str(b), "--force", "--inception-weights",
                        str(weights_dir / INCEPTION), env=worker_env)  # fmt: skip
    assert run.value == pytest.approx(expected["value"], rel=1e-6)
    assert run.provenance["weights_sha256"] == expected["provenance"]["weights_sha256"]
    assert run.features_computed == 24 and Feature.objects.count() == 24

    again = wait_done(create(metric="fid", image_set=gen, reference_set=ref,
                             params={"force": True}), worker.log)  # fmt: skip
    assert again.features_computed == 0 and Feature.objects.count() == 24
    assert again.value == run.value


def test_a_worker_computes_clip_score_and_ssim_equal_to_the_command_line(
    workers, worker_env, weights_dir, tmp_path
):
    clip_dir = str(weights_dir / "tiny-clip")
    images = tmp_path / "clip"
    paths = make_test_images(images, count=6)
    prompts = tmp_path / "prompts.csv"
    prompts.write_text(
        "file,prompt\n"
        + "".join(f"{p.name},a picture number {i % 3}\n" for i, p in enumerate(paths))
    )
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(prompts.read_text())
    image_set_import(path=images, set_name="clipset", model_name="m", manifest=manifest)

    # SSIM: edited images (the same files, brightened) against their sources.
    src, edited = tmp_path / "src", tmp_path / "edited"
    write_image_set(src, seed=5, count=4, sizes=[(64, 64), (80, 96)])
    edited.mkdir()
    from PIL import Image as PILImage

    for p in sorted(src.iterdir()):
        PILImage.eval(PILImage.open(p), lambda v: min(255, v + 12)).save(edited / p.name)
    image_set_import(path=src, set_name="sources", kind="source")
    (tmp_path / "pairs.csv").write_text(
        "file,source\n" + "".join(f"{p.name},{p.name}\n" for p in sorted(src.iterdir()))
    )
    image_set_import(path=edited, set_name="edits", model_name="editor",
                     manifest=tmp_path / "pairs.csv",
                     source_set=ImageSet.objects.get(name="sources"))  # fmt: skip

    worker = workers()
    clip_run = create(metric="clip_score", image_set=ImageSet.objects.get(name="clipset"),
                      params={"clip_model": clip_dir})  # fmt: skip
    ssim_run = create(metric="ssim", image_set=ImageSet.objects.get(name="edits"))
    clip_run, ssim_run = wait_done(clip_run, worker.log), wait_done(ssim_run, worker.log)

    clip_cli = cli_json("clip-score", str(images), "--prompts", str(prompts), "--clip-model",
                        clip_dir, env=worker_env)  # fmt: skip
    assert clip_run.value == pytest.approx(clip_cli["value"], rel=1e-5, abs=1e-6)
    per_item = dict(clip_run.items.values_list("image__filename", "value"))
    for name, value in clip_cli["per_item"].items():
        assert per_item[name] == pytest.approx(value, rel=1e-5, abs=1e-6)

    ssim_cli = cli_json("ssim", str(edited), str(src), env=worker_env)
    assert ssim_run.value == pytest.approx(ssim_cli["value"], rel=1e-9)
    assert ssim_run.interval_low == pytest.approx(ssim_cli["interval"][0], rel=1e-9)


def test_a_killed_worker_s_run_finishes_on_a_new_worker_with_the_same_result(
    fid_sets, workers, worker_env, weights_dir
):
    a, b = fid_sets
    expected = cli_json("fid", str(a), str(b), "--force", "--inception-weights",
                        str(weights_dir / INCEPTION), env=worker_env)  # fmt: skip
    gen, ref = ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")
    first = workers()
    run = create(metric="fid", image_set=gen, reference_set=ref, params={"force": True})
    wait_for(lambda: Feature.objects.count() >= 4, 120, "the first features", first.log)
    first.kill()
    killed_at = MetricRun.objects.get(pk=run.pk)
    assert killed_at.status == "running" and Feature.objects.count() < 24

    second = workers()
    finished = wait_done(run, second.log)
    assert finished.value == pytest.approx(expected["value"], rel=1e-6)
    assert Feature.objects.count() == 24  # every image once: no duplicates
    shas = set(gen.images.values_list("sha256", flat=True)) | set(
        ref.images.values_list("sha256", flat=True)
    )
    assert set(Feature.objects.values_list("content_sha256", flat=True)) == shas
    assert "resuming" in second.log.read_text() or settings.CELERY_BROKER_URL.startswith("redis")
