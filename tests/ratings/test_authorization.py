"""A judge reaches their own tasks only: not other judges', other campaigns', nor any staff page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.urls.resolvers import RoutePattern

from ratings.models import Campaign, ItemImage, Judge
from ratings.urls import judge_urlpatterns
from tests.ratings.factories import make_campaign, make_judge_user
from tests.ratings.test_judge_pages import answer_form, start, url

JUDGE_ROUTES = {f"ratings:{p.name}" for p in judge_urlpatterns} | {
    "home",
    "healthz",
    "login",
    "logout",
}


def _routes(patterns, prefix="", namespace=""):
    """(full route, view name) of every path() in the project, includes walked."""
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _routes(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p.pattern, RoutePattern):
            yield prefix + str(p.pattern), f"{namespace}{p.name}" if p.name else ""


def researcher_urls(campaign: Campaign, judge: Judge) -> list[str]:
    """Every URL of the project but the judges' and the public ones, filled with real ids.

    Walks the URL resolver, so the pages other parts add (the report, the metric runs, the
    REST API) are checked too without being listed here. Django admin is checked apart.
    """
    values = {"int": {"judge_pk": judge.pk}, "str": {"fmt": "csv"}}
    urls = []
    for route, name in _routes(get_resolver().url_patterns):
        if name in JUDGE_ROUTES or route.startswith(("admin/", "static/")) or not route:
            continue

        def fill(match):
            converter, arg = match.group(1) or "str", match.group(2)
            if converter == "int":
                return str(values["int"].get(arg, campaign.pk))
            return values["str"].get(arg, "x")

        urls.append("/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route))
    return urls


@pytest.fixture
def two_campaigns(catalog):
    sets, reference = catalog
    mine = make_campaign(sets, reference, name="mine", allow_link=False)
    other = make_campaign(sets, reference, name="other", allow_link=False)
    return mine, other


@pytest.fixture
def judge_client(two_campaigns):
    mine, _ = two_campaigns
    client = Client()
    client.force_login(make_judge_user("jude", mine))
    start(client, mine)
    return client


def test_a_judge_reaches_no_researchers_page(judge_client, two_campaigns):
    mine, _ = two_campaigns
    judge = Judge.objects.get(user__username="jude")
    targets = researcher_urls(mine, judge) + [
        reverse("admin:index"),
        reverse("admin:ratings_campaign_change", args=[mine.pk]),
        reverse("metrics:image_file", args=[ItemImage.objects.first().image_id]),
    ]
    names = " ".join(targets)
    for expected in ("/campaigns/", "/ratings.csv", "/catalog/", "/api/"):
        assert expected in names
    for target in targets:
        for method in (judge_client.get, judge_client.post):
            response = method(target)
            # Refused: sent to log in as staff, or told no (API), or no such page.
            assert response.status_code in (302, 401, 403, 404, 405), (target, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith(
                    (reverse("admin:login"), reverse("login"))
                ), target
    assert not Judge.objects.get(pk=judge.pk).excluded
    mine.refresh_from_db()
    assert mine.status == "open"


def test_a_judge_reaches_no_export_and_no_api(judge_client, two_campaigns):
    mine, _ = two_campaigns
    for name in ("export_csv", "export_json"):
        response = judge_client.get(reverse(f"ratings:{name}", args=[mine.pk]))
        assert response.status_code == 302 and b"zebragen" not in response.content
    assert judge_client.get("/api/image-sets/").status_code in (401, 403)


def test_a_judge_cannot_enter_a_campaign_they_are_not_invited_to(judge_client, two_campaigns):
    _, other = two_campaigns
    assert judge_client.get(url("entry", other)).status_code == 403
    for name in ("task", "instructions", "done"):
        assert judge_client.get(url(name, other))["Location"] == url("entry", other)
    assert judge_client.post(url("submit", other), {"token": "x"})["Location"] == url(
        "entry", other
    )


def test_a_judge_cannot_see_or_answer_another_judges_task(two_campaigns):
    mine, _ = two_campaigns
    owner, intruder = Client(), Client()
    owner.force_login(make_judge_user("owner", mine))
    intruder.force_login(make_judge_user("intruder", mine))
    page = start(owner, mine)
    start(intruder, mine)
    form = answer_form(page)
    assert intruder.post(url("submit", mine), form).status_code == 404
    token = re.search(r"/i/([\w-]+)/\d+\.jpg", page.content.decode()).group(1)
    image_url = reverse("ratings:image", args=[mine.key, token, mine.image_side])
    assert owner.get(image_url).status_code == 200
    assert intruder.get(image_url).status_code == 404
    assert Client().get(image_url).status_code == 404


def test_an_image_token_of_one_campaign_is_refused_under_another(two_campaigns):
    mine, other = two_campaigns
    user = make_judge_user("multi", mine)
    other.invited.add(user)
    client = Client()
    client.force_login(user)
    page = start(client, mine)
    start(client, other)
    token = re.search(r"/i/([\w-]+)/\d+\.jpg", page.content.decode()).group(1)
    assert (
        client.get(reverse("ratings:image", args=[other.key, token, other.image_side])).status_code
        == 404
    )


def test_anonymous_visitors_reach_no_researchers_page(two_campaigns):
    mine, _ = two_campaigns
    client = Client()
    judge = Judge.objects.create(campaign=mine, source="link", external_id="anon")
    for target in researcher_urls(mine, judge):
        response = client.get(target)
        assert response.status_code in (302, 401, 403, 404, 405), target
        assert "login" in response.get("Location", "login"), target
