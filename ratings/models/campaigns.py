"""Campaigns, their criteria, and the items judges answer.

An item is one task: one image (``rate``), two images of different models for the
same prompt (``compare``) or a grid of images of one model and one prompt (``grid``).
Judges never see catalog ids: every image of an item has its own random ``token``.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse


def new_key() -> str:
    """An unguessable id for URLs judges see (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def new_completion_code() -> str:
    """A completion code as crowd platforms expect it: 8 upper-case letters and digits."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by hand
    return "".join(secrets.choice(alphabet) for _ in range(8))


def new_seed() -> int:
    return secrets.randbits(31)


class Protocol(models.TextChoices):
    """How a criterion is asked: one image, a pair, or a grid."""

    RATE = "rate", "rate (one image)"
    COMPARE = "compare", "compare (two images, same prompt)"
    GRID = "grid", "grid (4 to 9 images, one model and prompt)"


class ImageFit(models.TextChoices):
    """How judges' copies of different shapes are brought to the campaign's one square box."""

    PAD = "pad", "fit inside the box, padded with grey (nothing cut off)"
    CROP = "crop", "fill the box, cropped at the centre"


# Sides of the square box judges' copies are made at (one per campaign).
IMAGE_SIDES = (512, 768, 1024)


class Campaign(models.Model):
    """A rating study: which sets, which criteria, how many ratings, and who may judge."""

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        OPEN = "open", "open"
        PAUSED = "paused", "paused"
        CLOSED = "closed", "closed"

    name = models.CharField(max_length=200, unique=True, help_text="Shown to researchers only")
    # Researchers' names often name models ("sdxl vs flux"); judges see this instead.
    title = models.CharField(
        max_length=200, default="Image rating study", help_text="What judges see as the title"
    )
    instructions = models.TextField(help_text="Shown before the first task and on demand")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    key = models.CharField(max_length=32, unique=True, default=new_key, editable=False)

    image_sets = models.ManyToManyField("metrics.ImageSet", related_name="+")
    reference_set = models.ForeignKey(
        "metrics.ImageSet",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Real photos used as realism gold items",
    )

    target_ratings = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    judge_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most tasks one judge does (gold included); empty: no cap"
    )
    exposure_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Images disappear after this many ms; empty: no limit"
    )
    lease_seconds = models.PositiveIntegerField(
        default=900, help_text="An unanswered task returns to the pool after this long"
    )
    grid_size = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(4), MaxValueValidator(9)]
    )
    pairs_per_prompt = models.PositiveSmallIntegerField(
        default=2, help_text="Compare pairs per prompt and model pair"
    )

    gold_rate = models.FloatField(
        default=0.1, help_text="Share of a judge's tasks that are gold items (0 to 0.5)"
    )
    gold_items = models.PositiveSmallIntegerField(
        default=12, help_text="Gold items made of each kind (realism, relevance)"
    )
    gold_threshold = models.FloatField(
        default=0.7, help_text="Judges under this gold accuracy are flagged"
    )
    gold_min_answers = models.PositiveSmallIntegerField(
        default=3, help_text="Gold answers needed before accuracy can flag a judge"
    )
    min_seconds = models.FloatField(
        default=2.0, help_text="Judges whose median time per task is below this are flagged"
    )

    allow_link = models.BooleanField(
        default=False, help_text="Anyone with the campaign link may judge (crowd workers)"
    )
    prolific_only = models.BooleanField(
        default=False,
        help_text="Prolific study: the link needs PROLIFIC_PID, one judge per participant id",
    )
    completion_code = models.CharField(max_length=40, default=new_completion_code)
    # Blinding by size: every judge's copy of every image of the campaign is this square,
    # whatever the model's native resolution, so size and shape tell nothing.
    image_side = models.PositiveSmallIntegerField(
        default=768,
        choices=[(s, f"{s} x {s} px") for s in IMAGE_SIDES],
        help_text="Judges see every image at this one size",
    )
    image_fit = models.CharField(max_length=10, choices=ImageFit.choices, default=ImageFit.PAD)
    invited = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="rating_campaigns"
    )
    seed = models.BigIntegerField(default=new_seed, help_text="Seeds item generation")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(target_ratings__gte=1), name="campaign_target_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(gold_rate__gte=0, gold_rate__lte=0.5),
                name="campaign_gold_rate_range",
            ),
            models.CheckConstraint(
                condition=models.Q(gold_threshold__gte=0, gold_threshold__lte=1),
                name="campaign_gold_threshold_range",
            ),
            models.CheckConstraint(
                condition=models.Q(grid_size__gte=4, grid_size__lte=9),
                name="campaign_grid_size_range",
            ),
            models.CheckConstraint(
                condition=models.Q(lease_seconds__gte=1), name="campaign_lease_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("ratings:campaign_detail", args=[self.pk])

    @property
    def accepts_answers(self) -> bool:
        """Open, or paused with tasks still on judges' screens."""
        return self.status in (self.Status.OPEN, self.Status.PAUSED)


class Criterion(models.Model):
    """One question of a campaign, asked under one protocol on a labelled scale."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="criteria")
    key = models.SlugField(max_length=40, help_text="realism, relevance, creativity, diversity...")
    protocol = models.CharField(max_length=10, choices=Protocol.choices)
    name = models.CharField(max_length=100)
    question = models.CharField(max_length=300)
    # rate/grid: one label per scale point, lowest first; compare: the four choices' labels.
    labels = models.JSONField()
    allow_cant_tell = models.BooleanField(default=True)
    shows_prompt = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["campaign_id", "position", "id"]
        verbose_name_plural = "criteria"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "key", "protocol"], name="criterion_key_protocol_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.protocol})"

    @property
    def points(self) -> int:
        """Number of points of a rate/grid scale."""
        return len(self.labels)


class Item(models.Model):
    """One task: the images a judge sees together, and the prompt shown with them."""

    class Gold(models.TextChoices):
        NONE = "", "not gold"
        REALISM = "realism", "realism control (a real photo)"
        RELEVANCE = "relevance", "relevance control (a mismatched prompt)"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=10, choices=Protocol.choices)
    # The prompt the images were made from, and the one judges see (they differ for
    # relevance gold items only).
    prompt = models.ForeignKey(
        "metrics.Prompt", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shown_prompt = models.ForeignKey(
        "metrics.Prompt", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    gold = models.CharField(max_length=10, choices=Gold.choices, blank=True, default="")
    # {criterion key: [lowest, highest]} answers counted correct on a gold item.
    gold_answer = models.JSONField(default=dict, blank=True)
    # Random key: a judge's item order is a permutation of it (see services.assignment).
    rand = models.IntegerField(default=new_seed)

    class Meta:
        ordering = ["campaign_id", "id"]
        indexes = [models.Index(fields=["campaign", "gold", "kind"], name="item_campaign_gold")]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.kind}{', gold' if self.gold else ''})"


class ItemImage(models.Model):
    """An image of an item, served to judges under ``token`` only."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="images")
    image = models.ForeignKey("metrics.Image", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()
    token = models.CharField(max_length=32, unique=True, default=new_key)

    class Meta:
        ordering = ["item_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["item", "position"], name="itemimage_position_unique")
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} image {self.position}"
