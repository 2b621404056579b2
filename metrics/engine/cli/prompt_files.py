"""Prompt and caption files of the CLIP commands (``--prompts`` / ``--captions``).

Prompt and caption files (``--prompts`` / ``--captions``) are CSV with a header row or
JSONL (one JSON object per line), chosen by extension (``.csv``; ``.jsonl``,
``.ndjson``) or, for other names, by whether the first character is ``{``:

- clip-score: columns ``file,prompt``: ``file`` is an image's file name in DIR;
- clip-direction: columns ``file,source_caption,caption`` (``caption`` describes the
  edited image ``file`` in EDITED_DIR, ``source_caption`` its source image), and an
  optional ``source`` column naming the source image in SOURCE_DIR (default: the
  same file name as the edited one).

Other columns are ignored, so an import manifest can be passed as it is. Only the
file name part of ``file`` counts (``images/a.png`` means ``a.png``). Every image of
DIR (EDITED_DIR) needs exactly one row, and every row must name an existing image.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metrics.engine.cli.common import UsageError, list_images

_SHOW = 5


def shown_names(names: Sequence[str]) -> str:
    more = len(names) - _SHOW
    return ", ".join(names[:_SHOW]) + (f" and {more} more" if more > 0 else "")


def read_rows(path: str | Path, required: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a CSV (with header) or JSONL file, each with the ``required`` keys as strings."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p}: cannot be read as UTF-8 text ({exc})") from None
    suffix = p.suffix.lower()
    is_jsonl = suffix in (".jsonl", ".ndjson") or (
        suffix != ".csv" and text.lstrip().startswith("{")
    )
    rows: list[tuple[int, dict[str, Any]]] = []
    if is_jsonl:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{p}, line {lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise UsageError(f'{p}, line {lineno}: expected a JSON object like {{"file": ...}}')
            rows.append((lineno, obj))
    else:
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise UsageError(
                f"{p}: the CSV header {','.join(header) or '(empty)'} lacks column(s) "
                f"{', '.join(missing)}; the first line must name the columns, e.g. {','.join(required)}"
            )
        rows = [(i, row) for i, row in enumerate(reader, start=2)]
    if not rows:
        raise UsageError(f"{p}: no rows (expected columns {', '.join(required)})")
    out = []
    for lineno, row in rows:
        clean: dict[str, str] = {}
        for key, value in row.items():
            if key is not None and value is not None:
                clean[str(key)] = str(value)
        for col in required:
            if not clean.get(col, "").strip():
                raise UsageError(f"{p}, line {lineno}: missing or empty {col!r}")
        clean["_line"] = str(lineno)
        out.append(clean)
    return out


def _index_rows(rows: list[dict[str, str]], source: Path) -> dict[str, dict[str, str]]:
    by_name: dict[str, dict[str, str]] = {}
    for row in rows:
        name = Path(row["file"].strip()).name
        if name in by_name:
            raise UsageError(
                f"{source}, lines {by_name[name]['_line']} and {row['_line']}: {name} is listed twice; "
                "give one row per image"
            )
        by_name[name] = row
    return by_name


def _match_rows(
    images: list[Path], rows: list[dict[str, str]], source: Path, what: str, directory: Path
) -> list[dict[str, str]]:
    """The row of each image, in image order; errors for images without rows and rows without images."""
    by_name = _index_rows(rows, source)
    names = {p.name for p in images}
    no_row = [p.name for p in images if p.name not in by_name]
    no_image = sorted(n for n in by_name if n not in names)
    problems = []
    if no_row:
        problems.append(
            f"{len(no_row)} image(s) in {directory} have no {what} in {source}: {shown_names(no_row)}"
        )
    if no_image:
        problems.append(
            f"{len(no_image)} row(s) of {source} name images not in {directory}: {shown_names(no_image)}"
        )
    if problems:
        raise UsageError("; ".join(problems) + f"; give exactly one {what} per image")
    return [by_name[p.name] for p in images]


def read_prompts(path: str | Path, images: list[Path], directory: Path) -> list[str]:
    """The prompt of each image (same order), from a ``file,prompt`` CSV or JSONL file."""
    rows = read_rows(path, ("file", "prompt"))
    return [row["prompt"] for row in _match_rows(images, rows, Path(path), "prompt", directory)]


@dataclass(frozen=True)
class EditPair:
    """One edit: its source and edited image files and captions."""

    source: Path
    edited: Path
    source_caption: str
    caption: str


def read_edit_pairs(path: str | Path, source_dir: Path, edited_dir: Path) -> list[EditPair]:
    """The edit pairs described by a ``file,source_caption,caption[,source]`` file."""
    edited = list_images(edited_dir)
    sources = {p.name: p for p in list_images(source_dir)}
    rows = _match_rows(
        edited,
        read_rows(path, ("file", "source_caption", "caption")),
        Path(path),
        "caption row",
        edited_dir,
    )
    pairs, missing = [], []
    for img, row in zip(edited, rows, strict=True):
        src_name = Path(row.get("source", "").strip() or img.name).name
        if src_name not in sources:
            missing.append(f"{src_name} (for {img.name})")
            continue
        pairs.append(EditPair(sources[src_name], img, row["source_caption"], row["caption"]))
    if missing:
        raise UsageError(
            f"{len(missing)} source image(s) not found in {source_dir}: {shown_names(missing)}; a source "
            "image has the edited image's file name unless a 'source' column names it"
        )
    return pairs
