"""REST endpoint of the report: ``GET /api/campaigns/<id>/report/?format=json|csv|html``.

Staff only, token or session authentication (the project's REST_FRAMEWORK defaults, as the
catalog API): ``curl -H "Authorization: Token $TOKEN" .../api/campaigns/7/report/?format=csv``.
``include_flagged=1`` includes flagged and excluded judges. With ``format=json``,
``sections=scores,correlations`` keeps only those parts of the report (``meta`` always comes
along); the full JSON of a large campaign is mostly its per-item rows (``items``).
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from ratings.models import Campaign
from ratings.report import report_build
from ratings.report.exports import (
    CONTENT_TYPES,
    FORMATS,
    ExportRefused,
    export_filename,
    json_sections,
    report_export,
)


class _FormatIsOurs(DefaultContentNegotiation):
    """``?format=csv`` names the export here, not a DRF renderer (which would answer 404)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class CampaignReport(APIView):
    """The report of a campaign as JSON (default), a CSV zip or a self-contained HTML file."""

    content_negotiation_class = _FormatIsOurs

    def get(self, request, pk: int):
        # "format" is DRF's content-negotiation parameter; read it ourselves from the query.
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            return Response(
                {"detail": f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}"}, status=400
            )
        asked = request.query_params.get("sections")
        if asked is not None and fmt != "json":
            return Response({"detail": "sections applies to format=json only"}, status=400)
        try:
            sections = json_sections(asked)
        except ExportRefused as exc:
            return Response({"detail": str(exc)}, status=400)
        campaign = get_object_or_404(Campaign, pk=pk)
        include = request.query_params.get("include_flagged", "") in ("1", "true", "yes")
        report = report_build(campaign=campaign, include_flagged=include, plots=fmt == "html")
        response = HttpResponse(
            report_export(report, campaign=campaign, fmt=fmt, sections=sections),
            content_type=CONTENT_TYPES[fmt],
        )
        if fmt != "json":
            response["Content-Disposition"] = (
                f'attachment; filename="{export_filename(report, fmt)}"'
            )
        return response


urlpatterns = [
    path("campaigns/<int:pk>/report/", CampaignReport.as_view(), name="api-campaign-report"),
]
