"""Turn a :class:`Report` into rows of formatted cells for the templates (page and HTML export).

Django templates cannot index matrices or format NaN sensibly, so every table is prepared
here once, as lists of strings; the page and the self-contained export share one partial.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ratings.report.model import GapTile, NearTile, RatedTile, Report, ScoreRow
from ratings.report.plots import plot_key
from ratings.report.present_format import fmt, interval, pvalue
from ratings.report.tables import (
    ALPHA,
    BRADLEY_TERRY,
    CORRELATIONS,
    JUDGES,
    PAIRWISE_AGREEMENT,
    SCORES,
    SUMMARY,
)


def _matrix(labels: list[str], cell: Callable[[int, int], str]) -> dict[str, Any]:
    n = len(labels)
    return {
        "labels": labels,
        "rows": [
            {"label": labels[i], "cells": ["" if i == j else cell(i, j) for j in range(n)]}
            for i in range(n)
        ],
    }


HEADS = {
    "score_head": SCORES.heads(),
    "bt_head": BRADLEY_TERRY.heads(),
    "alpha_head": ALPHA.heads(),
    "judge_head": JUDGES.heads(),
    "system_head": CORRELATIONS.heads(),
    "item_head": CORRELATIONS.heads(),
    "pair_head": PAIRWISE_AGREEMENT.heads(),
    "summary_head": SUMMARY.heads(),
}


def _by_mean(row: ScoreRow) -> float:
    return -(row.mean if row.mean is not None else -1e9)


def report_view(report: Report, *, thumb: Callable[[int], str | None]) -> dict[str, Any]:
    """Everything the report templates show, formatted; ``thumb(image_id)`` gives an img src."""
    labels = report.labels
    plots = report.plots
    scores = [
        {
            "name": s.name,
            "key": s.criterion,
            "plot": plots.get(plot_key("scores", s), ""),
            "rows": SCORES.page_rows(sorted(s.models, key=_by_mean)),
        }
        for s in report.scores
    ]
    pairwise = []
    for p in report.pairwise:
        sig = p.significance
        pairwise.append(
            {
                "name": p.name,
                "key": p.criterion,
                "note": p.note,
                "counts": f"{p.n_votes} votes, {p.n_ties} ties, {p.n_both_bad} both bad",
                "bt_plot": plots.get(plot_key("bt", p), ""),
                "heatmap": plots.get(plot_key("winrate", p), ""),
                "rows": BRADLEY_TERRY.page_rows(p.models),
                "groups": [g.labels for g in p.groups],
                "win_rate": _matrix(labels, lambda i, j, p=p: fmt(p.win_rate[i][j])),
                "sign_test": _matrix(labels, lambda i, j, s=sig: pvalue(s.p_holm[i][j])),
                "sign_method": sig.method,
            }
        )
    significance = [
        {
            "name": s.name,
            "method": s.method,
            "matrix": _matrix(
                labels,
                lambda i, j, s=s: (
                    f"{fmt(s.mean_diff[i][j])} (p={pvalue(s.p_wilcoxon_holm[i][j])})"
                    + ("*" if (s.p_wilcoxon_holm[i][j] or 1) < 0.05 else "")
                ),
            ),
        }
        for s in report.significance
    ]
    metrics = report.metrics
    metric_rows = []
    for row in metrics.rows:
        cells = []
        for cell in row.models:
            if cell is None:
                cells.append("–")
                continue
            text = fmt(cell.value, 3)
            if cell.low is not None:
                text += " " + interval(cell.low, cell.high, 3)
            if not cell.reference_matches:
                text += f" (vs {cell.reference_set})"
            cells.append(text)
        metric_rows.append({"label": row.label, "arrow": row.direction, "cells": cells})
    corr = report.correlations
    scatter = [{"key": key, "svg": svg} for key, svg in plots.items() if key.startswith("scatter-")]

    def tiles(items: list[Any], caption: Callable[[Any], str]) -> list[dict[str, Any]]:
        return [{"src": thumb(t.image), "id": t.image, "caption": caption(t)} for t in items]

    def rated_caption(t: RatedTile) -> str:
        return f"mean {fmt(t.mean)} (n={t.n})"

    def gap_caption(t: GapTile) -> str:
        return f"people {fmt(t.human)}, metric {fmt(t.metric)}"

    def near_caption(t: NearTile) -> str:
        return f"similarity {fmt(t.similarity, 3)}" + (" – possible copy" if t.memorised else "")

    galleries = report.galleries
    rated = [
        {
            "title": f"{g.label} – {g.criterion_name}",
            "best": tiles(g.best, rated_caption),
            "worst": tiles(g.worst, rated_caption),
        }
        for g in galleries.rated
    ]
    disagreements = [
        {
            "title": f"{g.criterion_name} vs {g.metric_label}",
            "metric_high": tiles(g.metric_higher_people_lower, gap_caption),
            "people_high": tiles(g.people_higher_metric_lower, gap_caption),
        }
        for g in galleries.disagreements
    ]
    closest = [
        {
            "title": f"{g.label} (vs {g.reference_set}, threshold {fmt(g.threshold)})",
            "tiles": tiles(g.images, near_caption),
        }
        for g in galleries.closest_to_reference
    ]
    missing = metrics.missing
    return {
        **HEADS,
        "meta": report.meta,
        "warnings": report.warnings,
        "labels": labels,
        "models": report.models,
        "scores": scores,
        "pairwise": pairwise,
        "significance": significance,
        "alpha_rows": ALPHA.page_rows(report.agreement.criteria),
        "judge_rows": JUDGES.page_rows(report.agreement.judges),
        "metric_rows": metric_rows,
        "missing": missing,
        "missing_waiting": [m for m in missing if not m.failed],
        "missing_failed": [m for m in missing if m.failed and not m.running],
        "system_rows": CORRELATIONS.page_rows(corr.system),
        "item_rows": CORRELATIONS.page_rows(corr.item),
        "pair_rows": PAIRWISE_AGREEMENT.page_rows(corr.pairwise),
        "summary_rows": SUMMARY.page_rows(corr.summary),
        "correlation_notes": corr.notes,
        "scatter": scatter,
        "rated": rated,
        "disagreements": disagreements,
        "closest": closest,
    }
