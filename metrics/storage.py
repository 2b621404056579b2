"""Content-addressed blob store: every image file stored once, byte for byte, under its sha256."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.conf import settings


def blob_relpath(sha256: str, ext: str) -> str:
    """Where the blob of ``sha256`` lives, relative to MEDIA_ROOT."""
    return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}{ext.lower()}"


def blob_path(relpath: str) -> Path:
    """Absolute path of a blob."""
    return Path(settings.MEDIA_ROOT) / relpath


def blob_write(data: bytes, relpath: str) -> bool:
    """Write ``data`` at ``relpath`` atomically; return False when it was already there."""
    target = blob_path(relpath)
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    # Temp file + rename: a reader never sees half a file, and two writers of the same
    # content both end with the same complete file.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def blob_remove(relpath: str) -> None:
    """Remove a blob if it exists."""
    blob_path(relpath).unlink(missing_ok=True)
