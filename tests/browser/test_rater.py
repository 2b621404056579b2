"""A judge in a real browser: instructions, rate, compare and grid tasks by keyboard, the
Prolific path to the completion code, double submits, a phone, the exposure limit."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ratings.models import Assignment, Judge, Rating
from tests.ratings.factories import make_campaign, make_catalog

pytestmark = pytest.mark.browser

ALL_PROTOCOLS = (("realism", "rate"), ("relevance", "rate"), ("realism", "compare"),
                 ("diversity", "grid"))  # fmt: skip


@pytest.fixture
def study(transactional_db, tmp_path):
    """12 items: 8 single images, 2 pairs, 2 grids (2 models, 1 prompt, 4 images each)."""
    sets, reference = make_catalog(tmp_path, models=2, prompts=1, per_prompt=4, references=3)
    return make_campaign(
        sets, reference, criteria=ALL_PROTOCOLS, allow_link=True, grid_size=4,
        completion_code="C0DE2024", gold_items=0,
    )  # fmt: skip


def link(live_server, campaign, **query) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{live_server.url}/s/{campaign.key}/" + (f"?{q}" if q else "")


def kind_of(page) -> str:
    return re.search(
        r"task-(rate|compare|grid)", page.locator("#task-form").get_attribute("class")
    ).group(1)


def answer_by_keyboard(page, keys: list[str]) -> None:
    """Press one number per question, then Enter; wait for the next page."""
    for key in keys:
        page.keyboard.press(key)
    expect(page.locator("#task-form")).to_have_class(re.compile(r"\bcomplete\b"))
    with page.expect_navigation():
        page.keyboard.press("Enter")


KEYS = {"rate": ["4", "2"], "compare": ["2"], "grid": ["5"]}


def test_a_judge_reads_the_instructions_and_answers_every_kind_of_task_by_keyboard(
    page, live_server, study
):
    page.goto(link(live_server, study))
    expect(page.get_by_role("heading", name="Before you start")).to_be_visible()
    expect(page.get_by_text("Keyboard: press the number keys")).to_be_visible()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # The instructions stay one key away.
    page.keyboard.press("?")
    expect(page.locator("#instructions-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#instructions-dialog")).to_be_hidden()

    # Enter with a question unanswered submits nothing and points at it.
    page.keyboard.press("Enter")
    expect(page.locator("[data-q].missing")).to_have_count(1)
    assert not Rating.objects.exists()

    seen = []
    while len(set(seen)) < 3:
        kind = kind_of(page)
        seen.append(kind)
        progress = int(page.get_by_role("progressbar").get_attribute("aria-valuenow"))
        assert progress == len(seen) - 1
        images = page.locator("#stage img")
        expect(images).to_have_count({"rate": 1, "compare": 2, "grid": 4}[kind])
        if kind == "rate":
            expect(page.locator(".prompt")).to_contain_text("a red circle on a blue background")
        # The first key answers the first question, and the next question becomes active.
        page.keyboard.press(KEYS[kind][0])
        checked = page.locator("[data-q]").first.locator("input:checked")
        expect(checked).to_have_value("b" if kind == "compare" else KEYS[kind][0])
        answer_by_keyboard(page, KEYS[kind][1:])
    judge = Judge.objects.get()
    for assignment in judge.assignments.filter(status="done"):
        answers = dict(
            Rating.objects.filter(assignment=assignment).values_list("criterion__key", "value")
        )
        if assignment.item.kind == "rate":
            assert answers == {"realism": 4, "relevance": 2}
        elif assignment.item.kind == "grid":
            assert answers == {"diversity": 5}
        else:
            # "2" is B, the right-hand image: stored as the image position shown there.
            rating = Rating.objects.get(assignment=assignment)
            right = assignment.display_order[1]
            assert rating.choice == ("first" if right == 0 else "second")
            assert rating.time_ms is not None and rating.time_ms > 0


def test_a_prolific_participant_gets_the_completion_code_and_the_way_back(page, live_server, study):
    study.judge_cap = 3
    study.save()
    page.goto(link(live_server, study, PROLIFIC_PID="60aa11bb22cc33dd44ee55ff",
                   STUDY_ID="study9", SESSION_ID="sess9"))  # fmt: skip
    with page.expect_navigation():
        page.get_by_role("button", name="Start").click()
    for _ in range(3):
        kind = kind_of(page)
        answer_by_keyboard(page, KEYS[kind])
    expect(page.get_by_role("heading", name="Thank you!")).to_be_visible()
    expect(page.locator("#completion-code")).to_have_text("C0DE2024")
    expect(page.locator("#prolific-return")).to_have_attribute(
        "href", "https://app.prolific.com/submissions/complete?cc=C0DE2024"
    )
    judge = Judge.objects.get()
    assert (judge.external_id, judge.study_id, judge.session_id) == (
        "60aa11bb22cc33dd44ee55ff", "study9", "sess9",
    )  # fmt: skip
    assert judge.completed_at is not None and judge.assignments.filter(status="done").count() == 3


def test_mashing_enter_and_the_back_button_never_make_a_second_rating(page, live_server, study):
    page.goto(link(live_server, study, PROLIFIC_PID="masher"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    kind = kind_of(page)
    first_token = page.locator("input[name=token]").input_value()
    for key in KEYS[kind]:
        page.keyboard.press(key)
    with page.expect_navigation():
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")
    page.go_back()
    # The task page is never cached: going back shows the current task, not the old form.
    page.wait_for_load_state()
    assert page.locator("input[name=token]").input_value() != first_token
    done = Assignment.objects.get(token=first_token)
    assert done.status == "done"
    per_question = len(KEYS[kind])
    assert Rating.objects.filter(assignment=done).count() == per_question
    assert Rating.objects.count() == per_question


def test_the_task_fits_a_phone_and_answers_by_touch(phone, live_server, study):
    phone.goto(link(live_server, study, PROLIFIC_PID="phone1"))
    with phone.expect_navigation():
        phone.get_by_role("button", name="Start").tap()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    kind = kind_of(phone)
    for q in phone.locator("[data-q]").all():
        q.locator("label.opt").nth(1).tap()
    expect(phone.locator("#task-form")).to_have_class(re.compile(r"\bcomplete\b"))
    with phone.expect_navigation():
        phone.get_by_role("button", name="Submit").tap()
    assert Rating.objects.count() == len(KEYS[kind])


def test_images_disappear_after_the_exposure_time(page, live_server, study):
    study.exposure_ms = 1500  # long enough to see the image on a busy machine
    study.save()
    page.goto(link(live_server, study, PROLIFIC_PID="flash"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    stage = page.locator("#stage")
    expect(stage.locator("img").first).to_be_visible()
    expect(stage).to_have_class(re.compile(r"\bexposed\b"), timeout=5_000)
    expect(stage.locator("img").first).to_be_hidden()
    expect(page.get_by_text("answer from memory")).to_be_visible()
    # The server keeps the limit too: past it (and its grace), the image is refused.
    src = stage.locator("img").first.get_attribute("src")
    page.wait_for_timeout(2_500)
    assert page.request.get(live_server.url + src).status == 404
