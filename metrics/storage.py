"""Content-addressed blob store: every image file stored once, byte for byte, under its sha256.

Every access to stored files goes through this module. Two backends, chosen by
``EVALSITE_STORAGE_URL``: the local folder MEDIA_ROOT (the default; the functions
below work on it directly, as they always have) or an S3-compatible bucket
(``metrics/bucket.py``), read by workers through a local read-through cache
(``metrics/blobcache.py``). Callers read a blob from :func:`blob_local` (a local file
either way) and link to one with :func:`blob_url` (a presigned link, or None when the
app must serve it).

Blob lifetime: nothing here deletes a blob eagerly. A blob that no committed row
references is removed by the collector (``metrics/services/blobs.py``) once it is
older than ``EVALSITE_BLOB_GRACE_SECONDS``; an import that finds a blob already
in place refreshes its modification time (:func:`blob_adopt`), so the blob is young
again for as long as that import may take to commit its rows.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

# Temporary files in the store start with this prefix; the collector removes the
# ones older than the grace period (left by a killed process).
TMP_PREFIX = ".tmp-"
COPY_CHUNK = 1024 * 1024


def blob_relpath(sha256: str, ext: str) -> str:
    """Where the blob of ``sha256`` lives, relative to MEDIA_ROOT."""
    return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}{ext.lower()}"


def remote() -> bool:
    """True when the store is a bucket (``EVALSITE_STORAGE_URL=s3://...``)."""
    return "blobs" in settings.STORAGES


def _bucket():
    # Imported on first use: the local backend never loads boto3.
    from metrics import bucket

    return bucket


def blob_path(relpath: str) -> Path:
    """Absolute path of a blob in the local folder (the local backend only: use blob_local)."""
    return Path(settings.MEDIA_ROOT) / relpath


def blob_local(relpath: str) -> Path:
    """A local file with the blob's bytes: the stored file, or the bucket's cached copy."""
    if not remote():
        return blob_path(relpath)
    from metrics.blobcache import cached_path

    return cached_path(relpath)


def blob_find(relpath: str) -> Path | None:
    """Like :func:`blob_local`, but None when the store has no such blob."""
    if not remote():
        path = blob_path(relpath)
        return path if path.exists() else None
    from metrics.blobcache import cache_root

    if (cache_root() / relpath).exists() or _bucket().head(relpath) is not None:
        return blob_local(relpath)
    return None


def blob_exists(relpath: str) -> bool:
    if not remote():
        return blob_path(relpath).exists()
    return _bucket().head(relpath) is not None


def blob_url(relpath: str, *, filename: str | None = None, content_type: str | None = None):
    """A short-lived presigned link to the blob, or None when the app serves it itself.

    Never give a judge this link for anything stored under an original's sha256: the
    key is in the URL (judges' images are always served by the app).
    """
    if not remote() or settings.EVALSITE_PRESIGN_SECONDS <= 0:
        return None
    return _bucket().presigned_url(relpath, filename=filename, content_type=content_type)


def blob_write(data: bytes, relpath: str) -> bool:
    """Write ``data`` at ``relpath`` atomically; return False when it was already there."""
    if remote():
        import io

        from metrics.blobcache import cache_put

        # Originals need the adoption marker (an import may be reusing them); sized
        # copies and exports are only ever made, never adopted.
        adopt = relpath.startswith("images/")
        written = _bucket().write_once(io.BytesIO(data), relpath, adopt_existing=adopt)
        cache_put(relpath, data)
        return written
    target = blob_path(relpath)
    if blob_adopt(target):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    # Temp file + rename: a reader never sees half a file, and two writers of the same
    # content both end with the same complete file.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TMP_PREFIX)
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


def blob_adopt(target: Path) -> bool:
    """True when ``target`` exists; its mtime is set to now so the collector leaves it alone.

    The collector re-reads the mtime after it has moved a file aside and puts the file
    back when it is young, so a refresh that races with a collection still wins.
    """
    try:
        os.utime(target)
    except FileNotFoundError:
        return False
    return True


def _bucket_staging() -> Path:
    """On a bucket, the local folder of imports' temporary files and pulled uploads (inside
    the cache's folder; the hidden folder is not part of the cache)."""
    return Path(settings.EVALSITE_BLOB_CACHE_DIR) / ".staging"


def staging_dir() -> Path:
    """Folder of the temporary files of imports: inside the store, so a rename moves them in."""
    if remote():
        folder = _bucket_staging()  # checked locally, then uploaded
    else:
        folder = Path(settings.MEDIA_ROOT) / "images"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Staging:
    """The temporary files of one import, named by position (no string kept per file)."""

    def __init__(self) -> None:
        self.folder = staging_dir()
        self.prefix = f"{TMP_PREFIX}{secrets.token_hex(8)}-"

    def path(self, index: int) -> Path:
        return self.folder / f"{self.prefix}{index}"

    def clear(self) -> None:
        """Remove what is left of this import's temporary files (never a stored blob)."""
        for staged in self.folder.glob(f"{self.prefix}*"):
            staged.unlink(missing_ok=True)


def stream_to_staging(
    reader: Callable[[int], bytes], target: Path, *, limit: int
) -> tuple[str, int]:
    """Copy ``reader`` to ``target`` in chunks, hashing as it goes; return (sha256, size).

    Raises OverflowError when more than ``limit`` bytes come (a lying zip header).
    Memory stays at one chunk whatever the file's size.
    """
    digest = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        while chunk := reader(COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                raise OverflowError(size)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def staged_commit(staged: Path, relpath: str) -> bool:
    """Move a staged file into place at ``relpath``; False when the blob was already there."""
    if remote():
        return _bucket_commit(staged, relpath)
    target = blob_path(relpath)
    if blob_adopt(target):
        staged.unlink(missing_ok=True)
        return False
    # Same content under the same name: a concurrent writer's rename is harmless.
    try:
        os.replace(staged, target)
    except FileNotFoundError:  # the first blob of its folder
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
    return True


# Parallel uploads of one import to a bucket: each blob is a few round trips, so one at
# a time would leave the network idle.
UPLOAD_THREADS = 8


def staged_commit_all(items: list[tuple[Path, str]], done: Callable[[int], None]) -> None:
    """:func:`staged_commit` each (staged file, store path), calling ``done(n)`` as they land."""
    if not remote():
        for n, (staged, relpath) in enumerate(items, start=1):
            staged_commit(staged, relpath)
            done(n)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for n, _new in enumerate(pool.map(lambda item: staged_commit(*item), items), start=1):
            done(n)


def store_sync() -> None:
    """Flush the store's file system once (data and renames) before rows point at the files.

    One syncfs for a whole import instead of an fsync per file: the batch approach of
    git's core.fsyncMethod, tens of times faster for thousands of small files.
    """
    if remote():
        return  # a bucket's write is durable when its request returns
    fd = os.open(staging_dir(), os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    except OSError:
        os.sync()
    finally:
        os.close(fd)


def blob_remove(relpath: str) -> None:
    """Remove a blob if it exists (the collector's business: see metrics/services/blobs.py)."""
    if remote():
        _bucket().delete(relpath)
        return
    blob_path(relpath).unlink(missing_ok=True)


def _bucket_commit(staged: Path, relpath: str) -> bool:
    """Upload a checked staged file to a temporary key, then copy it into place once."""
    bucket = _bucket()
    try:
        if bucket.adopt(relpath):
            return False
        with open(staged, "rb") as fh:
            temporary = bucket.upload_temporary(fh, relpath)
        return bucket.commit_temporary(temporary, relpath)
    finally:
        staged.unlink(missing_ok=True)


# --- folders of import uploads ("imports/<token>/": written once by the web host,
# read by the worker that runs the job, removed at its end) --------------------------


def folder_local(relfolder: str) -> Path:
    """Where the web host writes an upload folder before :func:`folder_push`."""
    return Path(settings.MEDIA_ROOT) / relfolder


def folder_push(relfolder: str) -> None:
    """Make a folder written at :func:`folder_local` visible to every worker."""
    if not remote():
        return  # the workers share the folder itself
    import shutil

    local = folder_local(relfolder)
    for path in sorted(local.iterdir()):
        _bucket().upload_file(path, f"{relfolder}/{path.name}")
    shutil.rmtree(local, ignore_errors=True)


def folder_pull(relfolder: str) -> Path:
    """A local folder with the files of ``relfolder`` (downloaded from a bucket)."""
    if not remote():
        return folder_local(relfolder)
    local = _pulled(relfolder)
    local.mkdir(parents=True, exist_ok=True)
    for rel, _size, _mtime in _bucket().listing(relfolder + "/"):
        _bucket().download(rel, local / rel.rsplit("/", 1)[1])
    return local


def _pulled(relfolder: str) -> Path:
    """Where :func:`folder_pull` puts a bucket's upload folder on this host."""
    return _bucket_staging() / relfolder.replace("/", "-")


def folder_remove(relfolder: str) -> None:
    """Remove an upload folder: its local copy and, on a bucket, its objects."""
    import shutil

    if remote():
        for rel, _size, _mtime in list(_bucket().listing(relfolder + "/")):
            _bucket().delete(rel)
        shutil.rmtree(_pulled(relfolder), ignore_errors=True)
    shutil.rmtree(folder_local(relfolder), ignore_errors=True)
