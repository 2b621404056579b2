"""Forms of the campaign administration pages (researchers only)."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth import get_user_model

from metrics import selectors as catalog
from ratings.models.campaigns import IMAGE_SIDES, Campaign, ImageFit, Protocol
from ratings.presets import PRESET_PROTOCOLS, CriterionSpec, criterion_preset

PRESET_DEFAULTS = {
    "realism": ["rate"],
    "relevance": ["rate"],
    "creativity": ["rate"],
    "diversity": ["grid"],
}


class CampaignForm(forms.Form):
    """Everything a new campaign needs; criteria are presets plus one optional custom one."""

    name = forms.CharField(max_length=200, help_text="For researchers only")
    title = forms.CharField(
        max_length=200, initial="Image rating study", help_text="What judges see as the title"
    )
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}),
        required=False,
        help_text="Empty: written from the criteria you choose (their scales and keys)",
    )
    image_sets = forms.ModelMultipleChoiceField(
        queryset=None, widget=forms.CheckboxSelectMultiple, help_text="Generated sets to rate"
    )
    reference_set = forms.ModelChoiceField(
        queryset=None, required=False, help_text="Real photos used as realism gold items"
    )
    custom_name = forms.CharField(max_length=100, required=False, label="Custom criterion name")
    custom_question = forms.CharField(max_length=300, required=False, label="Its question")
    custom_protocol = forms.ChoiceField(
        choices=[(Protocol.RATE, "rate"), (Protocol.COMPARE, "compare"), (Protocol.GRID, "grid")],
        required=False,
        label="Its protocol",
    )
    custom_labels = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        label="Its scale labels",
        help_text="One per line, lowest first (a comparison uses A better / B better / same / both bad)",
    )
    target_ratings = forms.IntegerField(
        min_value=1, max_value=100, initial=3, help_text="Ratings per item"
    )
    judge_cap = forms.IntegerField(
        min_value=1, required=False, help_text="Most tasks per judge; empty: no cap"
    )
    exposure_seconds = forms.FloatField(
        min_value=0.1,
        required=False,
        help_text="Hide images after this many seconds; empty: no limit",
    )
    lease_minutes = forms.IntegerField(
        min_value=1, initial=15, help_text="An unanswered task returns to the pool after this"
    )
    grid_size = forms.IntegerField(min_value=4, max_value=9, initial=6)
    pairs_per_prompt = forms.IntegerField(
        min_value=1, max_value=50, initial=2, help_text="Per model pair"
    )
    gold_rate = forms.FloatField(
        min_value=0, max_value=0.5, initial=0.1, help_text="Share of tasks that are gold checks"
    )
    gold_items = forms.IntegerField(
        min_value=0, max_value=500, initial=12, help_text="Gold items of each kind"
    )
    gold_threshold = forms.FloatField(min_value=0, max_value=1, initial=0.7)
    min_seconds = forms.FloatField(
        min_value=0, initial=2.0, help_text="Flag judges whose median time is below"
    )
    allow_link = forms.BooleanField(
        required=False, initial=True, label="Open to anyone with the link (Prolific, crowd)"
    )
    prolific_only = forms.BooleanField(
        required=False,
        label="Prolific study: the link needs PROLIFIC_PID (one judge per participant)",
    )
    image_side = forms.TypedChoiceField(
        choices=[(str(s), f"{s} x {s} px") for s in IMAGE_SIDES],
        coerce=int,
        required=False,
        empty_value=768,
        initial="768",
        label="Judges' image size",
        help_text="Every image is shown at this one size, whatever its model's resolution",
    )
    image_fit = forms.ChoiceField(
        choices=ImageFit.choices,
        required=False,
        initial=ImageFit.PAD,
        label="Images of other shapes",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["image_sets"].queryset = catalog.image_sets_of_kind(kind="generated")
        self.fields["reference_set"].queryset = catalog.image_sets_of_kind(kind="reference")
        for key, protocols in PRESET_PROTOCOLS.items():
            self.fields[f"criterion_{key}"] = forms.MultipleChoiceField(
                choices=[(p, p) for p in protocols],
                widget=forms.CheckboxSelectMultiple,
                required=False,
                initial=PRESET_DEFAULTS[key],
                label=criterion_preset(key, protocols[0]).name,
            )

    def preset_fields(self):
        return [self[f"criterion_{key}"] for key in PRESET_PROTOCOLS]

    def criteria(self) -> list[CriterionSpec]:
        data = self.cleaned_data
        specs = [
            criterion_preset(key, protocol)
            for key in PRESET_PROTOCOLS
            for protocol in data.get(f"criterion_{key}", [])
        ]
        if data.get("custom_name"):
            protocol = data.get("custom_protocol") or Protocol.RATE
            labels = [
                line.strip() for line in data.get("custom_labels", "").splitlines() if line.strip()
            ]
            if protocol == Protocol.COMPARE and not labels:
                labels = list(criterion_preset("realism", Protocol.COMPARE).labels)
            specs.append(
                CriterionSpec(
                    key=re.sub(r"[^a-z0-9]+", "-", data["custom_name"].lower()).strip("-")[:40]
                    or "custom",
                    protocol=protocol,
                    name=data["custom_name"],
                    question=data.get("custom_question") or data["custom_name"],
                    labels=tuple(labels),
                    allow_cant_tell=protocol != Protocol.COMPARE,
                )
            )
        return specs

    def options(self) -> dict:
        data = self.cleaned_data
        exposure = data.get("exposure_seconds")
        return {
            "title": data["title"],
            "target_ratings": data["target_ratings"],
            "judge_cap": data.get("judge_cap"),
            "exposure_ms": round(exposure * 1000) if exposure else None,
            "lease_seconds": data["lease_minutes"] * 60,
            "grid_size": data["grid_size"],
            "pairs_per_prompt": data["pairs_per_prompt"],
            "gold_rate": data["gold_rate"],
            "gold_items": data["gold_items"],
            "gold_threshold": data["gold_threshold"],
            "min_seconds": data["min_seconds"],
            "allow_link": data.get("allow_link", False),
            "prolific_only": data.get("prolific_only", False),
            "image_side": data["image_side"],
            "image_fit": data.get("image_fit") or ImageFit.PAD,
        }

    def clean(self):
        data = super().clean()
        if data.get("prolific_only") and not data.get("allow_link"):
            self.add_error("prolific_only", "a Prolific study must be open to the link: tick both")
        return data

    @classmethod
    def initial_from(cls, campaign: Campaign) -> dict:
        """The form's values for an existing campaign (editing a draft)."""
        criteria = list(campaign.criteria.order_by("position", "pk"))
        initial = {
            "name": campaign.name,
            "title": campaign.title,
            "instructions": campaign.instructions,
            "image_sets": list(campaign.image_sets.values_list("pk", flat=True)),
            "reference_set": campaign.reference_set_id,
            "target_ratings": campaign.target_ratings,
            "judge_cap": campaign.judge_cap,
            "exposure_seconds": campaign.exposure_ms / 1000 if campaign.exposure_ms else None,
            "lease_minutes": max(1, campaign.lease_seconds // 60),
            **{
                f: getattr(campaign, f)
                for f in ("grid_size", "pairs_per_prompt", "gold_rate", "gold_items")
            },
            **{
                f: getattr(campaign, f)
                for f in ("gold_threshold", "min_seconds", "allow_link", "prolific_only")
            },
            "image_side": str(campaign.image_side),
            "image_fit": campaign.image_fit,
        }
        for key in PRESET_PROTOCOLS:
            initial[f"criterion_{key}"] = [c.protocol for c in criteria if c.key == key]
        custom = next((c for c in criteria if c.key not in PRESET_PROTOCOLS), None)
        if custom is not None:
            initial.update(
                custom_name=custom.name,
                custom_question=custom.question,
                custom_protocol=custom.protocol,
                custom_labels="\n".join(custom.labels),
            )
        return initial


class InviteForm(forms.Form):
    """Invite judge accounts by user name."""

    usernames = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="User names separated by spaces, commas or lines (create accounts in Admin)",
    )

    def clean_usernames(self):
        names = [n for n in re.split(r"[\s,;]+", self.cleaned_data["usernames"]) if n]
        if not names:
            raise forms.ValidationError("Give at least one user name.")
        User = get_user_model()
        users = list(User.objects.filter(**{f"{User.USERNAME_FIELD}__in": names}))
        missing = sorted(set(names) - {u.get_username() for u in users})
        if missing:
            raise forms.ValidationError(
                f"No account named {', '.join(missing)}: create it first "
                "(Admin → Users, or `python manage.py create_judge NAME`)."
            )
        return users
