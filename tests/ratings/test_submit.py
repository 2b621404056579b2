"""Recording answers: once only, validated, mapped from screen sides, timed, gold-scored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ratings.models import Assignment, Rating
from ratings.selectors import task_view
from ratings.services.assignment import task_next
from ratings.services.quality import judge_exclude
from ratings.services.submit import (
    AnswerInvalid,
    AssignmentNotFound,
    LeaseLost,
    rating_submit,
)
from tests.ratings.factories import answers_for, make_campaign, make_catalog, make_link_judge


@pytest.fixture
def campaign(catalog):
    sets, reference = catalog
    return make_campaign(
        sets, reference,
        criteria=[("realism", "rate"), ("relevance", "rate"), ("realism", "compare")],
        gold_items=4, gold_rate=0.5, target_ratings=1,
    )  # fmt: skip


def lease(campaign, judge, kind="rate", gold=""):
    """Lease the judge a task of ``kind`` (answering others, in 10 s each, on the way)."""
    while True:
        a = task_next(judge=judge)
        if a.item.kind == kind and a.item.gold == gold:
            return a
        rating_submit(judge=judge, token=a.token, answers=answers_for(task_view(assignment=a)),
                      now=a.leased_at + timedelta(seconds=10))  # fmt: skip


def test_a_second_submit_of_the_same_task_writes_nothing(campaign):
    judge = make_link_judge(campaign, "j")
    a = lease(campaign, judge)
    answers = answers_for(task_view(assignment=a))
    first = rating_submit(judge=judge, token=a.token, answers=answers)
    again = rating_submit(judge=judge, token=a.token, answers={k: "1" for k in answers})
    assert first.created and not again.created
    ratings = Rating.objects.filter(assignment=a)
    assert ratings.count() == 2 and set(ratings.values_list("value", flat=True)) == {4}


def test_every_question_must_be_answered_on_its_scale(campaign):
    judge = make_link_judge(campaign, "j")
    a = lease(campaign, judge)
    realism, relevance = task_view(assignment=a).criteria
    with pytest.raises(AnswerInvalid) as exc:
        rating_submit(judge=judge, token=a.token, answers={str(realism.pk): "6"})
    assert exc.value.problems == [
        "Realism: choose a point from 1 to 5",
        "Relevance to the prompt: answer this question",
    ]
    assert not Rating.objects.filter(assignment=a).exists()
    rating_submit(judge=judge, token=a.token,
                  answers={str(realism.pk): "x", str(relevance.pk): "2"})  # fmt: skip
    got = dict(Rating.objects.filter(assignment=a).values_list("criterion__key", "cant_tell"))
    assert got == {"realism": True, "relevance": False}


def test_a_pair_is_answered_by_screen_side_and_stored_by_image_position(campaign):
    judge = make_link_judge(campaign, "j")
    a = lease(campaign, judge, kind="compare")
    (criterion,) = task_view(assignment=a).criteria
    Assignment.objects.filter(pk=a.pk).update(display_order=[1, 0])
    rating_submit(judge=judge, token=a.token, answers={str(criterion.pk): "a"})
    assert Rating.objects.get(assignment=a).choice == "second"
    b = lease(campaign, judge, kind="compare")
    Assignment.objects.filter(pk=b.pk).update(display_order=[1, 0])
    with pytest.raises(AnswerInvalid, match="choose A, B, about the same or both bad"):
        rating_submit(judge=judge, token=b.token, answers={str(criterion.pk): "x"})
    rating_submit(judge=judge, token=b.token, answers={str(criterion.pk): "b"})
    assert Rating.objects.get(assignment=b).choice == "first"


def test_a_judge_cannot_answer_another_judges_task(campaign):
    owner, other = make_link_judge(campaign, "owner"), make_link_judge(campaign, "other")
    a = lease(campaign, owner)
    with pytest.raises(AssignmentNotFound):
        rating_submit(judge=other, token=a.token, answers=answers_for(task_view(assignment=a)))
    with pytest.raises(AssignmentNotFound):
        rating_submit(judge=other, token="no-such-token", answers={})


def test_a_late_answer_is_kept_while_its_slot_is_free(campaign):
    judge = make_link_judge(campaign, "j")
    a = lease(campaign, judge)
    late = timezone.now() + timedelta(seconds=campaign.lease_seconds + 5)
    result = rating_submit(judge=judge, token=a.token,
                           answers=answers_for(task_view(assignment=a)), now=late)  # fmt: skip
    assert result.created and result.assignment.status == "done"


def test_a_late_answer_is_refused_when_others_filled_the_slot(tmp_path, db):
    sets, _ = make_catalog(tmp_path, models=1, prompts=1, per_prompt=1, references=0)
    campaign = make_campaign(sets, target_ratings=1, lease_seconds=60)
    slow, quick = make_link_judge(campaign, "slow"), make_link_judge(campaign, "quick")
    a = task_next(judge=slow)
    later = timezone.now() + timedelta(seconds=61)
    b = task_next(judge=quick, now=later)
    assert b.item_id == a.item_id
    rating_submit(judge=quick, token=b.token, answers=answers_for(task_view(assignment=b)),
                  now=later)  # fmt: skip
    with pytest.raises(LeaseLost):
        rating_submit(judge=slow, token=a.token, answers=answers_for(task_view(assignment=a)),
                      now=later)  # fmt: skip
    a.refresh_from_db()
    assert a.status == "expired" and Rating.objects.filter(judge=slow).count() == 0


def test_an_item_never_holds_more_answers_than_its_target_whatever_the_clocks_say(tmp_path, db):
    sets, _ = make_catalog(tmp_path, models=1, prompts=1, per_prompt=1, references=0)
    campaign = make_campaign(sets, target_ratings=1, lease_seconds=60)
    slow, quick = make_link_judge(campaign, "slow"), make_link_judge(campaign, "quick")
    a = task_next(judge=slow)
    b = task_next(judge=quick, now=a.expires_at + timedelta(seconds=1))
    # The slow judge's answer is read with a clock from before their lease expired.
    rating_submit(judge=slow, token=a.token, answers=answers_for(task_view(assignment=a)),
                  now=a.expires_at - timedelta(seconds=1))  # fmt: skip
    with pytest.raises(LeaseLost):
        rating_submit(judge=quick, token=b.token, answers=answers_for(task_view(assignment=b)))
    assert Assignment.objects.filter(status="done").count() == 1


def test_time_on_task_is_recorded_with_every_answer(campaign):
    judge = make_link_judge(campaign, "j")
    a = lease(campaign, judge)
    now = a.leased_at + timedelta(seconds=7)
    answers = answers_for(task_view(assignment=a))
    rating_submit(judge=judge, token=a.token, answers=answers, elapsed_ms=5_300, now=now)
    assert set(Rating.objects.filter(assignment=a).values_list("time_ms", flat=True)) == {5_300}
    b = lease(campaign, judge)
    # A client clock claiming more than the server saw is not believed.
    rating_submit(judge=judge, token=b.token, answers=answers_for(task_view(assignment=b)),
                  elapsed_ms=90_000, now=b.leased_at + timedelta(seconds=3))  # fmt: skip
    assert Assignment.objects.get(pk=b.pk).time_ms == 3_000


def answer_until_gold(judge, gold_value: str, golds: int) -> list[Assignment]:
    """Answer tasks (4 on scales, in 5 s) until ``golds`` gold tasks got ``gold_value``."""
    seen = []
    while len(seen) < golds:
        a = task_next(judge=judge)
        value = gold_value if a.item.gold else "4"
        rating_submit(judge=judge, token=a.token,
                      answers=answers_for(task_view(assignment=a), value=value),
                      now=a.leased_at + timedelta(seconds=5))  # fmt: skip
        if a.item.gold:
            seen.append(a)
    return seen


def test_gold_answers_are_scored_and_a_judge_failing_them_is_flagged(catalog):
    sets, reference = catalog
    campaign = make_campaign(sets, reference, criteria=[("realism", "rate")], gold_rate=0.5)
    judge = make_link_judge(campaign, "j")
    golds = answer_until_gold(judge, "1", 3)
    assert [Rating.objects.get(assignment=a).gold_correct for a in golds] == [False] * 3
    judge.refresh_from_db()
    assert judge.flagged and judge.gold_answered == 3 and judge.gold_correct == 0
    assert judge.flag_reasons == ["gold accuracy 0% under 70% (0 of 3)"]
    answer_until_gold(judge, "5", 3)
    judge.refresh_from_db()
    assert judge.flag_reasons == ["gold accuracy 50% under 70% (3 of 6)"]


def test_a_mismatched_prompt_is_a_relevance_control(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, criteria=[("relevance", "rate")], gold_rate=0.5)
    judge = make_link_judge(campaign, "j")
    (a,) = answer_until_gold(judge, "1", 1)
    assert a.item.gold == "relevance"
    assert Rating.objects.get(assignment=a).gold_correct is True


def test_a_judge_answering_faster_than_the_minimum_time_is_flagged(campaign):
    judge = make_link_judge(campaign, "j")
    for _ in range(3):
        a = task_next(judge=judge)
        rating_submit(judge=judge, token=a.token, answers=answers_for(task_view(assignment=a)),
                      elapsed_ms=400, now=a.leased_at + timedelta(seconds=1))  # fmt: skip
    judge.refresh_from_db()
    assert judge.flagged and judge.median_ms == 400
    assert judge.flag_reasons == ["median time 0.4 s under 2 s"]
    judge_exclude(judge=judge)
    assert judge.excluded and judge.excluded_reason == "median time 0.4 s under 2 s"
