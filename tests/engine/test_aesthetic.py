"""LAION aesthetic score: the published head's definition on seeded weights, end to end on files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics.engine import weights
from metrics.engine.aesthetic import (
    AESTHETIC_HEAD,
    aesthetic_from_embeddings,
    aesthetic_paths,
    aesthetic_scores,
    load_aesthetic_head,
)
from metrics.engine.clip import clip_image_embeddings, load_clip
from tests.engine import clip_fixtures as cf
from tests.engine import preference_fixtures as pf


@pytest.fixture(scope="module")
def head_file(tmp_path_factory):
    return pf.save_aesthetic_head(tmp_path_factory.mktemp("aesthetic"))


@pytest.fixture(scope="module")
def head(head_file):
    return load_aesthetic_head(head_file)


def reference_scores(head_file, embeddings: np.ndarray) -> np.ndarray:
    """simple_inference.py: numpy ``normalized`` (L2, zero norms as 1), then the MLP in float32."""
    mlp = pf.published_aesthetic_mlp()
    mlp.load_state_dict(torch.load(head_file, weights_only=True))
    mlp.eval()
    a = embeddings.astype(np.float32)
    l2 = np.atleast_1d(np.linalg.norm(a, 2, -1))
    l2[l2 == 0] = 1
    normed = a / np.expand_dims(l2, -1)
    with torch.no_grad():
        return mlp(torch.from_numpy(normed).float()).numpy()[:, 0].astype(np.float64)


def test_scores_equal_the_published_head_on_seeded_weights(head, head_file):
    emb = np.random.default_rng(1).normal(size=(9, 768)).astype(np.float32) * 3
    ours = aesthetic_scores(emb, head)
    ref = reference_scores(head_file, emb)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=0)


def test_the_score_depends_on_the_direction_only_and_a_zero_embedding_is_kept(head, head_file):
    emb = np.random.default_rng(2).normal(size=(3, 768))
    np.testing.assert_allclose(aesthetic_scores(emb, head), aesthetic_scores(7 * emb, head))
    zero = np.zeros((1, 768))
    # A zero row stays zero: the score is the head's output for 0, the sum of its biases chained.
    expected = reference_scores(head_file, zero.astype(np.float32))
    np.testing.assert_allclose(aesthetic_scores(zero, head), expected, rtol=1e-5)


def test_the_result_has_per_image_values_an_interval_and_the_head_checksum(head, head_file):
    emb = np.random.default_rng(3).normal(size=(5, 768))
    r = aesthetic_from_embeddings(emb, head, names=[f"{i}.png" for i in range(5)], seed=4)
    scores = aesthetic_scores(emb, head)
    assert r.metric == "aesthetic" and r.n == 5 and r.higher_is_better
    assert r.value == pytest.approx(scores.mean())
    assert r.per_item == pytest.approx({f"{i}.png": s for i, s in enumerate(scores)})
    low, high = r.interval
    assert low <= r.value <= high
    assert r.provenance["aesthetic_head_sha256"] == weights.file_sha256(head_file)
    assert r.provenance["bootstrap"]["seed"] == 4


def test_embeddings_of_another_size_are_refused_with_the_model_to_use(head):
    with pytest.raises(ValueError, match="768-d CLIP ViT-L/14.*clip-vit-large-patch14"):
        aesthetic_scores(np.ones((2, 512)), head)


def test_a_file_that_is_not_the_head_is_refused(tmp_path):
    bad = tmp_path / "head.pth"
    torch.save({"layers.0.weight": torch.zeros(3, 3), "layers.0.bias": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="layers.0 has shape"):
        load_aesthetic_head(bad)


def test_offline_a_missing_head_is_one_error_naming_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(weights.WeightsMissingError) as err:
        load_aesthetic_head()
    assert AESTHETIC_HEAD.name in str(err.value) and "fetch-weights" in str(err.value)


def test_the_head_is_verified_by_its_published_md5(tmp_path, head_file, monkeypatch):
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(head_file.parent))
    with pytest.raises(weights.WeightsChecksumError, match="md5"):
        load_aesthetic_head(download=False)  # seeded weights: not the published file
    spec = weights.WeightsSpec(
        AESTHETIC_HEAD.name, AESTHETIC_HEAD.urls, "", md5=weights.file_md5(head_file)
    )
    assert weights.verify(spec, head_file) == weights.file_sha256(head_file)


def test_end_to_end_on_files_equals_head_of_clip_embeddings(head, head_file, tmp_path):
    clip_dir = pf.build_clip_dir(tmp_path / "clip768", projection_dim=768)
    bundle = load_clip(str(clip_dir), device="cpu")
    images = cf.make_test_images(tmp_path / "imgs", count=4)
    r = aesthetic_paths(images, bundle=bundle, head=head, resamples=50)
    emb = clip_image_embeddings(bundle, images)
    ref = reference_scores(head_file, emb)
    got = np.array([r.per_item[p.name] for p in images])
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    assert r.provenance["clip_weights_sha256"] == bundle.weights_sha256
    assert any("not openai/clip-vit-large-patch14" in n for n in r.extra["notes"])
