"""Metric run pages: the start form on a set's page, the runs list, a run's page, progress, cancel.

No network runs here: a "done" run is a row written directly with its result and
items, and a started run is only checked to be QUEUED with its plan task enqueued.
"""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from metrics import views_runs
from metrics.models import ImageSet, MetricRun, MetricRunItem
from metrics.services.imports import image_set_import
from tests.conftest import write_images

pytestmark = pytest.mark.django_db

PLAN = "metrics.tasks.metric_run_plan_task.apply_async"


@pytest.fixture
def sets(tmp_path):
    """gen (3 images, model m), ref (reference, 2 images), other (generated, 1 image)."""
    write_images(tmp_path / "gen", 3)
    write_images(tmp_path / "ref", 2, start_seed=10)
    write_images(tmp_path / "other", 1, start_seed=20)
    image_set_import(path=tmp_path / "gen", set_name="gen", model_name="m")
    image_set_import(path=tmp_path / "ref", set_name="ref", kind="reference")
    image_set_import(path=tmp_path / "other", set_name="other", model_name="m2")
    return {s.name: s for s in ImageSet.objects.all()}


def done_run(image_set: ImageSet, metric: str, values: list[float | None], **fields) -> MetricRun:
    """A finished run written directly, with one item per image of the set (file-name order)."""
    now = timezone.now()
    defaults = dict(
        status="done", value=0.5, std=None, interval_low=0.4, interval_high=0.6,
        progress_done=len(values), progress_total=len(values),
        started_at=now - timedelta(seconds=12), finished_at=now,
        result={"n": len(values), "extra": {"notes": ["2 pairs were identical"], "identical_pairs": 2}},
        provenance={
            "weights_sha256": "ab" * 32, "preprocessing": "legacy-tf-299",
            "versions": {"torch": "2.13.0", "numpy": "2.4.0"}, "seed": 0,
        },
    )  # fmt: skip
    defaults.update(fields)
    run = MetricRun.objects.create(metric=metric, image_set=image_set, **defaults)
    images = list(image_set.images.order_by("filename"))
    MetricRunItem.objects.bulk_create(
        [MetricRunItem(run=run, image=img, value=v) for img, v in zip(images, values, strict=True)]
    )
    return run


def cells(html: str, css_class: str) -> list[str]:
    """The text of the value column of the table with ``css_class``, in page order."""
    table = html.split(f'class="table {css_class}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td class="num" title="[^"]*">([^<]*)</td>', table)


# --- starting a run ------------------------------------------------------------------------------


def test_the_set_page_offers_to_compute_a_metric_and_lists_its_runs(admin_client, sets):
    done_run(sets["gen"], "psnr", [30.0, None, 12.0], value=None)
    page = admin_client.get(sets["gen"].get_absolute_url()).content.decode()
    assert reverse("metrics:run_start", args=[sets["gen"].pk]) in page
    assert "Metric runs" in page and "∞" in page  # the PSNR of identical pixels
    assert f"{reverse('metrics:run_list')}?image_set={sets['gen'].pk}" in page


def test_the_form_lists_metrics_by_label_and_other_sets_reference_first(admin_client, sets):
    response = admin_client.get(reverse("metrics:run_start", args=[sets["gen"].pk]))
    assert response.status_code == 200
    form = response.context["form"]
    assert ("fid", "FID") in form.fields["metric"].choices
    assert ("clip_score", "CLIP score") in form.fields["metric"].choices
    assert [s.name for s in form.fields["reference_set"].queryset] == ["ref", "other"]
    html = response.content.decode()
    assert "subsets=100" in html and "subset_size=1000" in html  # the defaults are shown


def test_starting_a_run_queues_it_and_enqueues_its_plan_after_commit(
    admin_client, admin_user, sets, django_capture_on_commit_callbacks
):
    with mock.patch(PLAN) as plan, django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("metrics:run_start", args=[sets["gen"].pk]),
            {"metric": "kid", "reference_set": sets["ref"].pk,
             "params": "subsets=10\nsubset_size=2"},
        )  # fmt: skip
    run = MetricRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert (run.status, run.metric, run.reference_set, run.created_by) == (
        "queued", "kid", sets["ref"], admin_user,
    )  # fmt: skip
    assert run.params == {"resize": "legacy-tf", "subsets": 10, "subset_size": 2, "seed": 2020}
    plan.assert_called_once()
    assert plan.call_args.args == ((run.steps.get(kind="plan").pk,),)
    assert plan.call_args.kwargs["queue"] == "cpu"


def test_the_form_pairs_a_pixel_metric_with_another_set_by_file_name(admin_client, sets, tmp_path):
    # ref lacks gen's img002: the form says so and starts nothing.
    response = admin_client.post(
        reverse("metrics:run_start", args=[sets["gen"].pk]),
        {"metric": "psnr", "reference_set": sets["ref"].pk, "params": ""},
    )
    assert response.status_code == 400 and not MetricRun.objects.exists()
    assert "no same-named image in &#x27;ref&#x27;: img002.png" in response.content.decode()

    write_images(tmp_path / "twins", 3, start_seed=40)  # img000..img002 again
    image_set_import(path=tmp_path / "twins", set_name="twins", kind="reference")
    with mock.patch(PLAN):
        response = admin_client.post(
            reverse("metrics:run_start", args=[sets["gen"].pk]),
            {"metric": "psnr", "reference_set": ImageSet.objects.get(name="twins").pk},
        )
    run = MetricRun.objects.get()
    assert response.status_code == 302 and (run.metric, run.reference_set.name) == ("psnr", "twins")


def test_a_reference_chosen_for_a_single_set_metric_is_dropped(admin_client, sets):
    with mock.patch(PLAN):
        admin_client.post(
            reverse("metrics:run_start", args=[sets["gen"].pk]),
            {"metric": "is", "reference_set": sets["ref"].pk, "params": '{"splits": 1}'},
        )
    run = MetricRun.objects.get()
    assert run.reference_set is None and run.params["splits"] == 1


@pytest.mark.parametrize(
    "post,message",
    [
        ({"metric": "fid"}, "FID compares two sets: choose a reference set"),
        ({"metric": "ssim"}, "images of &#x27;gen&#x27; have none"),
        ({"metric": "clip_score"}, "needs a prompt for every image"),
    ],
)
def test_a_refused_run_shows_the_reason_on_the_page_and_queues_nothing(
    admin_client, sets, post, message
):
    response = admin_client.post(reverse("metrics:run_start", args=[sets["gen"].pk]), post)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and 'class="errorbox"' in html and "Traceback" not in html
    assert MetricRun.objects.count() == 0


@pytest.mark.parametrize(
    "params,message",
    [
        (
            "splitz=3",
            "Inception Score has no parameter splitz (it takes: resize=&quot;legacy-tf&quot;",
        ),
        ("splits=many", "splits must be an integer (default 10), not &#x27;many&#x27;"),
        ("resize=bicubic", "unknown resize mode &#x27;bicubic&#x27;"),
        ("splits", "&#x27;splits&#x27; is not of the form key=value"),
        ('{"splits": 2', "not valid JSON"),
        ("[1, 2]", "is not of the form key=value"),
    ],
)
def test_unknown_or_mistyped_parameters_are_refused_naming_what_the_metric_takes(
    admin_client, sets, params, message
):
    response = admin_client.post(
        reverse("metrics:run_start", args=[sets["gen"].pk]), {"metric": "is", "params": params}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert MetricRun.objects.count() == 0


def test_parameter_values_are_read_as_json_when_they_parse():
    from metrics.forms_runs import params_from_text

    assert params_from_text("k=10 force=true, resize=clean\nclip_model=null t=0.5") == {
        "k": 10, "force": True, "resize": "clean", "clip_model": None, "t": 0.5,
    }  # fmt: skip
    assert params_from_text('{"clip_model": "/weights/my clip"}') == {
        "clip_model": "/weights/my clip"
    }
    assert params_from_text("  ") == {}


# --- who may see runs ----------------------------------------------------------------------------


def test_people_who_are_not_staff_can_neither_see_nor_start_nor_cancel_runs(client, sets):
    run = done_run(sets["gen"], "ssim", [0.5, 0.6, 0.7], status="running")
    user = get_user_model().objects.create_user("judge", password="x")
    client.force_login(user)
    for url in [
        reverse("metrics:run_list"),
        run.get_absolute_url(),
        reverse("metrics:run_progress", args=[run.pk]),
        reverse("metrics:run_start", args=[sets["gen"].pk]),
    ]:
        response = client.get(url)
        assert response.status_code in (302, 403), url
        assert "/login" in response.get("Location", "/login"), url
    with mock.patch(PLAN):
        client.post(reverse("metrics:run_start", args=[sets["gen"].pk]), {"metric": "is"})
    client.post(reverse("metrics:run_cancel", args=[run.pk]))
    assert MetricRun.objects.count() == 1
    assert MetricRun.objects.get().status == "running"


# --- progress and cancel -------------------------------------------------------------------------


def test_the_progress_endpoint_reports_status_done_total_and_percent(admin_client, sets):
    run = MetricRun.objects.create(
        metric="fid", image_set=sets["gen"], reference_set=sets["ref"], status="running",
        progress_done=3, progress_total=12, started_at=timezone.now(),
    )  # fmt: skip
    response = admin_client.get(reverse("metrics:run_progress", args=[run.pk]))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    data = response.json()
    assert {k: data[k] for k in ("id", "status", "active", "done", "total", "percent")} == {
        "id": run.pk, "status": "running", "active": True, "done": 3, "total": 12, "percent": 25,
    }  # fmt: skip
    MetricRun.objects.filter(pk=run.pk).update(status="done", value=1.25)
    data = admin_client.get(reverse("metrics:run_progress", args=[run.pk])).json()
    assert (data["active"], data["percent"], data["value_text"]) == (False, 100, "1.25")


def test_an_active_run_page_polls_its_progress_and_offers_cancel(admin_client, sets):
    run = MetricRun.objects.create(
        metric="fid", image_set=sets["gen"], reference_set=sets["ref"], status="running",
        progress_done=1, progress_total=4,
    )  # fmt: skip
    html = admin_client.get(run.get_absolute_url()).content.decode()
    assert 'src="/static/metrics/run.js"' in html
    assert f'data-url="{reverse("metrics:run_progress", args=[run.pk])}"' in html
    assert 'style="width: 25%"' in html
    assert reverse("metrics:run_cancel", args=[run.pk]) in html
    assert finders.find("metrics/run.js") is not None


def test_cancel_ends_an_active_run_and_is_a_post(admin_client, sets):
    run = MetricRun.objects.create(metric="is", image_set=sets["gen"], status="queued")
    url = reverse("metrics:run_cancel", args=[run.pk])
    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url, follow=True)
    assert MetricRun.objects.get(pk=run.pk).status == "cancelled"
    html = response.content.decode()
    assert f"Run #{run.pk} cancelled." in html and "run.js" not in html
    response = admin_client.post(url, follow=True)
    assert "had already ended (cancelled)" in response.content.decode()


# --- a run's page --------------------------------------------------------------------------------


def test_a_done_run_page_shows_the_result_its_notes_and_its_provenance(admin_client, sets):
    run = done_run(sets["gen"], "kid", [0.1, 0.2, 0.3], value=0.012345, std=0.0021,
                   interval_low=None, interval_high=None,
                   params={"subsets": 10})  # fmt: skip
    html = admin_client.get(run.get_absolute_url()).content.decode()
    assert "0.01235" in html and "0.0021" in html and "lower is better" in html
    assert "2 pairs were identical" in html  # result.extra notes
    assert "identical_pairs" in html
    assert "ab" * 32 in html and "legacy-tf-299" in html  # weights sha256, preprocessing
    assert "versions.torch" in html and "2.13.0" in html
    assert "&quot;subsets&quot;: 10" in html
    assert "run.js" not in html  # an ended run is not polled
    assert "Cancel the run" not in html
    assert "12.0 s" in html


def test_a_failed_run_page_shows_its_error(admin_client, sets):
    run = MetricRun.objects.create(
        metric="fid", image_set=sets["gen"], reference_set=sets["ref"], status="failed",
        error="FID needs at least 2049 images per set for a full-rank covariance; got 3",
    )  # fmt: skip
    html = admin_client.get(run.get_absolute_url()).content.decode()
    assert "The run failed" in html and "at least 2049 images" in html


def test_per_image_values_have_thumbnails_and_psnr_infinity_shows_as_such(admin_client, sets):
    run = done_run(sets["gen"], "psnr", [30.0, None, 12.0], value=21.0)
    html = admin_client.get(run.get_absolute_url()).content.decode()
    first = sets["gen"].images.order_by("filename").first()
    assert reverse("metrics:image_file_sized", args=[first.pk, 256]) in html
    assert cells(html, "items") == ["30", "∞", "12"]
    other = done_run(sets["ref"], "ssim", [None, 0.25])
    assert cells(admin_client.get(other.get_absolute_url()).content.decode(), "items") == [
        "—", "0.25",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "metric,sort,expected",
    [
        ("psnr", "value", ["12", "30", "∞"]),
        ("psnr", "-value", ["∞", "30", "12"]),
        ("ssim", "value", ["0.1", "0.9", "—"]),
        ("ssim", "-value", ["0.9", "0.1", "—"]),
        ("ssim", "filename", ["0.9", "—", "0.1"]),
        ("ssim", "bogus", ["0.9", "—", "0.1"]),
    ],
)
def test_per_image_values_sort_by_value_on_the_server(admin_client, sets, metric, sort, expected):
    values = [30.0, None, 12.0] if metric == "psnr" else [0.9, None, 0.1]
    run = done_run(sets["gen"], metric, values)
    html = admin_client.get(run.get_absolute_url(), {"sort": sort}).content.decode()
    assert cells(html, "items") == expected


def test_per_image_values_are_paginated_keeping_the_sort(admin_client, sets, monkeypatch):
    monkeypatch.setattr(views_runs, "ITEMS_PER_PAGE", 2)
    run = done_run(sets["gen"], "ssim", [0.3, 0.1, 0.2])
    html = admin_client.get(run.get_absolute_url(), {"sort": "value"}).content.decode()
    assert cells(html, "items") == ["0.1", "0.2"]
    assert "?sort=value&amp;page=2" in html
    html = admin_client.get(run.get_absolute_url(), {"sort": "value", "page": 2}).content.decode()
    assert cells(html, "items") == ["0.3"]


# --- the runs list -------------------------------------------------------------------------------


def test_the_runs_list_shows_each_run_and_filters_by_status_metric_and_set(admin_client, sets):
    fid = done_run(sets["gen"], "ssim", [0.1, 0.2, 0.3], value=0.2, std=0.01)
    MetricRun.objects.filter(pk=fid.pk).update(metric="fid", reference_set=sets["ref"])
    queued = MetricRun.objects.create(metric="is", image_set=sets["other"])
    failed = MetricRun.objects.create(metric="is", image_set=sets["gen"], status="failed")
    url = reverse("metrics:run_list")

    def listed(**query) -> set[int]:
        response = admin_client.get(url, query)
        assert response.status_code == 200
        return {row["run"].pk for row in response.context["rows"]}

    assert listed() == {fid.pk, queued.pk, failed.pk}
    assert listed(status="failed") == {failed.pk}
    assert listed(metric="is") == {queued.pk, failed.pk}
    assert listed(image_set=sets["ref"].pk) == {fid.pk}  # as the reference
    assert listed(image_set=sets["gen"].pk, metric="is") == {failed.pk}
    html = admin_client.get(url).content.decode()
    assert "0.2 ± 0.01 [0.4, 0.6]" in html and "12.0 s" in html
    assert 'class="tag tag-failed"' in html and ">ref</a>" in html
    assert "Runs</a>" in html  # the staff navigation links here
