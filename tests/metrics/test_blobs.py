"""The blob collector: removes only what nothing references, and only after the grace period."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from metrics.models import Image, ImageSet, ImportJob
from metrics.services import blobs
from metrics.services.blobs import blobs_collect
from metrics.services.derivatives import image_derivative
from metrics.services.imports import image_set_import
from metrics.storage import blob_adopt, blob_path

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


def age(path: Path, seconds: float) -> None:
    """Make ``path`` look ``seconds`` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def files(root) -> set[str]:
    root = Path(root)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def two_sets(make_folder):
    """Set 'keep' (2 images) and set 'gone' (2 other images), every file a day and more old."""
    keep, _ = make_folder(2, name="keep")
    gone, _ = make_folder(2, name="gone", seed=10)
    image_set_import(path=keep, set_name="keep", kind="reference")
    image_set_import(path=gone, set_name="gone", kind="reference")
    for image in Image.objects.all():
        image_derivative(image=image, max_side=256)
    return ImageSet.objects.get(name="keep"), ImageSet.objects.get(name="gone")


def age_everything(settings, seconds: float = 2 * DAY) -> None:
    for p in Path(settings.MEDIA_ROOT).rglob("*"):
        if p.is_file():
            age(p, seconds)


def test_the_collector_removes_only_files_no_row_references(two_sets, settings):
    keep, gone = two_sets
    kept_blobs = set(keep.images.values_list("blob", flat=True))
    gone_blobs = set(gone.images.values_list("blob", flat=True))
    gone_shas = set(gone.images.values_list("sha256", flat=True))
    gone.delete()
    age_everything(settings)

    report = blobs_collect()

    assert set(report.originals) == gone_blobs
    assert {Path(d).name.split("-")[0] for d in report.derivatives} == gone_shas
    left = files(settings.MEDIA_ROOT)
    assert kept_blobs <= left and not gone_blobs & left
    assert len([f for f in left if f.startswith("derivatives/")]) == 2
    for image in keep.images.all():
        assert blob_path(image.blob).exists()


def test_unreferenced_files_younger_than_the_grace_period_stay(two_sets, settings):
    _, gone = two_sets
    gone.delete()
    before = files(settings.MEDIA_ROOT)
    report = blobs_collect()
    assert report.removed == 0 and report.kept_young == len(before)
    assert files(settings.MEDIA_ROOT) == before


def test_a_dry_run_lists_and_removes_nothing(two_sets, settings):
    _, gone = two_sets
    gone_blobs = set(gone.images.values_list("blob", flat=True))
    gone.delete()
    age_everything(settings)
    before = files(settings.MEDIA_ROOT)
    out = io.StringIO()
    call_command("collect_blobs", "--dry-run", stdout=out)
    assert files(settings.MEDIA_ROOT) == before
    for blob in gone_blobs:
        assert f"would remove {blob}" in out.getvalue()
    assert "would remove 4 files (2 originals, 2 derivatives" in out.getvalue()


def test_the_command_takes_a_grace_period(two_sets, settings):
    _, gone = two_sets
    gone.delete()
    age_everything(settings, seconds=120)
    out = io.StringIO()
    call_command("collect_blobs", "--grace", "3600", stdout=out)
    assert "removed 0 files" in out.getvalue()
    call_command("collect_blobs", "--grace", "60", stdout=out)
    assert "removed 4 files (2 originals, 2 derivatives" in out.getvalue()


def test_old_temporary_files_and_ended_jobs_uploads_are_removed(settings):
    store = Path(settings.MEDIA_ROOT) / "images"
    store.mkdir(parents=True)
    old_tmp, new_tmp = store / ".tmp-abc-1", store / ".tmp-def-2"
    old_tmp.write_bytes(b"half a file")
    new_tmp.write_bytes(b"an import in flight")
    age(old_tmp, 2 * DAY)
    uploads = Path(settings.MEDIA_ROOT) / "imports"
    for name, status in (("ended", "failed"), ("running", "running")):
        (uploads / name).mkdir(parents=True)
        (uploads / name / "archive.zip").write_bytes(b"zip")
        age(uploads / name, 2 * DAY)
        ImportJob.objects.create(set_name="s", archive_name="a.zip", upload_dir=f"imports/{name}",
                                 status=status)  # fmt: skip
    (uploads / "orphan").mkdir()
    age(uploads / "orphan", 2 * DAY)

    report = blobs_collect()

    assert report.temporary == ["images/.tmp-abc-1"]
    assert sorted(report.uploads) == ["imports/ended", "imports/orphan"]
    assert new_tmp.exists() and (uploads / "running" / "archive.zip").exists()


def test_a_blob_an_import_adopts_during_a_collection_is_put_back(two_sets, settings, monkeypatch):
    # The collector has judged the file unreferenced and old; an import then finds it in
    # place and refreshes it (to point its rows at it) just before the collector moves it.
    _, gone = two_sets
    blob = gone.images.first().blob
    gone.delete()
    age_everything(settings)
    real_rename = os.rename

    def rename_after_an_import_adopts(src, dst):
        if Path(src) == blob_path(blob):
            assert blob_adopt(blob_path(blob))
        return real_rename(src, dst)

    monkeypatch.setattr(blobs.os, "rename", rename_after_an_import_adopts)
    report = blobs_collect()
    assert blob not in report.originals
    assert blob_path(blob).exists()
    assert not [p for p in blob_path(blob).parent.iterdir() if p.name.startswith(".tmp-")]
    assert len(report.originals) == 1  # the other image of the deleted set


def test_the_collector_task_runs_the_collection(two_sets, settings):
    from metrics.tasks import collect_blobs_task

    _, gone = two_sets
    gone.delete()
    age_everything(settings)
    result = collect_blobs_task.apply().get()
    assert result["removed"] == 4 and result["bytes_freed"] > 0
    assert Image.objects.count() == 2 and all(
        blob_path(i.blob).exists() for i in Image.objects.all()
    )


def test_the_sweeping_worker_sends_the_collector_once_a_period(settings, monkeypatch):
    from metrics import housekeeping
    from metrics.tasks import collect_blobs_task

    sent = []
    monkeypatch.setattr(collect_blobs_task, "apply_async", lambda **kw: sent.append(kw))
    clock = {"collect": 0.0}
    settings.EVALSITE_BLOB_COLLECT_SECONDS = 3600
    monkeypatch.setattr(housekeeping.time, "monotonic", lambda: 3599.0)
    housekeeping._periodic(clock)
    assert sent == []
    monkeypatch.setattr(housekeeping.time, "monotonic", lambda: 3600.0)
    housekeeping._periodic(clock)
    housekeeping._periodic(clock)
    assert sent == [{"queue": "cpu"}]
