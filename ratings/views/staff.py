"""Campaign administration: create, open, pause, close, follow progress, judge quality, exports.

Researchers (staff) only. These pages name models and sets; judges never reach them.
"""

from __future__ import annotations

import csv
import json

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ratings import selectors
from ratings.forms import CampaignForm, InviteForm
from ratings.models import Campaign, Judge
from ratings.services.campaigns import (
    CampaignInvalid,
    campaign_create,
    campaign_delete,
    campaign_duplicate,
    campaign_invite,
    campaign_set_status,
    campaign_update,
)
from ratings.services.quality import judge_exclude, judge_include

ITEMS_PER_PAGE = 100
PROLIFIC_QUERY = (
    "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
)


@staff_member_required
@require_GET
def campaign_list(request):
    return render(
        request, "ratings/staff/campaign_list.html", {"campaigns": selectors.campaign_list()}
    )


def _form_page(request, form, campaign=None):
    return render(
        request,
        "ratings/staff/campaign_new.html",
        {"form": form, "campaign": campaign},
        status=400 if form.errors else 200,
    )


def _form_input(form) -> dict:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "instructions": data["instructions"],
        "image_sets": list(data["image_sets"]),
        "reference_set": data["reference_set"],
        "criteria": form.criteria(),
        **form.options(),
    }


@staff_member_required
@require_http_methods(["GET", "POST"])
def campaign_new(request):
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_create(created_by=request.user, **_form_input(form))
        except CampaignInvalid as exc:
            for problem in exc.problems:
                form.add_error(None, problem)
        else:
            messages.success(
                request,
                f"Campaign {campaign.name} created as a draft: check it (Edit changes any "
                "setting), then open it.",
            )
            return redirect(campaign)
    return _form_page(request, form)


@staff_member_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request, pk: int):
    """Every setting of a draft; its items are made again by the item-building service."""
    campaign = get_object_or_404(Campaign, pk=pk)
    if campaign.status != Campaign.Status.DRAFT:
        messages.error(request, "Only a draft can be edited: duplicate it as a new draft.")
        return redirect(campaign)
    if request.method == "POST":
        form = CampaignForm(request.POST)
        if form.is_valid():
            try:
                campaign = campaign_update(campaign=campaign, **_form_input(form))
            except CampaignInvalid as exc:
                for problem in exc.problems:
                    form.add_error(None, problem)
            else:
                messages.success(request, f"Draft {campaign.name} saved; its items were remade.")
                return redirect(campaign)
    else:
        form = CampaignForm(initial=CampaignForm.initial_from(campaign))
    return _form_page(request, form, campaign)


@staff_member_required
@require_POST
def campaign_delete_view(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        campaign_delete(campaign=campaign)
    except CampaignInvalid as exc:
        messages.error(request, "; ".join(exc.problems))
        return redirect(campaign)
    messages.success(request, f"Draft {campaign.name} deleted.")
    return redirect("ratings:campaign_list")


@staff_member_required
@require_POST
def campaign_duplicate_view(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        copy = campaign_duplicate(campaign=campaign, created_by=request.user)
    except CampaignInvalid as exc:
        messages.error(request, "; ".join(exc.problems))
        return redirect(campaign)
    messages.success(request, f"{copy.name} created as a draft from {campaign.name}.")
    return redirect(copy)


@staff_member_required
@require_GET
def campaign_detail(request, pk: int):
    campaign = get_object_or_404(Campaign.objects.select_related("reference_set"), pk=pk)
    link = request.build_absolute_uri(reverse("ratings:entry", args=[campaign.key]))
    return render(
        request,
        "ratings/staff/campaign_detail.html",
        {
            "campaign": campaign,
            "summary": selectors.campaign_summary(campaign=campaign),
            "judges": selectors.judge_table(campaign=campaign),
            "criteria": campaign.criteria.all(),
            "image_sets": campaign.image_sets.all(),
            "invited": campaign.invited.order_by("username"),
            "invite_form": InviteForm(),
            "link": link,
            "prolific_link": f"{link}?{PROLIFIC_QUERY}",
            "prolific_complete": f"https://app.prolific.com/submissions/complete?cc={campaign.completion_code}",
        },
    )


@staff_member_required
@require_POST
def campaign_status(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        campaign_set_status(campaign=campaign, status=request.POST.get("status", ""))
    except CampaignInvalid as exc:
        messages.error(request, "; ".join(exc.problems))
    else:
        messages.success(request, f"Campaign {campaign.name} is {campaign.status}.")
    return redirect(campaign)


@staff_member_required
@require_POST
def campaign_invite_view(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            added = campaign_invite(campaign=campaign, users=form.cleaned_data["usernames"])
        except CampaignInvalid as exc:
            messages.error(request, "; ".join(exc.problems))
        else:
            messages.success(request, f"{added} account{'s' if added != 1 else ''} invited.")
    else:
        messages.error(request, " ".join(form.errors["usernames"]))
    return redirect(campaign)


@staff_member_required
@require_POST
def judge_exclusion(request, pk: int, judge_pk: int):
    judge = get_object_or_404(Judge, pk=judge_pk, campaign_id=pk)
    if request.POST.get("action") == "include":
        skipped = judge_include(judge=judge)
        messages.success(request, f"{judge.label} is back in the results.")
        if skipped:
            messages.warning(
                request,
                f"{len(skipped)} of their answers are not counted: those items reached their "
                f"target while the judge was excluded (items {', '.join(map(str, skipped[:20]))}"
                f"{', ...' if len(skipped) > 20 else ''}).",
            )
    else:
        judge_exclude(judge=judge, reason=request.POST.get("reason", ""))
        messages.success(
            request, f"{judge.label} is excluded from the results ({judge.excluded_reason})."
        )
    return redirect("ratings:campaign_detail", pk=pk)


@staff_member_required
@require_GET
def campaign_items(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    page = Paginator(selectors.item_progress(campaign=campaign), ITEMS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    images = selectors.item_images_for(items=[item.pk for item in page])
    rows = [(item, images.get(item.pk, [])) for item in page]
    return render(
        request,
        "ratings/staff/campaign_items.html",
        {"campaign": campaign, "page": page, "rows": rows},
    )


class _Echo:
    def write(self, value):
        return value


@staff_member_required
@require_GET
def export_csv(request, pk: int):
    """Raw ratings, one row per rating, model names revealed (lists joined with ';')."""
    campaign = get_object_or_404(Campaign, pk=pk)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(selectors.EXPORT_FIELDS)
        for row in selectors.ratings_rows(campaign=campaign):
            yield writer.writerow(
                [
                    ";".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)
                    for v in row.values()
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-ratings.csv"'
    return response


@staff_member_required
@require_GET
def export_json(request, pk: int):
    """The campaign's settings and criteria, and every rating with model names."""
    campaign = get_object_or_404(Campaign, pk=pk)

    def chunks():
        head = json.dumps({"campaign": selectors.campaign_description(campaign=campaign)})
        yield head[:-1] + ', "ratings": ['
        for i, row in enumerate(selectors.ratings_rows(campaign=campaign)):
            yield ("," if i else "") + json.dumps(row)
        yield "]}"

    response = StreamingHttpResponse(chunks(), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-ratings.json"'
    return response
