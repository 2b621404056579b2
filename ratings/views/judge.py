"""The pages judges see. Nothing here names a model, a set, a file or a catalog id.

A judge is an invited account, or a person who arrived through the campaign link
(remembered in their session, per campaign). Every task page is ``no-store``, so
the back button asks the server again and gets the current task, never a stale form.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from ratings import selectors
from ratings.models import Assignment, Campaign, Judge
from ratings.services.assignment import (
    CampaignNotOpen,
    TasksWithheld,
    judge_progress,
    task_next,
)
from ratings.services.images import ImageWithheld, judge_copy, task_image_release
from ratings.services.judges import (
    JudgeRefused,
    client_key_for,
    judge_account_find,
    judge_complete,
    judge_finished,
    judge_for_account,
    judge_for_link,
    judge_instructions_seen,
    judge_link_find,
)
from ratings.services.submit import AnswerInvalid, AssignmentNotFound, LeaseLost, rating_submit

PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc={code}"


def _session_key(campaign: Campaign) -> str:
    return f"ratings.judge.{campaign.pk}"


def current_judge(request, campaign: Campaign) -> Judge | None:
    """The judge this request speaks for in ``campaign``, if any."""
    user = request.user
    if user.is_authenticated and not user.is_staff:
        judge = Judge.objects.filter(campaign=campaign, user=user).first()
        if judge is not None:
            return judge
    judge_id = request.session.get(_session_key(campaign))
    if judge_id is None:
        return None
    return Judge.objects.filter(pk=judge_id, campaign=campaign, user__isnull=True).first()


def judge_page(view):
    """Resolve ``key`` to the campaign and the request to its judge, or send them to the entry."""

    @functools.wraps(view)
    def wrapper(request, key: str, *args, **kwargs):
        campaign = get_object_or_404(Campaign, key=key)
        judge = current_judge(request, campaign)
        if judge is None:
            return redirect("ratings:entry", key=key)
        return view(request, campaign, judge, *args, **kwargs)

    return wrapper


def _refusal(request, campaign: Campaign | None, message: str, status: int = 403):
    return render(
        request, "ratings/judge/message.html",
        {"campaign": campaign, "message": message}, status=status,
    )  # fmt: skip


def client_address(request) -> str:
    """The client's address as the server sees it (the same one django-axes counts by)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _known_judge(request, campaign: Campaign) -> Judge | None:
    """The judge this visitor already is in ``campaign``; None before they start.

    Raises JudgeRefused for visitors who may not judge it at all.
    """
    user = request.user
    if user.is_authenticated and user.is_staff:
        raise JudgeRefused(
            "You are signed in as a researcher: researchers cannot judge. "
            "Open the link in a private window to see what judges see."
        )
    if user.is_authenticated and campaign.invited.filter(pk=user.pk).exists():
        return judge_account_find(campaign=campaign, user=user)
    if campaign.allow_link:
        return judge_link_find(
            campaign=campaign,
            params=request.GET,
            known_judge_id=request.session.get(_session_key(campaign)),
        )
    if user.is_authenticated:
        raise JudgeRefused("You are not invited to this study.")
    return None  # the caller sends them to sign in


@never_cache
@require_http_methods(["GET", "POST"])
def entry(request, key: str):
    """The campaign link: invited accounts, and Prolific or anonymous people.

    A visit creates nothing: the study's state comes first (paused, closed), then the
    instructions with a Start button; the judge is made when they press it (POST).
    Returning finishers get their completion code again, whatever the state.
    """
    campaign = get_object_or_404(Campaign, key=key)
    try:
        judge = _known_judge(request, campaign)
    except JudgeRefused as exc:
        return _refusal(request, campaign, str(exc))
    if judge is None and not request.user.is_authenticated and not campaign.allow_link:
        return redirect_to_login(request.get_full_path())
    if judge is not None:
        request.session[_session_key(campaign)] = judge.pk if judge.user_id is None else None
        if judge_finished(judge=judge):
            return redirect("ratings:done", key=key)
    if campaign.status != Campaign.Status.OPEN:
        return _refusal(request, campaign, str(CampaignNotOpen(campaign)), status=200)
    if judge is not None:
        if judge.instructions_seen_at is None:
            return redirect("ratings:instructions", key=key)
        return redirect("ratings:task", key=key)
    if request.method == "POST":
        return _start(request, campaign)
    return render(
        request,
        "ratings/judge/instructions.html",
        {"campaign": campaign, "first_time": True, "start_url": request.get_full_path()},
    )


def _start(request, campaign: Campaign):
    """Make the judge who pressed Start, within the per-client limit of new judges."""
    user = request.user
    try:
        if user.is_authenticated:
            judge = judge_for_account(campaign=campaign, user=user)
        else:
            key = client_key_for(client_address(request))
            if is_ratelimited(
                request,
                group=f"ratings.judge_start.{campaign.key}",
                key=lambda _group, _request: key,
                rate=settings.EVALSITE_LINK_JUDGES_PER_CLIENT,
                increment=True,
            ):
                return _refusal(
                    request,
                    campaign,
                    "Many people have started this study from your network in the last "
                    "while. Please try again later.",
                    status=429,
                )
            judge = judge_for_link(
                campaign=campaign,
                params=request.GET,
                known_judge_id=request.session.get(_session_key(campaign)),
                client_key=key,
            )
            request.session[_session_key(campaign)] = judge.pk
    except JudgeRefused as exc:
        return _refusal(request, campaign, str(exc))
    judge_instructions_seen(judge=judge)
    return redirect("ratings:task", key=campaign.key)


@never_cache
@require_http_methods(["GET", "POST"])
@judge_page
def instructions(request, campaign: Campaign, judge: Judge):
    if request.method == "POST":
        judge_instructions_seen(judge=judge)
        return redirect("ratings:task", key=campaign.key)
    return render(
        request, "ratings/judge/instructions.html",
        {"campaign": campaign, "judge": judge, "first_time": judge.instructions_seen_at is None},
    )  # fmt: skip


@never_cache
@require_GET
@judge_page
def task(request, campaign: Campaign, judge: Judge):
    if judge.instructions_seen_at is None:
        return redirect("ratings:instructions", key=campaign.key)
    if judge_finished(judge=judge):
        return redirect("ratings:done", key=campaign.key)
    try:
        assignment = task_next(judge=judge)
    except (CampaignNotOpen, TasksWithheld) as exc:
        return _refusal(request, campaign, str(exc), status=200)
    if assignment is None:
        judge_complete(judge=judge)
        return redirect("ratings:done", key=campaign.key)
    return _render_task(request, campaign, judge, assignment)


COMPARE_VALUES = ("a", "b", "tie", "both_bad")


def _questions(criteria, posted) -> list[dict]:
    """Each criterion with its options as (value, key to press, label)."""
    out = []
    for c in criteria:
        if c.protocol == "compare":
            options = [
                (v, str(i + 1), label)
                for i, (v, label) in enumerate(zip(COMPARE_VALUES, c.labels, strict=True))
            ]
        else:
            options = [
                (str(i + 1), str(i + 1) if i < 9 else "", label) for i, label in enumerate(c.labels)
            ]
            if c.allow_cant_tell:
                options.append(("x", "0", "Can't tell"))
        out.append(
            {
                "criterion": c,
                "name": f"c{c.pk}",
                "options": options,
                "selected": posted.get(f"c{c.pk}", ""),
            }
        )
    return out


def _render_task(request, campaign, judge, assignment: Assignment, problems=(), status=200):
    view = selectors.task_view(assignment=assignment)
    done, total = judge_progress(judge=judge)
    return render(
        request,
        "ratings/judge/task.html",
        {
            "campaign": campaign,
            "judge": judge,
            "task": view,
            "letters": "ABCDEFGHI",
            "done": done,
            "total": total,
            "percent": round(100 * done / total) if total else 0,
            "problems": problems,
            "questions": _questions(view.criteria, request.POST if problems else {}),
        },
        status=status,
    )


@never_cache
@require_POST
@judge_page
def submit(request, campaign: Campaign, judge: Judge):
    token = request.POST.get("token", "")
    answers = {
        name[1:]: value
        for name, value in request.POST.items()
        if name.startswith("c") and name[1:].isdigit()
    }
    try:
        elapsed = int(request.POST.get("elapsed_ms") or "")
    except ValueError:
        elapsed = None
    try:
        result = rating_submit(judge=judge, token=token, answers=answers, elapsed_ms=elapsed)
    except AssignmentNotFound:
        raise Http404("no such task") from None
    except AnswerInvalid as exc:
        assignment = Assignment.objects.get(token=token, judge=judge)
        return _render_task(request, campaign, judge, assignment, exc.problems, status=400)
    except LeaseLost:
        messages.info(request, "That task timed out and went to someone else. Here is a new one.")
    except CampaignNotOpen as exc:
        return _refusal(
            request, campaign, f"{exc} Your last answer could not be saved.", status=200
        )
    else:
        if not result.created:
            messages.info(request, "That answer was already saved.")
        elif Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.OPEN).exists():
            pass  # the next task says enough
        else:
            # Accepted while the study was being paused: say so before "paused".
            messages.success(request, "Your answer was saved.")
    return redirect("ratings:task", key=campaign.key)


@never_cache
@require_GET
@judge_page
def done(request, campaign: Campaign, judge: Judge):
    judge.refresh_from_db()
    # The code only for judges found finished (by the task page, or answers before the
    # study closed), never by typing the URL.
    finished = judge_finished(judge=judge)
    code = campaign.completion_code if finished else None
    return render(
        request,
        "ratings/judge/done.html",
        {
            "campaign": campaign,
            "judge": judge,
            "code": code,
            "prolific_url": PROLIFIC_COMPLETE.format(code=code)
            if code and judge.source == Judge.Source.PROLIFIC
            else None,
            "done_count": judge.assignments.filter(status=Assignment.Status.DONE).count(),
        },
    )


@require_GET
def image(request, key: str, token: str, size: int):
    """A task's image: re-encoded pixels only, under its opaque token, for its judge only.

    Every image of a campaign comes at its one square size (blinding by size): another
    size is refused.
    """
    campaign = get_object_or_404(Campaign, key=key)
    if size != campaign.image_side:
        raise Http404("no such size")
    if request.user.is_authenticated and request.user.is_staff:
        item_image = selectors.item_image_for_judge(token=token, judge=None)
        if item_image is None or item_image.item.campaign_id != campaign.pk:
            raise Http404("no such image")
    else:
        judge = current_judge(request, campaign)
        if judge is None:
            raise Http404("no such image")
        try:
            item_image = task_image_release(campaign=campaign, judge=judge, token=token)
        except ImageWithheld as exc:
            raise Http404(str(exc)) from None
    path = judge_copy(campaign=campaign, image=item_image.image)
    # Bytes, not FileResponse: its Content-Disposition would carry the derivative's file
    # name, which is the original's sha256.
    response = HttpResponse(path.read_bytes(), content_type="image/jpeg")
    if campaign.exposure_ms is None:
        response["Cache-Control"] = "private, max-age=86400, immutable"
    else:
        response["Cache-Control"] = "no-store"  # the back button must not show it again
    return response


@login_required
@require_GET
def judge_home(request):
    """An account's studies."""
    if request.user.is_staff:
        return redirect(reverse("ratings:campaign_list"))
    return render(
        request,
        "ratings/judge/home.html",
        {"campaigns": selectors.judge_campaigns(user=request.user)},
    )
