"""Import, derivatives, serving, exports and the collector on both storage backends."""

from __future__ import annotations

import io
import os
import re
import time
import urllib.request

import pytest
from django.test import Client
from PIL import Image as PILImage

from metrics import storage
from metrics.models import Image, ImageSet
from metrics.services.blobs import blobs_collect
from metrics.services.derivatives import derivative_relpath, image_derivative
from metrics.services.imports import image_set_import
from ratings.models import Judge
from tests.conftest import png_bytes
from tests.ratings.factories import make_campaign, make_catalog
from tests.ratings.test_blinding import everything_a_judge_receives
from tests.storage.conftest import stored_paths

pytestmark = pytest.mark.django_db


def _folder(tmp_path, count=3, seed=0):
    folder = tmp_path / f"imgs{seed}"
    folder.mkdir()
    for i in range(count):
        (folder / f"img{i}.png").write_bytes(png_bytes(seed + i))
    return folder


def _modified(backend: str, relpath: str) -> float:
    if backend == "s3":
        from metrics import bucket

        return bucket.head(relpath).timestamp()
    return storage.blob_path(relpath).stat().st_mtime_ns


def test_an_import_stores_each_blob_once_under_its_sha256_and_leaves_no_temporary(
    backend, tmp_path
):
    folder = _folder(tmp_path)
    image_set_import(path=folder, set_name="a", model_name="m")
    blobs = sorted(Image.objects.values_list("blob", flat=True))
    assert stored_paths(backend, "images") == blobs
    for img in Image.objects.all():
        assert storage.blob_local(img.blob).read_bytes() == (folder / img.filename).read_bytes()
    before = {b: _modified(backend, b) for b in blobs}
    if backend == "local":
        time.sleep(0.01)
    # The same files in another set: nothing rewritten, nothing left over.
    image_set_import(path=folder, set_name="b", model_name="m2")
    assert stored_paths(backend, "images") == blobs
    if backend == "s3":
        assert {b: _modified(backend, b) for b in blobs} == before


def test_a_refused_import_stores_nothing(backend, tmp_path):
    from metrics.services.imports import ImportFailed

    folder = _folder(tmp_path)
    (folder / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ImportFailed):
        image_set_import(path=folder, set_name="a", model_name="m")
    assert stored_paths(backend, "images") == []
    assert not ImageSet.objects.exists()


def test_derivatives_are_made_once_and_stored_next_to_the_originals(backend, tmp_path):
    image_set_import(path=_folder(tmp_path, count=1), set_name="a", model_name="m")
    image = Image.objects.get()
    path = image_derivative(image=image, max_side=256, fit="pad")
    assert PILImage.open(path).size == (256, 256)
    relpath = derivative_relpath(sha256=image.sha256, max_side=256, fit="pad")
    assert stored_paths(backend, "derivatives") == [relpath]
    stamp = _modified(backend, relpath)
    assert image_derivative(image=image, max_side=256, fit="pad").read_bytes() == path.read_bytes()
    assert _modified(backend, relpath) == stamp


def test_researchers_get_a_presigned_link_on_a_bucket_and_bytes_from_the_app_otherwise(
    backend, tmp_path, admin_client, settings
):
    image_set_import(path=_folder(tmp_path, count=1), set_name="a", model_name="m")
    image = Image.objects.get()
    original = storage.blob_local(image.blob).read_bytes()
    response = admin_client.get(f"/catalog/images/{image.pk}/file")
    if backend == "local":
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == original
        return
    assert response.status_code == 302
    link = response["Location"]
    assert "Signature=" in link or "X-Amz-Signature=" in link
    assert urllib.request.urlopen(link).read() == original
    sized = admin_client.get(f"/catalog/images/{image.pk}/file/256")
    assert sized.status_code == 302
    assert (
        PILImage.open(io.BytesIO(urllib.request.urlopen(sized["Location"]).read())).format == "JPEG"
    )
    settings.EVALSITE_PRESIGN_SECONDS = 0  # a private bucket: the app serves the bytes
    through = admin_client.get(f"/catalog/images/{image.pk}/file")
    assert through.status_code == 200 and b"".join(through.streaming_content) == original


def test_judges_images_come_from_the_app_and_name_no_original(backend, tmp_path):
    sets, reference = make_catalog(tmp_path, models=2, prompts=1, per_prompt=2, references=0)
    campaign = make_campaign(sets, criteria=[("realism", "compare")], allow_link=True)
    forbidden = {img.sha256 for img in Image.objects.all()}
    responses = everything_a_judge_receives(Client(), campaign)
    assert Judge.objects.exists()
    images = 0
    for target, response in responses:
        assert response.status_code in (200, 302), target
        text = target + " " + " ".join(f"{k}: {v}" for k, v in response.items())
        assert "amazonaws" not in text and "127.0.0.1" not in text
        assert not any(sha in text for sha in forbidden), target
        if target.endswith(".jpg"):
            images += 1
            assert response.status_code == 200
            assert PILImage.open(io.BytesIO(response.content)).format == "JPEG"
    assert images >= 2
    # The judges' copies are stored on the backend, under the derivatives folder.
    assert stored_paths(backend, "derivatives")


def test_exports_are_stored_with_a_presigned_link_on_a_bucket(backend, admin_client):
    from tests.ratings.report.helpers import build_campaign

    built = build_campaign(
        n_prompts=4, compare_scores=(-0.5, 0.0, 0.2, 0.5), metrics={"fid": [40, 30, 20, 10]}
    )
    response = admin_client.get(f"/campaigns/{built.campaign.pk}/report/export.json")
    if backend == "local":
        assert response.status_code == 200 and b'"meta"' in response.content
        return
    assert response.status_code == 302, response.content[:300]
    (relpath,) = stored_paths(backend, "exports")
    assert re.fullmatch(r"exports/[0-9a-f]{24}/report-.*\.json", relpath)
    with urllib.request.urlopen(response["Location"]) as fetched:
        assert b'"meta"' in fetched.read()
        assert "attachment" in fetched.headers["Content-Disposition"]


def test_the_collector_removes_what_nothing_references_on_both_backends(backend, tmp_path):
    image_set_import(path=_folder(tmp_path, count=2), set_name="kept", model_name="m")
    kept = Image.objects.first()
    image_derivative(image=kept, max_side=256)
    orphan = storage.blob_relpath("ab" * 32, ".png")
    storage.blob_write(png_bytes(9), orphan)
    orphan_copy = derivative_relpath(sha256="ab" * 32, max_side=256)
    storage.blob_write(b"jpeg", orphan_copy)
    # Young: kept whatever references it.
    assert blobs_collect().removed == 0
    report = blobs_collect(grace_seconds=0, dry_run=True)
    assert report.originals == [orphan] and report.derivatives == [orphan_copy]
    assert storage.blob_exists(orphan)
    report = blobs_collect(grace_seconds=0)
    assert report.originals == [orphan] and report.derivatives == [orphan_copy]
    assert not storage.blob_exists(orphan) and not storage.blob_exists(orphan_copy)
    assert all(storage.blob_exists(img.blob) for img in Image.objects.all())
    assert stored_paths(backend, "derivatives") == [
        derivative_relpath(sha256=kept.sha256, max_side=256)
    ]


def test_a_blob_adopted_while_the_collector_removes_it_is_put_back(backend, monkeypatch):
    """The collector's race with an import that reuses an old unreferenced blob."""
    orphan = storage.blob_relpath("cd" * 32, ".png")
    storage.blob_write(png_bytes(3), orphan)
    if backend == "local":
        from metrics.services import blobs as collector

        real = os.rename

        def rename_then_adopt(src, dst):
            real(src, dst)
            os.utime(dst)  # an import's blob_adopt landing between listing and deleting

        monkeypatch.setattr(collector.os, "rename", rename_then_adopt)
    else:
        from metrics import bucket

        real = bucket._client

        class Racing:
            def __init__(self, client):
                self.client = client

            def __getattr__(self, name):
                attr = getattr(self.client, name)
                if name != "copy":
                    return attr

                def copy_aside_then_adopt(source, *args, **kw):
                    result = attr(source, *args, **kw)
                    if source["Key"] == bucket.key(orphan):
                        # An import finds the blob (still there) and counts on it.
                        assert bucket.adopt(orphan)
                    return result

                return copy_aside_then_adopt

        monkeypatch.setattr(bucket, "_client", lambda: Racing(real()))
    report = blobs_collect(grace_seconds=0)
    assert report.originals == []
    assert storage.blob_exists(orphan)
    assert storage.blob_local(orphan).read_bytes() == png_bytes(3)


def test_an_import_job_s_upload_reaches_the_worker_through_the_store(backend, tmp_path):
    """On a bucket the upload is pushed there (the worker may be on another host)."""
    import zipfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    from metrics.models import ImportJob
    from metrics.services.import_jobs import import_job_create, import_job_run

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(2):
            archive.writestr(f"img{i}.png", png_bytes(20 + i))
    job = import_job_create(
        archive=SimpleUploadedFile("up.zip", buffer.getvalue()), set_name="up", model_name="m"
    )
    uploaded = stored_paths(backend, "imports")
    assert uploaded == [f"{job.upload_dir}/archive.zip"]
    if backend == "s3":
        assert not storage.folder_local(job.upload_dir).exists()
    job = import_job_run(job_id=job.pk)
    assert job.status == ImportJob.Status.DONE, job.problems
    assert job.image_set.images.count() == 2
    assert stored_paths(backend, "imports") == []
    assert len(stored_paths(backend, "images")) == 2
