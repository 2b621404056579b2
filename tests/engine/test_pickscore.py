"""PickScore: the model card's computation on a seeded save_pretrained checkpoint, and preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from metrics.engine.clip import _features
from metrics.engine.pickscore import (
    checkpoint_logit_scale,
    load_pickscore,
    logit_scale,
    pickscore_paths,
)
from metrics.engine.preference import resolve_processor_dir, scaled_cosines
from metrics.engine.weights import WeightsMissingError
from tests.engine import clip_fixtures as cf
from tests.engine import preference_fixtures as pf


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("pickscore")
    model = cf.build_tiny_clip(base / "PickScore_v1", seed=5)
    processor = pf.build_processor_dir(base / "laion-processor")
    return model, processor


@pytest.fixture(scope="module")
def bundle(dirs):
    model, processor = dirs
    return load_pickscore(str(model), str(processor), device="cpu")


def model_card_scores(model_dir, processor_bundle, images, prompts) -> np.ndarray:
    """The PickScore model card: CLIPModel + processor, logit_scale.exp() * text_embs @ image_embs.T."""
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for image, prompt in zip(images, prompts, strict=True):
            pixels = processor_bundle.image_processor(images=[image], return_tensors="pt")
            tokens = processor_bundle.tokenizer(
                [prompt], padding=True, truncation=True, max_length=77, return_tensors="pt"
            )
            image_embs = _features(model.get_image_features(**pixels), "image")
            image_embs = image_embs / torch.norm(image_embs, dim=-1, keepdim=True)
            text_embs = _features(model.get_text_features(**tokens), "text")
            text_embs = text_embs / torch.norm(text_embs, dim=-1, keepdim=True)
            out.append(float((model.logit_scale.exp() * (text_embs @ image_embs.T)[0])[0]))
    return np.array(out)


def test_per_image_scores_equal_the_model_cards_computation(dirs, bundle, tmp_path):
    paths = cf.make_test_images(tmp_path / "imgs", count=6)
    prompts = cf.TEST_PROMPTS
    result = pickscore_paths(paths, prompts, bundle=bundle, resamples=100)
    images = [Image.open(p).convert("RGB") for p in paths]
    ref = model_card_scores(dirs[0], bundle, images, prompts)
    got = np.array([result.per_item[p.name] for p in paths])
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    assert result.metric == "pickscore" and result.value == pytest.approx(ref.mean(), rel=1e-4)
    assert result.provenance["scale"] == pytest.approx(1 / 0.07, rel=1e-5)
    assert result.provenance["clip_weights_sha256"] == bundle.weights_sha256


def test_the_logit_scale_read_from_the_checkpoint_equals_the_models(dirs, bundle):
    assert checkpoint_logit_scale(dirs[0]) == pytest.approx(logit_scale(bundle), rel=1e-7)


def test_the_score_is_the_scale_times_the_cosine():
    img = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    txt = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, -1.0]])
    np.testing.assert_allclose(scaled_cosines(img, txt, 100.0), [100.0, 100 / np.sqrt(2), -100.0])
    with pytest.raises(ValueError, match="same shape"):
        scaled_cosines(img, txt[:2], 1.0)


def reference_clip_pixels(image: Image.Image, size: int) -> np.ndarray:
    """transformers' (slow) CLIPImageProcessor, written out: short side to size (PIL bicubic,
    long side int()-truncated), centre crop at (h - size) // 2, /255, OpenAI mean/std."""
    w, h = image.size
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    a = np.asarray(image.resize((new_w, new_h), Image.BICUBIC), dtype=np.float64) / 255
    top, left = (new_h - size) // 2, (new_w - size) // 2
    a = a[top : top + size, left : left + size]
    a = (a - np.array(cf.OPENAI_CLIP_MEAN)) / np.array(cf.OPENAI_CLIP_STD)
    return a.transpose(2, 0, 1)


def test_preprocessing_is_the_laion_processors_at_224(tmp_path):
    from metrics.engine.clip import _image_processor_class

    processor_dir = pf.build_processor_dir(tmp_path / "laion", size=224)
    processor = _image_processor_class().from_pretrained(processor_dir)
    # The published preprocessor_config.json of laion/CLIP-ViT-H-14-laion2B-s32B-b79K.
    assert processor.crop_size == {"height": 224, "width": 224}
    assert list(processor.image_mean) == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    assert list(processor.image_std) == pytest.approx([0.26862954, 0.26130258, 0.27577711])
    for size in [(300, 200), (200, 341), (224, 224), (97, 500)]:
        rng = np.random.default_rng(sum(size))
        image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        ours = processor(images=[image], return_tensors="pt")["pixel_values"][0].numpy()
        np.testing.assert_allclose(ours, reference_clip_pixels(image, 224), atol=2e-5)


def test_offline_missing_processor_files_are_one_error_naming_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(WeightsMissingError, match="laion/CLIP-ViT-H-14.*fetch-weights"):
        resolve_processor_dir("laion/CLIP-ViT-H-14-laion2B-s32B-b79K")
