"""Metric runs through the services and tasks, in-process (tasks run eagerly)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from evalsite.celery import app as celery_app
from metrics.engine.extractors import InceptionExtractor
from metrics.engine.fid import fid_from_features
from metrics.models import Feature, ImageSet, MetricRun
from metrics.services.imports import image_set_import
from metrics.services.runs import RunRefused, metric_run_cancel, metric_run_create
from tests.conftest import write_images

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager_tasks(settings):
    settings.EVALSITE_FEATURE_CHUNK_SIZE = 4  # several chunks even for small sets
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def run_now(capture, **kwargs) -> MetricRun:
    with capture(execute=True):
        run = metric_run_create(**kwargs)
    return MetricRun.objects.get(pk=run.pk)


@pytest.fixture
def sets(image_folders):
    image_set_import(path=image_folders["a"], set_name="gen", model_name="m")
    image_set_import(path=image_folders["b"], set_name="ref", kind="reference")
    return ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")


def test_a_fid_run_equals_the_engine_on_the_same_files(
    sets, offline_weights, image_folders, django_capture_on_commit_callbacks
):
    gen, ref = sets
    run = run_now(
        django_capture_on_commit_callbacks,
        metric="fid", image_set=gen, reference_set=ref, params={"force": True},
    )  # fmt: skip
    assert run.status == "done", run.error
    extractor = InceptionExtractor(offline_weights / "pt_inception-2015-12-05-6726825d.pth")
    a = extractor.extract_paths(sorted(image_folders["a"].iterdir()))["pool3"]
    b = extractor.extract_paths(sorted(image_folders["b"].iterdir()))["pool3"]
    expected = fid_from_features(a, b, force=True).value
    assert run.value == pytest.approx(expected, rel=1e-5)
    assert run.provenance["weights_sha256"] == extractor.weights_sha256
    assert run.provenance["preprocessing"] == "legacy-tf-299"
    assert run.progress_done == run.progress_total == 20
    assert run.features_computed == 20


def test_a_second_run_over_the_same_images_computes_no_feature(
    sets, offline_weights, django_capture_on_commit_callbacks
):
    gen, ref = sets
    first = run_now(django_capture_on_commit_callbacks, metric="fid", image_set=gen,
                    reference_set=ref, params={"force": True})  # fmt: skip
    count = Feature.objects.count()
    second = run_now(django_capture_on_commit_callbacks, metric="kid", image_set=gen,
                     reference_set=ref, params={"subsets": 10, "subset_size": 5})  # fmt: skip
    third = run_now(django_capture_on_commit_callbacks, metric="is", image_set=gen,
                    params={"splits": 2})  # fmt: skip
    assert (first.status, second.status, third.status) == ("done", "done", "done")
    assert Feature.objects.count() == count == 20
    assert second.features_computed == third.features_computed == 0
    assert second.std is not None and third.value > 1.0


def test_fid_on_too_few_images_fails_with_a_clear_message(
    sets, offline_weights, django_capture_on_commit_callbacks
):
    gen, ref = sets
    run = run_now(django_capture_on_commit_callbacks, metric="fid", image_set=gen,
                  reference_set=ref)  # fmt: skip
    assert run.status == "failed"
    assert "10" in run.error and "2048" in run.error


def test_missing_weights_offline_fail_the_run_naming_the_file(
    sets, monkeypatch, tmp_path, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    monkeypatch.setenv("EVALSITE_CACHE_DIR", str(tmp_path / "cache"))
    gen, ref = sets
    run = run_now(django_capture_on_commit_callbacks, metric="fid", image_set=gen,
                  reference_set=ref)  # fmt: skip
    assert run.status == "failed"
    assert "pt_inception-2015-12-05-6726825d.pth" in run.error
    assert "fetch-weights" in run.error


def test_a_clip_score_run_scores_every_image_against_its_prompt(
    tmp_path, offline_weights, django_capture_on_commit_callbacks
):
    folder = tmp_path / "g"
    names = write_images(folder, 5)
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "prompt"])
        for i, n in enumerate(names):
            w.writerow([n, f"a photo of thing {i % 2}"])
    image_set_import(path=folder, set_name="g", model_name="m")
    run = run_now(
        django_capture_on_commit_callbacks,
        metric="clip_score", image_set=ImageSet.objects.get(name="g"),
        params={"clip_model": str(offline_weights / "tiny-clip")},
    )  # fmt: skip
    assert run.status == "done", run.error
    assert run.items.count() == 5
    values = list(run.items.values_list("value", flat=True))
    assert run.value == pytest.approx(np.mean(values))
    assert run.interval_low <= run.value <= run.interval_high


def test_ssim_and_psnr_runs_compare_each_image_with_its_source(
    tmp_path, django_capture_on_commit_callbacks
):
    src = tmp_path / "src"
    write_images(src, 3)
    image_set_import(path=src, set_name="sources", kind="source")
    edited = tmp_path / "edited"
    write_images(edited, 3, start_seed=0, prefix="e")  # e000 == img000 pixels
    write_images(edited, 1, start_seed=77, prefix="e001-")  # a different image for e001
    (edited / "e001-000.png").rename(edited / "e001.png")
    (edited / "manifest.csv").write_text(
        "file,source\ne000.png,img000.png\ne001.png,img001.png\ne002.png,img002.png\n"
    )
    image_set_import(path=edited, set_name="edits", model_name="editor",
                     source_set=ImageSet.objects.get(name="sources"))  # fmt: skip
    edits = ImageSet.objects.get(name="edits")
    ssim = run_now(django_capture_on_commit_callbacks, metric="ssim", image_set=edits)
    assert ssim.status == "done", ssim.error
    per = dict(ssim.items.values_list("image__filename", "value"))
    assert per["e000.png"] == pytest.approx(1.0) and per["e001.png"] < 0.5
    psnr = run_now(django_capture_on_commit_callbacks, metric="psnr", image_set=edits)
    assert psnr.status == "done", psnr.error
    per = dict(psnr.items.values_list("image__filename", "value"))
    assert per["e000.png"] is None  # infinite PSNR of identical pixels
    assert psnr.result["extra"]["identical_pairs"] == 2


def test_pixel_pair_metrics_pair_two_sets_by_file_name_like_the_command_line(
    tmp_path, django_capture_on_commit_callbacks
):
    from metrics.engine.images import decode_rgb_array
    from metrics.engine.ssim import ssim

    a, b = tmp_path / "a", tmp_path / "b"
    write_images(a, 3)
    write_images(b, 3, start_seed=10)  # same names, other pixels
    image_set_import(path=a, set_name="outputs", model_name="m")
    image_set_import(path=b, set_name="targets", kind="reference")
    outputs, targets = ImageSet.objects.get(name="outputs"), ImageSet.objects.get(name="targets")

    run = run_now(django_capture_on_commit_callbacks, metric="ssim", image_set=outputs,
                  reference_set=targets)  # fmt: skip

    assert run.status == "done", run.error
    assert run.reference_set == targets
    per = dict(run.items.values_list("image__filename", "value"))
    for name in per:
        expected = ssim(decode_rgb_array(a / name), decode_rgb_array(b / name), data_range=255)
        assert per[name] == pytest.approx(float(expected), rel=1e-9)


def test_pairing_by_file_name_refuses_a_set_with_other_names(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_images(a, 3)
    write_images(b, 2, prefix="other")
    image_set_import(path=a, set_name="outputs", model_name="m")
    image_set_import(path=b, set_name="targets", kind="reference")
    with pytest.raises(RunRefused, match=r"3 images of 'outputs' have no same-named image"):
        metric_run_create(metric="psnr", image_set=ImageSet.objects.get(name="outputs"),
                          reference_set=ImageSet.objects.get(name="targets"))  # fmt: skip
    assert MetricRun.objects.count() == 0


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"metric": "fid"}, "choose a reference set"),
        ({"metric": "nope"}, "unknown metric 'nope'"),
        ({"metric": "is", "params": {"splitz": 3}}, "has no parameter splitz"),
        ({"metric": "ssim"}, "have none"),
        ({"metric": "clip_score"}, "needs a prompt for every image"),
    ],
)
def test_runs_that_cannot_work_are_refused_before_anything_is_queued(sets, kwargs, message):
    gen, _ = sets
    with pytest.raises(RunRefused, match=message):
        metric_run_create(image_set=gen, **kwargs)
    assert MetricRun.objects.count() == 0


def test_a_cancelled_run_computes_nothing(sets, offline_weights):
    gen, ref = sets
    run = metric_run_create(metric="fid", image_set=gen, reference_set=ref)
    assert metric_run_cancel(run=run)
    from metrics.services.runs import metric_run_plan

    assert metric_run_plan(run_id=run.pk) == []
    assert MetricRun.objects.get(pk=run.pk).status == "cancelled"
    assert Feature.objects.count() == 0


def test_a_chunk_done_twice_writes_no_duplicate_feature(sets, offline_weights):
    from metrics.services.runs import metric_run_compute_chunk, metric_run_plan

    gen, ref = sets
    celery_app.conf.task_always_eager = False
    run = metric_run_create(metric="fid", image_set=gen, reference_set=ref)
    MetricRun.objects.filter(pk=run.pk).update(status="running")
    ids = list(gen.images.values_list("pk", flat=True))[:3]
    assert metric_run_compute_chunk(run_id=run.pk, kind="inception", keys=ids) == 3
    assert metric_run_compute_chunk(run_id=run.pk, kind="inception", keys=ids) == 0
    assert Feature.objects.count() == 3
    assert metric_run_plan is not None


def test_a_vendi_run_also_measures_the_diversity_of_each_prompt(
    tmp_path, offline_weights, django_capture_on_commit_callbacks
):
    from metrics.engine.clip import ClipImageExtractor
    from metrics.engine.vendi import vendi_score
    from metrics.models import Prompt

    folder = tmp_path / "v"
    names = write_images(folder, 5)
    prompts = ["a cat", "a cat", "a cat", "a dog", "a dog"]
    (folder / "manifest.csv").write_text(
        "file,prompt\n" + "".join(f"{n},{p}\n" for n, p in zip(names, prompts, strict=True))
    )
    image_set_import(path=folder, set_name="v", model_name="m")
    clip_dir = str(offline_weights / "tiny-clip")
    run = run_now(django_capture_on_commit_callbacks, metric="vendi",
                  image_set=ImageSet.objects.get(name="v"), params={"clip_model": clip_dir})  # fmt: skip
    assert run.status == "done", run.error
    emb = ClipImageExtractor(clip_dir).extract_paths(sorted(folder.glob("*.png")))["embedding"]
    per_prompt = run.result["extra"]["per_prompt"]
    cat, dog = Prompt.objects.get(text="a cat").pk, Prompt.objects.get(text="a dog").pk
    assert per_prompt[str(cat)] == pytest.approx(vendi_score(emb[:3]), rel=1e-6)
    assert per_prompt[str(dog)] == pytest.approx(vendi_score(emb[3:]), rel=1e-6)
    assert run.value == pytest.approx(vendi_score(emb), rel=1e-6)
