"""Start the metric runs a report is missing: every applicable metric on every model's set."""

from __future__ import annotations

from dataclasses import dataclass, field

from metrics import selectors as catalog
from metrics.models import ImageSet
from metrics.services.recipes import RECIPES
from metrics.services.runs import RunRefused, metric_run_create
from ratings.models import Campaign

# Metric runs that are still going count as present: never start the same run twice.
ACTIVE = ["queued", "running", "done"]


@dataclass
class MissingRuns:
    """What :func:`report_missing_runs_start` did: runs started, and why others were not."""

    started: list[dict] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)


def report_missing_runs_start(*, campaign: Campaign, user=None) -> MissingRuns:
    """Create a run for each metric that has no done or active run on a model's set.

    Metrics that need a reference set use the campaign's (skipped without one); a metric
    the set cannot take (pair metrics without source images, CLIP score without prompts) is
    reported with the refusal's message instead.
    """
    sets = list(
        ImageSet.objects.filter(pk__in=campaign.image_sets.values("pk"), kind="generated")
        .select_related("model")
        .order_by("id")
    )
    present = {
        (set_id, metric)
        for set_id, metric in catalog.metric_runs_for_sets(
            set_ids=[s.pk for s in sets], statuses=ACTIVE
        ).values_list("image_set_id", "metric")
    }
    out = MissingRuns()
    reference = campaign.reference_set
    for image_set in sets:
        for name, recipe in RECIPES.items():
            if (image_set.pk, name) in present:
                continue
            entry = {"set": image_set.name, "metric": name, "label": recipe.label}
            if recipe.needs_reference and reference is None:
                out.refused.append({**entry, "reason": "the campaign has no reference set"})
                continue
            try:
                run = metric_run_create(
                    metric=name,
                    image_set=image_set,
                    reference_set=reference if recipe.needs_reference else None,
                    user=user,
                )
            except RunRefused as exc:
                out.refused.append({**entry, "reason": str(exc)})
            else:
                out.started.append({**entry, "run": run.pk})
    return out
