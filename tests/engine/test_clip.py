"""CLIP loading and embeddings through the real transformers code, on a tiny saved checkpoint."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch

from metrics.engine.clip import (
    PREPROCESSING,
    ClipImageExtractor,
    _features,
    clip_fetch,
    clip_image_embeddings,
    clip_text_embeddings,
    count_truncated,
    load_clip,
    resolve_clip_dir,
)
from metrics.engine.extractors import FeatureExtractor
from metrics.engine.weights import WeightsMissingError, file_sha256
from tests.engine import clip_fixtures as cf


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return cf.build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return cf.make_test_images(tmp_path_factory.mktemp("clip-images"))


@pytest.fixture(scope="module")
def bundle(ckpt):
    return load_clip(str(ckpt), device="cpu")


def test_the_fixture_rebuilds_the_same_checkpoint_bytes(ckpt, tmp_path):
    again = cf.build_tiny_clip(tmp_path / "again")
    assert file_sha256(again / "model.safetensors") == file_sha256(ckpt / "model.safetensors")


def test_a_saved_checkpoint_directory_loads_with_its_processor_and_weights_hash(bundle, ckpt):
    assert bundle.embedding_dim == cf.PROJECTION_DIM
    assert bundle.max_text_tokens == 77
    assert bundle.weights_sha256 == file_sha256(ckpt / "model.safetensors")
    assert type(bundle.image_processor).__name__ in ("CLIPImageProcessorPil", "CLIPImageProcessor")
    assert bundle.provenance()["clip_weights_sha256"] == bundle.weights_sha256
    assert bundle.provenance()["versions"]["transformers"]


def test_the_model_is_loaded_once_per_name_and_device(bundle, ckpt):
    assert load_clip(str(ckpt), device="cpu") is bundle


def test_image_embeddings_do_not_depend_on_batching_or_decode_threads(bundle, images):
    one_batch = clip_image_embeddings(bundle, images, batch_size=len(images))
    small = clip_image_embeddings(bundle, images, batch_size=2, workers=2)
    assert one_batch.dtype == np.float32 and one_batch.shape == (len(images), cf.PROJECTION_DIM)
    np.testing.assert_allclose(small, one_batch, rtol=1e-5, atol=1e-6)


def test_image_embeddings_are_the_models_projected_image_features(bundle, images):
    from PIL import Image

    pixels = bundle.image_processor(
        images=[Image.open(p).convert("RGB") for p in images], return_tensors="pt"
    )["pixel_values"]
    with torch.no_grad():
        vision = bundle.model.vision_model(pixel_values=pixels)
        expected = bundle.model.visual_projection(vision.pooler_output).numpy()
    np.testing.assert_allclose(
        clip_image_embeddings(bundle, images), expected, rtol=1e-5, atol=1e-6
    )


def test_progress_is_reported_per_batch(bundle, images):
    seen = []
    clip_image_embeddings(bundle, images, batch_size=4, progress=seen.append)
    assert seen == [4, len(images) - 4]


def test_long_prompts_are_truncated_to_77_tokens_with_a_warning_naming_how_many(bundle):
    long = " ".join(["cat"] * 120)
    cut = " ".join(["cat"] * 75)  # 75 words + start and end tokens = 77
    assert count_truncated(bundle, [long, "a dog", long]) == 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emb = clip_text_embeddings(bundle, [long, "a dog", long])
    messages = [str(w.message) for w in caught]
    assert any("2 of 3 prompts" in m and "77 tokens" in m for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a prompt at exactly the limit is not truncated
        same = clip_text_embeddings(bundle, [cut])
    np.testing.assert_allclose(emb[0], same[0], rtol=1e-5, atol=1e-6)


def test_text_embeddings_do_not_depend_on_padding_in_the_batch(bundle):
    together = clip_text_embeddings(bundle, ["cat", "a photo of the red dog"])
    alone = clip_text_embeddings(bundle, ["cat"])
    np.testing.assert_allclose(together[0], alone[0], rtol=1e-5, atol=1e-6)


def test_the_clip_extractor_follows_the_feature_extractor_protocol(bundle, images, ckpt):
    extractor = ClipImageExtractor(bundle=bundle)
    assert isinstance(extractor, FeatureExtractor)
    assert extractor.extractor_id == f"clip-image:{ckpt}"
    assert extractor.preprocessing == PREPROCESSING
    assert extractor.weights_sha256 == file_sha256(ckpt / "model.safetensors")
    assert extractor.outputs == {"embedding": cf.PROJECTION_DIM}
    out = extractor.extract_paths(images[:3], batch_size=2)
    assert set(out) == {"embedding"} and out["embedding"].shape == (3, cf.PROJECTION_DIM)


def test_features_accept_a_tensor_or_a_transformers_5_output_object():
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    t = torch.ones(2, 3)
    assert _features(t, "image") is t
    assert _features(BaseModelOutputWithPooling(pooler_output=t), "text") is t
    with pytest.raises(TypeError):
        _features(object(), "image")


def test_a_model_missing_offline_is_one_clear_error_naming_it_and_the_fetch_command(monkeypatch):
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    with pytest.raises(WeightsMissingError) as info:
        load_clip("evalsite-tests/no-such-clip", device="cpu")
    message = str(info.value)
    assert "evalsite-tests/no-such-clip" in message
    assert "python -m metrics fetch-weights --clip-model evalsite-tests/no-such-clip" in message
    assert "offline" in message and "EVALSITE_WEIGHTS_DIR" in message
    with pytest.raises(WeightsMissingError):
        clip_fetch("evalsite-tests/no-such-clip")  # fetching is refused offline too


def test_a_directory_that_is_not_a_checkpoint_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(WeightsMissingError, match="not a CLIP checkpoint"):
        resolve_clip_dir(str(tmp_path))


def test_a_checkpoint_under_evalsite_weights_dir_is_found_by_its_hub_name(
    ckpt, tmp_path, monkeypatch
):
    target = tmp_path / "acme" / "tiny-clip"
    shutil.copytree(ckpt, target)
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    assert resolve_clip_dir("acme/tiny-clip") == target
