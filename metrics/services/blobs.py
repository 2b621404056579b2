"""The blob collector: the only code that deletes stored files.

A file is removed when it is older than the grace period and nothing refers to it:
- an original (``images/...``) that no Image row names as its ``blob``;
- a judges' or thumbnail copy (``derivatives/<sha[:2]>/<sha>-<size>.jpg``) whose
  sha256 no Image row has;
- a temporary file (``.tmp-*``) left by a killed import or writer;
- the upload folder of an import job that has ended or is gone (``imports/<token>/``);
- on a bucket, a stored export (``exports/<token>/``) and an import's adoption marker.

Both backends are collected by the same rules: the local folder here, the bucket in
``blobs_bucket.py`` (which shares the "is it referenced" queries below).

Why a grace period and not eager clean-up: two imports may share files. A failing
import cannot know whether a concurrent one is about to commit rows that point at
the same blob, so it never deletes; the collector does, much later. An import
refreshes the mtime of every blob it reuses (``storage.blob_adopt``), so a blob in
use by an import in flight is always young.

The race between the collector's "nothing refers to it" and an import's refresh is
closed by moving the file aside first (an atomic rename), then re-reading its mtime:
a file refreshed meanwhile is put back, one still old is deleted.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from metrics import storage
from metrics.models import Image, ImportJob
from metrics.storage import TMP_PREFIX

log = logging.getLogger(__name__)

# Database look-ups are batched: a store of millions of files never builds one query.
BATCH = 1000


@dataclass
class CollectReport:
    """What a collection removed (or would remove, in a dry run)."""

    originals: list[str] = field(default_factory=list)
    derivatives: list[str] = field(default_factory=list)
    temporary: list[str] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    kept_young: int = 0

    @property
    def removed(self) -> int:
        return (
            len(self.originals) + len(self.derivatives) + len(self.temporary)
            + len(self.uploads) + len(self.exports)
        )  # fmt: skip


def blobs_collect(*, grace_seconds: int | None = None, dry_run: bool = False) -> CollectReport:
    """Remove every unreferenced stored file older than ``grace_seconds`` (the setting by default)."""
    grace = settings.EVALSITE_BLOB_GRACE_SECONDS if grace_seconds is None else grace_seconds
    if grace < 0:
        raise ValueError("the grace period cannot be negative")
    cutoff = time.time() - grace
    report = CollectReport()
    if storage.remote():
        from metrics.services.blobs_bucket import bucket_collect

        bucket_collect(
            cutoff,
            dry_run,
            report,
            _unreferenced_originals,
            _unreferenced_derivatives,
            _active_uploads,
        )
        return report
    root = Path(settings.MEDIA_ROOT)
    _collect_tree(root, "images", cutoff, dry_run, report, _unreferenced_originals, "originals")
    _collect_tree(
        root, "derivatives", cutoff, dry_run, report, _unreferenced_derivatives, "derivatives"
    )
    _collect_uploads(root, cutoff, dry_run, report)
    return report


def _old_files(folder: Path, cutoff: float, report: CollectReport) -> Iterator[tuple[Path, int]]:
    """(path, size) of each file under ``folder`` last modified before ``cutoff``."""
    if not folder.is_dir():
        return
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            path = Path(dirpath) / name
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if info.st_mtime < cutoff:
                yield path, info.st_size
            else:
                report.kept_young += 1


def _collect_tree(root, sub, cutoff, dry_run, report, unreferenced, bucket) -> None:
    batch: list[tuple[Path, int]] = []

    def flush() -> None:
        named = [(p.relative_to(root).as_posix(), (p, s)) for p, s in batch if not _is_tmp(p)]
        for path, size in unreferenced(named):
            if _remove_if_still_old(path, cutoff, dry_run):
                getattr(report, bucket).append(path.relative_to(root).as_posix())
                report.bytes_freed += size
        for path, size in (p for p in batch if _is_tmp(p[0])):
            if _remove_if_still_old(path, cutoff, dry_run, move_aside=False):
                report.temporary.append(path.relative_to(root).as_posix())
                report.bytes_freed += size
        batch.clear()

    for item in _old_files(root / sub, cutoff, report):
        batch.append(item)
        if len(batch) >= BATCH:
            flush()
    flush()


def _is_tmp(path: Path) -> bool:
    return path.name.startswith(TMP_PREFIX)


def _unreferenced_originals(named: list[tuple[str, Any]]) -> list[Any]:
    """The items of (store path, item) pairs whose original no Image row names."""
    by_rel = dict(named)
    used = set(Image.objects.filter(blob__in=list(by_rel)).values_list("blob", flat=True))
    return [v for rel, v in by_rel.items() if rel not in used]


def _unreferenced_derivatives(named: list[tuple[str, Any]]) -> list[Any]:
    """The items of (store path, item) pairs whose source sha256 no Image row has."""
    by_sha: dict[str, list[Any]] = {}
    for rel, item in named:
        # <sha>-<size>.jpg; anything else in the folder is not ours to judge: keep it.
        sha = rel.rsplit("/", 1)[-1].split("-", 1)[0]
        if len(sha) == 64:
            by_sha.setdefault(sha, []).append(item)
    used = set(Image.objects.filter(sha256__in=list(by_sha)).values_list("sha256", flat=True))
    return [item for sha, items in by_sha.items() if sha not in used for item in items]


def _remove_if_still_old(path: Path, cutoff: float, dry_run: bool, move_aside=True) -> bool:
    if dry_run:
        return True
    if not move_aside:
        path.unlink(missing_ok=True)
        return True
    aside = path.with_name(f"{TMP_PREFIX}collect-{path.name}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    # An import that refreshed the file before the rename has made it young: put it back
    # (same bytes under the same name, so replacing a newer copy is harmless).
    if aside.stat().st_mtime >= cutoff:
        os.replace(aside, path)
        return False
    aside.unlink(missing_ok=True)
    return True


def _collect_uploads(root: Path, cutoff: float, dry_run: bool, report: CollectReport) -> None:
    """Upload folders of import jobs that ended (or were deleted) and are older than the grace."""
    folder = root / "imports"
    if not folder.is_dir():
        return
    active = _active_uploads()
    for sub in folder.iterdir():
        rel = sub.relative_to(root).as_posix()
        if rel in active or sub.lstat().st_mtime >= cutoff:
            continue
        size = sum(p.stat().st_size for p in sub.rglob("*") if p.is_file())
        if not dry_run:
            shutil.rmtree(sub, ignore_errors=True)
        report.uploads.append(rel)
        report.bytes_freed += size


def _active_uploads() -> set[str]:
    """The upload folders (``imports/<token>``) of import jobs still queued or running."""
    return set(
        ImportJob.objects.filter(status__in=ImportJob.ACTIVE).values_list("upload_dir", flat=True)
    )
