"""Who judges: invited accounts, and external people arriving through a campaign link."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ratings.models import Assignment, Campaign, Judge

# Prolific ids are 24 hexadecimal digits; other platforms use similar tokens.
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class JudgeRefused(Exception):
    """This person may not judge this campaign; the message says why, for them to read."""


def client_key_for(address: str) -> str:
    """A keyed hash of a client's address: limits count by it, no address is stored."""
    digest = hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def judge_account_find(*, campaign: Campaign, user) -> Judge | None:
    """The judge of an invited account, if it has started; refuse accounts that may not judge."""
    if user.is_staff:
        raise JudgeRefused("Researcher accounts cannot judge; use the preview or a judge account.")
    if not campaign.invited.filter(pk=user.pk).exists():
        raise JudgeRefused("You are not invited to this study.")
    return Judge.objects.filter(campaign=campaign, user=user).first()


def judge_for_account(*, campaign: Campaign, user) -> Judge:
    """The judge of an invited account in ``campaign`` (made when they start)."""
    judge = judge_account_find(campaign=campaign, user=user)
    if judge is not None:
        return judge
    try:
        with transaction.atomic():
            return Judge.objects.create(campaign=campaign, user=user, source=Judge.Source.ACCOUNT)
    except IntegrityError:  # two tabs arriving at once: the other one made it
        return Judge.objects.get(campaign=campaign, user=user)


def _link_pid(campaign: Campaign, params: Mapping[str, str]) -> str:
    """The link's PROLIFIC_PID, checked; '' when it has none (refused for Prolific studies)."""
    if not campaign.allow_link:
        raise JudgeRefused("This study is not open to the public: ask for an invitation.")
    pid = (params.get("PROLIFIC_PID") or "").strip()
    if pid and not _EXTERNAL_ID.match(pid):
        raise JudgeRefused(
            "The link's PROLIFIC_PID is malformed: open the study again from Prolific."
        )
    if not pid and campaign.prolific_only:
        raise JudgeRefused(
            "This study runs on Prolific: open it from your Prolific dashboard "
            "(the link must carry your Prolific id)."
        )
    return pid


def judge_link_find(
    *, campaign: Campaign, params: Mapping[str, str], known_judge_id: int | None = None
) -> Judge | None:
    """The judge behind a campaign link if they have started: by PROLIFIC_PID, else by session.

    Never creates one: a visit is not a judge (see :func:`judge_for_link`).
    """
    pid = _link_pid(campaign, params)
    if pid:
        return Judge.objects.filter(
            campaign=campaign, source=Judge.Source.PROLIFIC, external_id=pid
        ).first()
    if known_judge_id is not None:
        return Judge.objects.filter(pk=known_judge_id, campaign=campaign, user__isnull=True).first()
    return None


def judge_for_link(
    *,
    campaign: Campaign,
    params: Mapping[str, str],
    known_judge_id: int | None = None,
    client_key: str = "",
) -> Judge:
    """The judge behind a campaign link, made when the person starts: Prolific's id or a fresh one.

    ``known_judge_id`` is the judge this browser session already is in the campaign; a
    link without PROLIFIC_PID continues as that judge. One judge per PROLIFIC_PID.
    """
    pid = _link_pid(campaign, params)
    study = (params.get("STUDY_ID") or "").strip()[:100]
    session = (params.get("SESSION_ID") or "").strip()[:100]
    if pid:
        judge = _get_or_create_external(campaign, Judge.Source.PROLIFIC, pid, client_key)
        if (study and study != judge.study_id) or (session and session != judge.session_id):
            Judge.objects.filter(pk=judge.pk).update(
                study_id=study or judge.study_id, session_id=session or judge.session_id
            )
            judge.refresh_from_db()
        return judge
    known = judge_link_find(campaign=campaign, params=params, known_judge_id=known_judge_id)
    if known is not None:
        return known
    return _get_or_create_external(campaign, Judge.Source.LINK, secrets.token_hex(8), client_key)


def _get_or_create_external(
    campaign: Campaign, source: str, external_id: str, client_key: str = ""
) -> Judge:
    judge = Judge.objects.filter(campaign=campaign, source=source, external_id=external_id).first()
    if judge is not None:
        return judge
    try:
        with transaction.atomic():
            return Judge.objects.create(
                campaign=campaign, source=source, external_id=external_id, client_key=client_key
            )
    except IntegrityError:
        return Judge.objects.get(campaign=campaign, source=source, external_id=external_id)


def judge_instructions_seen(*, judge: Judge) -> None:
    """Record that the judge has read the instructions (shown before the first task)."""
    Judge.objects.filter(pk=judge.pk, instructions_seen_at__isnull=True).update(
        instructions_seen_at=timezone.now()
    )


def judge_finished(*, judge: Judge) -> bool:
    """Whether the judge is owed the completion code: finished, or answered before the close."""
    if judge.completed_at is not None:
        return True
    if judge.campaign.status == Campaign.Status.CLOSED:
        return judge_complete(judge=judge)
    return False


def judge_complete(*, judge: Judge) -> bool:
    """Mark the judge finished if they answered anything; True when they did."""
    if not judge.assignments.filter(status=Assignment.Status.DONE).exists():
        return False
    Judge.objects.filter(pk=judge.pk, completed_at__isnull=True).update(completed_at=timezone.now())
    return True
