"""HPS v2.1 (Wu et al. 2023, "Human Preference Score v2"): an OpenCLIP ViT-H-14 fine-tuned on HPD v2.

Reference: tgxs002/HPSv2 (``hpsv2/img_score.py``). The checkpoint ``HPS_v2.1_compressed.pt``
(Hugging Face ``xswu/HPSv2``) is a ``torch.save`` dict whose ``state_dict`` holds an OpenCLIP
``CLIP`` ('ViT-H-14': vision 32 blocks x 1280 wide, 16 heads of 80; text 1024 wide, 16
heads; 1024-d embeddings). The score of an image for its prompt is the dot product of the
L2-normalised image and text features (``output_dict=True`` normalises them), i.e. the
plain cosine, **without** the logit scale: about 0.2-0.35 for real images.

We do not import ``open-clip-torch`` (it needs torchvision, which does not install beside
our pinned torch): the state dict is loaded into ``transformers``' ``CLIPModel`` through the
key mapping of :mod:`metrics.engine.openclip_keys`, and the preprocessing is rewritten:

HPS v2's validation transform (``image_transform(..., is_train=False, resize_longest_max=True)``):
``ResizeMaxSize(224)`` scales the **longer** side to 224 (new size ``round(side x scale)``,
PIL bicubic) and pads the shorter one with black, split ``pad // 2`` before and the rest
after; then ``ToTensor`` (/255) and ``Normalize`` with OpenAI CLIP's mean/std, in float32.
(The reference skips the resize and pad when the longer side is already 224; for a
non-square image its network then fails, so we pad in that case too.)

Text: OpenCLIP's tokenizer is CLIP's BPE (the same vocabulary and merges as the hub's
CLIP tokenizers), lower-cased, 77 tokens with start and end of text; we use
``transformers``' ``CLIPTokenizer`` with the LAION CLIP-H tokenizer files. Prompts over 77
tokens are truncated keeping the end-of-text token, as OpenCLIP does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from metrics.engine.clip import ClipBundle
from metrics.engine.model_cache import ModelCache
from metrics.engine.preference import (
    load_checked,
    openai_normalised,
    prompt_scores_paths,
    read_checkpoint,
    resolve_processor_dir,
)
from metrics.engine.weights import WeightsSpec, file_sha256, register, weights_path

HPS_V21 = register(
    WeightsSpec(
        name="HPS_v2.1_compressed.pt",
        urls=("https://huggingface.co/xswu/HPSv2/resolve/main/HPS_v2.1_compressed.pt",),
        sha256="",  # not published; the file's sha256 goes into every result's provenance
        description="HPS v2.1 (OpenCLIP ViT-H-14 fine-tuned on HPD v2, tgxs002/HPSv2)",
    )
)
TOKENIZER = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"  # CLIP BPE files, as OpenCLIP's tokenizer
MODEL_NAME = "hpsv2.1"
IMAGE_SIZE = 224
VISION_HEADS = 16  # ViT-H-14: width 1280 / head width 80
TEXT_HEADS = 16
PREPROCESSING = "hps-resize-longest-pad-224"


# ----------------------------------------------------------------------------- preprocessing


def resize_max_pad(image, size: int = IMAGE_SIZE):
    """HPS v2's ``ResizeMaxSize``: longer side to ``size`` (PIL bicubic), black padding to a square."""
    from PIL import Image

    width, height = image.size
    scale = size / float(max(height, width))
    # Python's round (half to even), as the reference computes the new size.
    new_h, new_w = round(height * scale), round(width * scale)
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.BICUBIC)
    if (new_w, new_h) == (size, size):
        return image
    canvas = Image.new("RGB", (size, size), (0, 0, 0))
    canvas.paste(image, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def preprocess(image, size: int = IMAGE_SIZE) -> np.ndarray:
    """One decoded RGB PIL image as HPS v2's float32 ``[3, size, size]`` network input."""
    return openai_normalised(resize_max_pad(image.convert("RGB"), size))


class HpsImageProcessor:
    """A callable with the image processors' interface: ``(images=[...]) -> {"pixel_values"}``."""

    def __init__(self, size: int = IMAGE_SIZE):
        self.size = size

    def __call__(self, images, return_tensors: str = "pt") -> dict[str, Any]:
        import torch

        return {
            "pixel_values": torch.from_numpy(np.stack([preprocess(i, self.size) for i in images]))
        }


# ----------------------------------------------------------------------------- loading


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """The OpenCLIP state dict inside an HPS checkpoint (``{"state_dict": ...}`` or a bare one)."""
    state = read_checkpoint(path)
    if "visual.conv1.weight" not in {k.removeprefix("module.") for k in state}:
        raise ValueError(f"{path} holds no OpenCLIP state dict (no visual.conv1.weight)")
    return state


def build_model(
    state: dict[str, Any], *, vision_heads: int = VISION_HEADS, text_heads: int = TEXT_HEADS
):
    """A float32 ``CLIPModel`` holding the OpenCLIP ``state`` (every tensor checked to fit)."""
    import torch
    from transformers import CLIPModel

    from metrics.engine.openclip_keys import config_from_openclip, openclip_to_hf

    config = config_from_openclip(state, vision_heads=vision_heads, text_heads=text_heads)
    with torch.device("meta"):
        model = CLIPModel(config)
    load_checked(model, openclip_to_hf(state), "CLIP model")
    return model.eval()


_CACHE = ModelCache()


def load_hpsv2(
    path: str | Path | None = None,
    *,
    tokenizer: str = TOKENIZER,
    device: Any = "auto",
    download: bool | None = None,
    vision_heads: int = VISION_HEADS,
    text_heads: int = TEXT_HEADS,
) -> ClipBundle:
    """HPS v2.1 as a :class:`ClipBundle` (model, HPS preprocessing, CLIP tokenizer), loaded once.

    The head counts are not in the tensors' shapes; they default to ViT-H-14's.
    """
    from transformers import CLIPTokenizer

    from metrics.engine.device import resolve_device

    file = weights_path(HPS_V21, path, download=download)
    dev = resolve_device(device)
    key = (str(file), str(tokenizer), str(dev), vision_heads, text_heads)

    def load() -> ClipBundle:
        tok_dir = resolve_processor_dir(tokenizer, download=download)
        state = read_state_dict(file)
        model = build_model(state, vision_heads=vision_heads, text_heads=text_heads).to(dev)
        tok = CLIPTokenizer.from_pretrained(tok_dir)
        return ClipBundle(
            name=MODEL_NAME,
            directory=file.parent,
            model=model,
            image_processor=HpsImageProcessor(model.config.vision_config.image_size),
            tokenizer=tok,
            device=dev,
            weights_sha256=file_sha256(file),
            embedding_dim=int(model.config.projection_dim),
            max_text_tokens=int(model.config.text_config.max_position_embeddings),
        )

    return _CACHE.get_or_load(key, load)


def provenance(bundle: ClipBundle) -> dict[str, Any]:
    """What an HPS v2.1 result records beyond the bundle's own provenance."""
    return {
        "reference": "tgxs002/HPSv2 img_score: cos(image, prompt) of HPS_v2.1_compressed.pt "
        "(OpenCLIP ViT-H-14) loaded into transformers' CLIPModel",
        "hps_weights_file": HPS_V21.name,
        "hps_weights_sha256": bundle.weights_sha256,
        "preprocessing": PREPROCESSING,
        "tokenizer": TOKENIZER,
    }


def hpsv2_paths(paths, prompts, *, bundle: ClipBundle, **kw):
    """HPS v2.1 of image files against their prompts (same order); see :func:`prompt_scores_paths`."""
    return prompt_scores_paths(
        "hpsv2", paths, prompts, bundle=bundle, scale=1.0, provenance=provenance(bundle), **kw
    )
