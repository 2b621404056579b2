"""Judge quality: gold accuracy, time on task, flags and exclusion.

A judge is flagged (Potato's and Otani et al.'s practice) when, with at least
``gold_min_answers`` gold answers, their gold accuracy is under the campaign's
``gold_threshold``, or when the median time they spend on a task (at least three
tasks) is under ``min_seconds``. Flags inform; researchers exclude. An excluded
judge's ratings stay in the database, are left out of results, stop counting
towards item targets (so those items are handed out again), and the judge gets
no more tasks.
"""

from __future__ import annotations

import statistics

from django.db import transaction
from django.utils import timezone

from ratings.models import Assignment, Judge, Rating
from ratings.services.assignment import item_filled_locked

MIN_TASKS_FOR_SPEED_FLAG = 3


def judge_quality_refresh(*, judge: Judge) -> Judge:
    """Recompute a judge's gold accuracy, median time and flags; return the judge, fresh."""
    campaign = judge.campaign
    gold = list(
        Rating.objects.filter(judge=judge, gold_correct__isnull=False).values_list(
            "gold_correct", flat=True
        )
    )
    times = list(
        Assignment.objects.filter(
            judge=judge, status=Assignment.Status.DONE, time_ms__isnull=False
        ).values_list("time_ms", flat=True)
    )
    answered, correct = len(gold), sum(gold)
    median = int(statistics.median(times)) if times else None
    reasons = []
    if answered >= campaign.gold_min_answers and correct / answered < campaign.gold_threshold:
        reasons.append(
            f"gold accuracy {correct / answered:.0%} under {campaign.gold_threshold:.0%}"
            f" ({correct} of {answered})"
        )
    if (
        median is not None
        and len(times) >= MIN_TASKS_FOR_SPEED_FLAG
        and median < campaign.min_seconds * 1000
    ):
        reasons.append(f"median time {median / 1000:.1f} s under {campaign.min_seconds:g} s")
    fields = {
        "gold_answered": answered,
        "gold_correct": correct,
        "median_ms": median,
        "flagged": bool(reasons),
        "flag_reasons": reasons,
    }
    Judge.objects.filter(pk=judge.pk).update(**fields)
    for name, value in fields.items():
        setattr(judge, name, value)
    return judge


def judge_exclude(*, judge: Judge, reason: str = "") -> Judge:
    """Leave a judge out of the results and out of item targets; they get no more tasks."""
    reason = reason.strip() or "; ".join(judge.flag_reasons) or "excluded by a researcher"
    Judge.objects.filter(pk=judge.pk).update(
        excluded=True, excluded_reason=reason[:300], excluded_at=timezone.now()
    )
    judge.refresh_from_db()
    return judge


def judge_include(*, judge: Judge) -> list[int]:
    """Undo an exclusion without pushing any item over its target; return the items not counted.

    While the judge was excluded, their items were handed out again and may have filled
    up. Each of their answers counts again only where the item still has room; on a full
    item the answer is kept but marked not counted (``Assignment.counted``), and its item
    id is returned so the researcher is told. Under each item's row lock, like a submit.
    """
    skipped = []
    with transaction.atomic():
        Judge.objects.filter(pk=judge.pk).update(
            excluded=False, excluded_reason="", excluded_at=None
        )
        target = judge.campaign.target_ratings
        mine = Assignment.objects.filter(
            judge=judge, status=Assignment.Status.DONE, is_gold=False
        ).order_by("item_id")
        for assignment in mine:
            others = item_filled_locked(
                item_id=assignment.item_id, exclude_assignment=assignment.pk
            )
            counted = others < target
            if counted != assignment.counted:
                Assignment.objects.filter(pk=assignment.pk).update(counted=counted)
            if not counted:
                skipped.append(assignment.item_id)
    judge.refresh_from_db()
    return skipped
