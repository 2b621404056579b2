"""Import jobs through a real Celery worker process on the cpu queue (as `make run` starts it)."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from evalsite.celery import app as celery_app
from metrics.models import Image, ImportJob
from tests.conftest import png_bytes
from tests.metrics.test_import_doors import zip_bytes
from tests.metrics.workers import Worker, database_url, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path, settings):
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        celery_app.control.purge()
    env = {**os.environ, "DATABASE_URL": database_url(),
           "EVALSITE_MEDIA_ROOT": str(settings.MEDIA_ROOT), "OMP_NUM_THREADS": "1"}  # fmt: skip
    w = Worker(env, tmp_path / "worker.log").start()
    yield w
    w.stop()


@pytest.fixture
def api(django_user_model):
    user = django_user_model.objects.create_user("trainer", password="x-pw-123456", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_worker_runs_api_import_jobs_to_a_set_or_to_the_list_of_problems(api, worker):
    images = {f"{i:03d}.png": png_bytes(i) for i in range(12)}
    manifest = "file,prompt,seed\n" + "".join(
        f"{name},prompt {i % 3},{2**64 - 1 - i}\n" for i, name in enumerate(images)
    )
    good = zip_bytes({**images, "manifest.csv": manifest.encode()})
    bad = zip_bytes({"a.png": png_bytes(1), "b.png": b"\x89PNG broken"})

    ok = api.post("/api/imports/", {"archive": SimpleUploadedFile("run.zip", good),
                                    "set_name": "run", "model_name": "m"}, format="multipart")  # fmt: skip
    ko = api.post("/api/imports/", {"archive": SimpleUploadedFile("bad.zip", bad),
                                    "set_name": "bad", "kind": "reference"}, format="multipart")  # fmt: skip
    assert (ok.status_code, ko.status_code) == (202, 202)

    def ended(response):
        body = api.get(response["Location"]).json()
        return body if body["status"] in ("done", "failed") else None

    done = wait_for(lambda: ended(ok), 120, "the good import", worker.log)
    failed = wait_for(lambda: ended(ko), 120, "the bad import", worker.log)

    assert done["status"] == "done", done["problems"]
    assert (done["created"], done["progress"]["percent"]) == (12, 100)
    assert Image.objects.filter(image_set_id=done["image_set"]).count() == 12
    assert Image.objects.get(filename="000.png").seed == 2**64 - 1
    assert failed["status"] == "failed"
    assert len(failed["problems"]) == 1 and failed["problems"][0].startswith("b.png: ")
    assert not Image.objects.filter(image_set__name="bad").exists()
    assert ImportJob.objects.filter(status="done").count() == 1
