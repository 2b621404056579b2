"""Link campaigns resist slot hogging; exposure limits and re-inclusion are kept by the server."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ratings.models import Assignment, Judge
from ratings.services.assignment import TasksWithheld, task_next
from ratings.services.quality import judge_exclude, judge_include
from ratings.services.submit import rating_submit
from tests.ratings.factories import answers_for, make_campaign, make_catalog, make_link_judge


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def url(name, campaign, **query):
    path = reverse(f"ratings:{name}", args=[campaign.key])
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_a_visit_makes_no_judge_only_start_does(client, catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, allow_link=True)
    for _ in range(5):
        assert client.get(url("entry", campaign)).status_code == 200
    assert not Judge.objects.exists()
    client.post(url("entry", campaign))
    assert Judge.objects.count() == 1


@pytest.mark.parametrize("state", ["paused", "closed"])
def test_a_paused_or_closed_study_says_so_at_entry_without_a_start_button(client, catalog, state):
    from ratings.services.campaigns import campaign_set_status

    sets, _ = catalog
    campaign = make_campaign(sets, allow_link=True)
    campaign_set_status(campaign=campaign, status=state)
    html = client.get(url("entry", campaign, PROLIFIC_PID="newcomer")).content.decode()
    assert state in html and "start-form" not in html and not Judge.objects.exists()
    assert client.post(url("entry", campaign)).status_code == 200 and not Judge.objects.exists()


def test_a_prolific_study_needs_the_participant_id(client, catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, allow_link=True, prolific_only=True)
    response = client.get(url("entry", campaign))
    assert response.status_code == 403 and "Prolific" in response.content.decode()
    client.post(url("entry", campaign, PROLIFIC_PID="abc"))
    Client().post(url("entry", campaign, PROLIFIC_PID="abc"))
    assert Judge.objects.get().external_id == "abc"


def test_a_returning_prolific_finisher_gets_the_code_after_the_close(client, catalog):
    from ratings.services.campaigns import campaign_set_status

    sets, _ = catalog
    campaign = make_campaign(sets, allow_link=True, completion_code="CODE7777")
    client.post(url("entry", campaign, PROLIFIC_PID="fin"))
    page = client.get(url("task", campaign)).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    judge = Judge.objects.get()
    criteria = campaign.criteria.all()
    rating_submit(judge=judge, token=token, answers=answers_for(criteria))
    campaign_set_status(campaign=campaign, status="closed")
    again = Client().get(url("entry", campaign, PROLIFIC_PID="fin"), follow=True)
    assert "CODE7777" in again.content.decode()
    stranger = Client().get(url("entry", campaign, PROLIFIC_PID="late")).content.decode()
    assert "CODE7777" not in stranger and "closed" in stranger


def test_first_leases_are_short_and_idle_judges_stop_getting_tasks(catalog, settings):
    settings.EVALSITE_FIRST_LEASE_SECONDS = 60
    sets, _ = catalog
    campaign = make_campaign(sets, lease_seconds=900)
    judge = make_link_judge(campaign, "idle")
    now = timezone.now()
    first = task_next(judge=judge, now=now)
    assert first.expires_at - first.leased_at == timedelta(seconds=60)
    second = task_next(judge=judge, now=now + timedelta(seconds=61))
    assert second.item_id != first.item_id
    with pytest.raises(TasksWithheld, match="timed out"):
        task_next(judge=judge, now=now + timedelta(seconds=122))
    worker = make_link_judge(campaign, "worker")
    lease = task_next(judge=worker, now=now)
    rating_submit(
        judge=worker, token=lease.token, answers=answers_for(campaign.criteria.all()), now=now
    )
    later = task_next(judge=worker, now=now)
    assert later.expires_at - later.leased_at == timedelta(seconds=900)


def _hog(campaign, clients: int, address: str, results: list, lock, concurrent_db=None):
    def one():
        def run():
            browser = Client(REMOTE_ADDR=address)  # no cookie carried over: a fresh session
            browser.get(url("entry", campaign))
            browser.post(url("entry", campaign))
            page = browser.get(url("task", campaign))
            with lock:
                results.append(page.status_code)

        if concurrent_db is None:
            run()
        else:
            with concurrent_db.thread_connection():
                run()

    threads = [threading.Thread(target=one) for _ in range(clients)]
    [t.start() for t in threads]
    [t.join(timeout=120) for t in threads]


@pytest.mark.slow
def test_many_cookie_less_clients_from_one_address_leave_most_slots_free(
    concurrent_db, tmp_path, settings
):
    """95 fresh sessions from one address against a 30 x 3 link campaign (the issue's attack).

    Limits (see settings): 10 new judges per address per hour, 4 live leases per address.
    """
    sets, _ = make_catalog(tmp_path, models=3, prompts=2, per_prompt=5, references=0)
    campaign = make_campaign(sets, allow_link=True, target_ratings=3)
    assert campaign.items.count() == 30
    results: list[int] = []
    _hog(campaign, 95, "203.0.113.7", results, threading.Lock(), concurrent_db)
    assert len(results) == 95
    now = timezone.now()
    held = Assignment.objects.filter(status="leased", expires_at__gt=now).count()
    judges = Judge.objects.filter(campaign=campaign).count()
    assert judges <= settings.EVALSITE_LINK_JUDGES_PER_CLIENT_COUNT
    assert held <= settings.EVALSITE_LINK_LEASES_PER_CLIENT
    free = 90 - held
    assert free >= 86
    # A real participant elsewhere still gets a task.
    real = Client(REMOTE_ADDR="198.51.100.20")
    real.post(url("entry", campaign, PROLIFIC_PID="real1"))
    assert 'name="token"' in real.get(url("task", campaign)).content.decode()


def test_the_exposure_limit_is_kept_by_the_server(client, catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, allow_link=True, exposure_ms=500)
    client.post(url("entry", campaign))
    page = client.get(url("task", campaign)).content.decode()
    src = re.search(r'src="(/s/[^"]+\.jpg)"', page).group(1)
    first = client.get(src)
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    shown = Assignment.objects.get().shown_at
    Assignment.objects.update(shown_at=shown - timedelta(seconds=3))
    assert client.get(src).status_code == 404


def test_re_including_a_judge_never_pushes_an_item_over_its_target(tmp_path, db):
    sets, _ = make_catalog(tmp_path, models=2, prompts=1, per_prompt=2, references=0)
    campaign = make_campaign(sets, target_ratings=1)
    criteria = campaign.criteria.all()

    def drain(judge):
        while (a := task_next(judge=judge)) is not None:
            rating_submit(judge=judge, token=a.token, answers=answers_for(criteria))

    first = make_link_judge(campaign, "first")
    drain(first)
    judge_exclude(judge=first)
    second = make_link_judge(campaign, "second")
    drain(second)
    skipped = judge_include(judge=Judge.objects.get(pk=first.pk))
    assert len(skipped) == 4
    from ratings.selectors import item_progress

    assert max(item_progress(campaign=campaign).values_list("done", flat=True)) == 1
    assert Assignment.objects.filter(judge=first, counted=False).count() == 4
