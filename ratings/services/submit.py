"""Recording a judge's answers to a task, exactly once.

Idempotent: the assignment row is locked, and an assignment already done returns
its existing ratings untouched, so a double click, a back button or a second tab
never makes a second rating; the unique constraint (judge, item, criterion)
backs this in the database. An answer is kept only while its item has room
(other judges' finished ratings under the target), checked under the item's row
lock: that, not the lease, is what keeps every item within its target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ratings.models import Assignment, Campaign, Criterion, Item, Judge, Rating
from ratings.models.campaigns import Protocol
from ratings.selectors import item_criteria
from ratings.services.assignment import CampaignNotOpen, item_filled_locked
from ratings.services.quality import judge_quality_refresh

CANT_TELL = "x"
# What the judge picks on screen, for a pair: left (A), right (B), tie, both bad.
SCREEN_CHOICES = ("a", "b", "tie", "both_bad")
# Client timings above this are not believed (a tab left open for a day).
MAX_CLIENT_MS = 24 * 3600 * 1000


class AssignmentNotFound(Exception):
    """No such task for this judge (wrong token, or another judge's task)."""


class AnswerInvalid(ValueError):
    """The answers are incomplete or out of range; ``problems`` names each criterion."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class LeaseLost(Exception):
    """The task's lease expired and other judges filled its item; the answer was not kept."""


@dataclass
class SubmitResult:
    assignment: Assignment
    created: bool  # False when the task had been answered already (nothing written)


def rating_submit(
    *,
    judge: Judge,
    token: str,
    answers: Mapping[str, str],
    elapsed_ms: int | None = None,
    now: datetime | None = None,
) -> SubmitResult:
    """Record the answers (criterion id -> '1'..'5', 'x', or a/b/tie/both_bad) to a task."""
    lost = False
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("item")
            .filter(token=token, judge=judge)
            .first()
        )
        if assignment is None:
            raise AssignmentNotFound(token)
        if assignment.status == Assignment.Status.DONE:
            return SubmitResult(assignment, created=False)
        campaign = Campaign.objects.get(pk=assignment.campaign_id)
        if not campaign.accepts_answers:
            raise CampaignNotOpen(campaign)
        item = assignment.item
        criteria = item_criteria(item=item, criteria=campaign.criteria.all())
        parsed = _parse(criteria, answers, assignment)
        if not assignment.is_gold:
            # The target is enforced here, not only when leasing: under the item's row lock
            # (serialising the answers and leases of one item), an answer is kept only while
            # other judges' finished ratings leave a slot. So an item never holds more than
            # its target, even when a lease expired and went to someone else while its
            # judge was still answering (clocks and lock waits cannot break this).
            others = item_filled_locked(item_id=item.pk, exclude_assignment=assignment.pk)
            if others >= campaign.target_ratings:
                Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.EXPIRED)
                lost = True
        now = now or timezone.now()  # read after the locks: the time the answer is recorded
        if not lost:
            server_ms = max(0, int((now - assignment.leased_at).total_seconds() * 1000))
            time_ms = server_ms
            if elapsed_ms is not None and 0 <= elapsed_ms <= MAX_CLIENT_MS:
                # The page's own clock excludes network and image loading time.
                time_ms = min(int(elapsed_ms), server_ms) if server_ms else int(elapsed_ms)
            Rating.objects.bulk_create(
                [
                    Rating(
                        assignment=assignment,
                        judge=judge,
                        item=item,
                        criterion=criterion,
                        time_ms=time_ms,
                        gold_correct=_gold_correct(item, criterion, answer),
                        **answer,
                    )
                    for criterion, answer in parsed
                ]
            )
            assignment.status = Assignment.Status.DONE
            assignment.submitted_at = now
            assignment.time_ms = time_ms
            assignment.save(update_fields=["status", "submitted_at", "time_ms"])
    if lost:
        raise LeaseLost(token)
    judge_quality_refresh(judge=judge)
    return SubmitResult(assignment, created=True)


def _parse(criteria: list[Criterion], answers: Mapping[str, str], assignment: Assignment):
    problems, parsed = [], []
    for criterion in criteria:
        raw = (answers.get(str(criterion.pk)) or "").strip()
        if not raw:
            problems.append(f"{criterion.name}: answer this question")
            continue
        if criterion.protocol == Protocol.COMPARE:
            if raw not in SCREEN_CHOICES:
                problems.append(f"{criterion.name}: choose A, B, about the same or both bad")
                continue
            parsed.append((criterion, {"choice": _canonical_choice(raw, assignment)}))
        elif raw == CANT_TELL:
            if not criterion.allow_cant_tell:
                problems.append(f"{criterion.name}: this question needs an answer on the scale")
                continue
            parsed.append((criterion, {"cant_tell": True}))
        elif raw.isdigit() and 1 <= int(raw) <= criterion.points:
            parsed.append((criterion, {"value": int(raw)}))
        else:
            problems.append(f"{criterion.name}: choose a point from 1 to {criterion.points}")
    if problems:
        raise AnswerInvalid(problems)
    return parsed


def _canonical_choice(raw: str, assignment: Assignment) -> str:
    """Screen side (a = left, b = right) to the item's image positions (first, second)."""
    if raw in ("tie", "both_bad"):
        return raw
    left = assignment.display_order[0] if assignment.display_order else 0
    shown = left if raw == "a" else 1 - left
    return Rating.Choice.FIRST if shown == 0 else Rating.Choice.SECOND


def _gold_correct(item: Item, criterion: Criterion, answer: dict) -> bool | None:
    if not item.gold or criterion.protocol != Protocol.RATE:
        return None
    expected = item.gold_answer.get(criterion.key)
    if expected is None:
        return None
    value = answer.get("value")
    return value is not None and expected[0] <= value <= expected[1]
