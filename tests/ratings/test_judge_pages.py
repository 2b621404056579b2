"""The judges' pages through Django's test client: links, Prolific, accounts, idempotent forms."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from ratings.models import Assignment, Judge, Rating
from ratings.services.campaigns import campaign_set_status
from tests.ratings.factories import make_campaign, make_judge_user


def url(name, campaign, **query):
    path = reverse(f"ratings:{name}", args=[campaign.key])
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def token_of(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)


def answer_form(response, value="4", choice="a") -> dict:
    """The POST a judge makes: every question of the page answered."""
    html = response.content.decode()
    data = {"token": token_of(response), "elapsed_ms": "2500"}
    for name in set(re.findall(r'name="(c\d+)"', html)):
        values = re.findall(rf'name="{name}" value="([^"]+)"', html)
        data[name] = choice if choice in values else value
    return data


def start(client, campaign, **query):
    """Open the link (the instructions and a Start button), press Start, get the first task."""
    entry = url("entry", campaign, **query)
    response = client.get(entry)
    assert response.status_code == 200
    assert f'action="{html.escape(entry)}"' in response.content.decode()
    assert client.post(entry)["Location"] == url("task", campaign)
    return client.get(url("task", campaign))


@pytest.fixture
def campaign(catalog):
    sets, reference = catalog
    return make_campaign(
        sets, reference,
        criteria=[("realism", "rate"), ("relevance", "rate"), ("realism", "compare"),
                  ("diversity", "grid")],
        allow_link=True, judge_cap=6, gold_rate=0.2, completion_code="DONE1234",
    )  # fmt: skip


def test_a_prolific_participant_goes_from_the_link_to_the_completion_code(client, campaign):
    page = start(client, campaign, PROLIFIC_PID="5f1a2b3c4d5e6f7a8b9c0d1e", STUDY_ID="st1",
                 SESSION_ID="se1")  # fmt: skip
    judge = Judge.objects.get()
    assert (judge.source, judge.external_id, judge.study_id, judge.session_id) == (
        "prolific", "5f1a2b3c4d5e6f7a8b9c0d1e", "st1", "se1",
    )  # fmt: skip
    for _ in range(6):
        assert page.status_code == 200 and page["Cache-Control"].startswith("max-age=0")
        response = client.post(url("submit", campaign), answer_form(page))
        assert response["Location"] == url("task", campaign)
        page = client.get(url("task", campaign))
    assert page["Location"] == url("done", campaign)
    done = client.get(url("done", campaign)).content.decode()
    assert "DONE1234" in done
    assert 'href="https://app.prolific.com/submissions/complete?cc=DONE1234"' in done
    assert Rating.objects.filter(judge=judge).values("assignment").distinct().count() == 6


def test_the_same_prolific_id_continues_as_the_same_judge_in_a_new_browser(client, campaign):
    from django.test import Client

    start(client, campaign, PROLIFIC_PID="abc123")
    first = Assignment.objects.get()
    other_browser = Client()
    other_browser.get(url("entry", campaign, PROLIFIC_PID="abc123"))
    page = other_browser.get(url("task", campaign))
    assert token_of(page) == first.token and Judge.objects.count() == 1


def test_a_plain_link_makes_an_anonymous_judge_kept_in_the_session(client, campaign):
    start(client, campaign)
    client.get(url("entry", campaign))
    (judge,) = Judge.objects.all()
    assert judge.source == "link" and len(judge.external_id) == 16
    assert "app.prolific.com" not in client.get(url("done", campaign)).content.decode()


def test_the_completion_code_is_not_given_before_the_tasks_are_done(client, campaign):
    start(client, campaign, PROLIFIC_PID="early")
    done = client.get(url("done", campaign)).content.decode()
    assert "DONE1234" not in done and "No tasks right now" in done


def test_a_double_submit_and_a_back_button_never_make_a_second_rating(client, campaign):
    page = start(client, campaign, PROLIFIC_PID="twice")
    form = answer_form(page)
    client.post(url("submit", campaign), form)
    count = Rating.objects.count()
    again = client.post(url("submit", campaign), form, follow=True)
    assert Rating.objects.count() == count
    assert "That answer was already saved." in again.content.decode()
    # Back to the task URL: the server hands out the current task, not the old one.
    assert token_of(client.get(url("task", campaign))) != form["token"]


def test_two_tabs_show_the_same_task(client, campaign):
    start(client, campaign, PROLIFIC_PID="tabs")
    one, two = client.get(url("task", campaign)), client.get(url("task", campaign))
    assert token_of(one) == token_of(two) and Assignment.objects.count() == 1


def test_an_incomplete_answer_shows_the_task_again_with_what_is_missing(client, campaign):
    page = start(client, campaign, PROLIFIC_PID="hasty")
    form = {"token": token_of(page)}
    response = client.post(url("submit", campaign), form)
    assert response.status_code == 400
    assert "answer this question" in response.content.decode()
    assert token_of(response) == form["token"] and not Rating.objects.exists()


def test_an_invited_account_judges_after_logging_in(client, campaign):
    user = make_judge_user("alice", campaign)
    client.force_login(user)
    assert client.get("/")["Location"] == reverse("ratings:judge_home")
    home = client.get(reverse("ratings:judge_home")).content.decode()
    assert url("entry", campaign) in home and campaign.name not in home
    page = start(client, campaign)
    client.post(url("submit", campaign), answer_form(page))
    assert Judge.objects.get(user=user).assignments.filter(status="done").count() == 1


def test_a_closed_link_refuses_strangers_and_uninvited_accounts(client, catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, allow_link=False)
    assert client.get(url("entry", campaign))["Location"].startswith(reverse("login"))
    client.force_login(make_judge_user("bob"))
    response = client.get(url("entry", campaign))
    assert response.status_code == 403 and "not invited" in response.content.decode()
    assert not Judge.objects.exists()


def test_researchers_are_told_they_cannot_judge(admin_client, campaign):
    response = admin_client.get(url("entry", campaign))
    assert response.status_code == 403 and "researchers cannot judge" in response.content.decode()


def test_a_paused_campaign_says_so_and_keeps_the_answer_being_given(client, campaign):
    page = start(client, campaign, PROLIFIC_PID="pause")
    campaign_set_status(campaign=campaign, status="paused")
    assert client.post(url("submit", campaign), answer_form(page)).status_code == 302
    assert Rating.objects.exists()
    after = client.get(url("task", campaign)).content.decode()
    assert "paused" in after and "Your answer was saved." in after


def test_a_malformed_prolific_id_is_refused_with_what_to_do(client, campaign):
    response = client.get(url("entry", campaign, PROLIFIC_PID="<script>"))
    assert response.status_code == 403
    assert "open the study again from Prolific" in response.content.decode()


def test_the_instructions_come_first_and_stay_available(client, campaign):
    visit = client.get(url("entry", campaign, PROLIFIC_PID="reader")).content.decode()
    assert "Before you start" in visit
    assert client.get(url("task", campaign))["Location"] == url("entry", campaign)
    page = start(client, campaign, PROLIFIC_PID="reader")
    html = page.content.decode()
    assert 'id="instructions-dialog"' in html and "Keyboard: press the number keys" in html
