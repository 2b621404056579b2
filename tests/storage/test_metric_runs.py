"""Metric runs reading their images from either backend: same numbers, cached downloads."""

from __future__ import annotations

import pytest

from evalsite.celery import app as celery_app
from metrics import blobcache, bucket
from metrics.engine.extractors import InceptionExtractor
from metrics.engine.fid import fid_from_features
from metrics.models import Feature, ImageSet, MetricRun
from metrics.services.imports import image_set_import
from metrics.services.runs import metric_run_create
from tests.engine.inception_fixtures import write_image_set
from tests.metrics.workers import INCEPTION, cli_json, wait_done
from tests.storage.conftest import stored_paths


def _run_now(capture, **kwargs) -> MetricRun:
    with capture(execute=True):
        run = metric_run_create(**kwargs)
    return MetricRun.objects.get(pk=run.pk)


@pytest.mark.django_db
def test_fid_equals_the_engine_on_both_backends_and_a_second_pass_downloads_nothing(
    backend,
    image_folders,
    offline_weights,
    django_capture_on_commit_callbacks,
    monkeypatch,
    settings,
):
    settings.EVALSITE_FEATURE_CHUNK_SIZE = 4
    celery_app.conf.task_always_eager = True
    downloads = []
    real = bucket.download
    monkeypatch.setattr(bucket, "download", lambda rel, t: downloads.append(rel) or real(rel, t))
    try:
        image_set_import(path=image_folders["a"], set_name="gen", model_name="m")
        image_set_import(path=image_folders["b"], set_name="ref", kind="reference")
        gen, ref = ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")
        kwargs = {
            "metric": "fid",
            "image_set": gen,
            "reference_set": ref,
            "params": {"force": True},
        }
        first = _run_now(django_capture_on_commit_callbacks, **kwargs)
        assert first.status == "done", first.error
        extractor = InceptionExtractor(offline_weights / INCEPTION)
        a = extractor.extract_paths(sorted(image_folders["a"].iterdir()))["pool3"]
        b = extractor.extract_paths(sorted(image_folders["b"].iterdir()))["pool3"]
        assert first.value == pytest.approx(fid_from_features(a, b, force=True).value, rel=1e-6)
        # The import wrote through the cache only what it uploaded; reading fetched the rest.
        assert len(downloads) == (20 if backend == "s3" else 0)
        # Features gone (another extractor would need the pixels again): no new download.
        Feature.objects.all().delete()
        second = _run_now(django_capture_on_commit_callbacks, **kwargs)
        assert second.features_computed == 20
        assert second.value == pytest.approx(first.value, rel=1e-6)
        assert len(downloads) == (20 if backend == "s3" else 0)
    finally:
        celery_app.conf.task_always_eager = False


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["s3"], indirect=True)  # a local folder is read in place
def test_the_cache_keeps_its_cap_by_evicting_the_least_recently_used(
    backend, tmp_path, monkeypatch, settings
):
    from metrics import storage
    from tests.conftest import png_bytes

    relpaths = [storage.blob_relpath(f"{i:02d}" * 32, ".png") for i in range(4)]
    for i, rel in enumerate(relpaths):
        storage.blob_write(png_bytes(i, size=(64, 64)), rel)
    assert stored_paths(backend, "images") == sorted(relpaths)
    monkeypatch.setattr(blobcache, "KEEP_RECENT_SECONDS", 0)
    size = len(png_bytes(0, size=(64, 64)))
    settings.EVALSITE_BLOB_CACHE_MAX_BYTES = size * 2 + size // 2
    import shutil

    shutil.rmtree(settings.EVALSITE_BLOB_CACHE_DIR)
    blobcache._size.clear()
    import os
    import time

    for i, rel in enumerate(relpaths):
        path = storage.blob_local(rel)
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    cached = sorted(p.name for p in settings.EVALSITE_BLOB_CACHE_DIR.rglob("*.png"))
    # The two most recently used remain; the cap holds.
    assert cached == sorted(rel.rsplit("/", 1)[1] for rel in relpaths[2:])
    assert storage.blob_local(relpaths[0]).read_bytes() == png_bytes(0, size=(64, 64))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_reading_from_the_bucket_gives_the_command_lines_fid(
    backend, workers, worker_env, weights_dir, tmp_path
):
    a, b = tmp_path / "a", tmp_path / "b"
    write_image_set(a, seed=1, count=12)
    write_image_set(b, seed=2, count=12, tint=(30, -20, 10))
    image_set_import(path=a, set_name="gen", model_name="m")
    image_set_import(path=b, set_name="ref", kind="reference")
    cache = tmp_path / "worker-cache"
    # The worker sees the bucket only through its environment, as on another host.
    elsewhere = {"EVALSITE_MEDIA_ROOT": str(tmp_path / "none")} if backend == "s3" else {}
    worker = workers(EVALSITE_BLOB_CACHE_DIR=str(cache), **elsewhere)
    gen, ref = ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")
    run = wait_done(
        metric_run_create(metric="fid", image_set=gen, reference_set=ref, params={"force": True}),
        worker.log,
    )
    expected = cli_json("fid", str(a), str(b), "--force", "--inception-weights",
                        str(weights_dir / INCEPTION), env=worker_env)  # fmt: skip
    assert run.value == pytest.approx(expected["value"], rel=1e-6)
    cached = list(cache.rglob("*.png"))
    assert len(cached) == (24 if backend == "s3" else 0)
