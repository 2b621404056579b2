"""Metric run pages: start a run from a set, the runs list, a run's page, its progress and cancel.

Researchers only, like the catalog. The run page polls :func:`run_progress` (a small
JSON document) while the run is active; everything else is rendered on the server.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import F, Q, QuerySet
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from metrics.engine.metadata import metric_info
from metrics.forms_runs import RunFilterForm, RunStartForm, recipe_rows
from metrics.models import ImageSet, MetricRun, MetricRunItem
from metrics.services.runs import RunRefused, metric_run_cancel, metric_run_create
from metrics.services.runs.sweep import run_waiting_reason

RUNS_PER_PAGE = 50
ITEMS_PER_PAGE = 100
ITEM_SORTS = ("value", "-value", "filename")
# Metrics whose null per-image value means +infinity (identical pixels), not "no value".
INFINITE_WHEN_NULL = {"psnr"}


# --- reading and formatting (shared with the REST API) ----------------------------------------


def value_text(value: float | None, metric: str) -> str:
    """A value to 4 significant digits; null is "∞" for PSNR and "—" otherwise."""
    if value is None:
        return "∞" if metric in INFINITE_WHEN_NULL else "—"
    if not math.isfinite(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.4g}"


def run_list_filtered(
    *, status: str = "", metric: str = "", image_set: ImageSet | None = None
) -> QuerySet[MetricRun]:
    """Runs, newest first, optionally of one status, metric, or set (as set or reference)."""
    runs = MetricRun.objects.select_related("image_set", "reference_set")
    if status:
        runs = runs.filter(status=status)
    if metric:
        runs = runs.filter(metric=metric)
    if image_set is not None:
        runs = runs.filter(Q(image_set=image_set) | Q(reference_set=image_set))
    return runs.order_by("-created_at", "-id")


def run_items_sorted(*, run: MetricRun, sort: str = "filename") -> QuerySet[MetricRunItem]:
    """The run's per-image values with their images, sorted by ``value``, ``-value`` or file name.

    Null values go last, except for PSNR, where null means +infinity and sorts as such.
    """
    items = run.items.select_related("image")
    infinite = run.metric in INFINITE_WHEN_NULL
    if sort == "value":  # +infinity and "no value" both belong at the end
        return items.order_by(F("value").asc(nulls_last=True), "image__filename")
    if sort == "-value":
        order = F("value").desc(nulls_first=True) if infinite else F("value").desc(nulls_last=True)
        return items.order_by(order, "image__filename")
    return items.order_by("image__filename")


def duration_text(run: MetricRun) -> str:
    """How long the run took, or has been running; empty before it starts."""
    if run.started_at is None:
        return ""
    end = run.finished_at or (None if not run.is_active else timezone.now())
    if end is None:
        return ""
    seconds = max(0.0, (end - run.started_at).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def summary_text(run: MetricRun) -> str:
    """``value ± std [low, high]`` of a finished run, or an em dash."""
    if run.status != MetricRun.Status.DONE:
        return "—"
    text = value_text(run.value, run.metric)
    if run.std is not None:
        text += f" ± {value_text(run.std, run.metric)}"
    if run.interval_low is not None and run.interval_high is not None:
        text += (
            f" [{value_text(run.interval_low, run.metric)}, "
            f"{value_text(run.interval_high, run.metric)}]"
        )
    return text


def progress_data(run: MetricRun) -> dict[str, Any]:
    """What the run page's poller needs."""
    return {
        "id": run.pk,
        "status": run.status,
        "active": run.is_active,
        "done": run.progress_done,
        "total": run.progress_total,
        "percent": run.progress_percent,
        "value": run.value,
        "value_text": value_text(run.value, run.metric) if run.status == "done" else "",
        "error": run.error,
        "duration": duration_text(run),
        "waiting": run_waiting_reason(run),
    }


def _cell(value: Any, limit: int = 300) -> str:
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Shown first, in this order; the rest follow alphabetically, library versions last.
PROVENANCE_FIRST = (
    "extractor",
    "weights_sha256",
    "preprocessing",
    "resize",
    "clip_model",
    "seed",
)


def provenance_rows(run: MetricRun) -> list[tuple[str, str]]:
    """(what, value) rows of the provenance, versions and parameters flattened one level."""
    prov = dict(run.provenance or {})
    versions = prov.pop("versions", {}) or {}
    params = prov.pop("params", None)
    keys = [k for k in PROVENANCE_FIRST if k in prov]
    keys += sorted(k for k in prov if k not in PROVENANCE_FIRST)
    rows = [(k, _cell(prov[k])) for k in keys]
    if isinstance(params, dict):
        rows += [(f"params.{k}", _cell(v)) for k, v in sorted(params.items())]
    elif params is not None:
        rows.append(("params", _cell(params)))
    rows += [(f"versions.{k}", _cell(v)) for k, v in sorted(versions.items())]
    return rows


def result_rows(run: MetricRun) -> tuple[list[tuple[str, str]], list[str]]:
    """(rows of ``result.extra``, notes); per-image maps are left to the items table."""
    extra = dict((run.result or {}).get("extra") or {})
    notes = extra.pop("notes", []) or []
    if isinstance(notes, str):
        notes = [notes]
    rows = []
    for key, value in sorted(extra.items()):
        if isinstance(value, dict):
            for sub, sub_value in sorted(value.items()):
                if sub != "per_item":
                    rows.append((f"{key}.{sub}", _cell(sub_value)))
        else:
            rows.append((key, _cell(value)))
    return rows, [str(n) for n in notes]


# --- pages -----------------------------------------------------------------------------------


@staff_member_required
def run_start(request, pk: int):
    """The form that starts a run on image set ``pk``; on success, the run's page."""
    image_set = get_object_or_404(ImageSet, pk=pk)
    form = RunStartForm(request.POST or None, image_set=image_set)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                run = metric_run_create(
                    metric=data["metric"],
                    image_set=image_set,
                    reference_set=data["reference_set"],
                    params=data["params"],
                    user=request.user,
                )
            except RunRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"{run.metric} run #{run.pk} queued.")
                return redirect(run)
        status = 400
    return render(
        request,
        "metrics/run_start.html",
        {"image_set": image_set, "form": form, "recipes": recipe_rows()},
        status=status,
    )


@staff_member_required
@require_GET
def run_list(request):
    """Every run, newest first, filtered by status, metric or set."""
    form = RunFilterForm(request.GET or None)
    filters = {}
    if form.is_bound:
        form.is_valid()  # an invalid filter is dropped (and shown), the others still apply
        data = form.cleaned_data
        filters = {
            "status": data.get("status") or "",
            "metric": data.get("metric") or "",
            "image_set": data.get("image_set"),
        }
    page = Paginator(run_list_filtered(**filters), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {
            "run": run,
            "label": metric_info(run.metric).label,
            "summary": summary_text(run),
            "duration": duration_text(run),
        }
        for run in page
    ]
    return render(request, "metrics/run_list.html", {"form": form, "page": page, "rows": rows})


@staff_member_required
@require_GET
def run_detail(request, pk: int):
    """A run: status, live progress, result, provenance, error, per-image values."""
    run = get_object_or_404(MetricRun.objects.select_related("image_set", "reference_set"), pk=pk)
    sort = request.GET.get("sort", "filename")
    if sort not in ITEM_SORTS:
        sort = "filename"
    items_page = Paginator(run_items_sorted(run=run, sort=sort), ITEMS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for item in items_page:
        item.value_text = value_text(item.value, run.metric)
        item.raw_text = _cell(item.raw.get("pair_value")) if item.raw else ""
    extra_rows, notes = result_rows(run)
    result = run.result or {}
    context = {
        "run": run,
        "label": metric_info(run.metric).label,
        # The declared direction, never the one stored with an old result.
        "higher_is_better": metric_info(run.metric).higher_is_better,
        "value": value_text(run.value, run.metric),
        "std": value_text(run.std, run.metric) if run.std is not None else "",
        "interval": (
            (value_text(run.interval_low, run.metric), value_text(run.interval_high, run.metric))
            if run.interval_low is not None and run.interval_high is not None
            else None
        ),
        "n": _cell(result.get("n")) if result.get("n") is not None else "",
        "extra_rows": extra_rows,
        "notes": notes,
        "provenance_rows": provenance_rows(run),
        "params_text": _cell(run.params, limit=2000),
        "duration": duration_text(run),
        "items_page": items_page,
        "sort": sort,
        "show_raw": run.metric in INFINITE_WHEN_NULL,
        "progress": progress_data(run),
    }
    return render(request, "metrics/run_detail.html", context)


@staff_member_required
@require_GET
def run_progress(request, pk: int):
    """The run's status and progress as JSON, polled by its page while it is active."""
    run = get_object_or_404(MetricRun, pk=pk)
    response = JsonResponse(progress_data(run))
    response["Cache-Control"] = "no-store"
    return response


@staff_member_required
@require_POST
def run_cancel(request, pk: int):
    """Cancel an active run (its pending chunks then do nothing)."""
    run = get_object_or_404(MetricRun, pk=pk)
    if metric_run_cancel(run=run):
        messages.success(request, f"Run #{run.pk} cancelled.")
    else:
        run.refresh_from_db()
        messages.error(request, f"Run #{run.pk} had already ended ({run.status}).")
    return redirect(run)
