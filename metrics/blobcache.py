"""The workers' local read-through cache of bucket blobs (``EVALSITE_BLOB_CACHE_DIR``).

Blobs are content-addressed and written once, so a cached copy is never stale: the
cache needs no validation, only a size cap. A blob is downloaded in chunks to a
temporary file and renamed into place (a reader never sees half a file; two
processes fetching the same blob both end with the same complete file).

The cap (``EVALSITE_BLOB_CACHE_MAX_BYTES``) is kept by evicting the least recently
used files (mtime, refreshed on every hit). Files used in the last few minutes are never
evicted, so a metric chunk's images stay while its batch decodes them even when the cap
is smaller than the chunk: the cap is then exceeded for that long rather than evicting
files about to be read.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path

from django.conf import settings

from metrics import bucket

# Files touched this recently are never evicted (see above).
KEEP_RECENT_SECONDS = 300
_lock = threading.Lock()
# Bytes this process believes the cache holds: one scan, then kept up to date, so a hit
# or a fetch costs no directory walk until the cap is reached.
_size: dict[str, int] = {}


def cache_root() -> Path:
    return Path(settings.EVALSITE_BLOB_CACHE_DIR)


def cached_path(relpath: str) -> Path:
    """The local copy of ``relpath``, downloaded first when the cache does not hold it."""
    target = cache_root() / relpath
    try:
        os.utime(target)  # a hit: most recently used now
        return target
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".part-{secrets.token_hex(6)}-{target.name}")
    try:
        size = bucket.download(relpath, partial)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _account(size)
    return target


def cache_put(relpath: str, data: bytes) -> Path:
    """Put bytes this process has just written to the bucket into the cache too."""
    target = cache_root() / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".part-{secrets.token_hex(6)}-{target.name}")
    partial.write_bytes(data)
    os.replace(partial, target)
    _account(len(data))
    return target


def _account(size: int) -> None:
    root = str(cache_root())
    with _lock:
        if root not in _size:
            _size[root] = _scan_size(Path(root))
        else:
            _size[root] += size
        over = _size[root] > settings.EVALSITE_BLOB_CACHE_MAX_BYTES
    if over:
        cache_trim()


def _files(root: Path) -> list[tuple[float, int, Path]]:
    found = []
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # imports' staging folder
        for name in names:
            if name.startswith(".part-"):
                continue  # another process's download in flight
            path = Path(dirpath) / name
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            found.append((info.st_mtime, info.st_size, path))
    return found


def _scan_size(root: Path) -> int:
    return sum(size for _mtime, size, _path in _files(root))


def cache_trim(max_bytes: int | None = None) -> int:
    """Evict least recently used files until the cache fits; return the bytes it holds."""
    cap = settings.EVALSITE_BLOB_CACHE_MAX_BYTES if max_bytes is None else max_bytes
    root = cache_root()
    files = sorted(_files(root))
    total = sum(size for _mtime, size, _path in files)
    recent = time.time() - KEEP_RECENT_SECONDS
    for mtime, size, path in files:
        if total <= cap or mtime >= recent:
            break
        path.unlink(missing_ok=True)
        total -= size
    with _lock:
        _size[str(root)] = total
    return total
