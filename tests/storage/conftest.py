"""Both storage backends for the storage tests: the local folder and a real S3 server.

The S3-compatible server is moto's standalone server (``moto_server``), started once per
test session on a free loopback port: an in-memory stand-in for AWS S3 / MinIO / Ceph that
speaks the same HTTP API, so CI needs no cloud account and no extra service. Each test gets
its own fresh bucket.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.metrics.conftest import image_folders, offline_weights, weights_dir  # noqa: F401
from tests.metrics.workers import worker_env, workers  # noqa: F401

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """The endpoint URL of a moto S3 server process, stopped at the end of the session."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"moto_server did not start:\n{log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["local", "s3"])
def backend(request, settings, tmp_path, monkeypatch) -> str:
    """Each storage test runs twice: on MEDIA_ROOT, and on a fresh bucket with a prefix."""
    settings.EVALSITE_BLOB_CACHE_DIR = tmp_path / "blob-cache"
    if request.param == "local":
        yield "local"
        return
    endpoint = request.getfixturevalue("s3_server")
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    name = f"evalsite-{secrets.token_hex(6)}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(Bucket=name)
    monkeypatch.setenv("EVALSITE_STORAGE_URL", f"s3://{name}/site")
    monkeypatch.setenv("EVALSITE_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("EVALSITE_S3_REGION", REGION)
    from evalsite.settings import _storage_from_url

    settings.STORAGES = {**settings.STORAGES, "blobs": _storage_from_url(f"s3://{name}/site")}
    yield "s3"


def bucket_keys(prefix: str = "") -> list[str]:
    """Every store path in the test's bucket under ``prefix`` (adoption markers aside)."""
    from metrics import bucket

    return sorted(rel for rel, _s, _m in bucket.listing(prefix) if not rel.startswith("adopt/"))


def stored_paths(backend: str, prefix: str) -> list[str]:
    """Every stored file under ``prefix`` on either backend, as store paths."""
    if backend == "s3":
        return bucket_keys(prefix)
    from django.conf import settings

    root = settings.MEDIA_ROOT
    return sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, _dirs, files in os.walk(os.path.join(root, prefix))
        for f in files
    )
