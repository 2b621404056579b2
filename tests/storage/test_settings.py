"""EVALSITE_STORAGE_URL: the local folder, a bucket, or a clear refusal."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from evalsite.settings import _storage_from_url


def test_a_bucket_url_names_the_bucket_and_the_prefix(monkeypatch):
    monkeypatch.setenv("EVALSITE_S3_ENDPOINT_URL", "http://minio:9000")
    entry = _storage_from_url("s3://images/team/evalsite/")
    assert entry["BACKEND"] == "storages.backends.s3.S3Storage"
    options = entry["OPTIONS"]
    assert (options["bucket_name"], options["location"]) == ("images", "team/evalsite")
    assert options["endpoint_url"] == "http://minio:9000"
    assert options["file_overwrite"] is False


@pytest.mark.parametrize("url", ["", "file://", "file:///srv/media"])
def test_the_local_folder_needs_no_storage_entry(url):
    assert _storage_from_url(url) is None


@pytest.mark.parametrize("url", ["s3://", "gs://bucket/x", "http://host/bucket"])
def test_other_urls_are_refused_with_the_forms_that_work(url):
    with pytest.raises(ImproperlyConfigured, match="s3://bucket/prefix"):
        _storage_from_url(url)
