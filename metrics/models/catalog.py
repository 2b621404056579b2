"""The image catalog: models under test, image sets, prompts and images."""

from __future__ import annotations

import hashlib

from django.db import models
from django.urls import reverse

from metrics.models.fields import SeedField


class ModelUnderTest(models.Model):
    """A generator and its version, e.g. ("sdxl-base", "1.0")."""

    name = models.CharField(max_length=200)
    version = models.CharField(max_length=100, blank=True, default="")
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "version"]
        verbose_name = "model under test"
        verbose_name_plural = "models under test"
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="model_name_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()

    def get_absolute_url(self) -> str:
        return reverse("metrics:model_detail", args=[self.pk])


class ImageSet(models.Model):
    """A named collection of images of one kind."""

    class Kind(models.TextChoices):
        GENERATED = "generated", "generated (by a model under test)"
        REFERENCE = "reference", "reference (real images)"
        SOURCE = "source", "source (inputs of image-to-image models)"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    model = models.ForeignKey(
        ModelUnderTest, null=True, blank=True, on_delete=models.PROTECT, related_name="image_sets"
    )
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # A generated set belongs to a model; real images and sources belong to none.
            models.CheckConstraint(
                condition=(models.Q(kind="generated", model__isnull=False))
                | (models.Q(kind__in=["reference", "source"], model__isnull=True)),
                name="imageset_model_iff_generated",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("metrics:set_detail", args=[self.pk])


class Prompt(models.Model):
    """A text prompt, shared by every image generated from it (across models)."""

    text = models.TextField()
    # Unique on the hash, not the text: long prompts exceed index limits.
    text_sha256 = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text if len(self.text) <= 80 else self.text[:77] + "..."

    def save(self, *args, **kwargs):
        self.text_sha256 = self.hash_text(self.text)
        super().save(*args, **kwargs)

    @staticmethod
    def hash_text(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Image(models.Model):
    """One image of a set; its bytes are stored once under their sha256 (``blob``)."""

    image_set = models.ForeignKey(ImageSet, on_delete=models.CASCADE, related_name="images")
    # Path of the file inside the imported folder or zip, e.g. "cats/0001.png".
    filename = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64, db_index=True)
    # Relative to MEDIA_ROOT: "images/ab/cd/<sha256>.<ext>".
    blob = models.CharField(max_length=200)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=10)
    mode = models.CharField(max_length=10, help_text="PIL mode as stored (decoded to RGB)")
    byte_size = models.PositiveBigIntegerField()
    prompt = models.ForeignKey(
        Prompt, null=True, blank=True, on_delete=models.PROTECT, related_name="images"
    )
    source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="derived",
        help_text="The input image of an image-to-image model",
    )
    caption = models.TextField(blank=True, default="")
    source_caption = models.TextField(blank=True, default="")
    seed = SeedField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image_set_id", "filename"]
        constraints = [
            models.UniqueConstraint(
                fields=["image_set", "filename"], name="image_filename_unique_in_set"
            ),
            models.UniqueConstraint(
                fields=["image_set", "sha256"], name="image_content_unique_in_set"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.image_set.name}/{self.filename}"

    def get_absolute_url(self) -> str:
        return reverse("metrics:image_detail", args=[self.pk])
