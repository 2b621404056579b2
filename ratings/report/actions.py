"""Start the metric runs a report is missing: the metrics that apply to each model's set.

What "apply" means, per set:

- metrics against a reference need the campaign's reference set;
- pair metrics (SSIM, PSNR, LPIPS, CLIP direction) need every image to have its source,
  CLIP score a prompt per image: a metric the set cannot take is left out quietly
  (``not_applicable``), not announced as a failure;
- FID needs more images than its 2,048 feature dimensions in both sets, or its
  covariance is singular and the run fails: below that it is not queued and the
  researcher is told to read KID (unbiased at any size) or to force FID, whose value
  then carries the caveat (``force_fid=True``);
- a metric whose latest run on the set failed is not queued again by itself: it is
  listed with its reason (``failed``) and retried only when asked (``retry_failed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metrics import selectors as catalog
from metrics.models import ImageSet
from metrics.services.recipes import RECIPES
from metrics.services.runs import RunRefused, metric_run_create
from ratings.models import Campaign

# Metric runs that are still going count as present: never start the same run twice.
ACTIVE = ["queued", "running", "done"]
# FID's Inception features are 2,048-d: a full-rank covariance needs more samples.
FID_MIN_IMAGES = 2049


@dataclass
class MissingRuns:
    """What :func:`report_missing_runs_start` did: runs started, and why others were not."""

    started: list[dict] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)  # could apply, not started: why
    failed: list[dict] = field(default_factory=list)  # the latest run failed: its reason
    not_applicable: list[dict] = field(default_factory=list)  # the set cannot take it


def report_missing_runs_start(
    *, campaign: Campaign, user=None, force_fid: bool = False, retry_failed: bool = False
) -> MissingRuns:
    """Create a run for each applicable metric that has no done or active run on a model's set."""
    sets = list(
        ImageSet.objects.filter(pk__in=campaign.image_sets.values("pk"), kind="generated")
        .select_related("model")
        .order_by("id")
    )
    runs = catalog.metric_runs_for_sets(set_ids=[s.pk for s in sets]).values_list(
        "image_set_id", "metric", "status", "error"
    )
    present, last_failure = set(), {}
    for set_id, metric, status, error in runs:  # newest first
        if status in ACTIVE:
            present.add((set_id, metric))
        elif status == "failed":
            last_failure.setdefault((set_id, metric), error)
    out = MissingRuns()
    reference = campaign.reference_set
    reference_size = reference.images.count() if reference is not None else 0
    for image_set in sets:
        size = image_set.images.count()
        lacks = _set_lacks(image_set)
        for name, recipe in RECIPES.items():
            if (image_set.pk, name) in present:
                continue
            entry = {"set": image_set.name, "metric": name, "label": recipe.label}
            if recipe.needs_reference and reference is None:
                out.not_applicable.append({**entry, "reason": "the campaign has no reference set"})
                continue
            need = "source images" if recipe.inputs == "pairs" else recipe.texts
            if need in lacks:
                out.not_applicable.append({**entry, "reason": f"the set's images have no {need}"})
                continue
            if (image_set.pk, name) in last_failure and not retry_failed:
                out.failed.append({**entry, "reason": last_failure[(image_set.pk, name)]})
                continue
            params = None
            if name == "fid" and min(size, reference_size) < FID_MIN_IMAGES:
                if not force_fid:
                    out.refused.append({**entry, "reason": _fid_advice(size, reference_size)})
                    continue
                params = {"force": True}
            try:
                run = metric_run_create(
                    metric=name,
                    image_set=image_set,
                    reference_set=reference if recipe.needs_reference else None,
                    params=params,
                    user=user,
                )
            except RunRefused as exc:
                out.refused.append({**entry, "reason": str(exc)})
            else:
                out.started.append({**entry, "run": run.pk})
    return out


def _set_lacks(image_set: ImageSet) -> set[str]:
    """What some image of the set lacks, of what metrics read: sources, prompts, captions."""
    images = image_set.images.all()
    lacks = set()
    if images.filter(source__isnull=True).exists():
        lacks.add("source images")
    if images.filter(prompt__isnull=True).exists():
        lacks.add("prompts")
    if images.filter(caption="").exists() or images.filter(source_caption="").exists():
        lacks.add("captions")
    return lacks


def _fid_advice(size: int, reference_size: int) -> str:
    return (
        f"FID needs at least {FID_MIN_IMAGES:,} images in each set ({size:,} here, "
        f"{reference_size:,} in the reference): read KID, which is unbiased at this size, or "
        "force FID knowing its value is biased upwards and unstable"
    )
