"""Functions that read the ratings app's data (pages, exports, the report)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ratings.models import Assignment, Campaign, Criterion, Item, ItemImage, Judge, Rating


def item_criteria(*, item: Item, criteria: Iterable[Criterion]) -> list[Criterion]:
    """The criteria asked on ``item``: its protocol's, and about the prompt only when one is shown."""
    return [
        c
        for c in criteria
        if c.protocol == item.kind and (not c.shows_prompt or item.shown_prompt_id is not None)
    ]


@dataclass(frozen=True)
class TaskImage:
    # Only the opaque token: every judge's copy is the campaign's one square, so the page
    # carries no native width or height that could tell models (or real photos) apart.
    token: str


@dataclass(frozen=True)
class TaskView:
    """What a judge's task page shows: nothing in it names a model, a set or a file."""

    token: str
    kind: str
    images: list[TaskImage]
    prompt: str | None
    criteria: list[Criterion]
    exposure_ms: int | None
    max_side: int


def task_view(*, assignment: Assignment) -> TaskView:
    """The images (in the order drawn for this task), prompt and criteria of a lease."""
    item = Item.objects.select_related("shown_prompt").get(pk=assignment.item_id)
    campaign = assignment.campaign
    criteria = item_criteria(item=item, criteria=campaign.criteria.all())
    by_position = {
        ii.position: ii for ii in ItemImage.objects.filter(item=item).select_related("image")
    }
    order = assignment.display_order or sorted(by_position)
    images = [TaskImage(by_position[p].token) for p in order]
    show_prompt = any(c.shows_prompt for c in criteria)
    return TaskView(
        token=assignment.token,
        kind=item.kind,
        images=images,
        prompt=item.shown_prompt.text if show_prompt and item.shown_prompt else None,
        criteria=criteria,
        exposure_ms=campaign.exposure_ms,
        max_side=campaign.image_side,
    )


def item_image_for_judge(*, token: str, judge: Judge | None) -> ItemImage | None:
    """The image behind ``token`` if ``judge`` was given its item (any judge when None: staff)."""
    qs = ItemImage.objects.filter(token=token).select_related("image", "item")
    if judge is not None:
        qs = qs.filter(item__assignments__judge=judge)
    return qs.first()


def judge_campaigns(*, user) -> QuerySet[Campaign]:
    """The campaigns an account is invited to that are open or paused."""
    return Campaign.objects.filter(
        invited=user, status__in=[Campaign.Status.OPEN, Campaign.Status.PAUSED]
    ).order_by("-opened_at", "-pk")


# --- researchers' views --------------------------------------------------------------------


def campaign_list() -> QuerySet[Campaign]:
    """Every campaign with its item, judge and finished-task counts."""
    items = (
        Item.objects.filter(campaign=OuterRef("pk"), gold="")
        .order_by()
        .values("campaign")
        .annotate(n=Count("pk"))
        .values("n")
    )
    done = (
        Assignment.objects.filter(campaign=OuterRef("pk"), status=Assignment.Status.DONE)
        .order_by()
        .values("campaign")
        .annotate(n=Count("pk"))
        .values("n")
    )
    judges = (
        Judge.objects.filter(campaign=OuterRef("pk"))
        .order_by()
        .values("campaign")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Campaign.objects.annotate(
        item_count=Coalesce(Subquery(items, output_field=IntegerField()), Value(0)),
        done_count=Coalesce(Subquery(done, output_field=IntegerField()), Value(0)),
        judge_count=Coalesce(Subquery(judges, output_field=IntegerField()), Value(0)),
    ).order_by("-created_at")


@dataclass(frozen=True)
class CampaignSummary:
    items_by_kind: dict[str, int]
    gold_items: int
    slots: int  # regular items x target
    filled: int  # finished ratings that count (judges not excluded), capped per item
    live: int  # tasks on judges' screens, gold ones included
    done_tasks: int
    judges: int
    flagged: int
    excluded: int

    @property
    def total_items(self) -> int:
        """Every item, gold included (what ``create_campaign`` prints)."""
        return sum(self.items_by_kind.values()) + self.gold_items

    @property
    def percent(self) -> float:
        return 100.0 * self.filled / self.slots if self.slots else 0.0


def campaign_summary(*, campaign: Campaign, now: datetime | None = None) -> CampaignSummary:
    """How far a campaign is: slots filled, live leases, judges."""
    now = now or timezone.now()
    kinds = dict(
        Item.objects.filter(campaign=campaign, gold="")
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    per_item = item_progress(campaign=campaign, now=now).values_list("gold", "done", "live")
    target = campaign.target_ratings
    filled = live = 0
    for gold, d, lv in per_item:
        if not gold:  # gold items have no target: they fill no slot
            filled += min(d, target)
        live += lv
    judges = Judge.objects.filter(campaign=campaign).aggregate(
        n=Count("pk"),
        flagged=Count("pk", filter=Q(flagged=True)),
        excluded=Count("pk", filter=Q(excluded=True)),
    )
    return CampaignSummary(
        items_by_kind=kinds,
        gold_items=Item.objects.filter(campaign=campaign).exclude(gold="").count(),
        slots=sum(kinds.values()) * target,
        filled=filled,
        live=live,
        done_tasks=Assignment.objects.filter(
            campaign=campaign, status=Assignment.Status.DONE
        ).count(),
        judges=judges["n"],
        flagged=judges["flagged"],
        excluded=judges["excluded"],
    )


def item_progress(*, campaign: Campaign, now: datetime | None = None) -> QuerySet[Item]:
    """Items with ``done`` (finished, judges not excluded) and ``live`` (unexpired leases)."""
    now = now or timezone.now()

    def count(q: Q):
        sq = (
            Assignment.objects.filter(q, item=OuterRef("pk"))
            .order_by()
            .values("item")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(sq, output_field=IntegerField()), Value(0))

    return (
        Item.objects.filter(campaign=campaign)
        .annotate(
            done=count(Q(status=Assignment.Status.DONE, judge__excluded=False, counted=True)),
            live=count(Q(status=Assignment.Status.LEASED, expires_at__gt=now)),
        )
        .select_related("prompt")
        .order_by("done", "pk")
    )


def judge_table(*, campaign: Campaign, now: datetime | None = None) -> QuerySet[Judge]:
    """The campaign's judges with tasks done, gold accuracy, median time and flags."""
    now = now or timezone.now()
    return (
        Judge.objects.filter(campaign=campaign)
        .select_related("user")
        .annotate(
            done=Count("assignments", filter=Q(assignments__status=Assignment.Status.DONE)),
            live=Count(
                "assignments",
                filter=Q(
                    assignments__status=Assignment.Status.LEASED, assignments__expires_at__gt=now
                ),
            ),
        )
        .order_by("-flagged", "-done", "pk")
    )


# --- raw ratings (exports and the report) -----------------------------------------------------

EXPORT_FIELDS = (
    "rating_id",
    "campaign_id",
    "criterion",
    "protocol",
    "item_id",
    "item_kind",
    "gold",
    "gold_correct",
    "judge_id",
    "judge_source",
    "judge_external_id",
    "judge_account",
    "judge_flagged",
    "judge_excluded",
    "value",
    "cant_tell",
    "choice",
    "preferred_model",
    "image_ids",
    "image_sets",
    "models",
    "prompt",
    "shown_prompt",
    "shown_order",
    "time_ms",
    "submitted_at",
)


def item_images_by_item(*, campaign: Campaign) -> dict[int, list[ItemImage]]:
    """Every item's images (with set and model), in position order. Researchers only."""
    return _group_images(ItemImage.objects.filter(item__campaign=campaign))


def item_images_for(*, items: list[int]) -> dict[int, list[ItemImage]]:
    """The images (with set and model) of the given items, in position order. Researchers only."""
    return _group_images(ItemImage.objects.filter(item_id__in=items))


def _group_images(qs) -> dict[int, list[ItemImage]]:
    out: dict[int, list[ItemImage]] = defaultdict(list)
    for ii in qs.select_related("image__image_set__model").order_by("item_id", "position"):
        out[ii.item_id].append(ii)
    return out


def ratings_rows(*, campaign: Campaign) -> Iterator[dict]:
    """One dict per rating, model names revealed: for researchers' exports and the report.

    Lists (image_ids, image_sets, models, shown_order) follow the item's image
    positions, except ``shown_order``: the image ids from left to right as the judge
    saw them. ``choice`` is relative to positions: "first" is ``image_ids[0]``.
    """
    images = item_images_by_item(campaign=campaign)
    ratings = (
        Rating.objects.filter(item__campaign=campaign)
        .select_related(
            "criterion", "judge__user", "assignment", "item__prompt", "item__shown_prompt"
        )
        .order_by("pk")
    )
    for r in ratings.iterator(chunk_size=2000):
        imgs = images.get(r.item_id, [])
        models = [str(ii.image.image_set.model or "") for ii in imgs]
        by_pos = {ii.position: ii.image_id for ii in imgs}
        preferred = ""
        if r.choice in (Rating.Choice.FIRST, Rating.Choice.SECOND) and len(models) == 2:
            preferred = models[0 if r.choice == Rating.Choice.FIRST else 1]
        yield {
            "rating_id": r.pk,
            "campaign_id": campaign.pk,
            "criterion": r.criterion.key,
            "protocol": r.criterion.protocol,
            "item_id": r.item_id,
            "item_kind": r.item.kind,
            "gold": r.item.gold,
            "gold_correct": r.gold_correct,
            "judge_id": r.judge_id,
            "judge_source": r.judge.source,
            "judge_external_id": r.judge.external_id,
            "judge_account": r.judge.user.get_username() if r.judge.user_id else "",
            "judge_flagged": r.judge.flagged,
            "judge_excluded": r.judge.excluded,
            "value": r.value,
            "cant_tell": r.cant_tell,
            "choice": r.choice,
            "preferred_model": preferred,
            "image_ids": [ii.image_id for ii in imgs],
            "image_sets": [ii.image.image_set.name for ii in imgs],
            "models": models,
            "prompt": r.item.prompt.text if r.item.prompt else "",
            "shown_prompt": r.item.shown_prompt.text if r.item.shown_prompt else "",
            "shown_order": [by_pos[p] for p in r.assignment.display_order if p in by_pos],
            "time_ms": r.time_ms,
            "submitted_at": r.assignment.submitted_at.isoformat()
            if r.assignment.submitted_at
            else "",
        }


def campaign_description(*, campaign: Campaign) -> dict:
    """The campaign's settings and criteria, as exported with its ratings."""
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "target_ratings": campaign.target_ratings,
        "judge_cap": campaign.judge_cap,
        "exposure_ms": campaign.exposure_ms,
        "gold_rate": campaign.gold_rate,
        "gold_threshold": campaign.gold_threshold,
        "min_seconds": campaign.min_seconds,
        "seed": campaign.seed,
        "image_sets": list(campaign.image_sets.values_list("name", flat=True)),
        "reference_set": campaign.reference_set.name if campaign.reference_set else None,
        "criteria": [
            {
                "key": c.key,
                "protocol": c.protocol,
                "name": c.name,
                "question": c.question,
                "labels": c.labels,
                "allow_cant_tell": c.allow_cant_tell,
                "shows_prompt": c.shows_prompt,
            }
            for c in campaign.criteria.all()
        ],
    }
