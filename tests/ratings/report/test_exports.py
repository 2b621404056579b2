"""Exports of the report: CSV bundle, JSON, self-contained HTML, and the export_report command."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from ratings.models import Rating
from ratings.report import SECTIONS, report_build
from ratings.report.exports import ExportRefused, report_export, report_json
from tests.ratings.report.helpers import build_campaign

URL = re.compile(r"https?://", re.IGNORECASE)


@pytest.fixture
def built(db):
    rng = np.random.default_rng(1)
    return build_campaign(
        n_prompts=8,
        compare_scores=(-0.5, 0.0, 0.2, 0.5),
        metrics={"fid": [40, 30, 20, 10], "clip_score": [20, 21, 22, 23], "novelty": [0.5] * 4},
        per_image={
            "clip_score": rng.normal(22, 2, (4, 8)),
            "novelty": rng.uniform(0.4, 0.95, (4, 8)),
        },
        write_images=True,
    )


@pytest.fixture
def report(built):
    return report_build(campaign=built.campaign, n_resamples=100)


def test_the_csv_bundle_holds_every_table_and_states_its_provenance(built, report):
    data = report_export(report, campaign=built.campaign, fmt="csv")
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert set(zf.namelist()) == {
        "README.txt", "ratings.csv", "items.csv", "models.csv", "correlations.csv",
        "significance.csv", "agreement.csv", "judges.csv", "metrics.csv", "provenance.json",
        "metric_summary.csv", "pairwise_agreement.csv",
    }  # fmt: skip
    ratings = list(csv.DictReader(io.StringIO(zf.read("ratings.csv").decode())))
    assert len(ratings) == Rating.objects.filter(item__campaign=built.campaign).count()
    assert {r["model"] for r in ratings} == {m.label for m in report.models}
    models = list(csv.DictReader(io.StringIO(zf.read("models.csv").decode())))
    assert len(models) == 4 and "realism_mean" in models[0] and "fid_value" in models[0]
    readme = zf.read("README.txt").decode()
    assert "seed 0" in readme and "100 resamples" in readme and "negated" in readme
    assert "#" in readme  # metric run ids
    correlations = list(csv.DictReader(io.StringIO(zf.read("correlations.csv").decode())))
    assert {c["level"] for c in correlations} == {"system", "item"}


def test_the_json_export_round_trips(built, report):
    text = report_json(report)
    loaded = json.loads(text)
    expected = json.loads(json.dumps(report.to_json_dict(), default=str))
    assert loaded == expected
    assert loaded["meta"]["bootstrap"] == {
        "n_resamples": 100, "seed": 0, "confidence": 0.95, "clusters": "prompts",
    }  # fmt: skip


def test_the_html_export_shows_every_section_and_names_no_url(built, report):
    html = report_export(report, campaign=built.campaign, fmt="html").decode()
    for section in SECTIONS:
        assert f'id="section-{section}"' in html
    assert not URL.search(html)
    assert html.count("<svg") >= 5
    assert "data:image/jpeg;base64," in html  # gallery thumbnails inline


def test_an_unknown_format_is_refused_with_the_choices(built, report):
    with pytest.raises(ExportRefused, match="csv, json, html"):
        report_export(report, campaign=built.campaign, fmt="pdf")


def test_the_command_writes_each_format(built, tmp_path):
    for fmt, ext in (("csv", "zip"), ("json", "json"), ("html", "html")):
        target = tmp_path / f"out.{ext}"
        out = io.StringIO()
        call_command(
            "export_report", str(built.campaign.pk), "--format", fmt, "-o", str(target),
            "--resamples", "50", stdout=out,
        )  # fmt: skip
        assert target.stat().st_size > 1000
        assert "ratings used" in out.getvalue()
    assert json.loads((tmp_path / "out.json").read_text())["meta"]["bootstrap"]["n_resamples"] == 50


def test_the_command_finds_a_campaign_by_name_and_includes_flagged_judges(built, tmp_path):
    target = tmp_path / "all.json"
    call_command(
        "export_report", built.campaign.name, "--format", "json", "-o", str(target),
        "--include-flagged", "--resamples", "20", stdout=io.StringIO(),
    )  # fmt: skip
    assert json.loads(target.read_text())["meta"]["include_flagged"] is True


def test_the_command_explains_an_unknown_campaign_and_writes_nothing(built, tmp_path):
    target = tmp_path / "x.json"
    with pytest.raises(CommandError, match="No campaign with id or name 'nope'"):
        call_command("export_report", "nope", "--format", "json", "-o", str(target))
    assert not target.exists()


def test_the_command_refuses_a_missing_folder(built, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command(
            "export_report", str(built.campaign.pk), "--format", "csv",
            "-o", str(tmp_path / "no" / "x.zip"),
        )  # fmt: skip


def test_the_command_exits_non_zero_on_an_error(db, tmp_path, capsys):
    from django.core.management import execute_from_command_line

    # As from a shell: Django turns the CommandError into a message and exit status 1.
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(
            ["manage.py", "export_report", "999999", "--format", "json", "-o",
             str(tmp_path / "x.json")]
        )  # fmt: skip
    assert exited.value.code != 0
    assert "No campaign with id or name '999999'" in capsys.readouterr().err


def test_the_command_refuses_an_output_name_that_contradicts_the_format(built, tmp_path):
    target = tmp_path / "x.csv"
    with pytest.raises(CommandError, match=r"writes a zip of CSV files.*x\.zip"):
        call_command(
            "export_report", str(built.campaign.pk), "--format", "csv", "-o", str(target),
            "--resamples", "20",
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_the_exported_file_follows_the_umask(built, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        target = tmp_path / "r.json"
        call_command("export_report", str(built.campaign.pk), "--format", "json", "-o",
                     str(target), "--resamples", "20")  # fmt: skip
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


def _zip_csv(data: bytes, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(zipfile.ZipFile(io.BytesIO(data)).read(name).decode())))


def test_csv_exports_neutralise_formula_cells_and_name_each_criterion_protocol(built):
    from ratings.models import Criterion
    from ratings.report.exports import csv_cell

    Criterion.objects.filter(campaign=built.campaign, key="realism").update(name="=HYPERLINK(1)")
    built.sets[0].model.__class__.objects.filter(pk=built.sets[0].model_id).update(name="@SUM(A1)")
    report = report_build(campaign=built.campaign, n_resamples=30, use_cache=False)
    data = report_export(report, campaign=built.campaign, fmt="csv")
    ratings = _zip_csv(data, "ratings.csv")
    assert {r["protocol"] for r in ratings} == {"rate", "compare"}
    assert any(r["model"].startswith("'@SUM") for r in ratings)
    text = zipfile.ZipFile(io.BytesIO(data)).read("models.csv").decode()
    assert "\n@SUM" not in text and ",@SUM" not in text
    assert csv_cell("-0.5") == "'-0.5" and csv_cell(-0.5) == -0.5 and csv_cell(None) == ""


def test_sign_test_rows_count_decisive_votes_and_their_win_rate(built):
    votes = Rating.objects.filter(item__campaign=built.campaign, criterion__protocol="compare")
    Rating.objects.filter(pk__in=list(votes.values_list("pk", flat=True)[:40])).update(choice="tie")
    report = report_build(campaign=built.campaign, n_resamples=30, use_cache=False)
    data = report_export(report, campaign=built.campaign, fmt="csv")
    rows = [r for r in _zip_csv(data, "significance.csv") if r["test"] == "sign_test"]
    (pairwise,) = report.pairwise
    wins = np.array(pairwise.significance.decisive_wins)
    labels = [m.label for m in report.models]
    for row in rows:
        i, j = labels.index(row["model_i"]), labels.index(row["model_j"])
        n = wins[i, j] + wins[j, i]
        assert int(row["n"]) == n and float(row["effect"]) == pytest.approx(wins[i, j] / n)
        assert row["protocol"] == "compare"
    assert sum(int(r["n"]) for r in rows) < report.pairwise[0].n_votes  # ties left out


def test_metrics_csv_states_each_runs_real_number_of_images(db):
    from metrics.models import MetricRun

    built = build_campaign(n_prompts=5, metrics={"fid": [40, 30, 20, 10]}, name="counts")
    MetricRun.objects.filter(metric="fid").update(result={"n": {"a": 5000, "b": 10000}})
    report = report_build(campaign=built.campaign, n_resamples=20, use_cache=False)
    data = report_export(report, campaign=built.campaign, fmt="csv")
    assert {r["n_images"] for r in _zip_csv(data, "metrics.csv")} == {"5000"}
