"""A researcher imports a zip in a real browser: the job page shows progress, then the
created set, or every problem of a bad upload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from metrics.models import ImportJob
from metrics.services.import_jobs import import_job_run
from tests.conftest import png_bytes
from tests.metrics.test_import_doors import zip_bytes

pytestmark = pytest.mark.browser


@pytest.fixture
def researcher(page, live_server, transactional_db, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.org", "pw-boss-12345")
    # The first page of a module warms the live server up: give it longer on a busy machine.
    page.goto(f"{live_server.url}/login/?next=/catalog/import/", timeout=60_000)
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-12345")
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Log in')")
    return page


def upload(page, archive: bytes, **fields) -> ImportJob | None:
    page.set_input_files(
        "#id_archive", files=[{"name": "up.zip", "mimeType": "application/zip", "buffer": archive}]
    )
    page.fill("#id_set_name", fields.get("set_name", "web"))
    page.select_option("#id_kind", fields.get("kind", "reference"))
    if "model_name" in fields:
        page.fill("#id_model_name", fields["model_name"])
    with page.expect_navigation():
        page.get_by_role("button", name="Import").click()
    return ImportJob.objects.order_by("pk").last()


def test_the_job_page_shows_progress_then_the_created_set(researcher):
    page = researcher
    archive = zip_bytes({"a.png": png_bytes(1), "b.png": png_bytes(2),
                         "manifest.csv": b"file,prompt\na.png,a cat\nb.png,a dog\n"})  # fmt: skip
    job = upload(page, archive, kind="generated", model_name="m")
    expect(page.get_by_role("heading", name="Import of up.zip into web")).to_be_visible()
    expect(page.locator("#run-status")).to_have_text("queued")
    expect(page.get_by_role("progressbar")).to_be_visible()

    # The worker's part, done here: the page's poller sees the job end and shows the set.
    import_job_run(job_id=job.pk)

    expect(page.locator("#import-result")).to_contain_text("2 images imported", timeout=20_000)
    expect(page.locator("#run-status")).to_have_text("done")
    expect(page.get_by_role("progressbar")).to_have_count(0)
    with page.expect_navigation():
        page.get_by_role("link", name="Open the set web").click()
    expect(page.get_by_role("heading", name="web")).to_be_visible()


def test_the_job_page_lists_every_problem_of_a_bad_upload(researcher):
    page = researcher
    archive = zip_bytes({"a.png": png_bytes(1), "b.png": b"", "c.txt": b"notes"})
    job = upload(page, archive, kind="generated")
    import_job_run(job_id=job.pk)

    problems = page.locator("#import-problems li")
    expect(problems).to_have_count(3, timeout=20_000)
    expect(page.locator("#import-problems")).to_contain_text("Nothing was imported")
    expect(problems).to_contain_text([
        "needs the model that made it (Model under test)",
        "c.txt: not an image file name",
        "b.png: the file is empty",
    ])  # fmt: skip
    assert "--model" not in page.content()


def test_a_file_that_is_not_a_zip_is_refused_on_the_form(researcher):
    page = researcher
    upload(page, b"hello")
    expect(page.get_by_role("alert")).to_contain_text("up.zip: not a folder or a zip file")
    assert ImportJob.objects.count() == 0
