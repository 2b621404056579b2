"""Metric runs through real Celery worker processes (filesystem broker locally, Redis in CI).

The workers are separate processes on the same test database and broker, on Celery's
default prefork pool: what a user gets from `make run` or the compose stack.
"""

from __future__ import annotations

import pytest

from metrics.models import Feature, ImageSet, MetricRun
from metrics.services.imports import image_set_import
from metrics.services.runs import metric_run_create
from tests.engine.clip_fixtures import make_test_images
from tests.engine.inception_fixtures import write_image_set
from tests.metrics.workers import INCEPTION, cli_json, wait_done

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def create(**kwargs) -> MetricRun:
    run = metric_run_create(**kwargs)  # autocommit: the plan is enqueued at once
    return run


def test_a_worker_computes_fid_equal_to_the_command_line_and_caches_features(
    fid_sets, workers, worker_env, weights_dir, tmp_path
):
    a, b = fid_sets
    worker = workers()
    gen, ref = ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")
    run = wait_done(create(metric="fid", image_set=gen, reference_set=ref,
                           params={"force": True}), worker.log)  # fmt: skip
    expected = cli_json("fid", str(a), str(b), "--force", "--inception-weights",
                        str(weights_dir / INCEPTION), env=worker_env)  # fmt: skip
    assert run.value == pytest.approx(expected["value"], rel=1e-6)
    assert run.provenance["weights_sha256"] == expected["provenance"]["weights_sha256"]
    assert run.features_computed == 24 and Feature.objects.count() == 24

    again = wait_done(create(metric="fid", image_set=gen, reference_set=ref,
                             params={"force": True}), worker.log)  # fmt: skip
    assert again.features_computed == 0 and Feature.objects.count() == 24
    assert again.value == run.value


def test_a_worker_computes_clip_score_and_ssim_equal_to_the_command_line(
    workers, worker_env, weights_dir, tmp_path
):
    clip_dir = str(weights_dir / "tiny-clip")
    images = tmp_path / "clip"
    paths = make_test_images(images, count=6)
    prompts = tmp_path / "prompts.csv"
    prompts.write_text(
        "file,prompt\n"
        + "".join(f"{p.name},a picture number {i % 3}\n" for i, p in enumerate(paths))
    )
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(prompts.read_text())
    image_set_import(path=images, set_name="clipset", model_name="m", manifest=manifest)

    # SSIM: edited images (the same files, brightened) against their sources.
    src, edited = tmp_path / "src", tmp_path / "edited"
    write_image_set(src, seed=5, count=4, sizes=[(64, 64), (80, 96)])
    edited.mkdir()
    from PIL import Image as PILImage

    for p in sorted(src.iterdir()):
        PILImage.eval(PILImage.open(p), lambda v: min(255, v + 12)).save(edited / p.name)
    image_set_import(path=src, set_name="sources", kind="source")
    (tmp_path / "pairs.csv").write_text(
        "file,source\n" + "".join(f"{p.name},{p.name}\n" for p in sorted(src.iterdir()))
    )
    image_set_import(path=edited, set_name="edits", model_name="editor",
                     manifest=tmp_path / "pairs.csv",
                     source_set=ImageSet.objects.get(name="sources"))  # fmt: skip

    worker = workers()
    clip_run = create(metric="clip_score", image_set=ImageSet.objects.get(name="clipset"),
                      params={"clip_model": clip_dir})  # fmt: skip
    ssim_run = create(metric="ssim", image_set=ImageSet.objects.get(name="edits"))
    clip_run, ssim_run = wait_done(clip_run, worker.log), wait_done(ssim_run, worker.log)

    clip_cli = cli_json("clip-score", str(images), "--prompts", str(prompts), "--clip-model",
                        clip_dir, env=worker_env)  # fmt: skip
    assert clip_run.value == pytest.approx(clip_cli["value"], rel=1e-5, abs=1e-6)
    per_item = dict(clip_run.items.values_list("image__filename", "value"))
    for name, value in clip_cli["per_item"].items():
        assert per_item[name] == pytest.approx(value, rel=1e-5, abs=1e-6)

    ssim_cli = cli_json("ssim", str(edited), str(src), env=worker_env)
    assert ssim_run.value == pytest.approx(ssim_cli["value"], rel=1e-9)
    assert ssim_run.interval_low == pytest.approx(ssim_cli["interval"][0], rel=1e-9)
