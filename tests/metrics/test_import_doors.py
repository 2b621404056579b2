"""The three doors of the import: the command, the upload form and the REST endpoint."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from metrics.models import Image, ImageSet, ImportJob
from metrics.services.import_jobs import import_job_run
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def good_zip() -> bytes:
    return zip_bytes(
        {
            "a.png": png_bytes(1),
            "b.png": png_bytes(2),
            "manifest.csv": b"file,prompt,seed\na.png,a cat,18446744073709551615\nb.png,a dog,\n",
        }
    )


# --- command ---------------------------------------------------------------------------------


def test_the_command_imports_a_folder_and_reports_counts(make_folder):
    folder, _ = make_folder(3)
    out = io.StringIO()
    call_command("import_images", str(folder), "--set", "ref", "--kind", "reference",
                 "--no-progress", stdout=out)  # fmt: skip
    assert "ref: 3 imported, 0 already there" in out.getvalue()
    call_command("import_images", str(folder), "--set", "ref", "--no-progress", stdout=out)
    assert "ref: 0 imported, 3 already there" in out.getvalue()


def test_the_command_fails_with_the_file_and_the_reason(make_folder):
    folder, _ = make_folder(1)
    (folder / "bad.png").write_bytes(b"not a png")
    with pytest.raises(CommandError, match="bad.png: not an image file"):
        call_command("import_images", str(folder), "--set", "s", "--kind", "reference")
    assert ImageSet.objects.count() == 0


def test_the_command_with_a_model_creates_a_generated_set(make_folder):
    folder, _ = make_folder(2)
    call_command("import_images", str(folder), "--set", "g", "--model", "sdxl",
                 "--model-version", "1.0", "--no-progress", stdout=io.StringIO())  # fmt: skip
    image_set = ImageSet.objects.get(name="g")
    assert image_set.kind == "generated" and str(image_set.model) == "sdxl 1.0"


# --- upload form: the upload is stored, a job imports it ---------------------------------------


def run_jobs() -> list[ImportJob]:
    """Run every queued import job here, as the cpu worker would (test_import_worker.py
    runs them on a real worker)."""
    return [import_job_run(job_id=pk) for pk in ImportJob.objects.filter(status="queued")
            .values_list("pk", flat=True)]  # fmt: skip


def post_form(client, archive: bytes, **fields):
    data = {"archive": SimpleUploadedFile("up.zip", archive), "set_name": "web",
            "kind": "reference", **fields}  # fmt: skip
    return client.post("/catalog/import/", data)


def test_the_upload_form_starts_a_job_whose_page_shows_the_created_set(
    admin_client, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks() as enqueued:
        response = post_form(admin_client, good_zip(), kind="generated", model_name="m")
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/catalog/imports/{job.pk}/"
    assert len(enqueued) == 1  # the worker's task, sent after commit
    assert Image.objects.count() == 0  # nothing is imported inside the request
    page = admin_client.get(response["Location"]).content.decode()
    assert "queued" in page and 'id="run-progress"' in page

    run_jobs()

    job.refresh_from_db()
    assert (job.status, job.created, job.unchanged) == ("done", 2, 0)
    assert Image.objects.filter(image_set__name="web").count() == 2
    page = admin_client.get(response["Location"]).content.decode()
    assert "2 images imported" in page and job.image_set.get_absolute_url() in page
    # The stored upload is gone once the job has ended.
    assert not (Path(settings.MEDIA_ROOT) / job.upload_dir).exists()
    listing = admin_client.get("/catalog/import/").content.decode()
    assert "Recent imports" in listing and f'href="/catalog/imports/{job.pk}/"' in listing
    progress = admin_client.get(f"/catalog/imports/{job.pk}/progress").json()
    assert progress == {"status": "done", "active": False, "done": 2, "total": 2, "percent": 100}


def test_the_job_page_lists_every_problem_in_the_form_s_words(admin_client):
    bad = zip_bytes({"a.png": png_bytes(1), "b.png": b"", "c.png": b"nope"})
    response = post_form(admin_client, bad, kind="generated")
    assert response.status_code == 302
    (job,) = run_jobs()
    assert job.status == "failed"
    body = admin_client.get(response["Location"]).content.decode()
    assert "Nothing was imported" in body and "b.png: the file is empty" in body
    assert "c.png: not an image file" in body
    assert "needs the model that made it (Model under test)" in body
    assert "--model" not in body and "Traceback" not in body
    assert "archive.zip" not in body and job.upload_dir not in body  # no stored names
    assert ImageSet.objects.count() == 0


def test_the_upload_form_refuses_a_file_that_is_not_a_zip_at_once(admin_client):
    response = post_form(admin_client, b"hello")
    assert response.status_code == 400
    assert "up.zip: not a folder or a zip file" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_the_upload_form_refuses_more_files_than_the_limit_up_front(admin_client, settings):
    settings.EVALSITE_MAX_IMPORT_FILES = 2
    response = post_form(admin_client, zip_bytes({f"{i}.png": png_bytes(i) for i in range(3)}))
    assert response.status_code == 400
    assert "up.zip: 3 files, over the limit of 2 per import" in response.content.decode()
    assert ImportJob.objects.count() == 0
    assert list((Path(settings.MEDIA_ROOT) / "imports").iterdir()) == []


def test_the_upload_form_refuses_an_upload_over_the_size_limit(admin_client, settings):
    settings.EVALSITE_MAX_UPLOAD_BYTES = 100
    response = post_form(admin_client, good_zip())
    assert response.status_code == 400
    assert "over the upload limit of 100" in response.content.decode()


def test_a_manifest_with_a_long_name_is_named_as_the_user_named_it(admin_client):
    long_name = "prompts-" + "x" * 240 + ".csv"
    response = post_form(
        admin_client,
        zip_bytes({"a.png": png_bytes(1)}),
        manifest=SimpleUploadedFile(long_name, b"file,prompt,seed\na.png,cat,abc\n"),
    )
    assert response.status_code == 302
    (job,) = run_jobs()
    assert job.status == "failed"
    assert job.problems == [f"{long_name} line 2 (a.png): seed 'abc' is not an integer"]


def test_the_catalog_is_for_researchers_only(client, django_user_model):
    user = django_user_model.objects.create_user("judge", password="pw-judge-123")
    client.force_login(user)
    assert client.get("/catalog/").status_code == 302  # to the admin login
    assert client.get("/catalog/import/").status_code == 302
    assert client.get("/catalog/imports/1/").status_code == 302


def test_catalog_pages_render_for_a_researcher(admin_client):
    post_form(admin_client, good_zip(), kind="generated", model_name="m")
    run_jobs()
    image = Image.objects.first()
    for url in ["/catalog/", f"/catalog/sets/{image.image_set_id}/", f"/catalog/images/{image.pk}/",
                f"/catalog/models/{image.image_set.model_id}/"]:  # fmt: skip
        response = admin_client.get(url)
        assert response.status_code == 200, url
    thumb = admin_client.get(f"/catalog/images/{image.pk}/file/256")
    assert thumb.status_code == 200 and b"".join(thumb.streaming_content)[:2] == b"\xff\xd8"
    assert admin_client.get(f"/catalog/images/{image.pk}/file/300").status_code == 404


# --- REST API: 202 and the job's URL ----------------------------------------------------------


@pytest.fixture
def token():
    user = get_user_model().objects.create_user("trainer", password="x-pw-123456", is_staff=True)
    return Token.objects.create(user=user).key


@pytest.fixture
def api(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def post_api(api, archive: bytes, **fields):
    data = {"archive": SimpleUploadedFile("x.zip", archive), "set_name": "api-set", **fields}
    return api.post("/api/imports/", data, format="multipart")


def test_the_api_answers_202_with_the_job_url_and_the_job_gives_status_and_result(api):
    response = post_api(api, good_zip(), model_name="m")
    assert response.status_code == 202, response.content
    url = response["Location"]
    assert url == response.json()["url"] and url.endswith(f"/api/imports/{response.json()['id']}/")
    queued = api.get(url).json()
    assert queued["status"] == "queued" and queued["problems"] == []

    run_jobs()

    done = api.get(url).json()
    assert done["status"] == "done" and (done["created"], done["unchanged"]) == (2, 0)
    assert done["progress"] == {"done": 2, "total": 2, "percent": 100}
    set_id = done["image_set"]
    images = api.get(f"/api/image-sets/{set_id}/images/").json()
    assert {i["prompt"] for i in images["results"]} == {"a cat", "a dog"}
    assert {i["seed"] for i in images["results"]} == {2**64 - 1, None}

    again = post_api(api, good_zip(), model_name="m")
    run_jobs()
    assert api.get(again["Location"]).json()["unchanged"] == 2


def test_the_api_job_lists_every_problem_in_the_api_s_words(api):
    response = post_api(api, zip_bytes({"a.png": b"", "b.png": png_bytes(2)}), kind="generated")
    assert response.status_code == 202
    run_jobs()
    job = api.get(response["Location"]).json()
    assert job["status"] == "failed"
    assert "a.png: the file is empty (0 bytes)" in job["problems"]
    assert "a generated set needs the model that made it (model_name)" in job["problems"]
    assert ImageSet.objects.count() == 0


def test_the_api_refuses_a_missing_or_wrong_token():
    api = APIClient()
    upload = {"archive": SimpleUploadedFile("x.zip", good_zip()), "set_name": "s"}
    assert api.post("/api/imports/", upload, format="multipart").status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    upload = {"archive": SimpleUploadedFile("x.zip", good_zip()), "set_name": "s"}
    assert api.post("/api/imports/", upload, format="multipart").status_code == 401
    assert api.get("/api/imports/1/").status_code == 401
    assert ImageSet.objects.count() == 0 and ImportJob.objects.count() == 0


def test_the_api_refuses_a_token_of_a_non_staff_user():
    user = get_user_model().objects.create_user("judge", password="x-pw-123456")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    upload = {"archive": SimpleUploadedFile("x.zip", good_zip()), "set_name": "s"}
    assert api.post("/api/imports/", upload, format="multipart").status_code == 403


def test_the_api_refuses_an_unsafe_zip_at_once_with_its_problems(api):
    response = post_api(api, zip_bytes({"../x.png": png_bytes(1)}), kind="reference")
    assert response.status_code == 400
    assert "'..' is not allowed" in response.json()["problems"][0]
    assert ImportJob.objects.count() == 0


def test_the_api_refuses_an_import_over_the_byte_limit_up_front(api, settings):
    settings.EVALSITE_MAX_IMPORT_BYTES = 100
    response = post_api(api, good_zip(), kind="reference")
    assert response.status_code == 400
    assert "over the limit of 100" in response.json()["problems"][0]


def test_the_api_refuses_a_nul_in_the_set_name(api):
    response = post_api(api, good_zip(), kind="reference", set_name="a\x00b")
    assert response.status_code == 400 and ImportJob.objects.count() == 0


def test_an_image_whose_file_is_missing_answers_404_not_500(admin_client, settings):
    post_form(admin_client, good_zip(), kind="generated", model_name="m")
    run_jobs()
    image = Image.objects.first()
    (Path(settings.MEDIA_ROOT) / image.blob).unlink()
    assert admin_client.get(f"/catalog/images/{image.pk}/file").status_code == 404
    assert admin_client.get(f"/catalog/images/{image.pk}/file/256").status_code == 404
