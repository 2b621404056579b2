"""The comparison report pages (staff only): the report, its exports, computing missing metrics."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from evalsite.csp import allow_inline_styles_of
from ratings.models import Campaign
from ratings.report import report_build
from ratings.report.actions import report_missing_runs_start
from ratings.report.exports import (
    CONTENT_TYPES,
    FORMATS,
    export_filename,
    export_link,
    report_export,
)
from ratings.report.present import report_view


def _include_flagged(request) -> bool:
    return request.GET.get("include_flagged", "") in ("1", "true", "yes", "on")


def _thumb_url(image_id: int) -> str:
    return reverse("metrics:image_file_sized", args=[image_id, 256])


@staff_member_required
@require_GET
def report_page(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    include_flagged = _include_flagged(request)
    report = report_build(campaign=campaign, include_flagged=include_flagged)
    return render(
        request,
        "ratings/report/page.html",
        {
            "campaign": campaign,
            "include_flagged": include_flagged,
            "r": report_view(report, thumb=_thumb_url),
        },
    )


@staff_member_required
@require_GET
def report_download(request, pk: int, fmt: str):
    if fmt not in FORMATS:
        raise Http404(f"no export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    campaign = get_object_or_404(Campaign, pk=pk)
    report = report_build(campaign=campaign, include_flagged=_include_flagged(request))
    body = report_export(report, campaign=campaign, fmt=fmt)
    link = export_link(body, filename=export_filename(report, fmt), fmt=fmt)
    if link is not None:
        return redirect(link)
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    if fmt == "html":  # self-contained: its own <style>, allowed by hash under the site's CSP
        allow_inline_styles_of(response, body if isinstance(body, bytes) else body.encode())
    response["Content-Disposition"] = f'attachment; filename="{export_filename(report, fmt)}"'
    return response


@staff_member_required
@require_POST
def report_compute_missing(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    result = report_missing_runs_start(
        campaign=campaign,
        user=request.user,
        force_fid=request.POST.get("force_fid") == "1",
        retry_failed=request.POST.get("retry_failed") == "1",
    )
    if result.started:
        messages.success(
            request,
            f"Started {len(result.started)} metric runs: "
            + ", ".join(f"{r['label']} on {r['set']}" for r in result.started),
        )
    for refused in result.refused:
        messages.warning(request, f"{refused['label']} on {refused['set']}: {refused['reason']}")
    for failed in result.failed:
        messages.error(
            request,
            f"{failed['label']} on {failed['set']} failed: {failed['reason']} "
            "(not started again: fix the cause, then retry the failed runs)",
        )
    if result.not_applicable:
        reasons = sorted({f"{n['label']} ({n['reason']})" for n in result.not_applicable})
        messages.info(request, "Not applicable here: " + "; ".join(reasons) + ".")
    if not result.started and not result.refused and not result.failed:
        messages.info(request, "Every metric already has a run on every model's set.")
    return redirect(reverse("report:page", args=[pk]))
