"""Checks of an import against its request and what the catalog already holds.

Each check appends problems (strings naming the file, the row and the reason) to one
list; the import refuses with all of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metrics.engine.images import is_image_name
from metrics.models import Image, ImageSet
from metrics.services.archive import Entry
from metrics.services.manifest import (
    MANIFEST_NAMES,
    NAME_MAX_CHARS,
    ManifestError,
    ManifestRow,
    parse_manifest,
    text_problem,
)

# How each door names its inputs, so that a message speaks the user's words.
CLI_WORDS = {"model": "--model", "kind": "--kind", "source_set": "--source-set"}
FORM_WORDS = {"model": "Model under test", "kind": "Kind", "source_set": "Source set"}
API_WORDS = {"model": "model_name", "kind": "kind", "source_set": "source_set"}
# Column sizes of the set and the model under test.
LIMITS = {"set name": 200, "model name": 200, "model version": 100}
MANIFEST_MAX_BYTES = 512 * 1024 * 1024
# Existing rows are looked up this many names at a time.
LOOKUP_BATCH = 500


@dataclass(slots=True)
class Checked:
    """What the import keeps of one verified file: a few facts, never its bytes."""

    index: int  # position in the import: names its temporary file
    name: str
    sha256: str
    size: int
    ext: str
    width: int
    height: int
    format: str
    mode: str
    row: ManifestRow | None


def existing_set_checked(
    set_name: str,
    kind: str | None,
    model_name: str | None,
    model_version: str,
    words: dict[str, str],
    problems: list[str],
) -> ImageSet | None:
    """The set ``set_name`` if it exists, after checking the request's names and its fit."""
    set_name = set_name.strip()
    for label, value in (("set name", set_name), ("model name", model_name or ""),
                         ("model version", model_version)):  # fmt: skip
        bad = text_problem(value, allow_newlines=False)
        if bad:
            problems.append(f"the {label} {bad}")
        elif len(value) > LIMITS[label]:
            problems.append(
                f"the {label} is {len(value):,} characters, over the limit of {LIMITS[label]}"
            )
    if not set_name:
        problems.append("the set name is empty")
    if problems:
        return None
    if kind is not None and kind not in ImageSet.Kind.values:
        problems.append(f"unknown kind {kind!r}; use one of {', '.join(ImageSet.Kind.values)}")
        return None
    if kind == ImageSet.Kind.GENERATED and model_name is None:
        problems.append(f"a generated set needs the model that made it ({words['model']})")
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


def manifest_rows(
    entries: list[Entry], manifest: Path | None, label: str | None, problems: list[str]
) -> tuple[dict[str, ManifestRow | None] | None, list[Entry]]:
    """The manifest's rows (an explicit file, or manifest.csv/.jsonl at the top) and the rest.

    Bad values are appended to ``problems``; a manifest that cannot be read at all raises.
    """
    if manifest is not None:
        label = label or manifest.name
        try:
            with open(manifest, "rb") as fh:
                data = fh.read(MANIFEST_MAX_BYTES + 1)
        except OSError as exc:
            raise ManifestError(f"{label}: cannot be read ({exc.strerror or exc})") from None
        if len(data) > MANIFEST_MAX_BYTES:
            raise ManifestError(f"{label}: over the limit of {MANIFEST_MAX_BYTES:,} bytes")
        rows, bad = parse_manifest(data, label)
        problems.extend(bad)
        return rows, entries
    inside = [e for e in entries if e.name.lower() in MANIFEST_NAMES]
    if len(inside) > 1:
        raise ManifestError("both manifest.csv and manifest.jsonl are present: keep one")
    if inside:
        rest = [e for e in entries if e is not inside[0]]
        rows, bad = parse_manifest(inside[0].read(MANIFEST_MAX_BYTES), inside[0].name)
        problems.extend(bad)
        return rows, rest
    return None, entries


def name_problem(name: str) -> str:
    """Why a file of the import cannot be imported by its name ("" when it can)."""
    shown = name if len(name) <= 120 else f"{name[:100]}...{name[-12:]}"
    bad = text_problem(name, allow_newlines=False)
    if bad:
        return f"{shown!r}: the file name {bad}"
    if len(name) > NAME_MAX_CHARS:
        return (
            f"{shown}: the file name is {len(name):,} characters, over the limit of "
            f"{NAME_MAX_CHARS}; shorten it"
        )
    if not is_image_name(name):
        return (
            f"{shown}: not an image file name (expected .png, .jpg, .jpeg, .webp, "
            ".bmp, .tif, .tiff or .gif)"
        )
    return ""


def resolve_sources(
    checked: list[Checked], source_set: ImageSet | None, words: dict[str, str], problems: list[str]
) -> dict[str, Image]:
    """The source images the manifest's rows name, by file name."""
    wanted = sorted({c.row.source for c in checked if c.row and c.row.source})
    if not wanted:
        return {}
    if source_set is None:
        problems.append(
            "the manifest names source images: say which source set holds them "
            f"({words['source_set']})"
        )
        return {}
    found: dict[str, Image] = {}
    for start in range(0, len(wanted), LOOKUP_BATCH):
        chunk = wanted[start : start + LOOKUP_BATCH]
        found.update({i.filename: i for i in source_set.images.filter(filename__in=chunk)})
    for name in wanted:
        if name not in found:
            problems.append(f"source {name}: not in source set {source_set.name!r}")
    return found


def against_existing(
    image_set: ImageSet | None, checked: list[Checked], problems: list[str]
) -> tuple[list[Checked], int]:
    """Split into new images and ones already imported; flag conflicts."""
    if image_set is None:
        return checked, 0
    new: list[Checked] = []
    unchanged = 0
    for start in range(0, len(checked), LOOKUP_BATCH):
        chunk = checked[start : start + LOOKUP_BATCH]
        existing = {
            img.filename: img
            for img in image_set.images.select_related("prompt").filter(
                filename__in=[c.name for c in chunk]
            )
        }
        by_sha = dict(
            image_set.images.filter(sha256__in=[c.sha256 for c in chunk]).values_list(
                "sha256", "filename"
            )
        )
        for item in chunk:
            if _is_unchanged(item, existing.get(item.name), by_sha, problems):
                unchanged += 1
            elif item.name not in existing and item.sha256 not in by_sha:
                new.append(item)
    return new, unchanged


def _is_unchanged(item: Checked, old: Image | None, by_sha: dict, problems: list[str]) -> bool:
    if old is None:
        if item.sha256 in by_sha:
            problems.append(
                f"{item.name}: the set already holds this image as {by_sha[item.sha256]}"
            )
        return False
    if old.sha256 != item.sha256:
        problems.append(f"{item.name}: the set already holds a different image under this name")
        return False
    new_prompt = item.row.prompt if item.row else ""
    old_prompt = old.prompt.text if old.prompt else ""
    if item.row is not None and new_prompt != old_prompt:
        problems.append(
            f"{item.name}: already imported with prompt {old_prompt!r}, "
            f"the manifest now says {new_prompt!r}"
        )
        return False
    return True
