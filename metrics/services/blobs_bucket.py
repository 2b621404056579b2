"""The blob collector on a bucket: the rules of ``blobs.py``, over object listings.

Objects are listed a page (1,000 keys) at a time, so a bucket of millions of objects
never builds one query or one list. An old unreferenced original is removed through
``bucket.remove_if_still_old`` (copied aside, deleted, put back if an import adopted it
meanwhile), which closes the same race as the local folder's rename-aside.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from metrics import bucket
from metrics.storage import TMP_PREFIX

Unreferenced = Callable[[list[tuple[str, Any]]], list[Any]]


def bucket_collect(
    cutoff: float,
    dry_run: bool,
    report,
    originals: Unreferenced,
    derivatives: Unreferenced,
    active_uploads: Callable[[], set[str]],
) -> None:
    _collect_prefix("images/", cutoff, dry_run, report, originals, "originals", adopted=True)
    _collect_prefix("derivatives/", cutoff, dry_run, report, derivatives, "derivatives")
    _collect_folders("imports/", cutoff, dry_run, report, "uploads", active_uploads())
    _collect_folders("exports/", cutoff, dry_run, report, "exports", set())
    # Adoption markers of imports long finished (their blobs are referenced or collected).
    for rel, _size, mtime in bucket.listing(bucket.ADOPT_PREFIX):
        if mtime < cutoff and not dry_run:
            bucket.delete(rel)


def _collect_prefix(prefix, cutoff, dry_run, report, unreferenced, kind, adopted=False) -> None:
    for page in _pages(bucket.listing(prefix)):
        old = []
        for rel, size, mtime in page:
            if mtime >= cutoff:
                report.kept_young += 1
            elif rel.rsplit("/", 1)[-1].startswith(TMP_PREFIX):
                if not dry_run:
                    bucket.delete(rel)
                report.temporary.append(rel)
                report.bytes_freed += size
            else:
                old.append((rel, (rel, size)))
        for rel, size in unreferenced(old):
            if dry_run:
                removed = True
            elif adopted:
                removed = bucket.remove_if_still_old(rel, cutoff)
            else:
                bucket.delete(rel)
                removed = True
            if removed:
                getattr(report, kind).append(rel)
                report.bytes_freed += size


def _collect_folders(prefix, cutoff, dry_run, report, kind, active: set[str]) -> None:
    """Folders ``<prefix><token>/`` whose newest object is old and that no active job owns."""
    folders: dict[str, list[tuple[str, int, float]]] = {}
    for rel, size, mtime in bucket.listing(prefix):
        folders.setdefault("/".join(rel.split("/", 2)[:2]), []).append((rel, size, mtime))
    for folder, objects in folders.items():
        if folder in active or max(m for _r, _s, m in objects) >= cutoff:
            continue
        if not dry_run:
            for rel, _size, _mtime in objects:
                bucket.delete(rel)
        getattr(report, kind).append(folder)
        report.bytes_freed += sum(s for _r, s, _m in objects)


def _pages(items, size: int = 1000):
    page = []
    for item in items:
        page.append(item)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page
