"""ImageReward rebuilt from transformers' BLIP classes, against an independent BLIP forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from metrics.engine import weights
from metrics.engine.imagereward import (
    IMAGEREWARD,
    ImageRewardModel,
    imagereward_paths,
    load_imagereward,
    load_tokenizer,
    preprocess,
)
from tests.engine import clip_fixtures as cf
from tests.engine import imagereward_fixtures as irf

HEADS = {"vision_heads": 4, "text_heads": 2}


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory):
    return irf.write_bert_vocab(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def state(vocab_dir):
    return irf.imagereward_state_dict(seed=3, vocab=irf.vocab_size(vocab_dir))


def test_scores_from_files_equal_the_reference_forward(state, vocab_dir, tmp_path):
    ckpt = irf.save_checkpoint(tmp_path / "w", state)
    scorer = load_imagereward(ckpt, tokenizer=str(vocab_dir), device="cpu", **HEADS)
    paths = cf.make_test_images(tmp_path / "imgs", count=5)
    prompts = [
        "a photo of the cat",
        "a red dog",
        "the big blue sea !",
        "cat",
        "things on a thing 42",
    ]
    result = imagereward_paths(paths, prompts, scorer=scorer, batch_size=2, resamples=50)

    tokenizer = load_tokenizer(vocab_dir)
    tokens = tokenizer(
        prompts, padding="max_length", truncation=True, max_length=35, return_tensors="pt"
    )
    assert (
        tokens["input_ids"].shape == (5, 35) and tokens["input_ids"][0, 0] == tokenizer.cls_token_id
    )
    pixels = torch.stack([torch.from_numpy(reference_pixels(Image.open(p), 32)) for p in paths])
    ref = irf.reference_rewards(
        state, pixels, tokens["input_ids"], tokens["attention_mask"], **HEADS
    ).numpy()
    got = np.array([result.per_item[p.name] for p in paths])
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)
    assert result.metric == "imagereward" and result.n == 5
    assert result.provenance["imagereward_weights_sha256"] == weights.file_sha256(ckpt)
    assert result.provenance["unused_tensors"] == 5  # vision_proj, text_proj, position_ids


def test_padding_does_not_change_a_reward(state, vocab_dir, tmp_path):
    """Prompts padded to 35 tokens (the reference) score as unpadded ones: pads are masked."""
    ckpt = irf.save_checkpoint(tmp_path / "w", state)
    scorer = load_imagereward(ckpt, tokenizer=str(vocab_dir), device="cpu", **HEADS)
    tok = load_tokenizer(vocab_dir)(["a red dog"], return_tensors="pt")
    pixels = torch.from_numpy(preprocess(Image.new("RGB", (40, 30), (200, 10, 10)), 32))[None]
    short = scorer.model.rewards(pixels, tok["input_ids"], tok["attention_mask"])
    long = scorer.score_images([Image.new("RGB", (40, 30), (200, 10, 10))], ["a red dog"])
    np.testing.assert_allclose(long, short.double().numpy(), rtol=1e-5)


def reference_pixels(image: Image.Image, size: int) -> np.ndarray:
    """torchvision Resize(size, BICUBIC) + CenterCrop + ToTensor + Normalize, written out."""
    image = image.convert("RGB")
    w, h = image.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    image = image.resize((nw, nh), Image.BICUBIC)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    a = np.asarray(image)[top : top + size, left : left + size]
    t = torch.from_numpy(a.copy()).permute(2, 0, 1).float().div(255)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)
    return t.sub(mean).div(std).numpy()


@pytest.mark.parametrize("size", [(300, 227), (227, 300), (224, 224), (97, 500), (1023, 1024)])
def test_preprocessing_is_torchvisions_resize_and_centre_crop(size):
    rng = np.random.default_rng(sum(size))
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    ours = preprocess(image)
    assert ours.shape == (3, 224, 224)
    np.testing.assert_allclose(ours, reference_pixels(image, 224), atol=1e-6)


def test_the_key_mapping_covers_every_tensor_of_the_real_imagereward():
    """BLIP ViT-L/16 + BERT-base with cross-attention + the 768-d head, on the meta device."""
    state = irf.imagereward_state_dict(
        vocab=30524, width=1024, depth=24, patch=16, image=224, hidden=768, layers=12,
        inter=3072, max_pos=512, device="meta",
    )  # fmt: skip
    model = ImageRewardModel(state)  # the published head counts: 16 and 12
    v, t = model.vision.config, model.text.config
    assert (v.hidden_size, v.num_hidden_layers, v.patch_size, v.image_size) == (1024, 24, 16, 224)
    assert (t.hidden_size, t.num_hidden_layers, t.encoder_hidden_size, t.vocab_size) == (
        768, 12, 1024, 30524,
    )  # fmt: skip
    loaded = sum(p.numel() for p in [*model.vision.parameters(), *model.text.parameters()])
    in_checkpoint = sum(
        x.numel() for k, x in state.items()
        if k.startswith(("blip.visual_encoder.", "blip.text_encoder.")) and "position_ids" not in k
    )  # fmt: skip
    assert loaded == in_checkpoint
    assert sorted(model.unused) == [
        "blip.text_encoder.embeddings.position_ids",
        "blip.text_proj.bias", "blip.text_proj.weight",
        "blip.vision_proj.bias", "blip.vision_proj.weight",
    ]  # fmt: skip


def test_a_checkpoint_that_is_not_imagereward_is_refused(state):
    with pytest.raises(ValueError, match="not ImageReward's.*blip.text_decoder"):
        ImageRewardModel({**state, "blip.text_decoder.cls.bias": torch.zeros(2)}, **HEADS)
    broken = {k: v for k, v in state.items() if k != "blip.visual_encoder.blocks.0.attn.qkv.weight"}
    with pytest.raises(ValueError, match="vision tower of the checkpoint does not fit.*qkv"):
        ImageRewardModel(broken, **HEADS)


def test_offline_a_missing_checkpoint_is_one_error_naming_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(weights.WeightsMissingError) as err:
        load_imagereward()
    assert IMAGEREWARD.name in str(err.value) and "fetch-weights" in str(err.value)
