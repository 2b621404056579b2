"""Catalog pages (researchers only: judges never see model or set names)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from metrics import selectors
from metrics.forms import ImportForm
from metrics.models import ImageSet, ModelUnderTest
from metrics.services.derivatives import DERIVATIVE_SIZES, image_derivative
from metrics.services.imports import ImportFailed, image_set_import
from metrics.storage import blob_path

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
    if size is None:
        path = blob_path(image.blob)
    elif size in DERIVATIVE_SIZES:
        path = image_derivative(image=image, max_side=size)
    else:
        raise Http404("no such size")
    response = FileResponse(open(path, "rb"))
    response["Cache-Control"] = "private, max-age=86400"
    return response


@staff_member_required
def import_upload(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with tempfile.TemporaryDirectory(prefix="evalsite-upload-") as tmp:
            archive = _save_upload(data["archive"], Path(tmp))
            manifest = _save_upload(data["manifest"], Path(tmp)) if data["manifest"] else None
            try:
                result = image_set_import(
                    path=archive,
                    set_name=data["set_name"],
                    kind=data["kind"],
                    model_name=data["model_name"] or None,
                    model_version=data["model_version"],
                    manifest=manifest,
                    source_set=data["source_set"],
                )
            except ImportFailed as exc:
                return render(
                    request,
                    "metrics/import.html",
                    {"form": form, "problems": exc.problems},
                    status=400,
                )
        messages.success(
            request,
            f"{result.image_set.name}: {result.created} images imported, "
            f"{result.unchanged} were already there.",
        )
        return redirect(result.image_set)
    return render(request, "metrics/import.html", {"form": form})


def _save_upload(upload, folder: Path) -> Path:
    """Stream an uploaded file to ``folder`` under a safe name; return its path."""
    name = Path(upload.name).name or "upload"
    target = folder / ("manifest-" + name if not name.lower().endswith(".zip") else name)
    with open(target, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    return target
