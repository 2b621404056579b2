"""Parse an import manifest (CSV or JSONL) into rows keyed by file name.

Columns: ``file`` (required), ``prompt``, ``source``, ``source_caption``,
``caption``, ``seed``; any other column is kept as metadata of the image.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from metrics.models.fields import SEED_MAX, SEED_MIN

KNOWN_COLUMNS = ("file", "prompt", "source", "source_caption", "caption", "seed")
TEXT_COLUMNS = ("prompt", "source", "source_caption", "caption")
NAME_COLUMNS = ("file", "source")
MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")
# Limits of what a row may hold: the columns' sizes (a file name is an Image.filename),
# and bounds that keep one bad row from filling a page or the database.
NAME_MAX_CHARS = 500
TEXT_MAX_CHARS = 20_000
METADATA_MAX_BYTES = 64 * 1024
_INTEGER = re.compile(r"[+-]?[0-9]{1,40}")


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


def parse_manifest(data: bytes, name: str) -> tuple[dict[str, ManifestRow | None], list[str]]:
    """Parse manifest bytes; ``name`` (its file name) chooses CSV or JSONL by extension.

    Returns the rows by file name (None for a row refused for a bad value) and one problem
    per bad value, each naming the line and the file; raises :class:`ManifestError` when the manifest as a whole cannot be read.
    """
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

    rows: dict[str, ManifestRow | None] = {}
    problems: list[str] = []
    for line, record in records:
        where = f"{name} line {line}"
        if isinstance(record, str):  # a line that is not a record at all
            problems.append(f"{where}: {record}")
            continue
        file, row, row_problems = _row(record, where)
        problems.extend(row_problems)
        if file in rows:
            problems.append(f"{where}: {file} appears twice in the manifest")
        elif file:
            rows[file] = row
    if not rows and not problems:
        raise ManifestError(f"{name}: the manifest has no rows")
    return rows, problems


def _csv_records(text: str, name: str):
    if "\x00" in text:
        # The csv module stops at a NUL with a bare "line contains NUL": name the line.
        line = text[: text.index("\x00")].count("\n") + 1
        raise ManifestError(f"{name} line {line}: a NUL byte (\\x00); remove it")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "file" not in [f.strip() for f in reader.fieldnames]:
        raise ManifestError(f"{name}: the header must have a 'file' column")
    try:
        for record in reader:
            if None in record:
                yield reader.line_num, "more values than columns in the header"
                continue
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
            yield number, f"invalid JSON ({exc.msg})"
            continue
        if not isinstance(record, dict):
            yield number, "each line must be a JSON object"
            continue
        yield number, record


def _row(record: dict[str, Any], where: str) -> tuple[str, ManifestRow | None, list[str]]:
    """(file name, the row or None when a value is bad, the problems)."""
    problems: list[str] = []
    file = _text(record.get("file"), "file", problems)
    if not file and not problems:
        problems.append("the 'file' value is empty")
    if file:
        where = f"{where} ({file[:80]})"
    values = {c: _text(record.get(c), c, problems) for c in TEXT_COLUMNS}
    seed = _seed(record.get("seed"), problems)
    metadata = {k: v for k, v in record.items() if k not in KNOWN_COLUMNS and k}
    _check_metadata(metadata, problems)
    file = normalise_name(file) if file else ""
    if problems:
        return file, None, [f"{where}: {p}" for p in problems]
    return (
        file,
        ManifestRow(
            file=file,
            prompt=values["prompt"],
            source=normalise_name(values["source"]) if values["source"] else "",
            source_caption=values["source_caption"],
            caption=values["caption"],
            seed=seed,
            metadata=metadata,
        ),
        [],
    )


def _text(value: Any, column: str, problems: list[str]) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        problems.append(f"'{column}' must be text")
        return ""
    text = str(value).strip()
    limit = NAME_MAX_CHARS if column in NAME_COLUMNS else TEXT_MAX_CHARS
    bad = text_problem(text, allow_newlines=column not in NAME_COLUMNS)
    if bad:
        problems.append(f"'{column}' {bad}")
    elif len(text) > limit:
        problems.append(f"'{column}' is {len(text):,} characters, over the limit of {limit:,}")
    return text


def _seed(raw: Any, problems: list[str]) -> int | None:
    if raw is None or raw == "" or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool) or isinstance(raw, float) and not raw.is_integer():
        problems.append(f"seed {raw!r} is not an integer")
        return None
    text = str(int(raw) if isinstance(raw, float) else raw).strip()
    if not _INTEGER.fullmatch(text):
        problems.append(f"seed {_shown(raw)} is not an integer")
        return None
    seed = int(text)
    if not SEED_MIN <= seed <= SEED_MAX:
        problems.append(f"seed {text[:40]} is outside {SEED_MIN} to {SEED_MAX} (64 bits)")
        return None
    return seed


def _check_metadata(metadata: dict[str, Any], problems: list[str]) -> None:
    for key in metadata:
        bad = text_problem(str(key), allow_newlines=False)
        if bad:
            problems.append(f"the column name {_shown(key)} {bad}")
    for text in _strings(metadata):
        bad = text_problem(text, allow_newlines=True)
        if bad:
            problems.append(f"metadata {bad}")
            return
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8", "replace"))
    if size > METADATA_MAX_BYTES:
        problems.append(
            f"the other columns (metadata) take {size:,} bytes, over the limit of "
            f"{METADATA_MAX_BYTES:,}"
        )


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def text_problem(text: str, *, allow_newlines: bool) -> str:
    """Why ``text`` cannot be stored ("" when it can): NUL, control characters, lone surrogates."""
    if "\x00" in text:
        return "holds a NUL character (\\x00)"
    allowed = "\t\n\r" if allow_newlines else ""
    for ch in text:
        if (ord(ch) < 32 or ord(ch) == 127) and ch not in allowed:
            return f"holds the control character {ch!r}"
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return f"holds an invalid Unicode character (lone surrogate {ch!r})"
    return ""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
