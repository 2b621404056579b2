"""Researchers and judges in Chromium: drafts edited and deleted, studies closed at entry,
returning Prolific finishers, the sign-in lockout, and pages that keep the CSP."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from playwright.sync_api import expect

from ratings.models import Campaign
from ratings.services.campaigns import campaign_set_status
from tests.ratings.factories import make_campaign, make_catalog

pytestmark = pytest.mark.browser
PASSWORD = "a-long-researcher-password"


@pytest.fixture
def catalog(transactional_db, tmp_path):
    cache.clear()  # the per-client limits of campaign links live in the cache
    return make_catalog(tmp_path, models=2, prompts=1, per_prompt=4, references=3)


@pytest.fixture
def researcher(transactional_db):
    return get_user_model().objects.create_user(
        "researcher", password=PASSWORD, is_staff=True, is_superuser=True
    )


def csp_watch(page) -> list[str]:
    """Every Content-Security-Policy violation the page reports in its console."""
    violations: list[str] = []
    page.on(
        "console",
        lambda m: (
            violations.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text
            else None
        ),
    )
    return violations


def sign_in(page, live_server, path: str, password: str = PASSWORD):
    """Open a protected page: the app's own login page comes first, then the page."""
    page.goto(live_server.url + path)
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    page.fill("#id_username", "researcher")
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Log in')")


def test_a_researcher_edits_then_deletes_a_draft(page, live_server, catalog, researcher):
    sets, reference = catalog
    draft = make_campaign(sets, reference, name="typo nmae", open_=False)
    violations = csp_watch(page)
    sign_in(page, live_server, draft.get_absolute_url())
    expect(page.get_by_role("heading", name=re.compile("typo nmae"))).to_be_visible()
    page.click("#edit-draft")
    expect(page.get_by_role("heading", name="Edit draft typo nmae")).to_be_visible()
    page.fill("#id_name", "typo name")
    page.select_option("#id_image_side", "512")
    with page.expect_navigation():
        page.click("button:has-text('Save draft')")
    expect(page.get_by_text("Draft typo name saved; its items were remade.")).to_be_visible()
    draft.refresh_from_db()
    assert (draft.name, draft.image_side) == ("typo name", 512) and draft.items.exists()

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("#delete-draft")
    expect(page.get_by_text("Draft typo name deleted.")).to_be_visible()
    assert not Campaign.objects.exists()
    assert violations == []


def test_form_problems_show_at_the_top(page, live_server, catalog, researcher):
    sign_in(page, live_server, "/campaigns/new")
    page.fill("#id_name", "no sets chosen")  # the image sets are required
    with page.expect_navigation():
        page.click("button:has-text('Create draft')")
    box = page.locator("#form-errors")
    expect(box).to_be_visible()
    expect(box).to_contain_text("Image sets")
    assert box.bounding_box()["y"] < 400  # in the first screen, not halfway down


def test_a_closed_study_says_so_at_entry(page, live_server, catalog):
    sets, reference = catalog
    campaign = make_campaign(sets, reference, allow_link=True)
    campaign_set_status(campaign=campaign, status="closed")
    page.goto(f"{live_server.url}/s/{campaign.key}/?PROLIFIC_PID=newcomer")
    expect(page.get_by_text("This study is closed")).to_be_visible()
    expect(page.locator("#start-form")).to_have_count(0)


def test_a_returning_prolific_finisher_gets_the_code_after_the_close(browser, live_server, catalog):
    sets, reference = catalog
    campaign = make_campaign(
        sets, reference, allow_link=True, prolific_only=True, judge_cap=1,
        completion_code="BACK2024", gold_items=0,
    )  # fmt: skip
    entry = f"{live_server.url}/s/{campaign.key}/?PROLIFIC_PID=finisher01&STUDY_ID=s&SESSION_ID=x"
    first = browser.new_context()
    page = first.new_page()
    page.goto(entry)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.keyboard.press("4")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/done$"))
    expect(page.locator("#completion-code")).to_have_text("BACK2024")
    first.close()

    campaign_set_status(campaign=campaign, status="closed")
    later = browser.new_context()  # another day, another browser: no cookie
    page = later.new_page()
    page.goto(entry)
    expect(page.locator("#completion-code")).to_have_text("BACK2024")
    expect(page.locator("#prolific-return")).to_have_attribute(
        "href", "https://app.prolific.com/submissions/complete?cc=BACK2024"
    )
    later.close()


def test_repeated_wrong_passwords_lock_the_sign_in(page, live_server, researcher, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", "researcher")
        page.fill("#id_password", "wrong")
        with page.expect_navigation():
            page.click("button[type=submit]:has-text('Log in')")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", PASSWORD)  # right, but too late
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Log in')")
    expect(page.locator("#locked-out")).to_be_visible()
    page.goto(f"{live_server.url}/campaigns/")
    expect(page).to_have_url(re.compile(r"/login/"))


def test_pages_the_rater_and_the_exported_report_keep_the_csp(
    page, live_server, catalog, researcher
):
    sets, reference = catalog
    campaign = make_campaign(
        sets, reference, allow_link=True, criteria=[("realism", "rate"), ("realism", "compare")],
        exposure_ms=60_000, gold_items=0,
    )  # fmt: skip
    violations = csp_watch(page)
    # The judge's path: entry, task (images, keyboard script), done.
    response = page.goto(f"{live_server.url}/s/{campaign.key}/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#task-form")).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#instructions-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth)")
    sides = page.evaluate("Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight])")
    assert {tuple(s) for s in sides} == {(campaign.image_side, campaign.image_side)}
    assert page.locator("img[width], img[height]").count() == 0
    page.context.clear_cookies()
    # The researcher's pages.
    sign_in(page, live_server, "/campaigns/")
    for path in (
        campaign.get_absolute_url(),
        f"/campaigns/{campaign.pk}/items",
        "/campaigns/new",
        f"/campaigns/{campaign.pk}/report/",
        "/catalog/",
    ):
        page.goto(live_server.url + path)
        expect(page.locator("main")).to_be_visible()
    # The exported report, downloaded with the header the site sends it with, then shown.
    download = page.request.get(f"{live_server.url}/campaigns/{campaign.pk}/report/export.html")
    assert download.ok, download.status
    body, export_policy = download.body(), download.headers["content-security-policy"]
    assert "script-src 'self'" in export_policy
    page.route(
        "**/exported-report.html",
        lambda route: route.fulfill(
            status=200,
            body=body,
            headers={"Content-Type": "text/html", "Content-Security-Policy": export_policy},
        ),
    )
    page.goto(live_server.url + "/exported-report.html")
    expect(page.locator("body")).to_be_visible()
    assert violations == []
