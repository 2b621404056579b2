"""Report exports: a CSV bundle (zip), JSON of the whole report, a self-contained HTML file.

Every export states what it was computed from (counts, exclusions, seed and resamples, metric
runs with their provenance) so the numbers can be reproduced:

- CSV zip: ``README.txt`` (provenance, what each file holds, the sign convention),
  ``ratings.csv`` (raw ratings with model names, every judge, an ``included`` column),
  ``items.csv`` (per-item aggregates), ``models.csv`` (per-model table: scores, Bradley-Terry,
  metrics), ``correlations.csv``, ``significance.csv``, ``agreement.csv``, ``judges.csv``,
  ``metrics.csv``, ``metric_summary.csv``, ``pairwise_agreement.csv``, ``provenance.json``;
  each CSV file is a table of :mod:`ratings.report.tables` (header and rows from one spec).
- JSON: ``Report.to_json_dict()`` (plots left out: they are drawn from it), ``allow_nan=False``;
  ``Report.from_dict`` loads it back.
- HTML: one file, CSS inline, plots as inline SVG, gallery thumbnails as ``data:`` URIs, no
  external URL: it opens offline.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import secrets
import zipfile
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.conf import settings
from django.template.loader import render_to_string

from metrics import selectors as catalog
from metrics.engine.metadata import METRICS
from ratings.models import Campaign
from ratings.report import tables
from ratings.report.builder import CHOICE_CODES, report_data_collect
from ratings.report.model import Report
from ratings.report.present import report_view
from ratings.report.tables import MetricResult, PairTest, RatingRow, Table

FORMATS = ("csv", "json", "html")
CONTENT_TYPES = {
    "csv": "application/zip",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}
EXTENSIONS = {"csv": "zip", "json": "json", "html": "html"}
THUMB_SIDE = 256


class ExportRefused(ValueError):
    """An export that cannot be made as asked; the message says why and what to do."""


def export_filename(report: Report, fmt: str) -> str:
    """A file name naming the campaign and the switch, e.g. ``report-7-my-study.zip``."""
    campaign = report.meta.campaign
    name = "".join(ch if ch.isalnum() else "-" for ch in campaign.name)
    flagged = "-all-judges" if report.meta.include_flagged else ""
    return f"report-{campaign.id}-{name.strip('-')[:60]}{flagged}.{EXTENSIONS[fmt]}"


# What ``sections=`` may name: every part of the report but the plots (meta always comes along).
JSON_SECTIONS = tuple(f.name for f in dataclasses.fields(Report) if f.name not in ("plots", "meta"))


def json_sections(text: str | None) -> tuple[str, ...] | None:
    """The sections asked for (``"scores,correlations"``), None for all; refuses unknown names."""
    if text is None or not text.strip():
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in JSON_SECTIONS]
    if unknown:
        raise ExportRefused(
            f"unknown report section(s) {', '.join(map(repr, unknown))}: choose from "
            + ", ".join(JSON_SECTIONS)
        )
    return names


def report_json(report: Report, *, sections: tuple[str, ...] | None = None) -> str:
    """The report as JSON (without the SVG plots, which are drawn from it).

    ``sections`` keeps only those parts (and ``meta``, which says what they were computed from):
    the full report of a large campaign is mostly its per-item rows.
    """
    body = report.to_json_dict()
    if sections is not None:
        body = {k: v for k, v in body.items() if k in sections or k == "meta"}
    return json.dumps(body, indent=1, allow_nan=False, default=str)


def report_html(report: Report) -> str:
    """The self-contained HTML file: inline CSS, SVG plots and data-URI thumbnails."""
    thumbs: dict[int, str | None] = {}

    def thumb(image_id: int) -> str | None:
        if image_id not in thumbs:
            data = catalog.image_thumbnail_jpeg(image_id=image_id, max_side=THUMB_SIDE)
            thumbs[image_id] = (
                "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii") if data else None
            )
        return thumbs[image_id]

    return render_to_string("ratings/report/export.html", {"r": report_view(report, thumb=thumb)})


# OWASP "CSV injection": a cell starting with one of these is run as a formula by spreadsheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell made safe for spreadsheets: text starting with a formula character gets a ``'``.

    Numbers stay numbers (a negative correlation is data, not a formula); only strings are
    neutralised, as OWASP recommends (prefix a single quote).
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv(table: Table, rows: Iterable[Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in table.csv_header()])
    for row in table.csv_rows(rows):
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


_CHOICES = {code: name for name, code in CHOICE_CODES.items()}  # the stored choice names


def _raw_ratings(campaign: Campaign, report: Report) -> list[RatingRow]:
    """Every rating of the campaign (every judge), with model names: the rows of ratings.csv."""
    d = report_data_collect(campaign=campaign)
    labels = [m["label"] for m in d.models]
    dropped = np.array([j["flagged"] or j["excluded"] for j in d.judges] or [False], dtype=bool)
    include_all = report.meta.include_flagged
    rows = []
    for k in range(d.rating_id.size):
        i, j, c = d.rating_item[k], d.rating_judge[k], d.criteria[d.rating_criterion[k]]
        ma, mb, p = d.item_model[i], d.item_model_b[i], d.item_prompt[i]
        value, t = d.rating_value[k], d.rating_time_ms[k]
        rows.append(
            RatingRow(
                rating_id=int(d.rating_id[k]),
                judge=d.judges[j]["label"],
                item_id=int(d.item_id[i]),
                kind=str(d.item_kind[i]),
                criterion=c["key"],
                protocol=c["protocol"],
                model=labels[ma] if ma >= 0 else "",
                model_b=labels[mb] if mb >= 0 else "",
                image_id=int(d.item_image[i]) if d.item_image[i] >= 0 else None,
                image_b_id=int(d.item_image_b[i]) if d.item_image_b[i] >= 0 else None,
                prompt=d.prompts[p] if p >= 0 else "",
                value=None if np.isnan(value) else int(value),
                choice=_CHOICES.get(int(d.rating_choice[k]), ""),
                cant_tell=int(d.rating_cant_tell[k]),
                time_ms=None if np.isnan(t) else int(t),
                judge_flagged=int(d.judges[j]["flagged"]),
                judge_excluded=int(d.judges[j]["excluded"]),
                included=int(include_all or not dropped[j]),
            )
        )
    return rows


def _pair_tests(report: Report) -> list[PairTest]:
    """Every pair's tests: Wilcoxon and paired bootstrap per rating criterion, sign tests."""
    labels = report.labels
    pairs = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels))]
    rows = []
    for s in report.significance:
        for i, j in pairs:
            for test, p, holm in (
                ("wilcoxon", s.p_wilcoxon, s.p_wilcoxon_holm),
                ("paired_bootstrap", s.p_bootstrap, s.p_bootstrap_holm),
            ):
                rows.append(
                    PairTest(s.criterion, s.protocol, labels[i], labels[j], test,
                             effect=s.mean_diff[i][j], effect_low=s.low[i][j],
                             effect_high=s.high[i][j], n=s.n_prompts[i][j], p=p[i][j],
                             p_holm=holm[i][j])
                )  # fmt: skip
    for c in report.pairwise:
        sig = c.significance
        for i, j in pairs:
            # The sign test uses decisive votes only: n and the effect (i's share of them)
            # are of those votes, like its p-value.
            won, lost = sig.decisive_wins[i][j] or 0, sig.decisive_wins[j][i] or 0
            n = int(won + lost)
            rows.append(
                PairTest(c.criterion, c.protocol, labels[i], labels[j], "sign_test",
                         effect=won / n if n else None, effect_low=None, effect_high=None, n=n,
                         p=sig.p_value[i][j], p_holm=sig.p_holm[i][j])
            )  # fmt: skip
    return rows


def _metric_results(report: Report) -> list[MetricResult]:
    """One row per metric and model with a finished run: the rows of metrics.csv."""
    labels = report.labels
    return [
        MetricResult(row, labels[k], cell)
        for row in report.metrics.rows
        for k, cell in enumerate(row.models)
        if cell is not None
    ]


def _readme(report: Report) -> str:
    meta = report.meta
    c = meta.counts
    lines = [
        f"Comparison report of campaign {meta.campaign.name!r} (id {meta.campaign.id})",
        f"Generated {meta.generated_at} by evalsite (report version {meta.report_version}).",
        "",
        "Computed from:",
        f"  {c.models} models, {c.prompts} prompts, {c.items} items (gold items not analysed),",
        f"  {c.judges} judges, {c.ratings} ratings: {c.ratings_used} used, "
        f"{c.ratings_left_out} left out; last rating id {c.last_rating_id}.",
        f"  Exclusions: {meta.exclusions.rule}.",
    ]
    for j in meta.exclusions.judges_flagged_or_excluded:
        state = "excluded" if j.excluded else "flagged"
        lines.append(f"    {j.judge}: {state} ({'; '.join(j.reasons) or 'no reason given'})")
    b = meta.bootstrap
    runs = ", ".join(f"#{r.id} {r.metric}" for r in meta.metric_runs)
    lines += [
        f"  Bootstrap: {b.n_resamples} resamples of {b.clusters}, seed {b.seed}, "
        f"confidence {b.confidence} (percentile intervals).",
        "  Metric runs: " + (runs or "none") + " (provenance of each in metrics.csv and "
        "provenance.json).",
        f"  Software: {json.dumps(meta.software)}.",
        "",
        "Sign convention: lower-is-better metrics ("
        + ", ".join(sorted(i.label for i in METRICS.values() if i.lower_is_better))
        + ") are",
        "negated before correlating, so a positive correlation means the metric agrees with people.",
        "",
        "Files:",
        "  ratings.csv        raw ratings with model names (every judge; 'included' says which were used)",
        "                     choice 'first' means the item's image_id (model) was preferred over image_b_id (model_b)",
        "  items.csv          per item and criterion: number of ratings, mean rating, pairwise choice counts",
        "  models.csv         per model: mean rating and interval per criterion, Bradley-Terry scores, metrics",
        "  correlations.csv   system-level (per model) and item-level (per image) correlations",
        "  metric_summary.csv per criterion and metric: system-level Spearman and the item-level measure",
        "  pairwise_agreement.csv  comparison criteria: how often a per-image metric prefers the image",
        "                     judges preferred (decisive votes), with the judges' own ceiling",
        "  significance.csv   paired tests for every pair of models, Holm-adjusted p-values",
        "                     (sign tests for comparisons: n decisive votes, effect i's share of them)",
        "  agreement.csv      Krippendorff's alpha per criterion with bootstrap interval",
        "  judges.csv         per judge: ratings, gold accuracy, median time, agreement with the others",
        "  metrics.csv        latest finished metric run per metric and model, with provenance",
        "  provenance.json    the report's metadata as JSON",
    ]  # fmt: skip
    for w in report.warnings:
        lines.append(f"Warning: {w}")
    return "\n".join(lines) + "\n"


def report_csv_zip(report: Report, *, campaign: Campaign) -> bytes:
    """The CSV bundle as zip bytes: every CSV file a table of :mod:`ratings.report.tables`."""
    corr = report.correlations
    files = {
        "README.txt": _readme(report),
        "ratings.csv": _csv(tables.RATINGS, _raw_ratings(campaign, report)),
        "items.csv": _csv(tables.ITEMS, report.items),
        "models.csv": _csv(tables.models_table(report), range(len(report.models))),
        "correlations.csv": _csv(tables.CORRELATIONS, corr.system + corr.item),
        "metric_summary.csv": _csv(tables.SUMMARY, corr.summary),
        "pairwise_agreement.csv": _csv(tables.PAIRWISE_AGREEMENT, corr.pairwise),
        "significance.csv": _csv(tables.SIGNIFICANCE, _pair_tests(report)),
        "agreement.csv": _csv(tables.ALPHA, report.agreement.criteria),
        "judges.csv": _csv(tables.JUDGES, report.agreement.judges),
        "metrics.csv": _csv(tables.METRICS, _metric_results(report)),
        "provenance.json": json.dumps(
            report.meta.to_dict(), indent=1, allow_nan=False, default=str
        ),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def report_export(
    report: Report, *, campaign: Campaign, fmt: str, sections: tuple[str, ...] | None = None
) -> bytes:
    """The report in one of :data:`FORMATS` as bytes (``sections``: JSON only, see report_json)."""
    if fmt not in FORMATS:
        raise ExportRefused(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return report_csv_zip(report, campaign=campaign)
    if fmt == "json":
        return report_json(report, sections=sections).encode("utf-8")
    return report_html(report).encode("utf-8")


def export_link(body: bytes | str, *, filename: str, fmt: str) -> str | None:
    """On a bucket: store the export (``exports/<token>/<name>``) and return a presigned link.

    None on the local folder or with presigning off: the view sends the bytes itself. The
    collector removes stored exports once they are older than the grace period.
    """
    from metrics.storage import blob_url, blob_write, remote

    if not remote() or settings.EVALSITE_PRESIGN_SECONDS <= 0:
        return None
    relpath = f"exports/{secrets.token_hex(12)}/{filename}"
    blob_write(body if isinstance(body, bytes) else body.encode(), relpath)
    return blob_url(relpath, filename=filename, content_type=CONTENT_TYPES[fmt])
