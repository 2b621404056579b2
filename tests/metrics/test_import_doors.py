"""The three doors of the import: the command, the upload form and the REST endpoint."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from metrics.models import Image, ImageSet
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
            "manifest.csv": b"file,prompt\na.png,a cat\nb.png,a dog\n",
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


# --- upload form -----------------------------------------------------------------------------


def test_the_upload_form_imports_a_zip(admin_client):
    response = admin_client.post(
        "/catalog/import/",
        {
            "archive": SimpleUploadedFile("up.zip", good_zip()),
            "set_name": "web",
            "kind": "generated",
            "model_name": "m",
        },
    )
    assert response.status_code == 302
    assert Image.objects.filter(image_set__name="web").count() == 2


def test_the_upload_form_shows_problems_without_a_traceback(admin_client):
    bad = zip_bytes({"a.png": png_bytes(1), "b.png": b""})
    response = admin_client.post(
        "/catalog/import/",
        {"archive": SimpleUploadedFile("up.zip", bad), "set_name": "web", "kind": "reference"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Nothing was imported" in body and "b.png: the file is empty" in body
    assert "Traceback" not in body
    assert ImageSet.objects.count() == 0


def test_the_upload_form_refuses_a_file_that_is_not_a_zip(admin_client):
    response = admin_client.post(
        "/catalog/import/",
        {"archive": SimpleUploadedFile("up.zip", b"hello"), "set_name": "w", "kind": "reference"},
    )
    assert response.status_code == 400
    assert "not a folder or a zip file" in response.content.decode()


def test_the_catalog_is_for_researchers_only(client, django_user_model):
    user = django_user_model.objects.create_user("judge", password="pw-judge-123")
    client.force_login(user)
    assert client.get("/catalog/").status_code == 302  # to the admin login
    assert client.get("/catalog/import/").status_code == 302


def test_catalog_pages_render_for_a_researcher(admin_client):
    admin_client.post(
        "/catalog/import/",
        {"archive": SimpleUploadedFile("up.zip", good_zip()), "set_name": "web",
         "kind": "generated", "model_name": "m"},
    )  # fmt: skip
    image = Image.objects.first()
    for url in ["/catalog/", f"/catalog/sets/{image.image_set_id}/", f"/catalog/images/{image.pk}/",
                f"/catalog/models/{image.image_set.model_id}/"]:  # fmt: skip
        response = admin_client.get(url)
        assert response.status_code == 200, url
    thumb = admin_client.get(f"/catalog/images/{image.pk}/file/256")
    assert thumb.status_code == 200 and b"".join(thumb.streaming_content)[:2] == b"\xff\xd8"
    assert admin_client.get(f"/catalog/images/{image.pk}/file/300").status_code == 404


# --- REST API --------------------------------------------------------------------------------


@pytest.fixture
def token():
    user = get_user_model().objects.create_user("trainer", password="x-pw-123456", is_staff=True)
    return Token.objects.create(user=user).key


def test_the_api_imports_with_a_valid_token(token):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api.post(
        "/api/imports/",
        {"archive": SimpleUploadedFile("x.zip", good_zip()), "set_name": "api-set",
         "model_name": "m"},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 2
    again = api.post(
        "/api/imports/",
        {"archive": SimpleUploadedFile("x.zip", good_zip()), "set_name": "api-set",
         "model_name": "m"},
        format="multipart",
    )  # fmt: skip
    assert again.status_code == 200 and again.json()["unchanged"] == 2
    listing = api.get("/api/image-sets/").json()
    assert listing["results"][0]["name"] == "api-set" and listing["results"][0]["image_count"] == 2
    images = api.get(f"/api/image-sets/{listing['results'][0]['id']}/images/").json()
    assert {i["prompt"] for i in images["results"]} == {"a cat", "a dog"}


def test_the_api_refuses_a_missing_or_wrong_token():
    api = APIClient()
    upload = {"archive": SimpleUploadedFile("x.zip", good_zip()), "set_name": "s"}
    assert api.post("/api/imports/", upload, format="multipart").status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    upload = {"archive": SimpleUploadedFile("x.zip", good_zip()), "set_name": "s"}
    assert api.post("/api/imports/", upload, format="multipart").status_code == 401
    assert ImageSet.objects.count() == 0


def test_the_api_refuses_a_token_of_a_non_staff_user():
    user = get_user_model().objects.create_user("judge", password="x-pw-123456")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    upload = {"archive": SimpleUploadedFile("x.zip", good_zip()), "set_name": "s"}
    assert api.post("/api/imports/", upload, format="multipart").status_code == 403


def test_the_api_lists_every_problem_of_a_bad_import(token):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    bad = zip_bytes({"../x.png": png_bytes(1)})
    response = api.post(
        "/api/imports/",
        {"archive": SimpleUploadedFile("x.zip", bad), "set_name": "s", "kind": "reference"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "'..' is not allowed" in response.json()["problems"][0]
