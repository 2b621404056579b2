"""Parse an import manifest (CSV or JSONL) into rows keyed by file name.

Columns: ``file`` (required), ``prompt``, ``source``, ``source_caption``,
``caption``, ``seed``; any other column is kept as metadata of the image.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

KNOWN_COLUMNS = ("file", "prompt", "source", "source_caption", "caption", "seed")
MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")


class ManifestError(ValueError):
    """The manifest cannot be used; the message says where and why."""


@dataclass
class ManifestRow:
    file: str
    prompt: str = ""
    source: str = ""
    source_caption: str = ""
    caption: str = ""
    seed: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def normalise_name(name: str) -> str:
    """File names compare as POSIX relative paths without a leading './'."""
    return str(PurePosixPath(name.strip().replace("\\", "/")))


def parse_manifest(data: bytes, name: str) -> dict[str, ManifestRow]:
    """Parse manifest bytes; ``name`` (its file name) chooses CSV or JSONL by extension."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"{name}: not UTF-8 (invalid byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the manifest as UTF-8"
        ) from None
    lower = name.lower()
    if lower.endswith(".jsonl") or lower.endswith(".ndjson"):
        records = _jsonl_records(text, name)
    elif lower.endswith(".csv"):
        records = _csv_records(text, name)
    else:
        raise ManifestError(f"{name}: unknown manifest format; use a .csv or .jsonl file")

    rows: dict[str, ManifestRow] = {}
    for line, record in records:
        row = _row(record, f"{name} line {line}")
        if row.file in rows:
            raise ManifestError(f"{name} line {line}: {row.file} appears twice in the manifest")
        rows[row.file] = row
    if not rows:
        raise ManifestError(f"{name}: the manifest has no rows")
    return rows


def _csv_records(text: str, name: str):
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "file" not in [f.strip() for f in reader.fieldnames]:
        raise ManifestError(f"{name}: the header must have a 'file' column")
    try:
        for record in reader:
            if None in record:
                raise ManifestError(
                    f"{name} line {reader.line_num}: more values than columns in the header"
                )
            yield reader.line_num, {k.strip(): v for k, v in record.items()}
    except csv.Error as exc:
        raise ManifestError(f"{name} line {reader.line_num}: {exc}") from None


def _jsonl_records(text: str, name: str):
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{name} line {number}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise ManifestError(f"{name} line {number}: each line must be a JSON object")
        yield number, record


def _text(value: Any, where: str, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise ManifestError(f"{where}: '{column}' must be text")
    return str(value).strip()


def _row(record: dict[str, Any], where: str) -> ManifestRow:
    file = _text(record.get("file"), where, "file")
    if not file:
        raise ManifestError(f"{where}: the 'file' value is empty")
    seed_raw = record.get("seed")
    seed = None
    if seed_raw not in (None, ""):
        try:
            seed = int(str(seed_raw).strip())
        except ValueError:
            raise ManifestError(f"{where}: seed {seed_raw!r} is not an integer") from None
    metadata = {k: v for k, v in record.items() if k not in KNOWN_COLUMNS and k}
    return ManifestRow(
        file=normalise_name(file),
        prompt=_text(record.get("prompt"), where, "prompt"),
        source=normalise_name(_text(record.get("source"), where, "source"))
        if record.get("source")
        else "",
        source_caption=_text(record.get("source_caption"), where, "source_caption"),
        caption=_text(record.get("caption"), where, "caption"),
        seed=seed,
        metadata=metadata,
    )
