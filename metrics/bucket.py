"""The bucket backend of the blob store: an S3-compatible bucket through django-storages.

Only ``metrics/storage.py`` (and the collector) call this module; everything else goes
through the storage module, which picks the local folder or the bucket.

Write once: a blob is uploaded to a temporary key (``.tmp-...`` in its folder, so the
collector removes it if the writer dies) and copied into place only when its checks have
passed and no object is there yet; an existing object is never rewritten.

Adoption (the bucket's ``blob_adopt``): an object's modification time cannot be refreshed
without rewriting it, so an import that reuses a blob writes a small marker
``adopt/<relpath>`` first and then looks for the blob. The collector deletes an old
unreferenced blob by copying it aside, deleting it, then reading the marker: a marker
younger than the cutoff means an import may have seen the blob, so it is put back.
Either the import's look came after the delete (it uploads the blob itself), or its
marker came before the collector's read (the blob is restored).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import storages

from metrics.storage import TMP_PREFIX

ADOPT_PREFIX = "adopt/"
# Multipart parts and download chunks: memory stays at a few of these per transfer.
TRANSFER_CHUNK = 8 * 1024 * 1024


def backend():
    return storages["blobs"]


def _client():
    return backend().connection.meta.client


def _bucket() -> str:
    return backend().bucket_name


def key(relpath: str) -> str:
    """The object key of a store path (the backend's prefix in front)."""
    location = backend().location.strip("/")
    return f"{location}/{relpath}" if location else relpath


def relpath_of(object_key: str) -> str:
    location = backend().location.strip("/")
    return object_key[len(location) + 1 :] if location else object_key


def _transfer_config():
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=TRANSFER_CHUNK, multipart_chunksize=TRANSFER_CHUNK,
        max_concurrency=2, io_chunksize=256 * 1024,
    )  # fmt: skip


def head(relpath: str) -> datetime | None:
    """The object's LastModified, or None when there is none."""
    try:
        return _client().head_object(Bucket=_bucket(), Key=key(relpath))["LastModified"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def adopt(relpath: str) -> bool:
    """Say whether the blob is there; when it is, mark it in use by an import first.

    No marker for a missing blob: the caller uploads it, young. For one that is there,
    the marker is written before the second look, so a collector deleting it meanwhile
    either is seen (the look finds nothing) or sees the marker (and puts it back).
    """
    if head(relpath) is None:
        return False
    _client().put_object(Bucket=_bucket(), Key=key(ADOPT_PREFIX + relpath), Body=b"")
    return head(relpath) is not None


def upload_temporary(fileobj: BinaryIO, relpath: str) -> str:
    """Stream ``fileobj`` to a fresh temporary key next to ``relpath``; return that store path."""
    folder = relpath.rsplit("/", 1)[0]
    temporary = f"{folder}/{TMP_PREFIX}{secrets.token_hex(8)}"
    _client().upload_fileobj(fileobj, _bucket(), key(temporary), Config=_transfer_config())
    return temporary


def commit_temporary(temporary: str, relpath: str, *, adopt_existing: bool = True) -> bool:
    """Copy a temporary object into place unless the blob exists; False when it did."""
    client = _client()
    try:
        there = adopt(relpath) if adopt_existing else head(relpath) is not None
        if not there:
            copy = {"Bucket": _bucket(), "Key": key(temporary)}
            client.copy(copy, _bucket(), key(relpath), Config=_transfer_config())
    finally:
        client.delete_object(Bucket=_bucket(), Key=key(temporary))
    return not there


def write_once(fileobj: BinaryIO, relpath: str, *, adopt_existing: bool = True) -> bool:
    """Store ``fileobj`` at ``relpath`` through a temporary key; False when already there."""
    if adopt(relpath) if adopt_existing else head(relpath) is not None:
        return False
    return commit_temporary(
        upload_temporary(fileobj, relpath), relpath, adopt_existing=adopt_existing
    )


def download(relpath: str, target: Path) -> int:
    """Stream the object to ``target`` in chunks (bounded memory); return its size."""
    with open(target, "wb") as out:
        _client().download_fileobj(_bucket(), key(relpath), out, Config=_transfer_config())
    return target.stat().st_size


def upload_file(path: Path, relpath: str) -> None:
    """Upload a local file (import uploads: not content-addressed, one writer per key)."""
    _client().upload_file(str(path), _bucket(), key(relpath), Config=_transfer_config())


def presigned_url(
    relpath: str, *, filename: str | None = None, content_type: str | None = None
) -> str:
    """A short-lived GET link (EVALSITE_PRESIGN_SECONDS) to the object."""
    params = {"Bucket": _bucket(), "Key": key(relpath)}
    if filename:
        params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    if content_type:
        params["ResponseContentType"] = content_type
    return _client().generate_presigned_url(
        "get_object", Params=params, ExpiresIn=max(1, settings.EVALSITE_PRESIGN_SECONDS)
    )


def listing(prefix: str) -> Iterator[tuple[str, int, float]]:
    """(store path, size, mtime) of every object under ``prefix``, a page at a time."""
    pages = (
        _client().get_paginator("list_objects_v2").paginate(Bucket=_bucket(), Prefix=key(prefix))
    )
    for page in pages:
        for obj in page.get("Contents", ()):
            yield relpath_of(obj["Key"]), obj["Size"], obj["LastModified"].timestamp()


def delete(relpath: str) -> None:
    _client().delete_object(Bucket=_bucket(), Key=key(relpath))


def remove_if_still_old(relpath: str, cutoff: float) -> bool:
    """Delete an old blob unless an import adopted it meanwhile (see the module's text)."""
    client = _client()
    folder, name = relpath.rsplit("/", 1)
    aside = f"{folder}/{TMP_PREFIX}collect-{name}"
    try:
        client.copy({"Bucket": _bucket(), "Key": key(relpath)}, _bucket(), key(aside))
    except ClientError:
        return False  # gone already
    client.delete_object(Bucket=_bucket(), Key=key(relpath))
    marked = head(ADOPT_PREFIX + relpath)
    # LastModified has whole seconds on some servers: a marker in the cutoff's second
    # counts as young (keeping a blob one more round is always safe).
    if marked is not None and marked.timestamp() >= cutoff - 1:
        client.copy({"Bucket": _bucket(), "Key": key(aside)}, _bucket(), key(relpath))
        client.delete_object(Bucket=_bucket(), Key=key(aside))
        return False
    client.delete_object(Bucket=_bucket(), Key=key(aside))
    return True
