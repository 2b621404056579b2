"""HPS v2.1: OpenCLIP checkpoint -> transformers CLIPModel, against an independent OpenCLIP forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from metrics.engine import weights
from metrics.engine.hpsv2 import (
    HPS_V21,
    build_model,
    hpsv2_paths,
    load_hpsv2,
    preprocess,
    read_state_dict,
    resize_max_pad,
)
from metrics.engine.openclip_keys import config_from_openclip, openclip_to_hf
from tests.engine import clip_fixtures as cf
from tests.engine import preference_fixtures as pf

HEADS = {"vision_heads": 4, "text_heads": 2}


@pytest.fixture(scope="module")
def state():
    return pf.openclip_state_dict(seed=7, width=32, text_width=24, image_size=32, patch=8)


@pytest.fixture(scope="module")
def reference(state):
    return pf.OpenClipReference(state, **HEADS).eval()


def _openclip_tokens(tokenizer, prompts, context=77):
    """OpenCLIP's layout: start, BPE, end of text, zero padding to 77."""
    ids = tokenizer(list(prompts), truncation=True, max_length=context)["input_ids"]
    out = torch.zeros(len(ids), context, dtype=torch.long)
    for i, row in enumerate(ids):
        out[i, : len(row)] = torch.tensor(row)
    return out


def test_the_mapped_model_computes_openclips_embeddings(state, reference, tmp_path):
    from transformers import CLIPTokenizer

    model = build_model(state, **HEADS)
    pixels = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 3, 32, 32)).astype("f4"))
    with torch.no_grad():
        ours = model.get_image_features(pixel_values=pixels)
        ours = getattr(ours, "pooler_output", ours)
    np.testing.assert_allclose(
        ours.numpy(), reference.encode_image(pixels).numpy(), rtol=1e-4, atol=1e-5
    )

    tok_dir = pf.build_processor_dir(tmp_path / "tok")
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    prompts = cf.TEST_PROMPTS
    ref_text = reference.encode_text(_openclip_tokens(tokenizer, prompts))
    batch = tokenizer(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        text = model.get_text_features(**batch)
        text = getattr(text, "pooler_output", text)
    np.testing.assert_allclose(text.numpy(), ref_text.numpy(), rtol=1e-4, atol=1e-5)


def test_scores_from_files_equal_the_reference_cosines(state, reference, tmp_path):
    from transformers import CLIPTokenizer

    ckpt = pf.save_hps_checkpoint(tmp_path / "w", state)
    tok_dir = pf.build_processor_dir(tmp_path / "tok")
    bundle = load_hpsv2(ckpt, tokenizer=str(tok_dir), device="cpu", **HEADS)
    paths = cf.make_test_images(tmp_path / "imgs", count=5)
    prompts = cf.TEST_PROMPTS[:5]
    result = hpsv2_paths(paths, prompts, bundle=bundle, resamples=50)

    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    pixels = torch.stack([torch.from_numpy(reference_hps_pixels(Image.open(p), 32)) for p in paths])
    img = reference.encode_image(pixels)
    txt = reference.encode_text(_openclip_tokens(tokenizer, prompts))
    img, txt = img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)
    ref = torch.diagonal(img @ txt.T).numpy()
    got = np.array([result.per_item[p.name] for p in paths])
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    assert result.metric == "hpsv2" and result.provenance["scale"] == 1.0
    assert result.provenance["hps_weights_sha256"] == weights.file_sha256(ckpt)
    assert result.provenance["preprocessing"] == "hps-resize-longest-pad-224"


def reference_hps_pixels(image: Image.Image, size: int) -> np.ndarray:
    """HPS v2 val transform, written after open_clip's ResizeMaxSize + ToTensor + Normalize."""
    image = image.convert("RGB")
    w, h = image.size
    scale = size / float(max(h, w))
    nh, nw = round(h * scale), round(w * scale)
    image = image.resize((nw, nh), Image.BICUBIC)
    pad_h, pad_w = size - nh, size - nw
    a = np.zeros((size, size, 3), dtype=np.uint8)
    a[pad_h // 2 : pad_h // 2 + nh, pad_w // 2 : pad_w // 2 + nw] = np.asarray(image)
    t = torch.from_numpy(a).permute(2, 0, 1).float().div(255)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)
    return t.sub(mean).div(std).numpy()


@pytest.mark.parametrize(
    "size", [(300, 200), (200, 341), (224, 224), (97, 500), (1024, 1024), (225, 223)]
)
def test_preprocessing_resizes_the_longer_side_and_pads_with_black(size):
    rng = np.random.default_rng(sum(size))
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    ours = preprocess(image)
    assert ours.shape == (3, 224, 224) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference_hps_pixels(image, 224), atol=1e-6)
    if size[0] != size[1]:
        assert resize_max_pad(image).getpixel((0, 0)) == (0, 0, 0)


def test_the_key_mapping_covers_every_tensor_of_the_real_vit_h_14():
    """The published architecture (open_clip ViT-H-14.json) on the meta device: no tensor left out."""
    from transformers import CLIPModel

    state = pf.openclip_state_dict(
        width=1280, layers=32, patch=14, image_size=224, text_width=1024, text_layers=24,
        embed_dim=1024, vocab=49408, device="meta",
    )  # fmt: skip
    config = config_from_openclip(state, vision_heads=16, text_heads=16)
    # laion/CLIP-ViT-H-14-laion2B-s32B-b79K's transformers config, the same network.
    v, t = config.vision_config, config.text_config
    assert (
        v.hidden_size,
        v.intermediate_size,
        v.num_hidden_layers,
        v.patch_size,
        v.image_size,
    ) == (
        1280,
        5120,
        32,
        14,
        224,
    )
    assert (t.hidden_size, t.intermediate_size, t.num_hidden_layers, t.vocab_size) == (
        1024,
        4096,
        24,
        49408,
    )
    assert config.projection_dim == 1024 and t.eos_token_id == 49407
    mapped = openclip_to_hf(state)
    with torch.device("meta"):
        model = CLIPModel(config)
    expected = {
        k: tuple(x.shape) for k, x in model.state_dict().items() if not k.endswith("position_ids")
    }
    assert {k: tuple(x.shape) for k, x in mapped.items()} == expected
    n_params = sum(int(np.prod(s)) for s in expected.values())
    assert 980e6 < n_params < 990e6  # ViT-H-14 CLIP: 986M parameters


def test_a_checkpoint_with_foreign_tensors_is_refused(state, tmp_path):
    with pytest.raises(ValueError, match="no place in a CLIP model.*visual.attn_pool"):
        openclip_to_hf({**state, "visual.attn_pool.query": torch.zeros(2)})
    bad = tmp_path / "x.pt"
    torch.save({"state_dict": {"foo": torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match="no OpenCLIP state dict"):
        read_state_dict(bad)


def test_a_module_prefix_from_distributed_training_is_accepted(state, reference):
    model = build_model({f"module.{k}": v for k, v in state.items()}, **HEADS)
    pixels = torch.ones(1, 3, 32, 32)
    with torch.no_grad():
        ours = model.get_image_features(pixel_values=pixels)
        ours = getattr(ours, "pooler_output", ours)
    np.testing.assert_allclose(
        ours.numpy(), reference.encode_image(pixels).numpy(), rtol=1e-4, atol=1e-5
    )


def test_offline_a_missing_checkpoint_is_one_error_naming_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(weights.WeightsMissingError) as err:
        load_hpsv2()
    assert HPS_V21.name in str(err.value) and "fetch-weights" in str(err.value)
