"""Metric runs under faults, in-process: the sweeper's rules, out-of-memory, internal errors,
a broker that is down, a client that retries. Real worker processes: test_worker_faults.py."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import torch
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from evalsite.celery import app as celery_app
from metrics.models import ImageSet, MetricRun, RunStep
from metrics.services.imports import image_set_import
from metrics.services.runs import metric_run_create, metric_runs_sweep
from metrics.services.runs.sweep import run_waiting_reason

pytestmark = pytest.mark.django_db

State = RunStep.State


@pytest.fixture
def sets(image_folders):
    image_set_import(path=image_folders["a"], set_name="gen", model_name="m")
    image_set_import(path=image_folders["b"], set_name="ref", kind="reference")
    return ImageSet.objects.get(name="gen"), ImageSet.objects.get(name="ref")


@pytest.fixture
def eager(settings):
    settings.EVALSITE_FEATURE_CHUNK_SIZE = 4
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def published(monkeypatch):
    """Record what would be sent to the broker instead of sending it."""
    sent: list[tuple[str, int, str]] = []

    def fake_apply_async(task):
        def apply_async(args, queue=None, **kwargs):
            sent.append((task.name.rsplit(".", 1)[-1], args[0], queue))

        return apply_async

    from metrics import tasks

    for name in ("metric_run_plan_task", "metric_run_chunk_task", "metric_run_aggregate_task"):
        task = getattr(tasks, name)
        monkeypatch.setattr(task, "apply_async", fake_apply_async(task))
    return sent


def fid_run(sets, capture, **kwargs) -> MetricRun:
    gen, ref = sets
    with capture(execute=True):
        return metric_run_create(
            metric="fid", image_set=gen, reference_set=ref, params={"force": True}, **kwargs
        )


# --- the sweeper's rules ------------------------------------------------------------------


def test_a_step_waiting_in_a_non_empty_queue_is_never_sent_again(
    sets, published, django_capture_on_commit_callbacks
):
    run = fid_run(sets, django_capture_on_commit_callbacks)
    plan = run.steps.get()
    assert plan.state == State.SENT and published == [("metric_run_plan_task", plan.pk, "cpu")]
    later = timezone.now() + timedelta(hours=1)

    report = metric_runs_sweep(queue_size=lambda q: 7, now=later)  # queued behind other work

    assert not report and len(published) == 1
    assert RunStep.objects.get(pk=plan.pk).state == State.SENT


def test_a_step_lost_by_the_broker_is_sent_again_once_its_queue_is_empty(
    sets, published, django_capture_on_commit_callbacks
):
    run = fid_run(sets, django_capture_on_commit_callbacks)
    plan = run.steps.get()
    # Just sent: the grace period protects a message on its way to a worker.
    assert not metric_runs_sweep(queue_size=lambda q: 0)
    later = timezone.now() + timedelta(minutes=1)

    report = metric_runs_sweep(queue_size=lambda q: 0, now=later)

    assert report.resent == [plan.pk]
    assert published[-1] == ("metric_run_plan_task", plan.pk, "cpu")
    assert RunStep.objects.get(pk=plan.pk).sends == 2


def test_a_step_whose_lease_ran_out_is_sent_again_and_a_live_one_is_left_alone(
    sets, published, django_capture_on_commit_callbacks
):
    from metrics.services.runs.steps import step_claim

    run = fid_run(sets, django_capture_on_commit_callbacks)
    step = step_claim(step_id=run.steps.get().pk, worker="w1@host")
    assert step is not None and step_claim(step_id=step.pk, worker="w2@host") is None

    assert not metric_runs_sweep(queue_size=lambda q: 0)  # its lease is fresh
    after_lease = step.lease_until + timedelta(seconds=1)
    report = metric_runs_sweep(queue_size=lambda q: 0, now=after_lease)

    assert report.resent == [step.pk]
    RunStep.objects.filter(pk=step.pk).update(state=State.RUNNING, lease_until=after_lease)
    # The claim after a lapsed lease goes to whoever comes next; the step ran twice at most.
    assert step_claim(step_id=step.pk, worker="w2@host") is None


def test_a_claim_after_the_run_ended_does_nothing(
    sets, published, django_capture_on_commit_callbacks
):
    from metrics.services.runs import metric_run_cancel
    from metrics.services.runs.steps import step_claim

    run = fid_run(sets, django_capture_on_commit_callbacks)
    step_id = run.steps.get().pk
    assert metric_run_cancel(run=run)
    assert step_claim(step_id=step_id, worker="w@h") is None
    assert not RunStep.objects.filter(run=run).exists()
    assert not metric_runs_sweep(queue_size=lambda q: 0, now=timezone.now() + timedelta(hours=1))


# --- a broker that is down, a client that retries ------------------------------------------


def test_a_run_created_while_the_broker_is_down_is_kept_and_sent_once_it_is_back(
    sets, monkeypatch, published, django_capture_on_commit_callbacks
):
    from metrics import tasks

    def down(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(tasks.metric_run_plan_task, "apply_async", down)
    run = fid_run(sets, django_capture_on_commit_callbacks)  # no exception reaches the caller

    step = run.steps.get()
    assert (step.state, step.sends) == (State.PENDING, 0)
    assert "broker" in run_waiting_reason(run)
    assert not metric_runs_sweep(queue_size=lambda q: None) or True  # still down: kept
    assert RunStep.objects.get(pk=step.pk).state == State.PENDING

    monkeypatch.undo()  # the broker is back
    monkeypatch.setattr(
        tasks.metric_run_plan_task,
        "apply_async",
        lambda args, queue=None, **kw: published.append(("plan", args[0], queue)),
    )
    report = metric_runs_sweep(queue_size=lambda q: 0)
    assert report.resent == [step.pk] and published[-1] == ("plan", step.pk, "cpu")
    assert RunStep.objects.get(pk=step.pk).state == State.SENT


def test_the_api_answers_a_retry_with_the_same_idempotency_key_with_the_first_run(
    sets, admin_client, published
):
    body = {"metric": "fid", "image_set": "gen", "reference_set": "ref", "params": {"force": True}}
    first = admin_client.post(
        "/api/runs/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="job-42"
    )
    again = admin_client.post(
        "/api/runs/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="job-42"
    )
    other = admin_client.post(
        "/api/runs/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="job-43"
    )
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json()["id"] == first.json()["id"] != other.json()["id"]
    assert MetricRun.objects.count() == 2


def test_the_api_keeps_a_run_asked_for_while_the_broker_is_down(sets, admin_client, monkeypatch):
    from metrics import tasks

    def down(*args, **kwargs):
        raise BrokerDown("Connection refused")

    monkeypatch.setattr(tasks.metric_run_plan_task, "apply_async", down)
    body = {"metric": "fid", "image_set": "gen", "reference_set": "ref", "params": {"force": True}}
    response = admin_client.post(
        "/api/runs/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 201, response.content
    run = MetricRun.objects.get()
    assert run.status == "queued" and run.steps.get().state == State.PENDING
    page = admin_client.get(f"/catalog/runs/{run.pk}/progress").json()
    assert "broker" in page["waiting"]


# --- failures told apart ------------------------------------------------------------------


def test_out_of_memory_halves_the_batch_from_the_configured_size_then_succeeds(
    sets, eager, offline_weights, settings, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from metrics.engine.extractors import InceptionExtractor

    settings.EVALSITE_BATCH_SIZE = 12
    seen: list[int] = []
    real = InceptionExtractor.extract_paths

    def fussy(self, paths, batch_size=32, **kwargs):
        seen.append(batch_size)
        if batch_size > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, paths, batch_size=batch_size, **kwargs)

    monkeypatch.setattr(InceptionExtractor, "extract_paths", fussy)
    run = fid_run(sets, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.status == "done", run.error
    # From the configured size, halved on each failure, never below what worked.
    assert sorted(set(seen), reverse=True) == [12, 6, 3]
    assert set(run.steps.filter(kind="chunk").values_list("batch_size", flat=True)) == {3}
    assert "CUDA out of memory at batch size 12" in caplog.text


def test_out_of_memory_at_batch_size_one_fails_the_run_naming_the_sizes_tried(
    sets, eager, offline_weights, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from metrics.engine.extractors import InceptionExtractor

    settings.EVALSITE_BATCH_SIZE = 8

    def always(self, paths, batch_size=32, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(InceptionExtractor, "extract_paths", always)
    run = fid_run(sets, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "ran out of memory at every batch size tried (8, 4, 2, 1)" in run.error
    assert not run.steps.exclude(state=State.DONE).exists()


def test_an_internal_error_fails_the_run_with_a_reference_found_beside_the_traceback_in_the_log(
    sets, eager, offline_weights, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from metrics.services import recipes

    def broken(inputs):
        raise KeyError("pool3")  # a bug, not the user's fault

    import dataclasses

    monkeypatch.setitem(
        recipes.RECIPES, "fid", dataclasses.replace(recipes.RECIPES["fid"], aggregate=broken)
    )
    with caplog.at_level(logging.ERROR, logger="metrics.tasks"):
        run = fid_run(sets, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("internal error (reference ")
    reference = run.error.split("reference ", 1)[1].split(")", 1)[0]
    record = next(r for r in caplog.records if reference in r.getMessage())
    assert record.exc_info and record.exc_info[0] is KeyError  # the traceback is logged


def test_a_value_error_from_bad_input_is_not_called_a_bug(
    sets, eager, offline_weights, django_capture_on_commit_callbacks
):
    gen, ref = sets
    with django_capture_on_commit_callbacks(execute=True):
        run = metric_run_create(metric="fid", image_set=gen, reference_set=ref)  # 10 < 2049
    run.refresh_from_db()
    assert run.status == "failed" and "internal error" not in run.error
    assert "2048" in run.error
