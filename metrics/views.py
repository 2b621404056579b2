"""Catalog pages (researchers only: judges never see model or set names)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from metrics import selectors
from metrics.forms import ImportForm
from metrics.models import ImageSet, ImportJob, ModelUnderTest
from metrics.services.derivatives import DERIVATIVE_SIZES, derivative_relpath, image_derivative
from metrics.services.import_jobs import import_job_create
from metrics.services.imports import ImportFailed
from metrics.storage import blob_exists, blob_local, blob_url

IMAGES_PER_PAGE = 60


@staff_member_required
def set_list(request):
    return render(
        request,
        "metrics/set_list.html",
        {"sets": selectors.image_set_list(), "models": selectors.model_under_test_list()},
    )


@staff_member_required
def model_detail(request, pk: int):
    model = get_object_or_404(ModelUnderTest, pk=pk)
    sets = selectors.image_set_list().filter(model=model)
    return render(request, "metrics/model_detail.html", {"model": model, "sets": sets})


@staff_member_required
def set_detail(request, pk: int):
    image_set = get_object_or_404(ImageSet.objects.select_related("model"), pk=pk)
    page = Paginator(selectors.image_set_images(image_set=image_set), IMAGES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "metrics/set_detail.html", {"image_set": image_set, "page": page})


@staff_member_required
def image_detail(request, pk: int):
    image = selectors.image_get(image_id=pk)
    if image is None:
        raise Http404("no such image")
    return render(request, "metrics/image_detail.html", {"image": image})


@staff_member_required
@require_GET
def image_file(request, pk: int, size: int | None = None):
    """The original bytes (no size) or a sized JPEG derivative."""
    image = selectors.image_get(image_id=pk)
    if image is None:
        raise Http404("no such image")
    if size not in (None, *DERIVATIVE_SIZES):
        raise Http404("no such size")
    if not blob_exists(image.blob):
        # Never expected (blobs are only deleted when no row refers to them), but a lost
        # file is a missing page, not a server error.
        raise Http404("the image's file is missing from the store")
    relpath = image.blob
    if size is not None:
        path = image_derivative(image=image, max_side=size)
        relpath = derivative_relpath(sha256=image.sha256, max_side=size)
    # On a bucket: a short-lived presigned link (researchers only; judges' images never
    # come this way), so the bytes do not pass through the app.
    url = blob_url(relpath)
    if url is not None:
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "private, no-store"  # the link expires; the page does not
        return response
    path = blob_local(image.blob) if size is None else path
    response = FileResponse(open(path, "rb"))
    response["Cache-Control"] = "private, max-age=86400"
    return response


@staff_member_required
def import_upload(request):
    """The upload form: store the upload, start an import job, show its page."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = import_job_create(
                archive=data["archive"],
                manifest=data["manifest"],
                set_name=data["set_name"],
                kind=data["kind"],
                model_name=data["model_name"],
                model_version=data["model_version"],
                source_set=data["source_set"],
                door=ImportJob.Door.FORM,
                user=request.user,
            )
        except ImportFailed as exc:
            return render(
                request,
                "metrics/import.html",
                {"form": form, "problems": exc.problems, "jobs": selectors.import_jobs_recent()},
                status=400,
            )
        return redirect(job)
    context = {"form": form, "jobs": selectors.import_jobs_recent()}
    return render(request, "metrics/import.html", context, status=400 if form.errors else 200)


@staff_member_required
def import_job(request, pk: int):
    """An import job: its progress while it runs, then the created set or every problem."""
    job = get_object_or_404(ImportJob.objects.select_related("image_set"), pk=pk)
    return render(request, "metrics/import_job.html", {"job": job, "progress": job_progress(job)})


@staff_member_required
@require_GET
def import_job_progress(request, pk: int):
    """The job's status and progress as JSON, polled by its page while it is active."""
    response = JsonResponse(job_progress(get_object_or_404(ImportJob, pk=pk)))
    response["Cache-Control"] = "no-store"
    return response


def job_progress(job: ImportJob) -> dict:
    """What the job page's poller (metrics/run.js) reads: status, done, total, percent."""
    stage = {"check": "checking files", "store": "storing", "rows": "saving rows"}
    return {
        "status": stage.get(job.stage, job.status) if job.is_active and job.stage else job.status,
        "active": job.is_active,
        "done": job.progress_done,
        "total": job.progress_total,
        "percent": job.progress_percent,
    }
