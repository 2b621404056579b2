"""The HTML export opens in Chromium from disk with no network and shows every section."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from ratings.report import SECTIONS, report_build
from ratings.report.exports import report_export
from tests.ratings.report.helpers import build_campaign

CHROMIUM = os.environ.get("EVALSITE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def exported(db, tmp_path):
    rng = np.random.default_rng(2)
    built = build_campaign(
        n_prompts=6,
        compare_scores=(-0.4, 0.0, 0.1, 0.4),
        metrics={"fid": [40, 30, 20, 10], "clip_score": [20, 21, 22, 23]},
        per_image={"clip_score": rng.normal(22, 2, (4, 6))},
        write_images=True,
    )
    report = report_build(campaign=built.campaign, n_resamples=100)
    path = tmp_path / "report.html"
    path.write_bytes(report_export(report, campaign=built.campaign, fmt="html"))
    return path


@pytest.mark.browser
def test_the_html_export_opens_offline_and_shows_every_section(exported, tmp_path, monkeypatch):
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: run bin/ensure-chromium"
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})

            def refuse(route):
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", refuse)
            page = context.new_page()
            page.goto(exported.as_uri())
            for section in SECTIONS:
                locator = page.locator(f"#section-{section}")
                locator.scroll_into_view_if_needed()
                assert locator.is_visible(), section
                assert locator.bounding_box()["height"] > 40, section
            # Plots render (inline SVG with a size) and thumbnails decode (data URIs).
            assert page.locator("svg").count() >= 5
            assert page.locator("svg").first.bounding_box()["width"] > 200
            widths = page.eval_on_selector_all(".tile img", "els => els.map(e => e.naturalWidth)")
            assert widths and min(widths) > 0
            page.evaluate("window.scrollTo(0, 0)")
            shot = page.screenshot(full_page=False)
        finally:
            browser.close()
    assert blocked == []
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    colours = image.getcolors(maxcolors=1_000_000)
    assert image.size == (1280, 900)
    assert colours is not None and len(colours) > 20  # not a blank page
    (tmp_path / "report.png").write_bytes(shot)
