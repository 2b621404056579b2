"""Campaign administration: create, open/pause/close, progress, judge quality, exclusion, exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from ratings.models import Campaign, Judge
from ratings.selectors import task_view
from ratings.services.assignment import task_next
from ratings.services.submit import rating_submit
from tests.ratings.factories import MODEL_NAMES, answers_for, make_campaign, make_judge_user


def form_data(sets, reference, **overrides):
    data = {
        "name": "sunday study", "title": "Pictures", "instructions": "Rate them.",
        "image_sets": [s.pk for s in sets], "reference_set": reference.pk,
        "criterion_realism": ["rate", "compare"], "criterion_relevance": ["rate"],
        "criterion_diversity": ["grid"], "target_ratings": 3, "lease_minutes": 15,
        "grid_size": 4, "pairs_per_prompt": 1, "gold_rate": 0.1, "gold_items": 2,
        "gold_threshold": 0.7, "min_seconds": 2, "allow_link": "on", "exposure_seconds": "1.5",
    }  # fmt: skip
    data.update(overrides)
    return data


def test_a_researcher_creates_a_draft_campaign_from_the_form(admin_client, catalog):
    sets, reference = catalog
    response = admin_client.post(reverse("ratings:campaign_new"), form_data(sets, reference))
    campaign = Campaign.objects.get()
    assert response["Location"] == campaign.get_absolute_url()
    assert campaign.status == "draft" and campaign.exposure_ms == 1500
    assert sorted(campaign.criteria.values_list("key", "protocol")) == [
        ("diversity", "grid"), ("realism", "compare"), ("realism", "rate"), ("relevance", "rate"),
    ]  # fmt: skip
    kinds = set(campaign.items.values_list("kind", flat=True))
    assert kinds == {"rate", "compare", "grid"}


def test_the_form_shows_what_is_wrong(admin_client, catalog):
    sets, reference = catalog
    response = admin_client.post(
        reverse("ratings:campaign_new"),
        form_data(sets[:1], reference, criterion_realism=["compare"], criterion_relevance=[],
                  criterion_diversity=[]),
    )  # fmt: skip
    assert response.status_code == 400
    assert (
        "compare needs generated sets of at least two different models" in response.content.decode()
    )
    assert not Campaign.objects.exists()


def test_a_custom_criterion_comes_from_the_form(admin_client, catalog):
    sets, reference = catalog
    data = form_data(sets, reference, criterion_realism=[], criterion_relevance=[],
                     criterion_diversity=[], custom_name="Cuteness", custom_question="How cute?",
                     custom_protocol="rate", custom_labels="not\nsomewhat\nvery")  # fmt: skip
    admin_client.post(reverse("ratings:campaign_new"), data)
    (criterion,) = Campaign.objects.get().criteria.all()
    assert (criterion.key, criterion.labels) == ("cuteness", ["not", "somewhat", "very"])


def test_open_pause_close_from_the_campaign_page(admin_client, catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, open_=False)
    status_url = reverse("ratings:campaign_status", args=[campaign.pk])
    for status in ("open", "paused", "open", "closed"):
        admin_client.post(status_url, {"status": status})
        campaign.refresh_from_db()
        assert campaign.status == status
    page = admin_client.post(status_url, {"status": "open"}, follow=True)
    assert "a closed campaign cannot become open" in page.content.decode()


def test_the_campaign_page_shows_progress_judge_quality_and_the_links(admin_client, catalog):
    sets, reference = catalog
    campaign = make_campaign(sets, reference, allow_link=True, gold_rate=0.5, target_ratings=2)
    judge = Judge.objects.create(campaign=campaign, source="prolific", external_id="PIDX")
    for _ in range(6):
        a = task_next(judge=judge)
        rating_submit(judge=judge, token=a.token, answers=answers_for(task_view(assignment=a), value="1"),
                      now=a.leased_at + timedelta(seconds=4))  # fmt: skip
    html = admin_client.get(campaign.get_absolute_url()).content.decode()
    assert "prolific:PIDX" in html and "gold accuracy 0% under 70% (0 of 3)" in html
    assert "PROLIFIC_PID={{%PROLIFIC_PID%}}" in html and campaign.completion_code in html
    assert "3 of 72 ratings slots filled" in html.replace("\n", " ").replace("  ", " ")
    items = admin_client.get(reverse("ratings:campaign_items", args=[campaign.pk])).content.decode()
    assert MODEL_NAMES[0] in items and "gold: realism" in items
    assert "test campaign" in admin_client.get(reverse("ratings:campaign_list")).content.decode()


def test_excluding_a_judge_from_the_page_and_taking_them_back(admin_client, catalog):
    sets, _ = catalog
    campaign = make_campaign(sets)
    judge = Judge.objects.create(campaign=campaign, source="link", external_id="x")
    target = reverse("ratings:judge_exclusion", args=[campaign.pk, judge.pk])
    admin_client.post(target, {"action": "exclude", "reason": "clicks at random"})
    judge.refresh_from_db()
    assert judge.excluded and judge.excluded_reason == "clicks at random"
    admin_client.post(target, {"action": "include"})
    judge.refresh_from_db()
    assert not judge.excluded


def test_inviting_accounts_by_name(admin_client, catalog):
    sets, _ = catalog
    campaign = make_campaign(sets)
    make_judge_user("carol")
    target = reverse("ratings:campaign_invite", args=[campaign.pk])
    page = admin_client.post(target, {"usernames": "carol, nobody"}, follow=True).content.decode()
    assert "No account named nobody" in page
    admin_client.post(target, {"usernames": "carol"})
    assert list(campaign.invited.values_list("username", flat=True)) == ["carol"]
    assert campaign.invited.get().groups.filter(name="judge").exists()


def rated_campaign(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, criteria=[("realism", "rate"), ("realism", "compare")])
    judge = Judge.objects.create(campaign=campaign, source="prolific", external_id="PID1")
    for _ in range(8):
        a = task_next(judge=judge)
        rating_submit(judge=judge, token=a.token, answers=answers_for(task_view(assignment=a)),
                      elapsed_ms=3000)  # fmt: skip
    return campaign


def test_the_csv_export_has_one_row_per_rating_with_models_revealed(admin_client, catalog):
    campaign = rated_campaign(catalog)
    response = admin_client.get(reverse("ratings:export_csv", args=[campaign.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 8
    for row in rows:
        models = row["models"].split(";")
        assert all(m.split()[0] in MODEL_NAMES for m in models)
        assert row["judge_external_id"] == "PID1" and row["time_ms"]
        if row["protocol"] == "compare":
            assert row["choice"] in ("first", "second")
            assert row["preferred_model"] == models[0 if row["choice"] == "first" else 1]
            assert sorted(row["shown_order"].split(";")) == sorted(row["image_ids"].split(";"))
        else:
            assert row["value"] == "4"


def test_the_json_export_holds_the_campaign_and_every_rating(admin_client, catalog):
    campaign = rated_campaign(catalog)
    response = admin_client.get(reverse("ratings:export_json", args=[campaign.pk]))
    data = json.loads(b"".join(response.streaming_content))
    assert data["campaign"]["target_ratings"] == 3
    assert [c["key"] for c in data["campaign"]["criteria"]] == ["realism", "realism"]
    assert len(data["ratings"]) == 8 and isinstance(data["ratings"][0]["image_ids"], list)


def test_the_demo_campaign_command_is_idempotent(db):
    with pytest.raises(CommandError, match="run `python manage.py load_demo` first"):
        call_command("load_demo_campaign", stdout=io.StringIO())
    call_command("load_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command("load_demo_campaign", stdout=out)
    call_command("load_demo_campaign", stdout=out)
    campaign = Campaign.objects.get()
    assert campaign.status == "open" and campaign.invited.filter(username="judge").exists()
    assert "already there" in out.getvalue()
    kinds = set(campaign.items.values_list("kind", flat=True))
    assert kinds == {"rate", "compare", "grid"}


def test_create_judge_makes_an_account_with_the_role_and_invites_it(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets)
    call_command("create_judge", "dana", "--password", "pw-dana-123", "--campaign", str(campaign.pk),
                 stdout=io.StringIO())  # fmt: skip
    assert campaign.invited.filter(username="dana", groups__name="judge").exists()
    with pytest.raises(CommandError, match="give it a --password"):
        call_command("create_judge", "erin")
