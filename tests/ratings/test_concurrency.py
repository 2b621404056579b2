"""Many judges at once, each on its own database connection, against the lease logic.

Runs on PostgreSQL in CI (row locks, SKIP LOCKED) and on a SQLite file locally
(BEGIN IMMEDIATE). Judges request and answer tasks at the same time; some answer
twice (one after the other, like a back button, or at the same moment from two
tabs on two connections), some walk away from a lease, which must expire and go
to someone else.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict

import pytest

from ratings.models import Assignment, Judge, Rating
from ratings.selectors import task_view
from ratings.services.assignment import task_next
from ratings.services.submit import LeaseLost, rating_submit
from tests.ratings.factories import answers_for, make_campaign, make_catalog

JUDGES = 10
LEAVERS = 4  # these judges walk away from a lease after a few tasks
TARGET = 3
DEADLINE_S = 60


@pytest.mark.slow
def test_many_judges_at_once_never_exceed_targets_repeat_items_or_lose_ratings(
    concurrent_db, tmp_path
):
    sets, _ = make_catalog(tmp_path, models=2, prompts=2, per_prompt=5, references=0)
    campaign = make_campaign(
        sets,
        criteria=[("realism", "rate"), ("relevance", "rate"), ("realism", "compare")],
        target_ratings=TARGET,
        lease_seconds=1,
    )
    judge_ids = [
        Judge.objects.create(campaign=campaign, source="prolific", external_id=f"p{i}").pk
        for i in range(JUDGES)
    ]
    lock = threading.Lock()
    leased: list[tuple[int, int, int]] = []  # (judge, item, assignment) as handed out
    submitted: set[tuple[int, int]] = set()  # (judge, item) whose answer was accepted
    errors: list[str] = []
    deadline = time.monotonic() + DEADLINE_S

    def submit(judge_id: int, token: str, answers: dict) -> None:
        with concurrent_db.thread_connection():
            judge = Judge.objects.get(pk=judge_id)
            try:
                result = rating_submit(judge=judge, token=token, answers=answers)
            except LeaseLost:
                return
            except Exception as exc:  # noqa: BLE001 - any other failure fails the test
                with lock:
                    errors.append(f"submit: {exc!r}")
                return
            with lock:
                submitted.add((judge_id, result.assignment.item_id))

    def judge_work(n: int, judge_id: int) -> None:
        rng = random.Random(n)
        leave_after = rng.randint(1, 6) if n < LEAVERS else None
        idle = 0
        with concurrent_db.thread_connection():
            judge = Judge.objects.get(pk=judge_id)
            try:
                while time.monotonic() < deadline:
                    a = task_next(judge=judge)
                    if a is None:
                        idle += 1
                        if idle > 3:
                            return
                        time.sleep(1.1)  # leases walked away from come back after 1 s
                        continue
                    idle = 0
                    with lock:
                        leased.append((judge_id, a.item_id, a.pk))
                    if (
                        leave_after is not None
                        and len([x for x in leased if x[0] == judge_id]) > leave_after
                    ):
                        return  # walks away from this lease
                    answers = answers_for(task_view(assignment=a), value=str(rng.randint(1, 5)))
                    roll = rng.random()
                    if roll < 0.2:  # two tabs submitting at the same moment
                        twins = [
                            threading.Thread(target=submit, args=(judge_id, a.token, answers))
                            for _ in range(2)
                        ]
                        [t.start() for t in twins]
                        [t.join() for t in twins]
                    else:
                        submit(judge_id, a.token, answers)
                        if roll < 0.4:  # back button, submit again
                            submit(judge_id, a.token, answers)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(f"judge {n}: {exc!r}")

    threads = [
        threading.Thread(target=judge_work, args=(n, jid)) for n, jid in enumerate(judge_ids)
    ]
    [t.start() for t in threads]
    [t.join() for t in threads]

    assert errors == []
    # No judge was handed an item twice.
    per_judge = defaultdict(set)
    for judge_id, item_id, _assignment in set(leased):
        assert item_id not in per_judge[judge_id], (judge_id, item_id)
        per_judge[judge_id].add(item_id)
    # No item went beyond its target, and every item reached it (leavers' leases came back).
    done = Counter(
        Assignment.objects.filter(campaign=campaign, status="done").values_list(
            "item_id", flat=True
        )
    )
    items = set(campaign.items.filter(gold="").values_list("pk", flat=True))
    assert set(done) == items
    assert set(done.values()) == {TARGET}
    # Every accepted answer is in the database exactly once; nothing else is.
    ratings = Rating.objects.filter(item__campaign=campaign)
    assert set(ratings.values_list("judge_id", "item_id")) == submitted
    per_task = Counter(ratings.values_list("judge_id", "item_id"))
    criteria_per_kind = Counter(campaign.criteria.values_list("protocol", flat=True))
    kinds = dict(campaign.items.values_list("pk", "kind"))
    for (judge_id, item_id), n in per_task.items():
        assert n == criteria_per_kind[kinds[item_id]], (judge_id, item_id, n)
    assert ratings.count() == sum(criteria_per_kind[kinds[i]] * done[i] for i in done)
