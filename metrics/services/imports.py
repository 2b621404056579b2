"""Import an image set from a folder or a zip (with an optional manifest): all or nothing.

One service, three doors: ``manage.py import_images``, the upload form and the
REST endpoint all call :func:`image_set_import`.

Order of work, chosen so that a failure changes nothing:
1. read and check everything (names, manifest, every image decodes, sources exist,
   no conflict with what the set already holds), collecting every problem;
2. write the new blobs (content-addressed, atomic);
3. create the rows in one transaction; if it fails, remove the blobs this import
   wrote that no row refers to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import transaction

from metrics.engine.images import ImageError, ImageInfo, is_image_name, verify_image_bytes
from metrics.models import Image, ImageSet, ModelUnderTest, Prompt
from metrics.services.archive import ArchiveError, Entry, collect_entries
from metrics.services.manifest import (
    MANIFEST_NAMES,
    ManifestError,
    ManifestRow,
    parse_manifest,
)
from metrics.storage import blob_path, blob_relpath, blob_remove, blob_write

# Problems beyond this many are counted, not listed: the first ones tell the story.
MAX_LISTED_PROBLEMS = 50

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


@dataclass
class _Checked:
    entry: Entry
    data: bytes
    sha256: str
    info: ImageInfo
    row: ManifestRow | None


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
) -> ImportResult:
    """Import the images at ``path`` (folder or zip) into the set ``set_name``, all or nothing.

    A new generated set needs ``model_name`` (the model under test is created if new).
    Raises :class:`ImportFailed` listing every problem; then nothing has changed.
    """
    progress = progress or (lambda stage, done, total: None)
    model_name = (model_name or "").strip() or None
    model_version = model_version.strip()
    kind = kind or (ImageSet.Kind.GENERATED if model_name else None)
    problems: list[str] = []

    image_set = _existing_set_checked(set_name, kind, model_name, model_version, problems)
    if problems:
        raise ImportFailed(problems)
    if image_set is None and kind is None:
        raise ImportFailed(
            [f"set {set_name!r} is new: say its kind (generated, reference, source)"]
        )

    try:
        entries = collect_entries(
            path,
            max_file_bytes=settings.EVALSITE_MAX_IMAGE_BYTES,
            max_total_bytes=settings.EVALSITE_MAX_UPLOAD_BYTES,
        )
        rows, entries = _manifest_rows(entries, manifest)
    except (ArchiveError, ManifestError) as exc:
        raise ImportFailed([str(exc)]) from None

    checked = _check_entries(entries, rows, problems, progress)
    sources = _resolve_sources(checked, source_set, problems)
    to_create, unchanged = _against_existing(image_set, checked, problems)
    if problems:
        raise ImportFailed(problems)
    if not checked:
        raise ImportFailed([f"{path.name}: no images found"])

    written: list[str] = []
    try:
        for done, item in enumerate(to_create, start=1):
            relpath = blob_relpath(item.sha256, _extension(item))
            if blob_write(item.data, relpath):
                written.append(relpath)
            progress("store", done, len(to_create))
        with transaction.atomic():
            if image_set is None:
                model = None
                if model_name:
                    model, _ = ModelUnderTest.objects.get_or_create(
                        name=model_name, version=model_version
                    )
                image_set = ImageSet.objects.create(name=set_name.strip(), kind=kind, model=model)
            prompts = _prompts_for([c.row.prompt for c in to_create if c.row and c.row.prompt])
            Image.objects.bulk_create(
                [_image_row(image_set, c, prompts, sources) for c in to_create]
            )
    except BaseException:
        _remove_unreferenced(written)
        raise
    return ImportResult(image_set=image_set, created=len(to_create), unchanged=unchanged)


def _existing_set_checked(
    set_name: str,
    kind: str | None,
    model_name: str | None,
    model_version: str,
    problems: list[str],
) -> ImageSet | None:
    set_name = set_name.strip()
    if not set_name:
        problems.append("the set name is empty")
        return None
    if kind is not None and kind not in ImageSet.Kind.values:
        problems.append(f"unknown kind {kind!r}; use one of {', '.join(ImageSet.Kind.values)}")
        return None
    if kind == ImageSet.Kind.GENERATED and model_name is None:
        problems.append("a generated set needs the model that made it (--model)")
    if kind in (ImageSet.Kind.REFERENCE, ImageSet.Kind.SOURCE) and model_name is not None:
        problems.append(f"a {kind} set holds real or input images: it has no model")
    image_set = ImageSet.objects.select_related("model").filter(name=set_name).first()
    if image_set is None:
        return None
    if kind is not None and image_set.kind != kind:
        problems.append(f"set {set_name!r} already exists with kind {image_set.kind}, not {kind}")
    if model_name is not None and (
        image_set.model is None
        or (image_set.model.name, image_set.model.version) != (model_name, model_version)
    ):
        problems.append(
            f"set {set_name!r} already belongs to model {image_set.model or 'none'}, "
            f"not {model_name} {model_version}".rstrip()
        )
    return image_set


def _manifest_rows(
    entries: list[Entry], manifest: Path | None
) -> tuple[dict[str, ManifestRow] | None, list[Entry]]:
    """The manifest's rows (an explicit file, or manifest.csv/.jsonl at the top) and the rest."""
    if manifest is not None:
        try:
            data = manifest.read_bytes()
        except OSError as exc:
            raise ManifestError(f"{manifest}: cannot be read ({exc.strerror or exc})") from None
        return parse_manifest(data, manifest.name), entries
    inside = [e for e in entries if e.name.lower() in MANIFEST_NAMES]
    if len(inside) > 1:
        raise ManifestError("both manifest.csv and manifest.jsonl are present: keep one")
    if inside:
        rest = [e for e in entries if e is not inside[0]]
        return parse_manifest(inside[0].read(), inside[0].name), rest
    return None, entries


def _check_entries(
    entries: list[Entry],
    rows: dict[str, ManifestRow] | None,
    problems: list[str],
    progress: Progress,
) -> list[_Checked]:
    checked: list[_Checked] = []
    seen_sha: dict[str, str] = {}
    names = {e.name for e in entries}
    if rows is not None:
        for missing in sorted(set(rows) - names):
            problems.append(f"{missing}: named in the manifest but not found among the files")
    for done, entry in enumerate(entries, start=1):
        progress("check", done, len(entries))
        if not is_image_name(entry.name):
            problems.append(
                f"{entry.name}: not an image file name (expected .png, .jpg, .jpeg, .webp, "
                ".bmp, .tif, .tiff or .gif)"
            )
            continue
        row = None
        if rows is not None:
            row = rows.get(entry.name)
            if row is None:
                problems.append(f"{entry.name}: not listed in the manifest")
                continue
        try:
            data = entry.read()
            info = verify_image_bytes(
                data, entry.name, max_pixels=settings.EVALSITE_MAX_IMAGE_PIXELS
            )
        except (ImageError, ArchiveError) as exc:
            problems.append(str(exc))
            continue
        sha = hashlib.sha256(data).hexdigest()
        if sha in seen_sha:
            problems.append(f"{entry.name}: the same image as {seen_sha[sha]} (identical bytes)")
            continue
        seen_sha[sha] = entry.name
        checked.append(_Checked(entry=entry, data=data, sha256=sha, info=info, row=row))
    return checked


def _resolve_sources(
    checked: list[_Checked], source_set: ImageSet | None, problems: list[str]
) -> dict[str, Image]:
    wanted = {c.row.source for c in checked if c.row and c.row.source}
    if not wanted:
        return {}
    if source_set is None:
        problems.append("the manifest names source images: say which source set holds them")
        return {}
    found = {img.filename: img for img in source_set.images.filter(filename__in=wanted)}
    for name in sorted(wanted - set(found)):
        problems.append(f"source {name}: not in source set {source_set.name!r}")
    return found


def _against_existing(
    image_set: ImageSet | None, checked: list[_Checked], problems: list[str]
) -> tuple[list[_Checked], int]:
    """Split into new images and ones already imported; flag conflicts."""
    if image_set is None:
        return checked, 0
    existing = {
        img.filename: img
        for img in image_set.images.select_related("prompt").filter(
            filename__in=[c.entry.name for c in checked]
        )
    }
    by_sha = dict(
        image_set.images.filter(sha256__in=[c.sha256 for c in checked]).values_list(
            "sha256", "filename"
        )
    )
    new: list[_Checked] = []
    unchanged = 0
    for item in checked:
        old = existing.get(item.entry.name)
        if old is None:
            if item.sha256 in by_sha:
                problems.append(
                    f"{item.entry.name}: the set already holds this image as {by_sha[item.sha256]}"
                )
            else:
                new.append(item)
            continue
        if old.sha256 != item.sha256:
            problems.append(
                f"{item.entry.name}: the set already holds a different image under this name"
            )
            continue
        new_prompt = item.row.prompt if item.row else ""
        old_prompt = old.prompt.text if old.prompt else ""
        if item.row is not None and new_prompt != old_prompt:
            problems.append(
                f"{item.entry.name}: already imported with prompt {old_prompt!r}, "
                f"the manifest now says {new_prompt!r}"
            )
            continue
        unchanged += 1
    return new, unchanged


def _prompts_for(texts: list[str]) -> dict[str, Prompt]:
    unique = sorted(set(texts))
    hashes = {Prompt.hash_text(t): t for t in unique}
    found = {p.text: p for p in Prompt.objects.filter(text_sha256__in=hashes)}
    missing = [Prompt(text=t, text_sha256=h) for h, t in hashes.items() if t not in found]
    # ignore_conflicts: another import may create the same prompt concurrently.
    Prompt.objects.bulk_create(missing, ignore_conflicts=True)
    return {p.text: p for p in Prompt.objects.filter(text_sha256__in=hashes)}


def _extension(item: _Checked) -> str:
    suffix = PurePosixPath(item.entry.name).suffix.lower()
    return ".jpg" if suffix == ".jpeg" else suffix


def _image_row(
    image_set: ImageSet, item: _Checked, prompts: dict[str, Prompt], sources: dict[str, Image]
) -> Image:
    row = item.row
    return Image(
        image_set=image_set,
        filename=item.entry.name,
        sha256=item.sha256,
        blob=blob_relpath(item.sha256, _extension(item)),
        width=item.info.width,
        height=item.info.height,
        format=item.info.format,
        mode=item.info.mode,
        byte_size=len(item.data),
        prompt=prompts.get(row.prompt) if row and row.prompt else None,
        source=sources.get(row.source) if row and row.source else None,
        caption=row.caption if row else "",
        source_caption=row.source_caption if row else "",
        seed=row.seed if row else None,
        metadata=row.metadata if row else {},
    )


def _remove_unreferenced(relpaths: list[str]) -> None:
    referenced = set(Image.objects.filter(blob__in=relpaths).values_list("blob", flat=True))
    for relpath in relpaths:
        if relpath not in referenced and blob_path(relpath).exists():
            blob_remove(relpath)
