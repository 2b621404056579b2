"""Creating campaigns, moving them through their states, and inviting judges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ratings.models import Campaign, Criterion
from ratings.models.campaigns import Protocol
from ratings.presets import (
    DEFAULT_INSTRUCTIONS,
    PRESET_PROTOCOLS,
    CriterionSpec,
    instructions_for,
)
from ratings.services.items import ItemsInvalid, items_generate

JUDGE_GROUP = "judge"

# Campaign fields a caller may set when creating one.
OPTION_FIELDS = (
    "title",
    "target_ratings",
    "judge_cap",
    "exposure_ms",
    "lease_seconds",
    "grid_size",
    "pairs_per_prompt",
    "gold_rate",
    "gold_items",
    "gold_threshold",
    "gold_min_answers",
    "min_seconds",
    "allow_link",
    "prolific_only",
    "image_side",
    "image_fit",
    "completion_code",
    "seed",
)


# What a CriterionSpec and a Criterion row share, besides the labels (a tuple / a list).
_SPEC_FIELDS = ("key", "protocol", "name", "question", "allow_cant_tell", "shows_prompt")


class CampaignInvalid(ValueError):
    """A campaign cannot be made or changed as asked; ``problems`` lists why and what to do."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def campaign_create(
    *,
    name: str,
    image_sets: Sequence,
    criteria: Sequence[CriterionSpec],
    instructions: str = "",
    reference_set=None,
    created_by=None,
    **options,
) -> Campaign:
    """Create a draft campaign with its criteria and items, all or nothing."""
    campaign = Campaign(created_by=created_by)
    return _campaign_fill(
        campaign, name, image_sets, criteria, instructions, reference_set, options
    )


def campaign_update(
    *,
    campaign: Campaign,
    name: str,
    image_sets: Sequence,
    criteria: Sequence[CriterionSpec],
    instructions: str = "",
    reference_set=None,
    **options,
) -> Campaign:
    """Change every setting of a draft; its criteria and items are made again, all or nothing."""
    with transaction.atomic():
        # Status guard under the row lock: a draft being opened right now is not edited.
        locked = Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        if locked is None or locked.status != Campaign.Status.DRAFT:
            raise CampaignInvalid(
                ["only a draft can be edited: duplicate this campaign as a new draft instead"]
            )
        for field in OPTION_FIELDS:
            setattr(locked, field, Campaign._meta.get_field(field).get_default())
        locked.completion_code, locked.seed = campaign.completion_code, campaign.seed
        return _campaign_fill(
            locked, name, image_sets, criteria, instructions, reference_set, options
        )


def campaign_delete(*, campaign: Campaign) -> None:
    """Delete a draft with everything it holds (never a campaign judges have seen)."""
    with transaction.atomic():
        deleted, _ = Campaign.objects.filter(
            pk=campaign.pk, status=Campaign.Status.DRAFT, opened_at__isnull=True
        ).delete()
    if not deleted:
        raise CampaignInvalid(
            [f"{campaign.name!r} is not a draft: close it instead (its ratings are kept)"]
        )


def campaign_duplicate(*, campaign: Campaign, created_by=None) -> Campaign:
    """A new draft with the same settings, sets and criteria (new key, code and items)."""
    base = f"{campaign.name} (copy)"
    name, n = base, 2
    while Campaign.objects.filter(name=name).exists():
        name, n = f"{base[:-1]} {n})", n + 1
    options = {
        f: getattr(campaign, f) for f in OPTION_FIELDS if f not in ("completion_code", "seed")
    }
    return campaign_create(
        name=name,
        image_sets=list(campaign.image_sets.all()),
        criteria=campaign_criteria_specs(campaign=campaign),
        instructions=campaign.instructions,
        reference_set=campaign.reference_set,
        created_by=created_by,
        **options,
    )


def campaign_criteria_specs(*, campaign: Campaign) -> list[CriterionSpec]:
    """A campaign's criteria as the specs that make them."""
    return [
        CriterionSpec(labels=tuple(c.labels), **{f: getattr(c, f) for f in _SPEC_FIELDS})
        for c in campaign.criteria.order_by("position", "pk")
    ]


def _campaign_fill(
    campaign: Campaign, name, image_sets, criteria, instructions, reference_set, options
) -> Campaign:
    """Set a (new or draft) campaign's fields, criteria and items through items_generate."""
    unknown = set(options) - set(OPTION_FIELDS)
    if unknown:
        raise TypeError(f"unknown campaign options: {', '.join(sorted(unknown))}")
    problems = _check_inputs(name, image_sets, criteria, reference_set, campaign.pk)
    if problems:
        raise CampaignInvalid(problems)
    instructions = instructions.strip()
    if not instructions or instructions == DEFAULT_INSTRUCTIONS:
        instructions = instructions_for(criteria)
    campaign.name = name.strip()
    campaign.instructions = instructions
    campaign.reference_set = reference_set
    for field, value in options.items():
        if value is not None or field in ("judge_cap", "exposure_ms"):
            setattr(campaign, field, value)
    try:
        campaign.full_clean()
    except ValidationError as exc:
        raise CampaignInvalid(_messages(exc)) from None
    try:
        with transaction.atomic():
            if campaign.pk is not None:
                campaign.items.all().delete()
                campaign.criteria.all().delete()
            campaign.save()
            campaign.image_sets.set(image_sets)
            Criterion.objects.bulk_create(
                [
                    Criterion(
                        campaign=campaign,
                        labels=list(spec.labels),
                        position=i,
                        **{f: getattr(spec, f) for f in _SPEC_FIELDS},
                    )
                    for i, spec in enumerate(criteria)
                ]
            )
            items_generate(campaign=campaign)
    except ItemsInvalid as exc:
        raise CampaignInvalid(exc.problems) from None
    return campaign


def _check_inputs(name, image_sets, criteria, reference_set, pk=None) -> list[str]:
    problems = []
    if not name or not name.strip():
        problems.append("give the campaign a name")
    elif Campaign.objects.filter(name=name.strip()).exclude(pk=pk).exists():
        problems.append(f"a campaign named {name.strip()!r} exists already: choose another name")
    if not image_sets:
        problems.append("choose at least one generated image set")
    for image_set in image_sets:
        if image_set.kind != "generated":
            problems.append(
                f"set {image_set.name!r} is a {image_set.kind} set: campaigns rate generated "
                "sets (give real photos as the reference set)"
            )
    if reference_set is not None and reference_set.kind != "reference":
        problems.append(f"set {reference_set.name!r} is not a reference set")
    if not criteria:
        problems.append("choose at least one criterion")
    seen = set()
    for spec in criteria:
        if spec.protocol not in Protocol.values:
            problems.append(f"criterion {spec.key!r}: unknown protocol {spec.protocol!r}")
            continue
        if (spec.key, spec.protocol) in seen:
            problems.append(f"criterion {spec.key!r} is asked twice under {spec.protocol}")
        seen.add((spec.key, spec.protocol))
        if spec.key in PRESET_PROTOCOLS and spec.protocol not in PRESET_PROTOCOLS[spec.key]:
            problems.append(f"{spec.key} cannot be asked under {spec.protocol}")
        if spec.protocol == Protocol.COMPARE:
            if len(spec.labels) != 4:
                problems.append(f"criterion {spec.key!r}: a comparison has four choice labels")
        elif not 2 <= len(spec.labels) <= 10 or not all(str(x).strip() for x in spec.labels):
            problems.append(
                f"criterion {spec.key!r}: give a label for each of 2 to 10 scale points"
            )
        if not spec.question.strip():
            problems.append(f"criterion {spec.key!r}: the question is empty")
    return problems


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [f"{field}: {m}" for field, msgs in exc.message_dict.items() for m in msgs]
    return list(exc.messages)


_TRANSITIONS = {
    Campaign.Status.OPEN: (Campaign.Status.DRAFT, Campaign.Status.PAUSED),
    Campaign.Status.PAUSED: (Campaign.Status.OPEN,),
    Campaign.Status.CLOSED: (Campaign.Status.DRAFT, Campaign.Status.OPEN, Campaign.Status.PAUSED),
}


def campaign_set_status(*, campaign: Campaign, status: str) -> Campaign:
    """Open, pause or close a campaign; refuse moves its current state does not allow."""
    if status not in _TRANSITIONS:
        raise CampaignInvalid([f"unknown state {status!r}: use open, paused or closed"])
    if status == Campaign.Status.OPEN and not campaign.items.exists():
        raise CampaignInvalid(["the campaign has no items: it cannot open"])
    now = timezone.now()
    extra = {"opened_at": now} if status == Campaign.Status.OPEN and not campaign.opened_at else {}
    if status == Campaign.Status.CLOSED:
        extra = {"closed_at": now}
    # Status guard: of two concurrent clicks, one moves the campaign and the other is told.
    moved = Campaign.objects.filter(pk=campaign.pk, status__in=_TRANSITIONS[status]).update(
        status=status, **extra
    )
    campaign.refresh_from_db()
    if not moved and campaign.status != status:
        raise CampaignInvalid([f"a {campaign.status} campaign cannot become {status}"])
    if moved and status == Campaign.Status.OPEN:
        _enqueue_images_warm(campaign.pk)
    return campaign


def _enqueue_images_warm(campaign_id: int) -> None:
    """Prepare the judges' image copies on a worker once the opening is committed."""
    from ratings.tasks import campaign_images_warm_task

    transaction.on_commit(
        lambda: campaign_images_warm_task.apply_async((campaign_id,), queue="cpu")
    )


def judge_role_grant(*, user) -> None:
    """Give an account the judge role."""
    group, _ = Group.objects.get_or_create(name=JUDGE_GROUP)
    user.groups.add(group)


def campaign_invite(*, campaign: Campaign, users: Iterable) -> int:
    """Invite accounts to judge a campaign (they get the judge role); return how many are new."""
    users = list(users)
    staff = [u.get_username() for u in users if u.is_staff]
    if staff:
        raise CampaignInvalid(
            [f"{', '.join(staff)}: researchers (staff) cannot judge; use a judge account"]
        )
    before = set(campaign.invited.values_list("pk", flat=True))
    with transaction.atomic():
        for user in users:
            judge_role_grant(user=user)
        campaign.invited.add(*users)
    return len({u.pk for u in users} - before)
