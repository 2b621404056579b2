"""Read the files of an import from a folder or a zip, refusing anything unsafe.

Unsafe: a zip entry with ``..`` or an absolute path, a symlink (in a folder or a
zip), a file over the size limit, a zip whose entries inflate past the total limit.
Hidden files (``.DS_Store``), ``__MACOSX/`` and ``Thumbs.db`` are skipped.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from metrics.services.manifest import normalise_name

IGNORED_NAMES = {"Thumbs.db", "desktop.ini"}


class ArchiveError(ValueError):
    """The folder or zip cannot be imported; the message names the entry and the reason."""


@dataclass(slots=True)
class Entry:
    """One file of the import: its relative POSIX name, its size and a way to open it."""

    name: str
    size: int
    open: Callable[[], BinaryIO]

    def read(self, limit: int) -> bytes:
        """The whole file (a manifest), at most ``limit`` bytes."""
        try:
            with self.open() as fh:
                data = fh.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArchiveError(f"{self.name}: cannot be read ({exc})") from None
        if len(data) > limit:
            raise ArchiveError(f"{self.name}: over the limit of {limit:,} bytes")
        return data


def _ignored(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return (
        any(part.startswith(".") for part in parts)
        or (parts and parts[0] == "__MACOSX")
        or PurePosixPath(name).name in IGNORED_NAMES
    )


def _strip_common_root(entries: list[Entry]) -> list[Entry]:
    """A zip of a folder holds ``folder/a.png``: names are taken relative to that folder."""
    tops = {PurePosixPath(e.name).parts[0] for e in entries}
    if len(tops) == 1 and all(len(PurePosixPath(e.name).parts) > 1 for e in entries):
        for entry in entries:
            entry.name = str(PurePosixPath(*PurePosixPath(entry.name).parts[1:]))
    return entries


def folder_entries(root: Path, *, max_file_bytes: int) -> list[Entry]:
    """Every file under ``root`` (symlinks refused, hidden files skipped)."""
    if not root.exists():
        raise ArchiveError(f"{root}: no such file or folder")
    entries: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for dirname in list(dirnames):
            full = Path(dirpath) / dirname
            rel = full.relative_to(root).as_posix()
            if _ignored(rel):
                dirnames.remove(dirname)
            elif full.is_symlink():
                raise ArchiveError(f"{rel}: symbolic links are not imported; copy the files in")
        for filename in filenames:
            full = Path(dirpath) / filename
            rel = full.relative_to(root).as_posix()
            if _ignored(rel):
                continue
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise ArchiveError(f"{rel}: symbolic links are not imported; copy the file in")
            if not stat.S_ISREG(info.st_mode):
                raise ArchiveError(f"{rel}: not a regular file")
            if info.st_size > max_file_bytes:
                raise ArchiveError(
                    f"{rel}: {info.st_size:,} bytes is over the limit of {max_file_bytes:,}"
                )
            entries.append(Entry(name=rel, size=info.st_size, open=partial(open, full, "rb")))
    entries.sort(key=lambda e: e.name)
    return entries


def _safe_zip_name(raw: str) -> str:
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"{raw}: absolute paths are not allowed in a zip")
    if ".." in PurePosixPath(name).parts:
        raise ArchiveError(f"{raw}: '..' is not allowed in a zip entry name")
    return normalise_name(name)


def zip_entries(
    path: Path, *, max_file_bytes: int, max_total_bytes: int, label: str | None = None
) -> list[Entry]:
    """Every file of the zip at ``path``, after checking names, types and sizes.

    ``label`` is the name messages give the zip (the user's file name of an upload).
    """
    label = label or path.name
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ArchiveError(f"{label}: not a valid zip file") from None
    except OSError as exc:
        raise ArchiveError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    entries: list[Entry] = []
    total = 0
    for info in archive.infolist():
        name = _safe_zip_name(info.filename)
        if info.is_dir() or _ignored(name):
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveError(f"{info.filename}: symbolic links are not imported")
        if info.file_size > max_file_bytes:
            raise ArchiveError(
                f"{info.filename}: {info.file_size:,} bytes is over the limit of {max_file_bytes:,}"
            )
        total += info.file_size
        if total > max_total_bytes:
            raise ArchiveError(
                f"{label}: {total:,} bytes or more unpacked, over the limit of "
                f"{max_total_bytes:,} per import; split it into several imports into the same set"
            )
        entries.append(Entry(name=name, size=info.file_size, open=partial(archive.open, info)))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ArchiveError(f"{dup}: appears twice in the zip")
    entries.sort(key=lambda e: e.name)
    return _strip_common_root(entries)


def collect_entries(
    path: Path, *, max_file_bytes: int, max_total_bytes: int, label: str | None = None
) -> list[Entry]:
    """Entries of a folder or a zip file (``label``: the zip's name in messages)."""
    if path.is_symlink():
        raise ArchiveError(f"{path}: symbolic links are not imported")
    if path.is_dir():
        return folder_entries(path, max_file_bytes=max_file_bytes)
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise ArchiveError(f"{label or path.name}: not a folder or a zip file")
        return zip_entries(
            path, max_file_bytes=max_file_bytes, max_total_bytes=max_total_bytes, label=label
        )
    raise ArchiveError(f"{path}: no such file or folder")
