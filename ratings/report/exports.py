"""Report exports: a CSV bundle (zip), JSON of the whole report, a self-contained HTML file.

Every export states what it was computed from (counts, exclusions, seed and resamples, metric
runs with their provenance) so the numbers can be reproduced:

- CSV zip: ``README.txt`` (provenance, what each file holds, the sign convention),
  ``ratings.csv`` (raw ratings with model names, every judge, an ``included`` column),
  ``items.csv`` (per-item aggregates), ``models.csv`` (per-model table: scores, Bradley-Terry,
  metrics), ``correlations.csv``, ``significance.csv``, ``agreement.csv``, ``judges.csv``,
  ``metrics.csv``, ``provenance.json``.
- JSON: the report dict (plots left out: they are drawn from it), ``allow_nan=False``.
- HTML: one file, CSS inline, plots as inline SVG, gallery thumbnails as ``data:`` URIs, no
  external URL: it opens offline.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import secrets
import zipfile
from typing import Any

import numpy as np
from django.conf import settings
from django.template.loader import render_to_string

from metrics import selectors as catalog
from metrics.engine.metadata import METRICS
from ratings.models import Campaign
from ratings.report.builder import report_data_collect
from ratings.report.present import report_view
from ratings.report.tables import ALPHA, CORRELATIONS, JUDGES, PAIRWISE_AGREEMENT, SUMMARY

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


def export_filename(report: dict[str, Any], fmt: str) -> str:
    """A file name naming the campaign and the switch, e.g. ``report-7-my-study.zip``."""
    name = "".join(ch if ch.isalnum() else "-" for ch in report["meta"]["campaign"]["name"])
    flagged = "-all-judges" if report["meta"]["include_flagged"] else ""
    return f"report-{report['meta']['campaign']['id']}-{name.strip('-')[:60]}{flagged}.{EXTENSIONS[fmt]}"


def report_json(report: dict[str, Any]) -> str:
    """The whole report as JSON (without the SVG plots, which are drawn from it)."""
    body = {k: v for k, v in report.items() if k != "plots"}
    return json.dumps(body, indent=1, allow_nan=False, default=str)


def report_html(report: dict[str, Any]) -> str:
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


def _csv(header: list[str], rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


def _raw_ratings(campaign: Campaign, report: dict[str, Any]) -> str:
    d = report_data_collect(campaign=campaign)
    labels = [m["label"] for m in d.models]
    criteria = [c["key"] for c in d.criteria]
    protocols = [c["protocol"] for c in d.criteria]
    choice_names = {0: "first", 1: "second", 2: "tie", 3: "both_bad"}
    dropped = np.array([j["flagged"] or j["excluded"] for j in d.judges] or [False], dtype=bool)
    include_all = report["meta"]["include_flagged"]

    def rows():
        for k in range(d.rating_id.size):
            i, j = d.rating_item[k], d.rating_judge[k]
            ma, mb, p = d.item_model[i], d.item_model_b[i], d.item_prompt[i]
            value = d.rating_value[k]
            t = d.rating_time_ms[k]
            yield [
                int(d.rating_id[k]), d.judges[j]["label"], int(d.item_id[i]), d.item_kind[i],
                criteria[d.rating_criterion[k]], protocols[d.rating_criterion[k]],
                labels[ma] if ma >= 0 else "",
                labels[mb] if mb >= 0 else "", int(d.item_image[i]) if d.item_image[i] >= 0 else "",
                int(d.item_image_b[i]) if d.item_image_b[i] >= 0 else "",
                d.prompts[p] if p >= 0 else "", "" if np.isnan(value) else int(value),
                choice_names.get(int(d.rating_choice[k]), ""), int(d.rating_cant_tell[k]),
                "" if np.isnan(t) else int(t), int(d.judges[j]["flagged"]),
                int(d.judges[j]["excluded"]), int(include_all or not dropped[j]),
            ]  # fmt: skip

    header = [
        "rating_id", "judge", "item_id", "kind", "criterion", "protocol", "model", "model_b", "image_id",
        "image_b_id", "prompt", "value", "choice", "cant_tell", "time_ms", "judge_flagged",
        "judge_excluded", "included",
    ]  # fmt: skip
    return _csv(header, rows())


def _models_table(report: dict[str, Any]) -> str:
    header = ["model", "set", "model_name", "model_version"]
    columns: list[list[Any]] = [
        [m["label"] for m in report["models"]],
        [m["set_name"] for m in report["models"]],
        [m["model_name"] for m in report["models"]],
        [m["model_version"] for m in report["models"]],
    ]
    for s in report["scores"]:
        for field in ("mean", "low", "high", "n_ratings", "n_judges"):
            header.append(f"{s['criterion']}_{field}")
            columns.append([r[field] for r in s["models"]])
    for p in report["pairwise"]:
        for field in ("score", "low", "high", "elo", "win_rate", "n_votes"):
            header.append(f"{p['criterion']}_bt_{field}")
            columns.append([r.get(field) for r in p["models"]])
    for row in report["metrics"]["rows"]:
        for field in ("value", "low", "high", "run"):
            header.append(f"{row['metric']}_{field}")
            columns.append([cell[field] if cell else None for cell in row["models"]])
    return _csv(header, zip(*columns, strict=True))


def _correlations(report: dict[str, Any]) -> str:
    rows = report["correlations"]["system"] + report["correlations"]["item"]
    return _csv(CORRELATIONS.csv_header(), CORRELATIONS.csv_rows(rows))


def _significance(report: dict[str, Any]) -> str:
    labels = [m["label"] for m in report["models"]]
    header = [
        "criterion", "protocol", "model_i", "model_j", "test", "effect", "effect_low", "effect_high",
        "n", "p", "p_holm",
    ]  # fmt: skip
    rows = []
    n = len(labels)
    for s in report["significance"]:
        for i in range(n):
            for j in range(i + 1, n):
                rows.append(
                    [
                        s["criterion"],
                        s["protocol"],
                        labels[i],
                        labels[j],
                        "wilcoxon",
                        s["mean_diff"][i][j],
                        s["low"][i][j],
                        s["high"][i][j],
                        s["n_prompts"][i][j],
                        s["p_wilcoxon"][i][j],
                        s["p_wilcoxon_holm"][i][j],
                    ]
                )
                rows.append([s["criterion"], s["protocol"], labels[i], labels[j], "paired_bootstrap",
                             s["mean_diff"][i][j], s["low"][i][j], s["high"][i][j],
                             s["n_prompts"][i][j], s["p_bootstrap"][i][j],
                             s["p_bootstrap_holm"][i][j]])  # fmt: skip
    for p in report["pairwise"]:
        sig = p["significance"]
        for i in range(n):
            for j in range(i + 1, n):
                # The sign test uses decisive votes only: n and the effect (i's share of them)
                # are of those votes, like its p-value.
                won, lost = sig["decisive_wins"][i][j], sig["decisive_wins"][j][i]
                n_decisive = int(won + lost)
                rows.append([p["criterion"], p["protocol"], labels[i], labels[j], "sign_test",
                             won / n_decisive if n_decisive else None, None, None, n_decisive,
                             sig["p_value"][i][j], sig["p_holm"][i][j]])  # fmt: skip
    return _csv(header, rows)


def _agreement(report: dict[str, Any]) -> str:
    return _csv(ALPHA.csv_header(), ALPHA.csv_rows(report["agreement"]["criteria"]))


def _judges(report: dict[str, Any]) -> str:
    return _csv(JUDGES.csv_header(), JUDGES.csv_rows(report["agreement"]["judges"]))


def _metrics(report: dict[str, Any]) -> str:
    header = ["metric", "label", "lower_is_better", "model", "run", "value", "std", "low", "high",
              "n_images", "reference_set", "finished_at", "params", "provenance"]  # fmt: skip
    labels = [m["label"] for m in report["models"]]
    rows = []
    for row in report["metrics"]["rows"]:
        for k, cell in enumerate(row["models"]):
            if cell is None:
                continue
            rows.append([row["metric"], row["label"], int(row["lower_is_better"]), labels[k],
                         cell["run"], cell["value"], cell["std"], cell["low"], cell["high"],
                         cell["n_images"], cell["reference_set"], cell["finished_at"],
                         json.dumps(cell["params"], sort_keys=True),
                         json.dumps(cell["provenance"], sort_keys=True, default=str)])  # fmt: skip
    return _csv(header, rows)


def _readme(report: dict[str, Any]) -> str:
    meta = report["meta"]
    c = meta["counts"]
    lines = [
        f"Comparison report of campaign {meta['campaign']['name']!r} (id {meta['campaign']['id']})",
        f"Generated {meta['generated_at']} by evalsite (report version {meta['report_version']}).",
        "",
        "Computed from:",
        f"  {c['models']} models, {c['prompts']} prompts, {c['items']} items (gold items not analysed),",
        f"  {c['judges']} judges, {c['ratings']} ratings: {c['ratings_used']} used, "
        f"{c['ratings_left_out']} left out; last rating id {c['last_rating_id']}.",
        f"  Exclusions: {meta['exclusions']['rule']}.",
    ]
    for j in meta["exclusions"]["judges_flagged_or_excluded"]:
        state = "excluded" if j["excluded"] else "flagged"
        lines.append(f"    {j['judge']}: {state} ({'; '.join(j['reasons']) or 'no reason given'})")
    b = meta["bootstrap"]
    runs = ", ".join(f"#{r['id']} {r['metric']}" for r in meta["metric_runs"])
    lines += [
        f"  Bootstrap: {b['n_resamples']} resamples of {b['clusters']}, seed {b['seed']}, "
        f"confidence {b['confidence']} (percentile intervals).",
        "  Metric runs: " + (runs or "none") + " (provenance of each in metrics.csv and "
        "provenance.json).",
        f"  Software: {json.dumps(meta['software'])}.",
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
        "  agreement.csv      Krippendorff's alpha per criterion with bootstrap interval",
        "  judges.csv         per judge: ratings, gold accuracy, median time, agreement with the others",
        "  metrics.csv        latest finished metric run per metric and model, with provenance",
        "  provenance.json    the report's metadata as JSON",
    ]
    for w in report["warnings"]:
        lines.append(f"Warning: {w}")
    return "\n".join(lines) + "\n"


def report_csv_zip(report: dict[str, Any], *, campaign: Campaign) -> bytes:
    """The CSV bundle as zip bytes."""
    items = report["items"]
    files = {
        "README.txt": _readme(report),
        "ratings.csv": _raw_ratings(campaign, report),
        "items.csv": _csv(items["columns"], items["rows"]),
        "models.csv": _models_table(report),
        "correlations.csv": _correlations(report),
        "metric_summary.csv": _csv(
            SUMMARY.csv_header(), SUMMARY.csv_rows(report["correlations"].get("summary", []))
        ),
        "pairwise_agreement.csv": _csv(
            PAIRWISE_AGREEMENT.csv_header(),
            PAIRWISE_AGREEMENT.csv_rows(report["correlations"].get("pairwise", [])),
        ),
        "significance.csv": _significance(report),
        "agreement.csv": _agreement(report),
        "judges.csv": _judges(report),
        "metrics.csv": _metrics(report),
        "provenance.json": json.dumps(report["meta"], indent=1, allow_nan=False, default=str),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def report_export(report: dict[str, Any], *, campaign: Campaign, fmt: str) -> bytes:
    """The report in one of :data:`FORMATS` as bytes."""
    if fmt not in FORMATS:
        raise ExportRefused(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return report_csv_zip(report, campaign=campaign)
    if fmt == "json":
        return report_json(report).encode("utf-8")
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
