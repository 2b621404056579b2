"""Report pages, downloads and API: staff only; the switch; computing missing metrics."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.authtoken.models import Token

from metrics.models import MetricRun
from tests.ratings.report.helpers import build_campaign


@pytest.fixture
def built(db):
    return build_campaign(n_prompts=5, metrics={"fid": [40, 30, 20, 10]})


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("boss", password="pw", is_staff=True)


@pytest.fixture
def member(db):
    return get_user_model().objects.create_user("rater", password="pw")


def _urls(pk: int) -> list[str]:
    return [
        reverse("report:page", args=[pk]),
        reverse("report:export", args=[pk, "csv"]),
        reverse("report:export", args=[pk, "json"]),
        reverse("report:export", args=[pk, "html"]),
    ]


def test_anonymous_and_non_staff_users_cannot_see_the_report_or_its_exports(client, built, member):
    for url in _urls(built.campaign.pk):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(member)
    for url in _urls(built.campaign.pk):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]
    response = client.post(reverse("report:compute_missing", args=[built.campaign.pk]))
    assert response.status_code == 302 and MetricRun.objects.filter(status="queued").count() == 0


def test_staff_see_every_section_and_the_exclusion_switch(client, built, staff):
    client.force_login(staff)
    response = client.get(reverse("report:page", args=[built.campaign.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for section in ("scores", "significance", "agreement", "metrics", "correlations", "galleries"):
        assert f'id="section-{section}"' in html
    assert "include_flagged=1" in html and "<svg" in html
    switched = client.get(reverse("report:page", args=[built.campaign.pk]) + "?include_flagged=1")
    assert "All judges included" in switched.content.decode()


def test_staff_download_each_export(client, built, staff):
    client.force_login(staff)
    response = client.get(reverse("report:export", args=[built.campaign.pk, "csv"]))
    assert response["Content-Type"] == "application/zip"
    assert "README.txt" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert "attachment" in response["Content-Disposition"]
    assert client.get(reverse("report:export", args=[built.campaign.pk, "pdf"])).status_code == 404


def test_the_api_needs_a_staff_token(client, built, staff, member):
    url = reverse("api-campaign-report", args=[built.campaign.pk])
    assert client.get(url).status_code in (401, 403)
    member_token = Token.objects.create(user=member)
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {member_token.key}").status_code == 403
    token = Token.objects.create(user=staff)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    response = client.get(url, **auth)
    assert (
        response.status_code == 200
        and response.json()["meta"]["campaign"]["id"] == built.campaign.pk
    )
    csv = client.get(url + "?format=csv", **auth)
    assert csv.status_code == 200 and csv["Content-Type"] == "application/zip"
    html = client.get(url + "?format=html&include_flagged=1", **auth)
    assert html.status_code == 200 and b"section-correlations" in html.content
    bad = client.get(url + "?format=pdf", **auth)
    assert bad.status_code == 400 and "csv, json, html" in bad.json()["detail"]


def test_the_api_gives_only_the_sections_asked_for(client, built, staff):
    token = Token.objects.create(user=staff)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    url = reverse("api-campaign-report", args=[built.campaign.pk])
    full = client.get(url, **auth).json()
    some = client.get(url + "?sections=scores,correlations", **auth)
    assert some.status_code == 200
    assert set(some.json()) == {"scores", "correlations", "meta"}
    assert some.json()["scores"] == full["scores"]
    assert len(some.content) < len(client.get(url, **auth).content) / 2  # items left behind
    bad = client.get(url + "?sections=scores,itemz", **auth)
    assert bad.status_code == 400
    assert "'itemz'" in bad.json()["detail"] and "items" in bad.json()["detail"]
    wrong = client.get(url + "?format=csv&sections=scores", **auth)
    assert wrong.status_code == 400 and "json only" in wrong.json()["detail"]


def test_the_button_starts_the_missing_metric_runs_once(client, built, staff):
    client.force_login(staff)
    url = reverse("report:compute_missing", args=[built.campaign.pk])
    response = client.post(url, follow=True)
    assert response.status_code == 200
    started = MetricRun.objects.filter(status="queued", image_set__in=built.sets)
    # FID was done already; pair metrics are refused (no source images) with their reason.
    assert not started.filter(metric="fid").exists()
    assert started.filter(metric="clip_score").count() == 4
    # The reference set of this campaign is empty: KID is refused, and the page says why.
    assert not started.filter(metric="kid").exists()
    assert not started.filter(metric="ssim").exists()
    text = response.content.decode()
    assert "Started" in text and "source images" in text and "has no images" in text
    before = started.count()
    client.post(url)
    assert MetricRun.objects.filter(status="queued").count() == before


def test_a_metric_whose_latest_run_failed_is_shown_as_failed_with_its_reason(client, built, staff):
    gen = built.sets[0]
    MetricRun.objects.create(
        metric="clip_score", image_set=gen, status="failed",
        error="CLIP score needs a prompt for every image; 3 images of 'x' have none\nmore",
    )  # fmt: skip
    client.force_login(staff)
    text = client.get(reverse("report:page", args=[built.campaign.pk])).content.decode()
    failed_part = text.split("The latest run failed:", 1)[1].split("</ul>", 1)[0]
    assert "CLIP score" in failed_part and "needs a prompt for every image" in failed_part
    assert "more" not in failed_part  # the first line of the error only
    waiting = text.split("Not computed yet:", 1)[1].split("</p>", 1)[0]
    assert waiting.count("CLIP score") == len(built.sets) - 1  # the other models' sets
