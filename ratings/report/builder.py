"""Collect everything a campaign's report needs, in a fixed number of queries.

Whatever the number of ratings, the builder runs the same queries (campaign, criteria, sets,
judges, items, item images, ratings, image rows, metric runs, run items): each one a
``values_list`` turned into numpy columns, never a query per row. The statistics then work on
index arrays (model, prompt, judge, item, criterion: indices starting at 0), as
:mod:`ratings.stats` expects.

Only non-gold items of the campaign's generated sets are analysed; gold items (real photos,
mismatched prompts) measure judges, not models. A "model" of the report is one generated image
set of the campaign, labelled with its model under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metrics import selectors as catalog
from ratings.models import Campaign, Criterion, Item, ItemImage, Judge, Rating
from ratings.models.campaigns import Protocol
from ratings.stats import A_BETTER, B_BETTER, BOTH_BAD, TIE

# Rating.choice -> pairwise outcome code, with position 0 of the item as "A".
CHOICE_CODES = {"first": A_BETTER, "second": B_BETTER, "tie": TIE, "both_bad": BOTH_BAD}
NO_CHOICE = -1
DONE = "done"


@dataclass
class ReportData:
    """Everything the report is computed from (one entry per row, index columns as numpy)."""

    campaign: dict[str, Any]
    criteria: list[dict[str, Any]]
    models: list[dict[str, Any]]  # one per generated set of the campaign (index = model index)
    prompts: list[str]  # index = prompt index
    judges: list[dict[str, Any]]  # index = judge index
    # Items (non-gold), index = item index.
    item_id: np.ndarray
    item_kind: np.ndarray  # "rate" | "compare" | "grid"
    item_prompt: np.ndarray  # prompt index, -1 without prompt
    item_model: np.ndarray  # model of rate/grid items and of compare position 0; -1 unknown
    item_model_b: np.ndarray  # model of compare position 1; -1 otherwise
    item_image: np.ndarray  # image id of rate items (and compare position 0); -1 otherwise
    item_image_b: np.ndarray  # image id of compare position 1; -1 otherwise
    # Ratings on those items, every judge (the exclusion switch is a mask).
    rating_id: np.ndarray
    rating_judge: np.ndarray
    rating_item: np.ndarray
    rating_criterion: np.ndarray
    rating_value: np.ndarray  # float, NaN without a scale value
    rating_choice: np.ndarray  # outcome code, -1 without a choice
    rating_cant_tell: np.ndarray
    rating_time_ms: np.ndarray  # float, NaN when unknown
    # Metric runs: the latest done run per (set, metric), with per-image values.
    runs: list[dict[str, Any]] = field(default_factory=list)
    run_items: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    image_prompt: dict[int, int] = field(default_factory=dict)  # image id -> prompt index
    image_model: dict[int, int] = field(default_factory=dict)  # image id -> model index
    active_runs: list[dict[str, Any]] = field(default_factory=list)
    failed_runs: list[dict[str, Any]] = field(default_factory=list)

    def included(self, include_flagged: bool) -> np.ndarray:
        """Mask of the ratings used: every judge with the switch on, else unflagged, unexcluded."""
        if include_flagged or not self.judges:
            return np.ones(self.rating_id.size, dtype=bool)
        dropped = np.array([j["flagged"] or j["excluded"] for j in self.judges], dtype=bool)
        return ~dropped[self.rating_judge]


def _index(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions of ``values`` in the sorted id array ``ids``; -1 where absent."""
    if ids.size == 0:
        return np.full(values.shape, -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(ids, values), 0, ids.size - 1)
    return np.where(ids[pos] == values, pos, -1).astype(np.int64)


def _column(rows: list[tuple], k: int, dtype: Any) -> np.ndarray:
    return np.array([r[k] for r in rows], dtype=dtype) if rows else np.empty(0, dtype=dtype)


def _judge_label(user: str | None, source: str, external_id: str, pk: int) -> str:
    if user:
        return user
    return f"{source}:{external_id}" if external_id else f"{source}:{pk}"


def report_data_collect(*, campaign: Campaign) -> ReportData:
    """Read a campaign's ratings, items, judges and metric runs (a fixed number of queries)."""
    criteria = [
        {
            "id": c.pk,
            "key": c.key,
            "name": c.name,
            "protocol": c.protocol,
            "labels": list(c.labels),
            "points": len(c.labels) if c.protocol != Protocol.COMPARE else 0,
        }
        for c in Criterion.objects.filter(campaign=campaign).order_by("position", "id")
    ]
    set_rows = list(
        campaign.image_sets.order_by("id").values_list(
            "id", "name", "kind", "model__name", "model__version"
        )
    )
    models = [
        {
            "set_id": sid,
            "set_name": name,
            "kind": kind,
            "model_name": mname or name,
            "model_version": mversion or "",
            "label": f"{mname} {mversion}".strip() if mname else name,
        }
        for sid, name, kind, mname, mversion in set_rows
        if kind == "generated"
    ]
    # Two sets of one model: their labels must still differ on plots and in tables.
    labels = [m["label"] for m in models]
    for m in models:
        if labels.count(m["label"]) > 1:
            m["label"] = f"{m['label']} ({m['set_name']})"
    set_ids = np.array([m["set_id"] for m in models], dtype=np.int64)

    judge_rows = list(
        Judge.objects.filter(campaign=campaign)
        .order_by("id")
        .values_list(
            "id",
            "user__username",
            "source",
            "external_id",
            "flagged",
            "excluded",
            "gold_answered",
            "gold_correct",
            "median_ms",
            "flag_reasons",
            "excluded_reason",
        )
    )
    judges = [
        {
            "id": r[0],
            "label": _judge_label(r[1], r[2], r[3], r[0]),
            "flagged": bool(r[4]),
            "excluded": bool(r[5]),
            "gold_answered": r[6],
            "gold_correct": r[7],
            "median_ms": r[8],
            "flag_reasons": list(r[9] or []),
            "excluded_reason": r[10],
        }
        for r in judge_rows
    ]
    judge_ids = np.array([j["id"] for j in judges], dtype=np.int64)

    item_rows = list(
        Item.objects.filter(campaign=campaign, gold="")
        .order_by("id")
        .values_list("id", "kind", "prompt_id", "prompt__text")
    )
    item_id = _column(item_rows, 0, np.int64)
    prompt_ids = sorted({r[2] for r in item_rows if r[2] is not None})
    prompt_text = {r[2]: r[3] for r in item_rows if r[2] is not None}
    prompt_index = {pid: k for k, pid in enumerate(prompt_ids)}
    item_prompt = np.array(
        [prompt_index.get(r[2], -1) if r[2] is not None else -1 for r in item_rows],
        dtype=np.int64,
    )

    image_rows = list(
        ItemImage.objects.filter(item__campaign=campaign, item__gold="")
        .order_by("item_id", "position")
        .values_list("item_id", "position", "image_id", "image__image_set_id")
    )
    n_items = item_id.size
    item_model = np.full(n_items, -1, dtype=np.int64)
    item_model_b = np.full(n_items, -1, dtype=np.int64)
    item_image = np.full(n_items, -1, dtype=np.int64)
    item_image_b = np.full(n_items, -1, dtype=np.int64)
    if image_rows:
        ii_item = _index(item_id, _column(image_rows, 0, np.int64))
        ii_pos = _column(image_rows, 1, np.int64)
        ii_image = _column(image_rows, 2, np.int64)
        ii_model = _index(set_ids, _column(image_rows, 3, np.int64))
        first = (ii_pos == 0) & (ii_item >= 0)
        second = (ii_pos == 1) & (ii_item >= 0)
        item_model[ii_item[first]] = ii_model[first]
        item_image[ii_item[first]] = ii_image[first]
        item_model_b[ii_item[second]] = ii_model[second]
        item_image_b[ii_item[second]] = ii_image[second]
    item_kind = np.array([r[1] for r in item_rows], dtype=object)
    grid = item_kind == Protocol.GRID
    item_image_b[grid] = -1  # a grid has one model; its images are not a pair
    item_model_b[grid] = -1

    rating_rows = list(
        # Answers re-inclusion could not count (their item was full) stay out of results.
        Rating.objects.filter(item__campaign=campaign, item__gold="", assignment__counted=True)
        .order_by("id")
        .values_list(
            "id", "judge_id", "item_id", "criterion_id", "value", "choice", "cant_tell", "time_ms"
        )
    )
    criterion_ids = np.array([c["id"] for c in criteria], dtype=np.int64)
    choices = [r[5] for r in rating_rows]

    data = ReportData(
        campaign={
            "id": campaign.pk,
            "name": campaign.name,
            "status": campaign.status,
            "reference_set_id": campaign.reference_set_id,
        },
        criteria=criteria,
        models=models,
        prompts=[prompt_text[pid] for pid in prompt_ids],
        judges=judges,
        item_id=item_id,
        item_kind=item_kind,
        item_prompt=item_prompt,
        item_model=item_model,
        item_model_b=item_model_b,
        item_image=item_image,
        item_image_b=item_image_b,
        rating_id=_column(rating_rows, 0, np.int64),
        rating_judge=_index(judge_ids, _column(rating_rows, 1, np.int64)),
        rating_item=_index(item_id, _column(rating_rows, 2, np.int64)),
        rating_criterion=_index(criterion_ids, _column(rating_rows, 3, np.int64)),
        rating_value=_column(rating_rows, 4, np.float64),
        rating_choice=np.array([CHOICE_CODES.get(c, NO_CHOICE) for c in choices], dtype=np.int64),
        rating_cant_tell=_column(rating_rows, 6, bool),
        rating_time_ms=_column(rating_rows, 7, np.float64),
    )
    _collect_metrics(data, campaign, prompt_index)
    return data


def _set_sample_count(result: Any) -> int | None:
    """How many of the set's images a run used, from its stored result's ``n``.

    Engine results say ``n`` as a number (one set) or per side (``{"a": .., "b": ..}``,
    ``{"generated": .., "reference": ..}``): the model's set is the first side.
    """
    n = result.get("n") if isinstance(result, dict) else None
    if isinstance(n, dict) and n:
        n = n.get("generated", n.get("a", next(iter(n.values()))))
    return int(n) if isinstance(n, int | float) and not isinstance(n, bool) else None


def _collect_metrics(data: ReportData, campaign: Campaign, prompt_index: dict[int, int]) -> None:
    """The latest done run of each metric on each model's set, and its per-image values."""
    set_ids = [m["set_id"] for m in data.models]
    model_of_set = {m["set_id"]: k for k, m in enumerate(data.models)}
    reference_id = campaign.reference_set_id
    chosen: dict[tuple[int, str], Any] = {}
    active = []
    latest: set[tuple[int, str]] = set()  # (set, metric) whose newest run was seen
    failed = []
    for run in catalog.metric_runs_for_sets(set_ids=set_ids):
        newest = (run.image_set_id, run.metric) not in latest
        latest.add((run.image_set_id, run.metric))
        if run.status in ("queued", "running"):
            active.append({"id": run.pk, "metric": run.metric, "set_id": run.image_set_id})
            continue
        if run.status == "failed" and newest:
            # The newest attempt failed: the report says so (and why), not "not computed yet".
            reason = (run.error or "no reason recorded").strip().splitlines()[0][:300]
            failed.append(
                {"id": run.pk, "metric": run.metric, "set_id": run.image_set_id, "error": reason}
            )
        if run.status != DONE:
            continue
        key = (run.image_set_id, run.metric)
        current = chosen.get(key)
        # Newest first: keep the first seen, unless a later one is against the campaign's
        # reference set and the kept one is not (compare like with like).
        if current is None or (
            run.reference_set_id == reference_id != current.reference_set_id
            and reference_id is not None
        ):
            chosen[key] = run
    data.active_runs = active
    data.failed_runs = failed
    runs = []
    for (set_id, metric), run in sorted(chosen.items()):
        extra = run.result.get("extra", {}) if isinstance(run.result, dict) else {}
        runs.append(
            {
                "id": run.pk,
                "metric": metric,
                "set_id": set_id,
                "model": model_of_set[set_id],
                "reference_set_id": run.reference_set_id,
                "reference_set": run.reference_set.name if run.reference_set else "",
                "reference_matches": run.reference_set_id in (None, reference_id),
                "value": run.value,
                "std": run.std,
                "low": run.interval_low,
                "high": run.interval_high,
                "params": run.params,
                "provenance": run.provenance,
                "n_images": _set_sample_count(run.result),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "nearest": extra.get("nearest", {}) if metric == "novelty" else {},
                # Diversity per prompt (Vendi): prompt index -> value, for grid criteria.
                "per_prompt": {
                    prompt_index[int(k)]: v
                    for k, v in (extra.get("per_prompt") or {}).items()
                    if int(k) in prompt_index and v is not None
                },
            }
        )
    data.runs = runs
    values = catalog.run_item_values(run_ids=[r["id"] for r in runs])
    if values:
        run_col = _column(values, 0, np.int64)
        image_col = _column(values, 1, np.int64)
        value_col = _column(values, 2, np.float64)
        starts = np.flatnonzero(np.r_[True, run_col[1:] != run_col[:-1]])
        ends = np.r_[starts[1:], run_col.size]
        for lo, hi in zip(starts, ends, strict=True):
            data.run_items[int(run_col[lo])] = (image_col[lo:hi], value_col[lo:hi])
    for image_id, set_id, prompt_id, source_id in catalog.image_rows_in_sets(set_ids=set_ids):
        data.image_model[image_id] = model_of_set[set_id]
        if source_id is not None:
            data.models[model_of_set[set_id]]["paired"] = True
        # Prompts no item asks about are not resampled: those images count as prompt -1.
        data.image_prompt[image_id] = prompt_index.get(prompt_id, -1)
