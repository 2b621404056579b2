"""Fixtures shared by every test: an isolated media folder and image makers."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _isolate_filesystem_broker() -> None:
    """Tests publish to their own filesystem-broker folder, never to a dev worker's.

    Settings are loaded before this file is, but Celery opens its broker connection
    lazily, so changing the transport options here takes effect for every publish.
    Worker processes started by tests get the same folder through CELERY_BROKER_DIR.
    """
    from django.conf import settings

    from evalsite.celery import app

    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return
    folder = Path(tempfile.mkdtemp(prefix="evalsite-test-broker-"))
    for sub in ("queue", "control"):
        (folder / sub).mkdir()
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    options.update(
        data_folder_in=str(folder / "queue"),
        data_folder_out=str(folder / "queue"),
        control_folder=str(folder / "control"),
    )
    app.conf.broker_transport_options = options
    import os

    os.environ["CELERY_BROKER_DIR"] = str(folder)


_isolate_filesystem_broker()

# Processes the tests start (workers, gunicorn) run with debug off, where settings refuse
# the default secret key: they inherit this test-only one.
import os  # noqa: E402

os.environ.setdefault("DJANGO_SECRET_KEY", "django-insecure-test-only-key-" + "x" * 40)


@pytest.fixture(autouse=True)
def _isolated_media(request, tmp_path_factory):
    """Every Django test writes blobs to its own MEDIA_ROOT."""
    if "settings" not in request.fixturenames and not _uses_django(request):
        yield
        return
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")
    yield


def _uses_django(request) -> bool:
    return any(m.name == "django_db" for m in request.node.iter_markers()) or any(
        name in request.fixturenames
        for name in ("db", "transactional_db", "client", "admin_client")
    )


def png_bytes(seed: int = 0, size: tuple[int, int] = (32, 24), mode: str = "RGB", **save) -> bytes:
    """A small random PNG (or other format via ``format=``)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr, "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    buf = io.BytesIO()
    fmt = save.pop("format", "PNG")
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def write_images(
    folder: Path, count: int, *, start_seed: int = 0, prefix: str = "img"
) -> list[str]:
    """Write ``count`` distinct PNGs into ``folder``; return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = f"{prefix}{i:03d}.png"
        (folder / name).write_bytes(png_bytes(start_seed + i))
        names.append(name)
    return names


@pytest.fixture
def make_folder(tmp_path):
    """make_folder(count, manifest_rows=None) -> a folder of PNGs (and manifest.csv)."""

    def make(count: int = 3, *, rows: list[dict] | None = None, name: str = "set", seed: int = 0):
        folder = tmp_path / name
        names = write_images(folder, count, start_seed=seed)
        if rows is not None:
            import csv

            keys = sorted({k for r in rows for k in r})
            with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=keys)
                writer.writeheader()
                writer.writerows(rows)
        return folder, names

    return make
