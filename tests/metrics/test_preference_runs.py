"""Aesthetic, PickScore and HPS v2.1 runs through the services and tasks (eager), against the engine."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from evalsite.celery import app as celery_app
from metrics.models import Feature, ImageSet, MetricRun
from metrics.services.imports import image_set_import
from metrics.services.runs import metric_run_create
from tests.conftest import write_images
from tests.engine import clip_fixtures as cf
from tests.engine import imagereward_fixtures as irf
from tests.engine import preference_fixtures as pf

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def pref_weights(tmp_path_factory):
    """An offline weights folder laid out as fetch-weights leaves it (seeded stand-ins)."""
    root = tmp_path_factory.mktemp("pref-weights")
    pf.save_aesthetic_head(root)
    pf.build_clip_dir(root / "clip768", projection_dim=768)
    cf.build_tiny_clip(root / "yuvalkirstain" / "PickScore_v1", seed=3)
    pf.build_processor_dir(root / "laion" / "CLIP-ViT-H-14-laion2B-s32B-b79K")
    # Widths that ViT-H-14's 16 heads divide, so the default head counts load it.
    state = pf.openclip_state_dict(seed=4, width=32, text_width=32, image_size=32, patch=8)
    pf.save_hps_checkpoint(root, state)
    vocab = irf.write_bert_vocab(root / "google-bert" / "bert-base-uncased")
    irf.save_checkpoint(root, irf.imagereward_state_dict(seed=5, vocab=irf.vocab_size(vocab)))
    return root


@pytest.fixture
def offline(pref_weights, monkeypatch, settings):
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(pref_weights))
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings.EVALSITE_AESTHETIC_WEIGHTS = str(pref_weights / "sac+logos+ava1-l14-linearMSE.pth")
    settings.EVALSITE_FEATURE_CHUNK_SIZE = 2
    celery_app.conf.task_always_eager = True
    from metrics.services.extractors import forget_models

    forget_models()
    yield pref_weights
    forget_models()
    celery_app.conf.task_always_eager = False


@pytest.fixture
def prompted_set(tmp_path):
    folder = tmp_path / "g"
    names = write_images(folder, 5)
    prompts = [cf.TEST_PROMPTS[i] for i in range(5)]
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "prompt"])
        w.writerows(zip(names, prompts, strict=True))
    image_set_import(path=folder, set_name="g", model_name="m")
    paths = [folder / n for n in names]
    return ImageSet.objects.get(name="g"), paths, prompts


def run_now(capture, **kwargs) -> MetricRun:
    with capture(execute=True):
        run = metric_run_create(**kwargs)
    return MetricRun.objects.get(pk=run.pk)


def per_image(run: MetricRun) -> dict[str, float]:
    return dict(run.items.values_list("image__filename", "value"))


def test_an_aesthetic_run_reuses_the_clip_embeddings_of_a_clip_score_run(
    offline, prompted_set, django_capture_on_commit_callbacks
):
    from metrics.engine.aesthetic import aesthetic_paths, load_aesthetic_head
    from metrics.engine.clip import load_clip

    image_set, paths, _ = prompted_set
    clip = str(offline / "clip768")
    first = run_now(django_capture_on_commit_callbacks, metric="clip_score", image_set=image_set,
                    params={"clip_model": clip})  # fmt: skip
    count = Feature.objects.count()
    run = run_now(django_capture_on_commit_callbacks, metric="aesthetic", image_set=image_set,
                  params={"clip_model": clip})  # fmt: skip
    assert (first.status, run.status) == ("done", "done"), run.error
    assert run.features_computed == 0 and Feature.objects.count() == count
    head = load_aesthetic_head(offline / "sac+logos+ava1-l14-linearMSE.pth")
    expected = aesthetic_paths(paths, bundle=load_clip(clip, device="cpu"), head=head)
    assert per_image(run) == pytest.approx(expected.per_item, rel=1e-4)
    assert run.value == pytest.approx(expected.value, rel=1e-4)
    assert run.provenance["aesthetic_head_sha256"] == head.weights_sha256
    assert run.provenance["extractor"] == f"clip-image:{clip}"


def test_a_pickscore_run_equals_the_engine_and_a_second_run_computes_nothing(
    offline, prompted_set, django_capture_on_commit_callbacks
):
    from metrics.engine.pickscore import load_pickscore, pickscore_paths

    image_set, paths, prompts = prompted_set
    run = run_now(django_capture_on_commit_callbacks, metric="pickscore", image_set=image_set)
    assert run.status == "done", run.error
    assert run.features_computed == 5 + len(set(prompts))
    bundle = load_pickscore(
        str(offline / "yuvalkirstain" / "PickScore_v1"),
        str(offline / "laion" / "CLIP-ViT-H-14-laion2B-s32B-b79K"),
        device="cpu",
    )
    expected = pickscore_paths(paths, prompts, bundle=bundle)
    assert per_image(run) == pytest.approx(expected.per_item, rel=1e-4)
    assert run.provenance["scale"] == pytest.approx(expected.provenance["scale"], rel=1e-6)
    assert run.provenance["extractor"] == "pickscore-image:yuvalkirstain/PickScore_v1"
    again = run_now(django_capture_on_commit_callbacks, metric="pickscore", image_set=image_set)
    assert again.status == "done" and again.features_computed == 0
    assert again.value == pytest.approx(run.value)


def test_an_hpsv2_run_equals_the_engine(offline, prompted_set, django_capture_on_commit_callbacks):
    from metrics.engine.hpsv2 import hpsv2_paths, load_hpsv2
    from metrics.engine.weights import file_sha256

    image_set, paths, prompts = prompted_set
    run = run_now(django_capture_on_commit_callbacks, metric="hpsv2", image_set=image_set)
    assert run.status == "done", run.error
    ckpt = offline / "HPS_v2.1_compressed.pt"
    bundle = load_hpsv2(
        ckpt, tokenizer=str(offline / "laion" / "CLIP-ViT-H-14-laion2B-s32B-b79K"), device="cpu"
    )
    expected = hpsv2_paths(paths, prompts, bundle=bundle)
    assert per_image(run) == pytest.approx(expected.per_item, rel=1e-4)
    assert run.provenance["weights_sha256"] == file_sha256(ckpt)
    assert run.provenance["preprocessing"] == "hps-resize-longest-pad-224"
    assert np.isfinite(run.interval_low) and run.interval_low <= run.value <= run.interval_high


def test_an_imagereward_run_equals_the_engine_and_is_cached_per_image_and_prompt(
    offline, prompted_set, django_capture_on_commit_callbacks
):
    from metrics.engine.imagereward import imagereward_paths, load_imagereward

    image_set, paths, prompts = prompted_set
    run = run_now(django_capture_on_commit_callbacks, metric="imagereward", image_set=image_set)
    assert run.status == "done", run.error
    assert run.features_computed == 5 and run.progress_done == run.progress_total == 5
    scorer = load_imagereward(
        offline / "ImageReward.pt",
        tokenizer=str(offline / "google-bert" / "bert-base-uncased"),
        device="cpu",
    )
    expected = imagereward_paths(paths, prompts, scorer=scorer)
    assert per_image(run) == pytest.approx(expected.per_item, rel=1e-4, abs=1e-6)
    assert run.provenance["extractor"] == "imagereward-v1.0"
    again = run_now(django_capture_on_commit_callbacks, metric="imagereward", image_set=image_set)
    assert again.status == "done" and again.features_computed == 0


def test_a_missing_checkpoint_offline_fails_the_run_naming_it(
    offline, prompted_set, monkeypatch, tmp_path, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("EVALSITE_CACHE_DIR", str(tmp_path / "cache"))
    run = run_now(django_capture_on_commit_callbacks, metric="hpsv2", image_set=prompted_set[0])
    assert run.status == "failed"
    assert "HPS_v2.1_compressed.pt" in run.error and "fetch-weights" in run.error


def test_preference_scorers_need_a_prompt_for_every_image(offline, tmp_path):
    from metrics.services.runs import RunRefused

    write_images(tmp_path / "np", 2)
    image_set_import(path=tmp_path / "np", set_name="np", model_name="m")
    with pytest.raises(RunRefused, match="needs a prompt for every image"):
        metric_run_create(metric="pickscore", image_set=ImageSet.objects.get(name="np"))


def test_the_api_the_pages_and_compute_metrics_offer_the_preference_scorers(
    offline, prompted_set, admin_client, django_capture_on_commit_callbacks
):
    from io import StringIO
    from unittest import mock

    from django.core.management import call_command
    from django.urls import reverse
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    image_set = prompted_set[0]
    form = admin_client.get(reverse("metrics:run_start", args=[image_set.pk])).context["form"]
    for pair in [
        ("aesthetic", "LAION aesthetic score"),
        ("pickscore", "PickScore"),
        ("hpsv2", "HPS v2.1"),
        ("imagereward", "ImageReward"),
    ]:
        assert pair in form.fields["metric"].choices
    api = APIClient()
    user = admin_client.get("/").wsgi_request.user
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    with mock.patch("metrics.tasks.metric_run_plan_task.apply_async"):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/runs/", {"metric": "pickscore", "image_set": "g"}, format="json"
            )
        assert response.status_code == 201, response.json()
        assert response.json()["params"] == {
            "pickscore_model": None, "pickscore_processor": None, "seed": 0,
        }  # fmt: skip
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("compute_metrics", "hpsv2", "--set", "g", "--no-wait", stdout=out)
    assert MetricRun.objects.filter(metric="hpsv2", status="queued").count() == 1
    run = run_now(django_capture_on_commit_callbacks, metric="aesthetic", image_set=image_set,
                  params={"clip_model": str(offline / "clip768")})  # fmt: skip
    page = admin_client.get(reverse("metrics:run_detail", args=[run.pk])).content.decode()
    assert "LAION aesthetic score" in page and "aesthetic_head_sha256" in page
