"""The REST API of metric runs: create, list, detail, per-image values, cancel (staff, token)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from metrics.models import ImageSet, MetricRun, MetricRunItem
from metrics.services.imports import image_set_import
from tests.conftest import write_images

pytestmark = pytest.mark.django_db

PLAN = "metrics.tasks.metric_run_plan_task.apply_async"


@pytest.fixture
def sets(tmp_path):
    write_images(tmp_path / "gen", 3)
    write_images(tmp_path / "ref", 2, start_seed=10)
    image_set_import(path=tmp_path / "gen", set_name="gen", model_name="m")
    image_set_import(path=tmp_path / "ref", set_name="ref", kind="reference")
    return ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")


def token_client(*, staff: bool) -> APIClient:
    user = get_user_model().objects.create_user(
        "researcher" if staff else "judge", password="x", is_staff=staff
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def api():
    return token_client(staff=True)


def psnr_run(gen: ImageSet) -> MetricRun:
    run = MetricRun.objects.create(
        metric="psnr", image_set=gen, status="done", value=21.0, interval_low=12.0,
        interval_high=30.0, progress_done=3, progress_total=3, result={"n": 3, "value": 21.0},
        provenance={"seed": 0, "versions": {"numpy": "2.4.0"}},
        started_at=timezone.now(), finished_at=timezone.now(),
    )  # fmt: skip
    images = list(gen.images.order_by("filename"))
    MetricRunItem.objects.bulk_create(
        MetricRunItem(run=run, image=img, value=v, raw={"pair_value": mse})
        for img, v, mse in zip(images, [30.0, None, 12.0], [65.0, 0.0, 4100.0], strict=True)
    )
    return run


def test_every_run_endpoint_asks_for_credentials(sets):
    anonymous = APIClient()
    run = MetricRun.objects.create(metric="is", image_set=sets[0])
    for method, url in [
        ("get", "/api/runs/"),
        ("post", "/api/runs/"),
        ("get", f"/api/runs/{run.pk}/"),
        ("get", f"/api/runs/{run.pk}/items/"),
        ("post", f"/api/runs/{run.pk}/cancel/"),
    ]:
        assert getattr(anonymous, method)(url).status_code == 401, url
    judge = token_client(staff=False)
    assert judge.get("/api/runs/").status_code == 403
    assert judge.post(f"/api/runs/{run.pk}/cancel/").status_code == 403
    assert MetricRun.objects.get(pk=run.pk).status == "queued"


def test_posting_a_run_by_set_names_queues_it_and_enqueues_its_plan(
    api, sets, django_capture_on_commit_callbacks
):
    gen, ref = sets
    with mock.patch(PLAN) as plan, django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/runs/",
            {"metric": "kid", "image_set": "gen", "reference_set": "ref",
             "params": {"subsets": 5, "subset_size": 2}},
            format="json",
        )  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    run = MetricRun.objects.get()
    assert body["id"] == run.pk and body["status"] == "queued"
    assert (body["image_set"], body["image_set_name"], body["reference_set_name"]) == (
        gen.pk, "gen", "ref",
    )  # fmt: skip
    assert body["params"] == {"resize": "legacy-tf", "subsets": 5, "subset_size": 2, "seed": 2020}
    assert body["url"] == f"/catalog/runs/{run.pk}/"
    plan.assert_called_once()
    assert plan.call_args.args == ((run.steps.get(kind="plan").pk,),)
    assert plan.call_args.kwargs["queue"] == "cpu"


def test_a_run_can_name_its_sets_by_id(api, sets):
    gen, ref = sets
    with mock.patch(PLAN):
        response = api.post(
            "/api/runs/",
            {"metric": "fid", "image_set": gen.pk, "reference_set": str(ref.pk)},
            format="json",
        )
    assert response.status_code == 201
    assert MetricRun.objects.get().reference_set == ref


@pytest.mark.parametrize(
    "body,message",
    [
        ({"metric": "fid", "image_set": "gen"}, "FID compares two sets: choose a reference set"),
        ({"metric": "fid", "image_set": "nope", "reference_set": "ref"},
         "image set 'nope' does not exist"),
        ({"metric": "fid", "image_set": "gen", "reference_set": "gone"},
         "reference set 'gone' does not exist"),
        ({"metric": "fdi", "image_set": "gen"}, "unknown metric 'fdi'; choose one of fid, kid"),
        ({"metric": "is", "image_set": "gen", "params": {"splits": "ten"}},
         "splits must be an integer"),
        ({"metric": "ssim", "image_set": "gen"}, "images of 'gen' have none"),
    ],
)  # fmt: skip
def test_a_run_that_cannot_work_is_refused_with_a_detail_and_nothing_is_queued(
    api, sets, body, message
):
    response = api.post("/api/runs/", body, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert MetricRun.objects.count() == 0


def test_a_malformed_request_names_the_field(api, sets):
    response = api.post("/api/runs/", {"metric": "is", "params": [1]}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"image_set", "params"}


def test_the_list_is_paginated_and_filters_by_status_metric_and_set(api, sets):
    gen, ref = sets
    done = psnr_run(gen)
    queued = MetricRun.objects.create(metric="is", image_set=ref)
    body = api.get("/api/runs/").json()
    assert body["count"] == 2 and [r["id"] for r in body["results"]] == [queued.pk, done.pk]
    assert [r["id"] for r in api.get("/api/runs/?status=done").json()["results"]] == [done.pk]
    assert [r["id"] for r in api.get("/api/runs/?metric=is").json()["results"]] == [queued.pk]
    assert [r["id"] for r in api.get("/api/runs/?image_set=gen").json()["results"]] == [done.pk]
    assert [r["id"] for r in api.get(f"/api/runs/?image_set={ref.pk}").json()["results"]] == [
        queued.pk
    ]
    assert api.get("/api/runs/?image_set=nope").json() == {
        "detail": "image set 'nope' does not exist (give its id or its name)"
    }


def test_the_detail_gives_status_progress_result_provenance_and_error(api, sets):
    gen, _ = sets
    run = psnr_run(gen)
    body = api.get(f"/api/runs/{run.pk}/").json()
    assert body["status"] == "done" and body["metric_label"] == "PSNR"
    assert body["progress"] == {"done": 3, "total": 3, "percent": 100}
    assert (body["value"], body["std"], body["interval"]) == (21.0, None, [12.0, 30.0])
    assert body["result"] == {"n": 3, "value": 21.0}
    assert body["provenance"]["versions"] == {"numpy": "2.4.0"}
    assert body["error"] == "" and body["duration_s"] >= 0
    failed = MetricRun.objects.create(metric="is", image_set=gen, status="failed", error="boom")
    assert api.get(f"/api/runs/{failed.pk}/").json()["error"] == "boom"
    assert api.get("/api/runs/999999/").status_code == 404


def test_per_image_values_come_with_file_names_sorted_and_paginated(api, sets):
    gen, _ = sets
    run = psnr_run(gen)
    body = api.get(f"/api/runs/{run.pk}/items/").json()
    assert body["count"] == 3
    assert [(r["filename"], r["value"]) for r in body["results"]] == [
        ("img000.png", 30.0), ("img001.png", "inf"), ("img002.png", 12.0),
    ]  # fmt: skip
    assert body["results"][1]["raw"] == {"pair_value": 0.0}
    by_value = api.get(f"/api/runs/{run.pk}/items/?sort=-value").json()["results"]
    assert [r["value"] for r in by_value] == ["inf", 30.0, 12.0]
    page2 = api.get(f"/api/runs/{run.pk}/items/?sort=value&page_size=2&page=2").json()
    assert page2["count"] == 3 and [r["value"] for r in page2["results"]] == ["inf"]
    assert api.get(f"/api/runs/{run.pk}/items/?sort=size").status_code == 400


def test_cancel_ends_an_active_run_and_says_when_it_had_already_ended(api, sets):
    gen, _ = sets
    run = MetricRun.objects.create(metric="is", image_set=gen, status="running")
    response = api.post(f"/api/runs/{run.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = api.post(f"/api/runs/{run.pk}/cancel/")
    assert again.status_code == 409
    assert again.json() == {"detail": f"run {run.pk} had already ended (cancelled)"}
