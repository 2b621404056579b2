"""Starting a metric run: the form of an image set's page and the parameter parsing it
shares with the REST API and ``compute_metrics``.

Parameters are given as a JSON object (``{"subsets": 10}``) or as ``key=value``
pairs, one per line or separated by spaces or commas; a value is read as JSON when it
parses (``10`` -> int, ``true`` -> bool, ``null`` -> None), else kept as a string. They
are checked against the recipe's defaults: unknown keys, and values of another type
than the default's, are refused with a message naming what the metric takes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.db.models import Case, IntegerField, Value, When

from metrics.models import ImageSet, MetricRun
from metrics.services.recipes import RECIPES, Recipe, recipe_get

INPUT_LABELS = {
    "set": "the set alone",
    "set+reference": "the set against a reference set",
    "pairs": "each image against its source image",
}


def param_value(raw: str) -> Any:
    """``raw`` read as JSON when it parses (10 -> int, true -> bool), else the string itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def params_from_pairs(pairs: list[str]) -> dict[str, Any]:
    """``["k=10", "resize=clean"]`` -> ``{"k": 10, "resize": "clean"}``; ValueError if malformed."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"parameter {pair!r} is not of the form key=value")
        if key in out:
            raise ValueError(f"parameter {key!r} is given twice")
        out[key] = param_value(raw.strip())
    return out


def params_from_text(text: str) -> dict[str, Any]:
    """A JSON object, or ``key=value`` pairs separated by new lines, spaces or commas."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"the parameters are not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError("the parameters must be a JSON object")
        return data
    # Values are scalars, so plain separators do; a string holding spaces needs the JSON form.
    return params_from_pairs([p for p in re.split(r"[\s,]+", text) if p])


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return "a string"


def _fits(default: Any, value: Any) -> bool:
    if default is None:  # e.g. clip_model: None means the engine's default checkpoint
        return value is None or isinstance(value, str)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def params_check(recipe: Recipe, params: dict[str, Any] | None) -> dict[str, Any]:
    """``params`` if every key is one of the recipe's and of its default's type, else ValueError."""
    params = dict(params or {})
    known = ", ".join(f"{k}={json.dumps(v)}" for k, v in recipe.defaults.items()) or "none"
    unknown = sorted(set(params) - set(recipe.defaults))
    if unknown:
        raise ValueError(
            f"{recipe.label} has no parameter {', '.join(unknown)} (it takes: {known})"
        )
    for key, value in params.items():
        default = recipe.defaults[key]
        if not _fits(default, value):
            expected = "a string" if default is None else _type_name(default)
            raise ValueError(
                f"{key} must be {expected} (default {json.dumps(default)}), not {value!r}"
            )
    if "resize" in params:
        from metrics.engine.resize import check_mode

        check_mode(params["resize"])
    return params


def recipe_choices() -> list[tuple[str, str]]:
    """(name, label) of every metric, in the catalogue's order."""
    return [(name, recipe.label) for name, recipe in RECIPES.items()]


def recipe_rows() -> list[dict[str, Any]]:
    """What each metric reads and its default parameters, for the form's help table."""
    return [
        {
            "name": name,
            "label": r.label,
            "inputs": INPUT_LABELS.get(r.inputs, r.inputs),
            "texts": r.texts or "",
            "better": "higher" if r.higher_is_better else "lower",
            "defaults": " ".join(f"{k}={json.dumps(v)}" for k, v in r.defaults.items()),
        }
        for name, r in RECIPES.items()
    ]


def reference_choices(image_set: ImageSet):
    """Every other set, reference sets first, then by name."""
    return (
        ImageSet.objects.exclude(pk=image_set.pk)
        .annotate(
            reference_first=Case(
                When(kind=ImageSet.Kind.REFERENCE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("reference_first", "name")
    )


class _SetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ImageSet) -> str:
        return f"{obj.name} ({obj.kind})"


class RunStartForm(forms.Form):
    """Choose a metric, a reference set when it needs one, and optional parameters."""

    metric = forms.ChoiceField(choices=recipe_choices)
    reference_set = _SetChoiceField(
        queryset=ImageSet.objects.none(),
        required=False,
        empty_label="— none —",
        help_text="for metrics that compare the set with another one (FID, KID, precision...); "
        "for SSIM, MS-SSIM, PSNR and LPIPS: the set to pair with by file name (none: each "
        "image's source image)",
    )
    params = forms.CharField(
        required=False,
        label="Parameters",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "subsets=10 subset_size=500"}),
        help_text="optional: key=value pairs (one per line) or a JSON object; defaults below",
    )

    def __init__(self, *args, image_set: ImageSet, **kwargs):
        super().__init__(*args, **kwargs)
        self.image_set = image_set
        self.fields["reference_set"].queryset = reference_choices(image_set)

    def clean(self):
        data = super().clean()
        metric = data.get("metric")
        if not metric:
            return data
        recipe = recipe_get(metric)
        try:
            data["params"] = params_check(recipe, params_from_text(data.get("params") or ""))
        except ValueError as exc:
            self.add_error("params", str(exc))
        if not recipe.takes_reference:
            # A reference chosen for a metric that takes none is ignored, not an error.
            data["reference_set"] = None
        return data


class RunFilterForm(forms.Form):
    """The runs list's filters (GET); an empty field filters nothing."""

    status = forms.ChoiceField(
        choices=[("", "any status"), *MetricRun.Status.choices], required=False
    )
    metric = forms.ChoiceField(
        choices=lambda: [("", "any metric"), *recipe_choices()], required=False
    )
    image_set = _SetChoiceField(
        queryset=ImageSet.objects.order_by("name"),
        required=False,
        empty_label="any set",
        label="Set",
        help_text="as the set or as its reference",
    )
