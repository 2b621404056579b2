"""Benchmark a FID run reading its images from a bucket against one on the local folder.

For each backend: import N generated and N reference images, run FID (every image
read: from the folder, or downloaded from the bucket into the read-through cache),
then delete the features and run it again (every image read again: the bucket
backend reads its cache, downloads nothing). The bucket is ``moto_server``
(started here on a loopback port: an in-memory S3 server, so the times show the
HTTP round trips and the cache, not a real network's latency).

Runs execute in this process (Celery eager mode), with seeded random Inception
weights of the real network's architecture and cost.

    .venv/bin/python benchmarks/storage_runs.py --n 64
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=64, help="images per set (default 64)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="evalsite-storage-bench-"))
    sys.path.insert(0, str(ROOT))
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "EVALSITE_MEDIA_ROOT"):
        os.environ.pop(name, None)  # never the developer's database or store
    from tests.engine.inception_fixtures import save_weights, write_image_set

    weights = save_weights(tmp / "weights")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="evalsite.settings", EVALSITE_VAR_DIR=str(tmp / "var"),
        EVALSITE_INCEPTION_WEIGHTS=str(weights), EVALSITE_OFFLINE="1",
        EVALSITE_FEATURE_CHUNK_SIZE="32", AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench", DJANGO_SECRET_KEY="bench-" + "x" * 50,
    )  # fmt: skip
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.storage.conftest import _free_port

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(3)
        endpoint = f"http://127.0.0.1:{port}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket="bench"
        )
        write_image_set(tmp / "gen", seed=1, count=args.n)
        write_image_set(tmp / "ref", seed=2, count=args.n, tint=(30, -20, 10))
        results = {}
        for backend in ("local", "bucket"):
            results[backend] = run_backend(backend, tmp, endpoint)
        print(f"\nFID on {args.n}+{args.n} images (seconds, wall clock)")
        print(f"{'backend':<8} {'import':>8} {'first':>8} {'cached':>8} {'downloads':>10}  FID")
        for backend, r in results.items():
            print(
                f"{backend:<8} {r['import']:>8.2f} {r['first']:>8.2f} {r['cached']:>8.2f} "
                f"{r['downloads']:>10}  {r['fid']:.6f}"
            )
        diff = abs(results["local"]["fid"] - results["bucket"]["fid"])
        print(f"|FID local - FID bucket| = {diff:.2e}")
    finally:
        server.terminate()
        server.wait(10)


def run_backend(backend: str, tmp: Path, endpoint: str) -> dict:
    from django.conf import settings
    from django.core.files.storage import storages

    from evalsite.celery import app
    from evalsite.settings import _storage_from_url
    from metrics import bucket
    from metrics.models import Feature, Image, ImageSet, MetricRun
    from metrics.services.imports import image_set_import
    from metrics.services.runs import metric_run_create

    app.conf.task_always_eager = True
    Image.objects.all().delete()
    ImageSet.objects.all().delete()
    Feature.objects.all().delete()
    settings.MEDIA_ROOT = tmp / f"media-{backend}"
    settings.EVALSITE_BLOB_CACHE_DIR = tmp / f"cache-{backend}"
    stores = {k: v for k, v in settings.STORAGES.items() if k != "blobs"}
    if backend == "bucket":
        os.environ["EVALSITE_S3_ENDPOINT_URL"] = endpoint
        os.environ["EVALSITE_S3_REGION"] = "us-east-1"
        stores["blobs"] = _storage_from_url("s3://bench/site")
    settings.STORAGES = stores
    storages._backends = None
    storages._storages = {}
    downloads = []
    real = bucket.download
    bucket.download = lambda rel, target: downloads.append(rel) or real(rel, target)
    start = time.perf_counter()
    image_set_import(path=tmp / "gen", set_name="gen", model_name="m")
    image_set_import(path=tmp / "ref", set_name="ref", kind="reference")
    imported = time.perf_counter() - start
    gen, ref = ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")
    times = []
    for _ in range(2):
        Feature.objects.all().delete()  # every image read again
        start = time.perf_counter()
        run = metric_run_create(
            metric="fid", image_set=gen, reference_set=ref, params={"force": True}
        )
        run = MetricRun.objects.get(pk=run.pk)
        assert run.status == "done", run.error
        times.append(time.perf_counter() - start)
    bucket.download = real
    return {"import": imported, "first": times[0], "cached": times[1],
            "downloads": len(downloads), "fid": run.value}  # fmt: skip


if __name__ == "__main__":
    main()
