"""'Compute the missing metrics' queues only what applies, advises on small sets, keeps failures."""

from __future__ import annotations

from metrics.models import MetricRun
from ratings.report.actions import report_missing_runs_start
from tests.ratings.factories import make_campaign


def test_only_applicable_metrics_are_queued_and_fid_waits_for_enough_images(catalog):
    sets, reference = catalog
    campaign = make_campaign(sets, reference)
    result = report_missing_runs_start(campaign=campaign)
    started = {r["metric"] for r in result.started}
    # No source images, no captions: pair metrics and CLIP direction do not apply (quietly).
    assert not started & {"ssim", "psnr", "ms_ssim", "lpips", "clip_direction"}
    assert {n["metric"] for n in result.not_applicable} >= {"ssim", "psnr", "clip_direction"}
    assert "kid" in started and "clip_score" in started and "fid" not in started
    (advice,) = {r["reason"] for r in result.refused if r["metric"] == "fid"}
    assert "2,049" in advice and "KID" in advice and "force" in advice
    assert not result.failed


def test_fid_can_be_forced_on_a_small_set(catalog):
    sets, reference = catalog
    campaign = make_campaign(sets[:1], reference)
    report_missing_runs_start(campaign=campaign, force_fid=True)
    assert MetricRun.objects.get(metric="fid").params["force"] is True


def test_a_failed_run_is_listed_with_its_reason_and_retried_only_when_asked(catalog):
    sets, reference = catalog
    campaign = make_campaign(sets[:1], reference)
    MetricRun.objects.create(
        metric="kid", image_set=sets[0], reference_set=reference, status="failed", error="boom"
    )
    result = report_missing_runs_start(campaign=campaign)
    assert [(f["metric"], f["reason"]) for f in result.failed] == [("kid", "boom")]
    assert not MetricRun.objects.filter(metric="kid", status="queued").exists()
    again = report_missing_runs_start(campaign=campaign, retry_failed=True)
    assert "kid" in {r["metric"] for r in again.started}
