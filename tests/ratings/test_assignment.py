"""Handing out tasks: breadth first, never beyond target, never twice, leases expire."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from ratings.models import Assignment, Judge
from ratings.services.assignment import CampaignNotOpen, judge_progress, task_next
from ratings.services.campaigns import campaign_set_status
from ratings.services.quality import judge_exclude
from ratings.services.submit import rating_submit
from tests.ratings.factories import make_campaign, make_catalog, make_link_judge


def answer(judge, assignment, now=None):
    criteria = assignment.campaign.criteria.filter(protocol=assignment.item.kind)
    answers = {str(c.pk): "a" if c.protocol == "compare" else "4" for c in criteria}
    return rating_submit(judge=judge, token=assignment.token, answers=answers, now=now)


def drain(judge, now=None):
    """Let a judge answer until nothing is left; return the items they got."""
    items = []
    while (a := task_next(judge=judge, now=now)) is not None:
        items.append(a.item_id)
        answer(judge, a, now=now)
    return items


@pytest.fixture
def small(tmp_path, db):
    """4 rate items (2 models x 1 prompt x 2 images)."""
    sets, _ = make_catalog(tmp_path, models=2, prompts=1, per_prompt=2, references=0)
    return sets


def test_a_judge_gets_every_item_once_and_then_nothing(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, target_ratings=3)
    judge = make_link_judge(campaign, "j1")
    items = drain(judge)
    assert len(items) == len(set(items)) == campaign.items.count() == 36
    assert task_next(judge=judge) is None


def test_an_item_is_never_leased_beyond_its_target(small):
    campaign = make_campaign(small, target_ratings=2)
    judges = [make_link_judge(campaign, f"j{i}") for i in range(5)]
    for judge in judges:
        drain(judge)
    done = Counter(Assignment.objects.filter(status="done").values_list("item_id", flat=True))
    assert sorted(done.values()) == [2, 2, 2, 2]
    assert [len(judge.assignments.all()) for judge in judges] == [4, 4, 0, 0, 0]


def test_live_leases_count_against_the_target(small):
    campaign = make_campaign(small, target_ratings=1)
    holders = [make_link_judge(campaign, f"h{i}") for i in range(4)]
    leases = [task_next(judge=j) for j in holders]
    assert len({a.item_id for a in leases}) == 4
    assert task_next(judge=make_link_judge(campaign, "late")) is None


def test_items_go_out_breadth_first_fewest_ratings_plus_leases_first(small):
    campaign = make_campaign(small, target_ratings=3)
    first_round = [task_next(judge=make_link_judge(campaign, f"a{i}")).item_id for i in range(4)]
    assert sorted(first_round) == sorted(campaign.items.values_list("pk", flat=True))
    # Every item has load 1 now: the next judge's four tasks cover every item again.
    second = make_link_judge(campaign, "b")
    assert sorted(drain(second)) == sorted(first_round)


def test_a_judge_resumes_their_live_lease_instead_of_getting_a_new_one(small):
    campaign = make_campaign(small)
    judge = make_link_judge(campaign, "j")
    first = task_next(judge=judge)
    assert task_next(judge=judge).pk == first.pk
    assert judge.assignments.count() == 1


def test_an_expired_lease_returns_to_the_pool_but_never_to_the_same_judge(small):
    campaign = make_campaign(small, target_ratings=1, lease_seconds=60)
    now = timezone.now()
    slow = make_link_judge(campaign, "slow")
    lapsed = task_next(judge=slow, now=now)
    later = now + timedelta(seconds=61)
    others = [make_link_judge(campaign, f"o{i}") for i in range(4)]
    got = [task_next(judge=j, now=later) for j in others]
    assert lapsed.item_id in {a.item_id for a in got if a}
    slow_items = drain(slow, now=later)
    assert lapsed.item_id not in slow_items
    lapsed.refresh_from_db()
    assert lapsed.status == "expired"


def test_the_judge_cap_limits_tasks_per_judge(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, judge_cap=5)
    judge = make_link_judge(campaign, "j")
    assert len(drain(judge)) == 5
    assert judge_progress(judge=judge) == (5, 5)


def test_no_tasks_come_from_a_paused_draft_or_closed_campaign(small):
    campaign = make_campaign(small, open_=False)
    judge = make_link_judge(campaign, "j")
    with pytest.raises(CampaignNotOpen, match="not started"):
        task_next(judge=judge)
    campaign_set_status(campaign=campaign, status="open")
    campaign_set_status(campaign=campaign, status="paused")
    with pytest.raises(CampaignNotOpen, match="paused"):
        task_next(judge=judge)
    campaign_set_status(campaign=campaign, status="closed")
    with pytest.raises(CampaignNotOpen, match="closed"):
        task_next(judge=judge)


def test_gold_items_are_mixed_in_at_the_configured_rate(catalog):
    sets, reference = catalog
    campaign = make_campaign(
        sets, reference, criteria=[("realism", "rate"), ("relevance", "rate")],
        gold_rate=0.25, gold_items=6, judge_cap=16,
    )  # fmt: skip
    judge = make_link_judge(campaign, "j")
    drain(judge)
    golds = list(judge.assignments.order_by("pk").values_list("is_gold", flat=True))
    assert len(golds) == 16 and sum(golds) == 4
    positions = [i for i, g in enumerate(golds) if g]
    assert {p % 4 for p in positions} == {judge.seed % 4}


def test_excluding_a_judge_reopens_the_items_they_rated(small):
    campaign = make_campaign(small, target_ratings=1)
    cheat = make_link_judge(campaign, "cheat")
    assert len(drain(cheat)) == 4
    honest = make_link_judge(campaign, "honest")
    assert task_next(judge=honest) is None
    judge_exclude(judge=cheat, reason="random answers")
    assert len(drain(honest)) == 4
    assert task_next(judge=Judge.objects.get(pk=cheat.pk)) is None


def test_each_judge_walks_the_items_in_their_own_random_order(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, target_ratings=50, judge_cap=12)
    orders = []
    for i in range(3):
        judge = make_link_judge(campaign, f"j{i}")
        orders.append(drain(judge))
    assert orders[0] != orders[1] != orders[2]
    ids = sorted(campaign.items.values_list("pk", flat=True))
    assert orders[0] != ids[:12]


def test_left_and_right_are_drawn_per_task_and_recorded(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, criteria=[("realism", "compare")], target_ratings=10)
    orders = Counter()
    for i in range(4):
        judge = make_link_judge(campaign, f"j{i}")
        while (a := task_next(judge=judge)) is not None:
            assert sorted(a.display_order) == [0, 1]
            orders[tuple(a.display_order)] += 1
            answer(judge, a)
    assert orders[(0, 1)] > 10 and orders[(1, 0)] > 10


def test_an_item_filled_after_the_candidate_query_looked_is_not_leased(small, monkeypatch):
    """The load is counted again under the row lock: a stale first count cannot overfill."""
    from ratings.services import assignment as service

    real = service._open_items_sql

    def stale(*args, **kwargs):
        sql, order, params = real(*args, **kwargs)
        assert "COALESCE(l.n, 0) <" in sql
        return sql.replace("COALESCE(l.n, 0) <", "0 * COALESCE(l.n, 0) <"), order, params

    campaign = make_campaign(small, target_ratings=1)
    first = make_link_judge(campaign, "first")
    drain(first)
    # As if the candidate query's snapshot predates every lease: all items look empty.
    monkeypatch.setattr(service, "_open_items_sql", stale)
    assert task_next(judge=make_link_judge(campaign, "second")) is None
    assert Assignment.objects.filter(campaign=campaign).count() == 4
