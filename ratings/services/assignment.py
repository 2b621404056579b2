"""Handing out tasks: leases, breadth first, never beyond the target, never twice to a judge.

An item's *load* is its finished ratings by judges who are not excluded plus its
live leases (leased and not yet expired). A judge gets the item of lowest load
they have never been given, with load under the campaign's target; ties are
broken by a permutation of the items drawn from the judge's seed, so every judge
walks the items in their own random order (and judges rarely contend for a row).

Concurrency. The judge's row is locked first, so one judge's two tabs are served
one after the other (the second gets the lease the first made). Then:

- PostgreSQL: the candidate item is locked with ``SELECT ... FOR UPDATE SKIP
  LOCKED`` (another judge leasing it right now is skipped, not waited for), and
  its load is counted again once the lock is held. That second count is what
  makes the target hard: the first one came from a snapshot taken before the
  lock, and under READ COMMITTED a row that was only locked (not updated) by a
  transaction that committed since is not re-checked by PostgreSQL. A fresh
  statement after the lock sees every lease committed before it.
- Locks are ``FOR NO KEY UPDATE``: they exclude each other but not the ``KEY
  SHARE`` locks that inserting a row referencing the judge or the item takes, so
  a rating being written never waits for (or deadlocks with) a lease being made.
- SQLite: ``BEGIN IMMEDIATE`` (settings) takes the database's write lock at the
  start of the transaction, so lease transactions run one at a time and the
  counts they read cannot change under them.

Leasing keeps items from being handed out beyond their target; recording an
answer (services.submit) is what makes the target hard: an answer is kept only
while other judges' finished ratings leave a slot, checked under the item's row
lock, so an expired lease answered late can never push an item over its target.

Gold items have no target: one gold item in ``round(1 / gold_rate)`` tasks, at a
place in that cycle drawn from the judge's seed.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
)
from django.db.models.functions import Cast, Mod
from django.utils import timezone

from ratings.models import Assignment, Campaign, Item, ItemImage, Judge

_PRIME = 2_147_483_647  # 2**31 - 1: the item permutation is (rand * a + b) mod this prime
# Candidates tried per request before giving up; each miss means another judge took
# that item's last slot a moment ago.
_MAX_TRIES = 50


class TasksWithheld(Exception):
    """No new task for this judge for now (too many open from their network, or leases let
    lapse without an answer); the message is for the judge."""


class CampaignNotOpen(Exception):
    """The campaign is not open (draft, paused or closed); the message is for the judge."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        messages = {
            Campaign.Status.DRAFT: "This study has not started yet.",
            Campaign.Status.PAUSED: "This study is paused for a moment. Please come back later.",
            Campaign.Status.CLOSED: "This study is closed. Thank you for your interest.",
        }
        super().__init__(messages.get(campaign.status, "This study is not open."))


def counted_q(*, now: datetime, prefix: str = "") -> Q:
    """Assignments that hold a slot of their item's target at ``now``."""
    p = prefix
    return Q(
        **{f"{p}status": Assignment.Status.DONE, f"{p}judge__excluded": False, f"{p}counted": True}
    ) | Q(**{f"{p}status": Assignment.Status.LEASED, f"{p}expires_at__gt": now})


def item_load(*, item_id: int, now: datetime, exclude_assignment: int | None = None) -> int:
    """Finished ratings (judges not excluded) plus live leases of one item."""
    qs = Assignment.objects.filter(counted_q(now=now), item_id=item_id)
    if exclude_assignment is not None:
        qs = qs.exclude(pk=exclude_assignment)
    return qs.count()


def item_filled_locked(*, item_id: int, exclude_assignment: int | None = None) -> int:
    """Lock the item's row, then count its finished ratings that count towards the target.

    The lock serialises everything that fills an item (answers, re-inclusions), so the
    count cannot change before the caller's transaction ends.
    """
    Item.objects.select_for_update(no_key=True).filter(pk=item_id).first()
    qs = Assignment.objects.filter(
        item_id=item_id, status=Assignment.Status.DONE, judge__excluded=False, counted=True
    )
    if exclude_assignment is not None:
        qs = qs.exclude(pk=exclude_assignment)
    return qs.count()


def _judge_order(judge: Judge):
    """A permutation of items particular to the judge (from their seed)."""
    rng = random.Random(judge.seed)
    a, b = rng.randrange(1, _PRIME), rng.randrange(_PRIME)
    return Mod(Cast(F("rand"), BigIntegerField()) * a + b, _PRIME)


def gold_due(*, campaign: Campaign, judge: Judge, taken: int) -> bool:
    """Whether the judge's next task (their ``taken``-th, from 0) is a gold item."""
    if campaign.gold_rate <= 0:
        return False
    period = max(1, round(1 / campaign.gold_rate))
    return taken % period == judge.seed % period


def task_next(*, judge: Judge, now: datetime | None = None) -> Assignment | None:
    """The judge's live lease, or a new one; None when nothing is left for them.

    Slot hogging (one client holding many leases it never answers) is limited here:
    a judge's first lease is short (``EVALSITE_FIRST_LEASE_SECONDS``), a judge who let
    ``EVALSITE_IDLE_LAPSES`` leases lapse without answering anything gets no more, and
    judges that started from one client address hold at most
    ``EVALSITE_LINK_LEASES_PER_CLIENT`` live leases together (:class:`TasksWithheld`).
    """
    now = now or timezone.now()
    with transaction.atomic():
        judge = (
            Judge.objects.select_for_update(of=("self",), no_key=True)
            .select_related("campaign")
            .get(pk=judge.pk)
        )
        campaign = judge.campaign
        if campaign.status != Campaign.Status.OPEN:
            raise CampaignNotOpen(campaign)
        mine = Assignment.objects.filter(judge=judge)
        live = mine.filter(status=Assignment.Status.LEASED, expires_at__gt=now).order_by("pk")
        current = live.first()
        if current is not None:
            return current
        # Leases the judge let lapse: the item went back to the pool (load no longer counts
        # them) and never comes back to this judge (one assignment per judge and item).
        mine.filter(status=Assignment.Status.LEASED, expires_at__lte=now).update(
            status=Assignment.Status.EXPIRED
        )
        if judge.excluded:
            return None
        taken = mine.count()
        if campaign.judge_cap is not None and taken >= campaign.judge_cap:
            return None
        answered = mine.filter(status=Assignment.Status.DONE).exists()
        _check_hogging(campaign, judge, now, answered)
        item = None
        if gold_due(campaign=campaign, judge=judge, taken=taken):
            item = _gold_candidate(campaign, judge)
        if item is None:
            item = _lease_candidate(campaign, judge, now)
        if item is None:
            return None
        positions = list(
            ItemImage.objects.filter(item=item)
            .order_by("position")
            .values_list("position", flat=True)
        )
        # Left/right (and grid) order drawn per task, and recorded with it.
        random.SystemRandom().shuffle(positions)
        return Assignment.objects.create(
            campaign=campaign,
            item=item,
            judge=judge,
            is_gold=bool(item.gold),
            leased_at=now,
            expires_at=now + timedelta(seconds=_lease_seconds(campaign, answered)),
            display_order=positions,
        )


def _lease_seconds(campaign: Campaign, answered: bool) -> int:
    """A judge who has answered nothing yet gets a short lease: a slot is not held for long
    by someone who only opened the link."""
    if answered:
        return campaign.lease_seconds
    return min(campaign.lease_seconds, settings.EVALSITE_FIRST_LEASE_SECONDS)


def _check_hogging(campaign: Campaign, judge: Judge, now: datetime, answered: bool) -> None:
    if not answered:
        lapsed = Assignment.objects.filter(
            judge=judge, status=Assignment.Status.EXPIRED, submitted_at__isnull=True
        ).count()
        if lapsed >= settings.EVALSITE_IDLE_LAPSES:
            raise TasksWithheld(
                "Your tasks timed out without an answer, so they went to other people. "
                "Thank you for your interest."
            )
    limit = settings.EVALSITE_LINK_LEASES_PER_CLIENT
    if judge.client_key and limit:
        if connection.vendor == "postgresql":
            # Judges of one client lease one at a time (each holds only its own judge row
            # lock, so their counts would otherwise pass the limit together); released at
            # the end of the lease transaction. SQLite: BEGIN IMMEDIATE serialises anyway.
            key = int(
                hashlib.sha256(f"{campaign.pk}:{judge.client_key}".encode()).hexdigest()[:15], 16
            )
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        held = Assignment.objects.filter(
            campaign=campaign,
            status=Assignment.Status.LEASED,
            expires_at__gt=now,
            judge__client_key=judge.client_key,
        ).count()
        if held >= limit:
            raise TasksWithheld(
                "Too many tasks of this study are open from your network right now. "
                "Please answer those first, or come back in a few minutes."
            )


def _unseen(campaign: Campaign, judge: Judge):
    seen = Assignment.objects.filter(item=OuterRef("pk"), judge=judge)
    return Item.objects.filter(campaign=campaign).filter(~Exists(seen))


def _gold_candidate(campaign: Campaign, judge: Judge) -> Item | None:
    return (
        _unseen(campaign, judge)
        .exclude(gold="")
        .annotate(order=_judge_order(judge))
        .order_by("order", "pk")
        .first()
    )


def _open_items_sql(
    campaign: Campaign, judge: Judge, now: datetime, rejected: list[int], *, select: str
) -> tuple[str, str, list]:
    """(query, its ORDER BY, params): regular items never given to the judge, load under target.

    The order is breadth first (lowest load), then the judge's own permutation.

    One grouped pass over the campaign's counting assignments, hash-joined to the items:
    a correlated count per item costs ~190 ms at 20,000 items and 30,000 assignments on
    PostgreSQL, this ~30 ms. Plain SQL that SQLite and PostgreSQL share; run it through
    :func:`_execute_open_items`.
    """
    item, assignment, judges = Item._meta.db_table, Assignment._meta.db_table, Judge._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    rng = random.Random(judge.seed)
    a, b = rng.randrange(1, _PRIME), rng.randrange(_PRIME)
    not_rejected = f"AND i.id NOT IN ({', '.join(['%s'] * len(rejected))})" if rejected else ""
    sql = f"""
        SELECT {select}
        FROM {item} i
        LEFT JOIN (
            SELECT a.item_id, COUNT(*) AS n
            FROM {assignment} a JOIN {judges} j ON j.id = a.judge_id
            WHERE a.campaign_id = %s
              AND ((a.status = %s AND j.excluded = %s AND a.counted = %s)
                   OR (a.status = %s AND a.expires_at > %s))
            GROUP BY a.item_id
        ) l ON l.item_id = i.id
        WHERE i.campaign_id = %s AND i.gold = ''
          AND COALESCE(l.n, 0) < %s
          AND NOT EXISTS (SELECT 1 FROM {assignment} s WHERE s.item_id = i.id AND s.judge_id = %s)
          {not_rejected}
    """
    params = [
        campaign.pk,
        Assignment.Status.DONE,
        False,
        True,
        Assignment.Status.LEASED,
        adapt(now),
        campaign.pk,
        campaign.target_ratings,
        judge.pk,
        *rejected,
    ]
    order = f"ORDER BY COALESCE(l.n, 0), (CAST(i.rand AS BIGINT) * {a} + {b}) %% {_PRIME}, i.id"
    return sql, order, params


def _execute_open_items(sql: str, params: list):
    """Run an open-items query; one row back."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Hash joins whatever the statistics say: on rows not yet analysed (a campaign
            # just created, its first leases) the planner believes the load table holds one
            # row and re-aggregates it for every item in a nested loop (18 s at 20,000
            # items instead of 50 ms). LOCAL: until the end of this transaction only.
            cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute(sql, params)
        return cursor.fetchone()


def _lease_candidate(campaign: Campaign, judge: Judge, now: datetime) -> Item | None:
    rejected: list[int] = []
    # SQLite has no row locks (BEGIN IMMEDIATE serialises the whole transaction instead).
    lock = "FOR NO KEY UPDATE OF i SKIP LOCKED" if connection.vendor == "postgresql" else ""
    for _ in range(_MAX_TRIES):
        sql, order, params = _open_items_sql(campaign, judge, now, rejected, select="i.id")
        row = _execute_open_items(f"{sql} {order} LIMIT 1 {lock}", params)
        if row is None:
            return None
        # Counted again under the row lock: see the module docstring.
        if item_load(item_id=row[0], now=now) < campaign.target_ratings:
            return Item.objects.get(pk=row[0])
        rejected.append(row[0])
    return None


def judge_progress(*, judge: Judge, now: datetime | None = None) -> tuple[int, int]:
    """(tasks done, tasks expected in all) for the judge's progress bar."""
    now = now or timezone.now()
    campaign = judge.campaign
    counts = judge.assignments.aggregate(
        done=Count("pk", filter=Q(status=Assignment.Status.DONE)),
        live=Count("pk", filter=Q(status=Assignment.Status.LEASED, expires_at__gt=now)),
    )
    done = counts["done"]
    if campaign.judge_cap is not None:
        return done, max(campaign.judge_cap, done)
    sql, _order, params = _open_items_sql(campaign, judge, now, [], select="COUNT(*)")
    (open_items,) = _execute_open_items(sql, params)
    return done, done + counts["live"] + open_items
