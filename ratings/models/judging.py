"""Judges, the leases of items to them (assignments), and their ratings.

Invariants live in the database: one assignment per judge and item (never the same
item twice to a judge), one rating per judge, item and criterion (a double submit
cannot add a second one), and every rating holds exactly one kind of answer.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ratings.models.campaigns import Campaign, Criterion, Item, new_key, new_seed


class Judge(models.Model):
    """A participant of one campaign: an account, or an external person from a link."""

    class Source(models.TextChoices):
        ACCOUNT = "account", "account"
        PROLIFIC = "prolific", "Prolific"
        LINK = "link", "campaign link"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="judges")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rating_judges",
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(max_length=100, blank=True, default="")
    study_id = models.CharField(max_length=100, blank=True, default="")
    session_id = models.CharField(max_length=100, blank=True, default="")
    # Seeds this judge's item order and the place of gold items in it.
    seed = models.BigIntegerField(default=new_seed)
    # A keyed hash of the address the judge started from (never the address itself):
    # per-client limits on new judges and live leases of link campaigns count by it.
    client_key = models.CharField(max_length=64, blank=True, default="")
    instructions_seen_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    flagged = models.BooleanField(default=False)
    flag_reasons = models.JSONField(default=list, blank=True)
    gold_answered = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    median_ms = models.PositiveIntegerField(null=True, blank=True)

    excluded = models.BooleanField(default=False)
    excluded_reason = models.CharField(max_length=300, blank=True, default="")
    excluded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign_id", "id"]
        indexes = [models.Index(fields=["campaign", "client_key"], name="judge_campaign_client")]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "user"],
                condition=models.Q(user__isnull=False),
                name="judge_one_per_account",
            ),
            models.UniqueConstraint(
                fields=["campaign", "source", "external_id"],
                condition=~models.Q(external_id=""),
                name="judge_one_per_external_id",
            ),
            models.CheckConstraint(
                condition=(models.Q(source="account", user__isnull=False))
                | (~models.Q(source="account") & models.Q(user__isnull=True)),
                name="judge_account_iff_user",
            ),
        ]

    def __str__(self) -> str:
        return f"judge {self.pk} ({self.label})"

    @property
    def label(self) -> str:
        """How researchers recognise the judge."""
        if self.user_id:
            return self.user.get_username()
        return f"{self.source}:{self.external_id}"

    @property
    def median_seconds(self) -> float | None:
        return self.median_ms / 1000 if self.median_ms is not None else None

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answered if self.gold_answered else None


class Assignment(models.Model):
    """A lease of an item to a judge; done once answered."""

    class Status(models.TextChoices):
        LEASED = "leased", "leased"
        DONE = "done", "done"
        EXPIRED = "expired", "expired"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="assignments")
    # What the judge's form carries: not guessable, unlike a primary key.
    token = models.CharField(max_length=32, unique=True, default=new_key)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.LEASED)
    is_gold = models.BooleanField(default=False)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Item image positions from left to right (top-left first in a grid), drawn per task.
    display_order = models.JSONField(default=list)
    time_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time on task")
    # When the task's images were first sent: with an exposure limit, they are refused after.
    shown_at = models.DateTimeField(null=True, blank=True)
    # False for an answer that re-including its judge could not count: the item had
    # reached its target without it (the rating is kept, left out of counts and results).
    counted = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["judge", "item"], name="assignment_once_per_judge")
        ]
        indexes = [
            models.Index(fields=["item", "status"], name="assignment_item_status"),
            models.Index(fields=["judge", "status"], name="assignment_judge_status"),
            models.Index(fields=["campaign", "status"], name="assignment_campaign_status"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"


class Rating(models.Model):
    """One answer of one judge to one criterion of one item."""

    class Choice(models.TextChoices):
        # Relative to the item's image positions, never to the screen: position 0 is
        # "first" wherever the judge saw it (Assignment.display_order says where).
        FIRST = "first", "first image better"
        SECOND = "second", "second image better"
        TIE = "tie", "about the same"
        BOTH_BAD = "both_bad", "both bad"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="ratings")
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="ratings")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="ratings")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="ratings")
    value = models.PositiveSmallIntegerField(null=True, blank=True)
    choice = models.CharField(max_length=10, choices=Choice.choices, blank=True, default="")
    cant_tell = models.BooleanField(default=False)
    time_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time on task")
    # On gold items, whether the answer was within the known range (null elsewhere).
    gold_correct = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["judge", "item", "criterion"], name="rating_once_per_judge_item_criterion"
            ),
            models.CheckConstraint(
                condition=models.Q(value__isnull=True) | models.Q(value__gte=1, value__lte=10),
                name="rating_value_range",
            ),
            # Exactly one kind of answer: a scale value, a pairwise choice, or "can't tell".
            models.CheckConstraint(
                condition=(
                    models.Q(value__isnull=False, choice="", cant_tell=False)
                    | models.Q(value__isnull=True, cant_tell=False) & ~models.Q(choice="")
                    | models.Q(value__isnull=True, choice="", cant_tell=True)
                ),
                name="rating_one_answer",
            ),
        ]

    def __str__(self) -> str:
        return f"rating {self.pk}"


__all__ = ["Assignment", "Criterion", "Judge", "Rating"]
