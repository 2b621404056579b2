"""A tiny CLIP checkpoint built offline, in the standard Hugging Face layout.

The real ``openai/clip-vit-large-patch14`` cannot be downloaded here, so tests build
the same architecture (``CLIPModel``) at toy size with seeded weights and write a
directory that ``CLIPModel.from_pretrained`` / ``CLIPProcessor.from_pretrained``
read like any hub checkpoint: ``config.json`` + ``model.safetensors`` (from
``save_pretrained``), a byte-level BPE tokenizer (``vocab.json`` + ``merges.txt`` +
``tokenizer_config.json``, written by hand as the hub files are) and
``preprocessor_config.json``.

Weights come from numpy's seeded generator, not from torch's initialisers, so the
directory is byte-for-byte the same on every machine and library version; the
golden file ``tests/data/clip_torchmetrics_golden.json`` records its sha256 and the
torchmetrics numbers computed on it (``tests/data/make_clip_golden.py``).

Usable both from the project venv (tests) and from the peers venv (the golden
script), so it imports nothing from evalsite.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

IMAGE_SIZE = 32
PATCH_SIZE = 8
HIDDEN = 32
PROJECTION_DIM = 16
MAX_TOKENS = 77  # as real CLIP, so truncation is exercised at the real limit
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# A handful of merges so that the BPE merge path runs, not only single bytes.
MERGES = [
    ("c", "a"),
    ("ca", "t</w>"),
    ("d", "o"),
    ("do", "g</w>"),
    ("t", "h"),
    ("th", "e</w>"),
    ("p", "h"),
    ("o", "t"),
    ("ph", "ot"),
    ("phot", "o</w>"),
    ("o", "f</w>"),
    ("r", "e"),
    ("re", "d</w>"),
]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte-level alphabet: every byte maps to a printable character."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\xa1"), ord("\xac") + 1))
        + list(range(ord("\xae"), ord("\xff") + 1))
    )
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def tiny_vocab() -> dict[str, int]:
    """Byte tokens, byte tokens ending a word, merged tokens, then BOS/EOS (CLIP's order)."""
    alphabet = list(bytes_to_unicode().values())
    tokens = alphabet + [c + "</w>" for c in alphabet] + [a + b for a, b in MERGES] + [BOS, EOS]
    return {tok: i for i, tok in enumerate(tokens)}


def _tensor_values(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if name == "logit_scale":
        return np.asarray(math.log(1 / 0.07), dtype=np.float32)
    if "norm" in name and name.endswith(".weight"):
        return (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
    if name.endswith(".bias"):
        return (0.05 * rng.standard_normal(shape)).astype(np.float32)
    if "embedding" in name:
        return (0.5 * rng.standard_normal(shape)).astype(np.float32)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    return (rng.standard_normal(shape) / math.sqrt(fan_in)).astype(np.float32)


def tiny_clip_config():
    """A CLIPConfig of the real architecture at toy size (32 px images, 16-d embeddings)."""
    from transformers import CLIPConfig

    vocab_size = len(tiny_vocab())
    return CLIPConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": HIDDEN,
            "intermediate_size": 2 * HIDDEN,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": MAX_TOKENS,
            "bos_token_id": vocab_size - 2,
            "eos_token_id": vocab_size - 1,
            "pad_token_id": vocab_size - 1,
        },
        vision_config={
            "image_size": IMAGE_SIZE,
            "patch_size": PATCH_SIZE,
            "hidden_size": HIDDEN,
            "intermediate_size": 2 * HIDDEN,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
        projection_dim=PROJECTION_DIM,
    )


def _write_tokenizer(directory: Path) -> None:
    vocab = tiny_vocab()
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES)
    (directory / "merges.txt").write_text(merges, encoding="utf-8")
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_TOKENS,
        "do_lower_case": True,
        "errors": "replace",
        "add_prefix_space": False,
        "processor_class": "CLIPProcessor",
        **special,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2))


def _write_image_processor(directory: Path) -> None:
    config = {
        "image_processor_type": "CLIPImageProcessor",
        "processor_class": "CLIPProcessor",
        "do_resize": True,
        "size": {"shortest_edge": IMAGE_SIZE},
        "resample": 3,  # bicubic, as the hub's CLIP checkpoints
        "do_center_crop": True,
        "crop_size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": OPENAI_CLIP_MEAN,
        "image_std": OPENAI_CLIP_STD,
        "do_convert_rgb": True,
    }
    (directory / "preprocessor_config.json").write_text(json.dumps(config, indent=2))


def build_tiny_clip(
    directory: str | Path, seed: int = 0, *, projection_dim: int | None = None
) -> Path:
    """Write the tiny CLIP checkpoint (model, tokenizer, image processor) into ``directory``;
    ``projection_dim`` gives it another embedding size."""
    import torch
    from transformers import CLIPModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = tiny_clip_config()
    if projection_dim is not None:
        config.projection_dim = projection_dim
    model = CLIPModel(config)
    rng = np.random.default_rng(seed)
    state = model.state_dict()
    # Sorted names: the draw order, hence the weights, do not depend on module order.
    values = {
        name: torch.from_numpy(_tensor_values(name, tuple(t.shape), rng))
        for name, t in sorted(state.items())
    }
    model.load_state_dict(values, strict=True)
    model.save_pretrained(directory, safe_serialization=True)
    _write_tokenizer(directory)
    _write_image_processor(directory)
    return directory


def make_test_images(directory: str | Path, count: int = 6, seed: int = 0) -> list[Path]:
    """Write ``count`` small PNG images of varied sizes and colours (deterministic)."""
    from PIL import Image

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    sizes = [(40, 40), (48, 36), (32, 56), (64, 64), (37, 45), (50, 50)]
    for i in range(count):
        w, h = sizes[i % len(sizes)]
        base = rng.integers(0, 256, size=3)
        noise = rng.integers(-60, 61, size=(h, w, 3))
        ramp = np.linspace(0, 90, w)[None, :, None]
        pixels = np.clip(base[None, None, :] + noise + ramp, 0, 255).astype(np.uint8)
        path = directory / f"img_{i:02d}.png"
        Image.fromarray(pixels, "RGB").save(path)
        paths.append(path)
    return paths


TEST_PROMPTS = [
    "a photo of the cat",
    "a red dog",
    "the photo of a dog",
    "cat",
    "A Photo Of Red Things, 42!",
    "an image of the sea",
]
