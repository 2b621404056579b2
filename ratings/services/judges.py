"""Who judges: invited accounts, and external people arriving through a campaign link."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

from django.db import IntegrityError, transaction
from django.utils import timezone

from ratings.models import Assignment, Campaign, Judge

# Prolific ids are 24 hexadecimal digits; other platforms use similar tokens.
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class JudgeRefused(Exception):
    """This person may not judge this campaign; the message says why, for them to read."""


def judge_for_account(*, campaign: Campaign, user) -> Judge:
    """The judge of an invited account in ``campaign`` (made on first visit)."""
    if user.is_staff:
        raise JudgeRefused("Researcher accounts cannot judge; use the preview or a judge account.")
    if not campaign.invited.filter(pk=user.pk).exists():
        raise JudgeRefused("You are not invited to this study.")
    judge = Judge.objects.filter(campaign=campaign, user=user).first()
    if judge is not None:
        return judge
    try:
        with transaction.atomic():
            return Judge.objects.create(campaign=campaign, user=user, source=Judge.Source.ACCOUNT)
    except IntegrityError:  # two tabs arriving at once: the other one made it
        return Judge.objects.get(campaign=campaign, user=user)


def judge_for_link(
    *, campaign: Campaign, params: Mapping[str, str], known_judge_id: int | None = None
) -> Judge:
    """The judge behind a campaign link: Prolific's PROLIFIC_PID, or a fresh anonymous id.

    ``known_judge_id`` is the judge this browser session already is in the campaign;
    a link without PROLIFIC_PID continues as that judge.
    """
    if not campaign.allow_link:
        raise JudgeRefused("This study is not open to the public: ask for an invitation.")
    pid = (params.get("PROLIFIC_PID") or "").strip()
    study = (params.get("STUDY_ID") or "").strip()[:100]
    session = (params.get("SESSION_ID") or "").strip()[:100]
    if pid:
        if not _EXTERNAL_ID.match(pid):
            raise JudgeRefused(
                "The link's PROLIFIC_PID is malformed: open the study again from Prolific."
            )
        judge = _get_or_create_external(campaign, Judge.Source.PROLIFIC, pid)
        if (study and study != judge.study_id) or (session and session != judge.session_id):
            Judge.objects.filter(pk=judge.pk).update(
                study_id=study or judge.study_id, session_id=session or judge.session_id
            )
            judge.refresh_from_db()
        return judge
    if known_judge_id is not None:
        judge = Judge.objects.filter(pk=known_judge_id, campaign=campaign).first()
        if judge is not None:
            return judge
    return _get_or_create_external(campaign, Judge.Source.LINK, secrets.token_hex(8))


def _get_or_create_external(campaign: Campaign, source: str, external_id: str) -> Judge:
    judge = Judge.objects.filter(campaign=campaign, source=source, external_id=external_id).first()
    if judge is not None:
        return judge
    try:
        with transaction.atomic():
            return Judge.objects.create(campaign=campaign, source=source, external_id=external_id)
    except IntegrityError:
        return Judge.objects.get(campaign=campaign, source=source, external_id=external_id)


def judge_instructions_seen(*, judge: Judge) -> None:
    """Record that the judge has read the instructions (shown before the first task)."""
    Judge.objects.filter(pk=judge.pk, instructions_seen_at__isnull=True).update(
        instructions_seen_at=timezone.now()
    )


def judge_complete(*, judge: Judge) -> bool:
    """Mark the judge finished if they answered anything; True when they did."""
    if not judge.assignments.filter(status=Assignment.Status.DONE).exists():
        return False
    Judge.objects.filter(pk=judge.pk, completed_at__isnull=True).update(completed_at=timezone.now())
    return True
