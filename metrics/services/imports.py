"""Import an image set from a folder or a zip (with an optional manifest): all or nothing.

One service, three doors: ``manage.py import_images`` calls :func:`image_set_import`
directly (with its progress bar); the upload form and the REST endpoint store the
upload and start an import job (``import_jobs.py``) that calls it on a worker.

Order of work, chosen so that memory stays flat and a failure changes nothing:
1. refuse up front what is over the limits (number of files, bytes);
2. stream each file into a temporary file in the store's folder, hashing it on the
   way, and verify it by decoding it from there (its decoding memory bounded from the
   header); every problem is collected, nothing is kept in memory but a few facts;
3. with no problem, rename the temporary files into place (content-addressed) and
   flush the file system once;
4. create the rows in batches inside one transaction.
A failure removes only this import's temporary files. It never deletes a stored blob:
a concurrent import may be committing rows that point at it. Blobs nothing refers to
are removed later by the collector (``blobs.py``), after a grace period.
"""

from __future__ import annotations

import os
import zipfile
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import IntegrityError, transaction

from metrics.engine.images import ImageError, verify_image_file
from metrics.models import Image, ImageSet, ModelUnderTest, Prompt
from metrics.services.archive import ArchiveError, Entry, collect_entries
from metrics.services.import_checks import (
    CLI_WORDS,
    Checked,
    against_existing,
    existing_set_checked,
    manifest_rows,
    name_problem,
    resolve_sources,
)
from metrics.services.manifest import ManifestError, ManifestRow
from metrics.storage import (
    Staging,
    blob_relpath,
    staged_commit_all,
    store_sync,
    stream_to_staging,
)

# Problems beyond this many are counted, not listed: the first ones tell the story.
MAX_LISTED_PROBLEMS = 50
# Rows per INSERT: large enough to be fast, small enough for SQLite's variable limit.
ROW_BATCH = 500
# Files read and verified at once (capped by the CPUs).
IMPORT_THREADS = 4

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class ImportFailed(ValueError):
    """Nothing was imported. ``problems`` lists each file and its reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(shown)
        text = "nothing was imported:\n" + "\n".join(f"  - {p}" for p in shown)
        if more:
            text += f"\n  ... and {more} more problems"
        super().__init__(text)


@dataclass
class ImportResult:
    image_set: ImageSet
    created: int
    unchanged: int
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.unchanged


def image_set_import(
    *,
    path: Path,
    set_name: str,
    kind: str | None = None,
    model_name: str | None = None,
    model_version: str = "",
    manifest: Path | None = None,
    source_set: ImageSet | None = None,
    progress: Progress | None = None,
    words: dict[str, str] = CLI_WORDS,
    archive_label: str | None = None,
    manifest_label: str | None = None,
    before_commit: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Import the images at ``path`` (folder or zip) into the set ``set_name``, all or nothing.

    A new generated set needs ``model_name`` (the model under test is created if new).
    ``words`` name the door's inputs in messages; ``archive_label`` and ``manifest_label``
    are the names the user knows the files by. ``before_commit`` runs inside the
    transaction that creates the rows (an import job records its result there).
    Raises :class:`ImportFailed` listing every problem; then nothing has changed.
    """
    progress = progress or (lambda stage, done, total: None)
    model_name = (model_name or "").strip() or None
    model_version = model_version.strip()
    kind = kind or (ImageSet.Kind.GENERATED if model_name else None)
    problems: list[str] = []

    # Problems of the request are listed with those of the files: one answer tells all.
    image_set = existing_set_checked(set_name, kind, model_name, model_version, words, problems)
    if image_set is None and kind is None and not problems:
        problems.append(
            f"set {set_name!r} is new: say its kind ({words['kind']}: generated, reference "
            "or source)"
        )

    entries = import_entries(path, archive_label, problems)
    try:
        rows, entries = manifest_rows(entries, manifest, manifest_label, problems)
    except (ArchiveError, ManifestError) as exc:  # unreadable (a corrupt zip entry) or unparsable
        raise ImportFailed([*problems, str(exc)]) from None

    staging = Staging()
    try:
        checked = _check_entries(entries, rows, staging, problems, progress)
        sources = resolve_sources(checked, source_set, words, problems)
        to_create, unchanged = against_existing(image_set, checked, problems)
        if problems:
            raise ImportFailed(problems)
        if not checked:
            raise ImportFailed([f"{archive_label or path.name}: no images found"])
        del checked  # the new ones are all that is needed from here on
        staged_commit_all(
            [(staging.path(i.index), blob_relpath(i.sha256, i.ext)) for i in to_create],
            lambda done: progress("store", done, len(to_create)),
        )
        store_sync()
        result = _create_rows(
            image_set=image_set, set_name=set_name, kind=kind, model_name=model_name,
            model_version=model_version, to_create=to_create, unchanged=unchanged,
            sources=sources, progress=progress, before_commit=before_commit,
        )  # fmt: skip
    finally:
        # Only this import's own temporary files; stored blobs are the collector's business.
        staging.clear()
    return result


def _create_rows(
    *, image_set: ImageSet | None, set_name: str, kind: str, model_name: str | None,
    model_version: str, to_create: list[Checked], unchanged: int, sources: dict[str, Image],
    progress: Progress, before_commit: Callable[[ImportResult], None] | None,
) -> ImportResult:  # fmt: skip
    """The set (if new), prompts and image rows in one transaction, in batches."""
    try:
        with transaction.atomic():
            if image_set is None:
                model = None
                if model_name:
                    model, _ = ModelUnderTest.objects.get_or_create(
                        name=model_name, version=model_version
                    )
                image_set = ImageSet.objects.create(name=set_name.strip(), kind=kind, model=model)
            prompts = _prompts_for([c.row.prompt for c in to_create if c.row and c.row.prompt])
            for start in range(0, len(to_create), ROW_BATCH):
                batch = to_create[start : start + ROW_BATCH]
                Image.objects.bulk_create(
                    [_image_row(image_set, c, prompts, sources) for c in batch]
                )
                progress("rows", start + len(batch), len(to_create))
            result = ImportResult(image_set=image_set, created=len(to_create), unchanged=unchanged)
            if before_commit is not None:
                before_commit(result)
    except IntegrityError:
        # Another import into the same set committed first (same names or files, or the
        # same new set): nothing of this one was written, and running it again adds the rest.
        raise ImportFailed(
            [f"set {set_name.strip()!r}: another import into it committed while this one "
             "ran; nothing was imported, import again to add what is still missing"]
        ) from None  # fmt: skip
    return result


def import_entries(path: Path, label: str | None, problems: Sequence[str] = ()) -> list[Entry]:
    """The files of a folder or zip, or :class:`ImportFailed` (with ``problems`` before its
    own) when it cannot be read or is over the limits of files and bytes per import.

    Reads only the folder's listing or the zip's directory: refused before a byte is read.
    """
    label = label or path.name
    try:
        entries = collect_entries(
            path,
            max_file_bytes=settings.EVALSITE_MAX_IMAGE_BYTES,
            max_total_bytes=settings.EVALSITE_MAX_IMPORT_BYTES,
            label=label,
        )
    except ArchiveError as exc:
        raise ImportFailed([*problems, str(exc)]) from None
    max_files, max_bytes = settings.EVALSITE_MAX_IMPORT_FILES, settings.EVALSITE_MAX_IMPORT_BYTES
    over = []
    if len(entries) > max_files:
        over.append(f"{len(entries):,} files, over the limit of {max_files:,} per import")
    total = sum(e.size for e in entries)
    if total > max_bytes:
        over.append(f"{total:,} bytes, over the limit of {max_bytes:,} per import")
    if over:
        raise ImportFailed(
            [f"{label}: {o}; split it into several imports into the same set" for o in over]
        )
    return entries


def _check_entries(
    entries: list[Entry],
    rows: dict[str, ManifestRow | None] | None,
    staging: Staging,
    problems: list[str],
    progress: Progress,
) -> list[Checked]:
    checked: list[Checked] = []
    seen_sha: dict[str, str] = {}
    if rows is not None:
        names = {e.name for e in entries}
        for missing in sorted(set(rows) - names):
            problems.append(f"{missing}: named in the manifest but not found among the files")

    def to_read():
        """(index, entry, manifest row) of each file worth reading; the others are listed."""
        for index, entry in enumerate(entries):
            bad_name = name_problem(entry.name)
            if bad_name:
                problems.append(bad_name)
            elif rows is None:
                yield index, entry, None
            elif entry.name not in rows:
                problems.append(f"{entry.name}: not listed in the manifest")
            elif rows[entry.name] is not None:  # None: its row has a bad value, listed
                yield index, entry, rows[entry.name]

    for done, (item, problem) in enumerate(_in_threads(_stage_and_verify, to_read(), staging)):
        progress("check", done + 1, len(entries))
        if problem:
            problems.append(problem)
        elif item.sha256 in seen_sha:
            problems.append(
                f"{item.name}: the same image as {seen_sha[item.sha256]} (identical bytes)"
            )
            staging.path(item.index).unlink(missing_ok=True)
        else:
            seen_sha[item.sha256] = item.name
            checked.append(item)
    progress("check", len(entries), len(entries))
    return checked


def _in_threads(work, todo, staging: Staging):
    """``work(index, entry, row, staging)`` for each item, in order, a few at a time.

    Threads, not processes: hashing and PIL's decoders release the GIL, so copying one
    file overlaps with decoding another, and it works inside Celery's prefork pool.
    At most ``2 x threads`` files are in flight, so memory does not grow with N.
    """
    threads = max(1, min(IMPORT_THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(threads, thread_name_prefix="import") as pool:
        window: deque = deque()
        for index, entry, row in todo:
            window.append(pool.submit(work, index, entry, row, staging))
            if len(window) >= 2 * threads:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _stage_and_verify(
    index: int, entry: Entry, row: ManifestRow | None, staging: Staging
) -> tuple[Checked | None, str]:
    """Copy one file into the store's staging folder, hashing it, then decode-check it there."""
    staged = staging.path(index)
    limit = settings.EVALSITE_MAX_IMAGE_BYTES
    try:
        with entry.open() as fh:
            sha, size = stream_to_staging(fh.read, staged, limit=limit)
        info = verify_image_file(
            staged,
            entry.name,
            max_pixels=settings.EVALSITE_MAX_IMAGE_PIXELS,
            max_decode_bytes=settings.EVALSITE_MAX_DECODE_BYTES,
        )
    except OverflowError:
        problem = f"{entry.name}: inflates past the limit of {limit:,} bytes"
    except ImageError as exc:
        problem = str(exc)
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        problem = f"{entry.name}: corrupt zip entry ({exc})"
    except OSError as exc:
        problem = f"{entry.name}: cannot be read ({exc.strerror or exc})"
    else:
        suffix = PurePosixPath(entry.name).suffix.lower()
        checked = Checked(
            index=index,
            name=entry.name,
            sha256=sha,
            size=size,
            ext=".jpg" if suffix == ".jpeg" else suffix,
            width=info.width,
            height=info.height,
            format=info.format,
            mode=info.mode,
            row=row,
        )
        return checked, ""
    staged.unlink(missing_ok=True)
    return None, problem


def _prompts_for(texts: list[str]) -> dict[str, Prompt]:
    hashes = {Prompt.hash_text(t): t for t in set(texts)}
    found = _prompts_by_hash(list(hashes))
    missing = [Prompt(text=t, text_sha256=h) for h, t in hashes.items() if t not in found]
    # ignore_conflicts: another import may create the same prompt concurrently.
    Prompt.objects.bulk_create(missing, ignore_conflicts=True, batch_size=ROW_BATCH)
    return _prompts_by_hash(list(hashes)) if missing else found


def _prompts_by_hash(keys: list[str]) -> dict[str, Prompt]:
    found: dict[str, Prompt] = {}
    for start in range(0, len(keys), ROW_BATCH):
        chunk = keys[start : start + ROW_BATCH]
        found.update({p.text: p for p in Prompt.objects.filter(text_sha256__in=chunk)})
    return found


def _image_row(
    image_set: ImageSet, item: Checked, prompts: dict[str, Prompt], sources: dict[str, Image]
) -> Image:
    row = item.row
    return Image(
        image_set=image_set,
        filename=item.name,
        sha256=item.sha256,
        blob=blob_relpath(item.sha256, item.ext),
        width=item.width,
        height=item.height,
        format=item.format,
        mode=item.mode,
        byte_size=item.size,
        prompt=prompts.get(row.prompt) if row and row.prompt else None,
        source=sources.get(row.source) if row and row.source else None,
        caption=row.caption if row else "",
        source_caption=row.source_caption if row else "",
        seed=row.seed if row else None,
        metadata=row.metadata if row else {},
    )
