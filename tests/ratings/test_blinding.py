"""Everything a judge receives is free of model names, set names, file names and metadata."""

from __future__ import annotations

import io
import re

from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from PIL import Image

from metrics.models import Image as CatalogImage
from metrics.storage import blob_path
from ratings.models import Judge
from tests.ratings.factories import MODEL_NAMES, make_campaign, make_catalog
from tests.ratings.test_judge_pages import answer_form, url

ALLOWED_JPEG_INFO = {
    "jfif",
    "jfif_version",
    "jfif_unit",
    "jfif_density",
    "progressive",
    "progression",
}


def everything_a_judge_receives(client: Client, campaign) -> list[tuple[str, object]]:
    """(url, response) for every page, redirect and image a judge meets from link to code.

    Static files are the same for every campaign; a test below reads them.
    """
    got = []

    def fetch(method, target, data=None):
        response = method(target, data) if data is not None else method(target)
        got.append((target, response))
        return response

    entry = url("entry", campaign, PROLIFIC_PID="blind01", STUDY_ID="s", SESSION_ID="x")
    fetch(client.get, entry)
    fetch(client.post, entry, {})
    fetch(client.get, url("instructions", campaign))
    while True:
        page = fetch(client.get, url("task", campaign))
        if page.status_code == 302:
            break
        html = page.content.decode()
        for src in set(re.findall(r'(/s/[^"\s]+\.jpg)', html)):
            fetch(client.get, src)
        fetch(client.post, url("submit", campaign), answer_form(page))
    fetch(client.get, url("done", campaign))
    return got


def test_nothing_a_judge_receives_names_a_model_a_set_or_a_file(db, tmp_path):
    # Small enough for one judge to walk every item (16 + 2 + 4 regular, 6 gold): all kinds seen.
    sets, reference = make_catalog(tmp_path, models=2, prompts=2, per_prompt=4, references=3)
    campaign = make_campaign(
        sets, reference, name="secret campaign about zebragen",
        criteria=[("realism", "rate"), ("relevance", "rate"), ("realism", "compare"),
                  ("diversity", "grid")],
        allow_link=True, gold_rate=0.25, gold_items=3, grid_size=4, pairs_per_prompt=1,
    )  # fmt: skip
    images = list(CatalogImage.objects.select_related("image_set"))
    # The originals do carry the names (else this test could not fail).
    assert MODEL_NAMES[0].encode() in blob_path(images[0].blob).read_bytes()
    forbidden = {
        *MODEL_NAMES[:2],
        *(s.name for s in sets),
        reference.name,
        "realphotos",
        "secret",
        campaign.name,
        "/catalog/",
        *(img.sha256 for img in images),
        *(img.filename for img in images),
    }
    responses = everything_a_judge_receives(Client(), campaign)
    judge = Judge.objects.get()
    kinds = set(judge.assignments.values_list("item__kind", flat=True))
    assert kinds == {"rate", "compare", "grid"} and judge.assignments.filter(is_gold=True).exists()
    assert judge.assignments.filter(status="done", is_gold=False).count() == 22
    image_count = 0
    for target, response in responses:
        assert response.status_code in (200, 302), target
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = target + " " + " ".join(f"{k}: {v}" for k, v in response.items())
        for word in forbidden:
            assert word.encode() not in body, (target, word)
            assert word not in text, (target, word)
        if target.endswith(".jpg"):
            image_count += 1
            assert response["Content-Type"] == "image/jpeg"
            assert "Content-Disposition" not in response
            decoded = Image.open(io.BytesIO(body))
            assert decoded.format == "JPEG"
            assert set(decoded.info) <= ALLOWED_JPEG_INFO, (target, decoded.info.keys())
            assert len(decoded.getexif()) == 0
    assert image_count >= 20


def test_image_urls_carry_random_tokens_not_catalog_ids(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, criteria=[("realism", "compare")], allow_link=True)
    client = Client()
    client.post(url("entry", campaign, PROLIFIC_PID="p"))
    html = client.get(url("task", campaign)).content.decode()
    tokens = re.findall(r"/s/[\w-]+/i/([\w-]+)/\d+\.jpg", html)
    assert len(set(tokens)) == 2
    assert all(len(t) >= 20 and not t.isdigit() for t in tokens)
    assert str(campaign.pk) not in re.findall(r"/s/([\w-]+)/", html)


def test_the_static_files_judges_load_are_generic():
    for name in ("ratings/rater.js", "ratings/rater.css", "evalsite.css"):
        text = open(finders.find(name), encoding="utf-8").read().lower()
        assert "image_set" not in text and "model" not in text


def test_researchers_exports_reveal_the_models(admin_client, catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, criteria=[("realism", "compare")], allow_link=True)
    client = Client()
    client.post(url("entry", campaign, PROLIFIC_PID="p"))
    client.post(url("submit", campaign), answer_form(client.get(url("task", campaign))))
    csv_text = b"".join(
        admin_client.get(reverse("ratings:export_csv", args=[campaign.pk])).streaming_content
    ).decode()
    assert any(name in csv_text for name in MODEL_NAMES[:3])
