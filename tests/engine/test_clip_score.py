"""CLIP score and directional similarity: known answers and torchmetrics / diffusers numbers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metrics.engine.clip import clip_image_embeddings, clip_text_embeddings, load_clip
from metrics.engine.clip_score import (
    clip_score_from_embeddings,
    clip_score_paths,
    clip_scores,
    directional_similarities,
    directional_similarity_from_embeddings,
    directional_similarity_paths,
)
from metrics.engine.weights import file_sha256
from tests.engine import clip_fixtures as cf

GOLDEN = json.loads(
    (Path(__file__).parents[1] / "data" / "clip_torchmetrics_golden.json").read_text()
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    ckpt = cf.build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")
    return load_clip(str(ckpt), device="cpu")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return cf.make_test_images(tmp_path_factory.mktemp("clip-images"))


# ----------------------------------------------------------------------------- known answers


def test_an_image_embedding_equal_to_its_text_embedding_scores_100():
    x = np.random.default_rng(0).normal(size=(4, 8))
    assert clip_scores(x, 3 * x) == pytest.approx([100.0] * 4)


def test_orthogonal_embeddings_score_0_and_opposite_ones_are_clamped_to_0():
    img = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    txt = np.array([[0.0, 1.0], [-1.0, 0.0], [1.0, 0.0]])
    assert clip_scores(img, txt) == pytest.approx([0.0, 0.0, 100 / np.sqrt(2)])


def test_the_result_has_per_image_scores_a_seeded_interval_and_counts_clamped_images():
    img = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    txt = np.array([[0.0, 1.0], [-1.0, 0.0], [1.0, 0.0]])
    r = clip_score_from_embeddings(img, txt, names=["a.png", "b.png", "c.png"], seed=1)
    assert r.metric == "clip_score" and r.n == 3
    assert r.value == pytest.approx(100 / np.sqrt(2) / 3)
    assert r.per_item == pytest.approx({"a.png": 0.0, "b.png": 0.0, "c.png": 100 / np.sqrt(2)})
    assert r.extra["clamped"] == 1
    assert r.interval[0] <= r.value <= r.interval[1]
    assert r.interval == clip_score_from_embeddings(img, txt, seed=1).interval


def test_mismatched_embedding_counts_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        clip_scores(np.ones((3, 4)), np.ones((2, 4)))


def test_an_edit_along_the_caption_direction_has_directional_similarity_1():
    e = np.eye(6)
    sims = directional_similarities(e[[0, 1, 2]], e[[3, 4, 5]], e[[0, 1, 2]], e[[3, 4, 5]])
    assert sims == pytest.approx([1.0, 1.0, 1.0])
    opposite = directional_similarities(e[[0]], e[[3]], e[[3]], e[[0]])
    assert opposite == pytest.approx([-1.0])
    # An image that did not change has no direction: 0, not NaN.
    rng = np.random.default_rng(1)
    src_i, src_t = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    assert directional_similarities(src_i, src_i, src_t, src_t + 1.0) == pytest.approx([0.0] * 3)


def test_directional_similarity_normalises_embeddings_before_taking_differences():
    e = np.eye(4)
    a = directional_similarities(e[[0]], e[[1]], e[[2]], e[[3]])
    b = directional_similarities(5 * e[[0]], 0.1 * e[[1]], 2 * e[[2]], 9 * e[[3]])
    assert a == pytest.approx(b)


def test_the_directional_result_keeps_per_pair_values():
    e = np.eye(4)
    r = directional_similarity_from_embeddings(
        e[[0, 0]], e[[1, 1]], e[[2, 3]], e[[1, 1]], names=["x", "y"]
    )
    # cos(e1 - e0, e1 - e2) = 1 / (sqrt(2) sqrt(2)) = 0.5
    assert r.metric == "clip_directional_similarity"
    assert r.per_item == pytest.approx({"x": 0.5, "y": 0.5})


# ----------------------------------------------------------------------------- reference numbers


def test_the_golden_file_was_made_on_the_same_checkpoint_and_pixels(bundle, images):
    assert bundle.weights_sha256 == GOLDEN["weights_sha256"]
    assert [p.name for p in images] == GOLDEN["images"]
    assert [
        hashlib.sha256(np.asarray(Image.open(p).convert("RGB")).tobytes()).hexdigest()
        for p in images
    ] == GOLDEN["pixels_sha256"]


def test_raw_cosines_equal_torchmetrics_within_1e_4(bundle, images):
    # Golden: torchmetrics 1.9 _clip_score_update (100 x cos, unclamped), transformers 4.57,
    # on the same tiny checkpoint and images (tests/data/clip_make_golden.py).
    img = clip_image_embeddings(bundle, images)
    txt = clip_text_embeddings(bundle, GOLDEN["prompts"])
    cos = np.einsum("ij,ij->i", img, txt) / (
        np.linalg.norm(img, axis=1) * np.linalg.norm(txt, axis=1)
    )
    np.testing.assert_allclose(100 * cos, GOLDEN["torchmetrics_raw_100cos"], rtol=0, atol=1e-4)


def test_per_image_clip_scores_equal_torchmetrics_clipscore_of_each_image(bundle, images):
    r = clip_score_paths(images, GOLDEN["prompts"], bundle=bundle)
    ours = [r.per_item[name] for name in GOLDEN["images"]]
    np.testing.assert_allclose(ours, GOLDEN["torchmetrics_clipscore_per_image"], rtol=0, atol=1e-4)
    # The test set has both signs, so clamping per image is exercised.
    assert 0 < r.extra["clamped"] < len(images)
    # torchmetrics clamps the mean instead: here the mean cosine is negative, so its score is 0.
    assert GOLDEN["torchmetrics_clipscore_all"] == 0.0 and r.value > 0


def test_directional_similarity_equals_the_diffusers_guide_computation(bundle, images):
    by_name = {p.name: p for p in images}
    pairs = GOLDEN["pairs"]
    r = directional_similarity_paths(
        [by_name[p[0]] for p in pairs],
        [by_name[p[1]] for p in pairs],
        [p[2] for p in pairs],
        [p[3] for p in pairs],
        bundle=bundle,
    )
    ours = [r.per_item[p[1]] for p in pairs]
    np.testing.assert_allclose(ours, GOLDEN["diffusers_guide_directional"], rtol=0, atol=1e-5)


def test_truncated_prompts_are_counted_in_the_result(bundle, images):
    prompts = ["cat " * 100] + GOLDEN["prompts"][1:]
    r = clip_score_paths(images, prompts, bundle=bundle)
    assert r.extra["truncated_prompts"] == 1
    assert "1 of 6 prompts" in r.extra["notes"][0]


def test_one_prompt_per_image_is_required(bundle, images):
    with pytest.raises(ValueError, match="one prompt per image"):
        clip_score_paths(images, GOLDEN["prompts"][:2], bundle=bundle)


def test_provenance_names_the_model_weights_and_preprocessing(bundle, images):
    r = clip_score_paths(images[:2], GOLDEN["prompts"][:2], bundle=bundle)
    assert r.provenance["clip_weights_sha256"] == file_sha256(
        bundle.directory / "model.safetensors"
    )
    assert r.provenance["preprocessing"] == "clip-processor-pil"
    assert r.provenance["scale"] == 100.0 and r.provenance["clamp"] == "per image"
