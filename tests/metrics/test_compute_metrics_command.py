"""``python manage.py compute_metrics``: start a run, wait with a progress bar, print the result."""

from __future__ import annotations

import io
import json
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from evalsite.celery import app as celery_app
from metrics.management.commands import compute_metrics
from metrics.models import ImageSet, MetricRun
from metrics.services.imports import image_set_import
from tests.conftest import write_images

PLAN = "metrics.tasks.metric_run_plan_task.apply_async"


def import_pairs(tmp_path) -> ImageSet:
    """'edits': e000 has the pixels of its source, e001 does not (a different seed)."""
    write_images(tmp_path / "src", 2)
    image_set_import(path=tmp_path / "src", set_name="sources", kind="source")
    edited = tmp_path / "edited"
    write_images(edited, 1, start_seed=0, prefix="e")  # e000.png == img000.png
    write_images(edited, 1, start_seed=77, prefix="x")
    (edited / "x000.png").rename(edited / "e001.png")
    (edited / "manifest.csv").write_text("file,source\ne000.png,img000.png\ne001.png,img001.png\n")
    image_set_import(path=edited, set_name="edits", model_name="editor",
                     source_set=ImageSet.objects.get(name="sources"))  # fmt: skip
    return ImageSet.objects.get(name="edits")


@pytest.fixture
def sets(tmp_path, db):
    write_images(tmp_path / "gen", 3)
    write_images(tmp_path / "ref", 2, start_seed=10)
    image_set_import(path=tmp_path / "gen", set_name="gen", model_name="m")
    image_set_import(path=tmp_path / "ref", set_name="ref", kind="reference")
    return ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")


def run_command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("compute_metrics", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def worker_steps(monkeypatch, steps: list[dict]) -> list[float]:
    """Stand in for a worker: each wait between two polls applies the next update to the run."""
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        MetricRun.objects.update(**steps.pop(0))

    monkeypatch.setattr(compute_metrics, "_sleep", fake_sleep)
    return slept


# --- starting --------------------------------------------------------------------------------------


def test_no_wait_prints_the_run_id_and_page_and_leaves_it_queued(
    sets, django_capture_on_commit_callbacks
):
    with mock.patch(PLAN) as plan, django_capture_on_commit_callbacks(execute=True):
        out, _ = run_command("fid", "--set", "gen", "--reference", "ref", "--no-wait")
    run = MetricRun.objects.get()
    assert out.strip() == f"run {run.pk} queued: /catalog/runs/{run.pk}/"
    assert run.status == "queued" and run.reference_set.name == "ref"
    plan.assert_called_once()
    assert plan.call_args.args == ((run.steps.get(kind="plan").pk,),)
    assert plan.call_args.kwargs["queue"] == "cpu"


def test_parameters_are_read_as_json_when_they_parse(sets):
    with mock.patch(PLAN):
        run_command("fid", "--set", "gen", "--reference", "ref", "--no-wait",
                    "--param", "force=true", "--param", "resize=clean")  # fmt: skip
        run_command("kid", "--set", "gen", "--reference", "ref", "--no-wait",
                    "--param", "subsets=10", "--param", "subset_size=2")  # fmt: skip
    fid, kid = MetricRun.objects.order_by("pk")
    assert fid.params == {"resize": "clean", "force": True}
    assert (kid.params["subsets"], kid.params["subset_size"]) == (10, 2)


def test_no_wait_with_json_prints_the_run_as_the_api_does(sets):
    with mock.patch(PLAN):
        out, _ = run_command("is", "--set", "gen", "--no-wait", "--json")
    body = json.loads(out)
    assert body["id"] == MetricRun.objects.get().pk and body["status"] == "queued"
    assert body["metric_label"] == "Inception Score"


@pytest.mark.parametrize(
    "args,message",
    [
        (["fid", "--set", "gen"], "FID compares two sets: choose a reference set"),
        (["fid", "--set", "nope", "--reference", "ref"],
         "--set 'nope': no image set has that name; sets: gen, ref"),
        (["fid", "--set", "gen", "--reference", "gone"], "--reference 'gone': no image set"),
        (["fdi", "--set", "gen"], "unknown metric 'fdi'"),
        (["is", "--set", "gen", "--param", "splitz=2"], "Inception Score has no parameter splitz"),
        (["is", "--set", "gen", "--param", "splits"], "'splits' is not of the form key=value"),
        (["is", "--set", "gen", "--param", "splits=two"], "splits must be an integer"),
        (["ssim", "--set", "gen"], "images of 'gen' have none"),
    ],
)  # fmt: skip
def test_a_run_that_cannot_work_is_a_command_error_and_nothing_is_queued(sets, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_command(*args)
    assert MetricRun.objects.count() == 0


# --- waiting ---------------------------------------------------------------------------------------


def test_waiting_shows_progress_and_prints_the_result_when_the_run_is_done(sets, monkeypatch):
    now = timezone.now()
    slept = worker_steps(
        monkeypatch,
        [
            {"status": "running", "progress_total": 5, "progress_done": 2},
            {"progress_done": 5},
            {"status": "done", "value": 12.5, "std": 0.25, "interval_low": 11.0,
             "interval_high": 14.0, "result": {"n": {"set": 3, "reference": 2}},
             "features_computed": 3, "started_at": now, "finished_at": now},
        ],
    )  # fmt: skip
    with mock.patch(PLAN):
        out, err = run_command("fid", "--set", "gen", "--reference", "ref", "--param", "force=true")
    run = MetricRun.objects.get()
    assert slept == [compute_metrics.POLL_SECONDS] * 3
    assert out.splitlines() == [
        'FID = 12.5 ± 0.25 [11, 14]  (n={"set": 3, "reference": 2})',
        "features: 3 computed, 2 from the cache",
        f"run {run.pk}: /catalog/runs/{run.pk}/",
    ]
    assert f"fid #{run.pk} running" in err and "5/5" in err  # the tqdm bar, on stderr


def test_a_failed_run_ends_the_command_with_its_error(sets, monkeypatch):
    worker_steps(
        monkeypatch,
        [{"status": "failed", "error": "FID needs at least 2049 images per set; got 3"}],
    )
    with mock.patch(PLAN), pytest.raises(CommandError, match=r"failed: FID needs at least 2049"):
        run_command("fid", "--set", "gen", "--reference", "ref", "--no-progress")


def test_a_cancelled_run_ends_the_command_non_zero(sets, monkeypatch):
    worker_steps(monkeypatch, [{"status": "cancelled"}])
    with mock.patch(PLAN), pytest.raises(CommandError, match=r"was cancelled"):
        run_command("is", "--set", "gen", "--no-progress")


def test_the_timeout_stops_waiting_and_says_the_run_goes_on(sets, monkeypatch):
    worker_steps(monkeypatch, [{}] * 3)
    with (
        mock.patch(PLAN),
        pytest.raises(CommandError, match=r"still queued after 0 s .*/catalog/runs/"),
    ):
        run_command("is", "--set", "gen", "--timeout", "0", "--no-progress")
    assert MetricRun.objects.get().status == "queued"


# --- for real, with eager tasks ----------------------------------------------------------------------


@pytest.fixture
def eager_tasks():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)  # tasks are enqueued on commit, so commit for real
def test_an_ssim_run_computed_by_the_tasks_is_printed(tmp_path, eager_tasks):
    edits = import_pairs(tmp_path)
    out, _ = run_command("ssim", "--set", "edits", "--no-progress")
    run = MetricRun.objects.get(image_set=edits)
    assert run.status == "done", run.error
    per_image = dict(run.items.values_list("image__filename", "value"))
    assert per_image["e000.png"] == pytest.approx(1.0) and per_image["e001.png"] < 0.5
    assert out.splitlines()[0].startswith(f"SSIM = {run.value:.4g} [")
    assert "2 per-image values: " in out
    out, _ = run_command("psnr", "--set", "edits", "--json")
    body = json.loads(out)
    assert body["status"] == "done" and body["result"]["extra"]["identical_pairs"] == 1
