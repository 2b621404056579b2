"""ImageReward v1.0 (Xu et al. 2023): a BLIP image-text encoder with a reward head, built from
``transformers``' BLIP classes.

Reference: THUDM/ImageReward (``ImageReward/ImageReward.py``, ``utils.load``). The reference
package cannot be installed beside our pinned torch 2.13.0 and transformers 5 (``pip install
--dry-run image-reward`` resolves torch 2.14, torchvision 0.29, timm 0.6.13 and fairscale),
so the network is rebuilt from ``transformers`` with a tested key mapping.

The checkpoint ``ImageReward.pt`` (Hugging Face ``THUDM/ImageReward``) is the model's
state dict:

- ``blip.visual_encoder.*``: BLIP's ViT-L/16 at 224 px (24 blocks x 1024, 16 heads, timm
  names: ``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``blocks.N.{norm1,attn.qkv,
  attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``; LayerNorm eps 1e-6, exact GELU)
  -> ``BlipVisionModel`` (``embeddings.*``, ``encoder.layers.N.{layer_norm1,self_attn.qkv,
  self_attn.projection,layer_norm2,mlp.*}``, ``post_layernorm``): the same qkv layout;
- ``blip.text_encoder.*``: BLIP's ``med.py`` BERT-base with cross-attention to the image
  tokens (12 layers x 768, 12 heads, eps 1e-12, vocabulary of bert-base-uncased plus
  ``[DEC]`` and ``[ENC]``) -> ``BlipTextModel`` (``add_pooling_layer=False``): the same names;
- ``mlp.layers.{0,2,4,6,7}``: the reward head, 768 -> 1024 -> 128 -> 64 -> 16 -> 1 with no
  activation (the aesthetic predictor's design).

Score of an image for its prompt: the prompt is tokenised by bert-base-uncased
(``[CLS] ... [SEP]``, padded to 35 tokens, truncated there), encoded bidirectionally with
cross-attention over every image token; the ``[CLS]`` state goes through the head, and the
reward is normalised with the published ``(r - 0.16717362830052426) / 1.0333394966054072``.

Images: torchvision's ``Resize(224, bicubic)`` (short side to 224, the long side
``int()``-truncated) and ``CenterCrop(224)`` (offsets ``int(round((side - 224) / 2))``),
then ``ToTensor`` and OpenAI CLIP's mean/std, in float32.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from metrics.engine.model_cache import ModelCache
from metrics.engine.preference import (
    load_checked,
    openai_normalised,
    per_image_result,
    read_checkpoint,
    resolve_processor_dir,
)
from metrics.engine.weights import WeightsSpec, file_sha256, register, weights_path

IMAGEREWARD = register(
    WeightsSpec(
        name="ImageReward.pt",
        urls=("https://huggingface.co/THUDM/ImageReward/resolve/main/ImageReward.pt",),
        sha256="",  # not published; the file's sha256 goes into every result's provenance
        description="ImageReward v1.0 (BLIP ViT-L + BERT reward model, THUDM/ImageReward)",
    )
)
TOKENIZER = "google-bert/bert-base-uncased"
TOKENIZER_FILES = ("vocab.txt",)
MAX_TOKENS = 35
REWARD_MEAN = 0.16717362830052426
REWARD_STD = 1.0333394966054072
VISION_HEADS = 16  # BLIP ViT-L
TEXT_HEADS = 12  # BERT-base
IMAGE_SIZE = 224
PREPROCESSING = "torchvision-resize-bicubic-centercrop-224"
HEAD_INDICES = (0, 2, 4, 6, 7)
# Tensors the reference loads but never uses to score (contrastive projections, saved buffers).
UNUSED = re.compile(r"^blip\.(vision_proj|text_proj)\.|\.position_ids$")


# ----------------------------------------------------------------------------- preprocessing


def preprocess(image, size: int = IMAGE_SIZE) -> np.ndarray:
    """A decoded PIL image as ImageReward's float32 ``[3, size, size]`` input (torchvision's numerics)."""
    from PIL import Image

    image = image.convert("RGB")
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        image = image.resize((new_w, new_h), Image.BICUBIC)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    image = image.crop((left, top, left + size, top + size))
    return openai_normalised(image)


# ----------------------------------------------------------------------------- key mapping

_VISION = {
    "cls_token": "embeddings.class_embedding",
    "pos_embed": "embeddings.position_embedding",
    "patch_embed.proj.weight": "embeddings.patch_embedding.weight",
    "patch_embed.proj.bias": "embeddings.patch_embedding.bias",
    "norm.weight": "post_layernorm.weight",
    "norm.bias": "post_layernorm.bias",
}
_BLOCK = {
    "norm1": "layer_norm1",
    "norm2": "layer_norm2",
    "attn.qkv": "self_attn.qkv",
    "attn.proj": "self_attn.projection",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
_BLOCK_KEY = re.compile(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$")


def split_checkpoint(state: dict[str, Any]) -> tuple[dict, dict, dict, list[str]]:
    """(vision, text, head, unused) state dicts in ``transformers``' names from ``ImageReward.pt``."""
    vision, text, head, unused, foreign = {}, {}, {}, [], []
    for key, tensor in state.items():
        if UNUSED.search(key):
            unused.append(key)
        elif key.startswith("blip.visual_encoder."):
            rest = key[len("blip.visual_encoder.") :]
            match = _BLOCK_KEY.match(rest)
            if rest in _VISION:
                vision[_VISION[rest]] = tensor
            elif match and match.group(2) in _BLOCK:
                layer, part, kind = match.groups()
                vision[f"encoder.layers.{layer}.{_BLOCK[part]}.{kind}"] = tensor
            else:
                foreign.append(key)
        elif key.startswith("blip.text_encoder."):
            text[key[len("blip.text_encoder.") :]] = tensor
        elif key.startswith("mlp.layers."):
            head[key[len("mlp.") :]] = tensor
        else:
            foreign.append(key)
    if foreign:
        raise ValueError(
            f"{len(foreign)} tensors of the checkpoint are not ImageReward's "
            f"({', '.join(sorted(foreign)[:5])}): it is not an ImageReward.pt"
        )
    return vision, text, head, unused


def _count(state: dict, pattern: str) -> int:
    found = {int(m.group(1)) for k in state if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def configs(
    vision: dict, text: dict, *, vision_heads: int = VISION_HEADS, text_heads: int = TEXT_HEADS
):
    """``BlipVisionConfig`` and ``BlipTextConfig`` read from the mapped tensors' shapes."""
    from transformers import BlipTextConfig, BlipVisionConfig

    width, _, patch, _ = (int(n) for n in vision["embeddings.patch_embedding.weight"].shape)
    positions = int(vision["embeddings.position_embedding"].shape[1])
    vision_config = BlipVisionConfig(
        hidden_size=width,
        intermediate_size=int(vision["encoder.layers.0.mlp.fc1.weight"].shape[0]),
        num_hidden_layers=_count(vision, r"^encoder\.layers\.(\d+)\."),
        num_attention_heads=vision_heads,
        image_size=round((positions - 1) ** 0.5) * patch,
        patch_size=patch,
        hidden_act="gelu",
        layer_norm_eps=1e-6,  # BLIP's ViT: partial(nn.LayerNorm, eps=1e-6)
    )
    vocab, hidden = (int(n) for n in text["embeddings.word_embeddings.weight"].shape)
    text_config = BlipTextConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        encoder_hidden_size=int(text["encoder.layer.0.crossattention.self.key.weight"].shape[1]),
        intermediate_size=int(text["encoder.layer.0.intermediate.dense.weight"].shape[0]),
        num_hidden_layers=_count(text, r"^encoder\.layer\.(\d+)\."),
        num_attention_heads=text_heads,
        max_position_embeddings=int(text["embeddings.position_embeddings.weight"].shape[0]),
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        is_decoder=True,  # builds the cross-attention; the forward pass stays bidirectional
        pad_token_id=0,
        bos_token_id=vocab - 2,
        sep_token_id=min(102, vocab - 1),
    )
    return vision_config, text_config


class ImageRewardModel:
    """The vision tower, the cross-attending text tower and the reward head, in eval mode."""

    def __init__(
        self,
        state: dict[str, Any],
        *,
        vision_heads: int = VISION_HEADS,
        text_heads: int = TEXT_HEADS,
    ):
        import torch
        from transformers import BlipTextModel, BlipVisionModel

        vision, text, head, self.unused = split_checkpoint(state)
        if not vision or not text or not head:
            raise ValueError(
                "the checkpoint lacks the vision tower, the text tower or the head (mlp.layers)"
            )
        v_config, t_config = configs(vision, text, vision_heads=vision_heads, text_heads=text_heads)
        with torch.device("meta"):
            self.vision = BlipVisionModel(v_config)
            self.text = BlipTextModel(t_config, add_pooling_layer=False)
        load_checked(self.vision, vision, "vision tower")
        load_checked(self.text, text, "text tower")
        self.vision.eval()
        self.text.eval()
        try:
            self.head = [
                (head[f"layers.{i}.weight"].float(), head[f"layers.{i}.bias"].float())
                for i in HEAD_INDICES
            ]
        except KeyError as exc:
            raise ValueError(f"the reward head lacks mlp.{exc.args[0]}") from None
        self.image_size = v_config.image_size

    def to(self, device):
        self.vision.to(device)
        self.text.to(device)
        self.head = [(w.to(device), b.to(device)) for w, b in self.head]
        return self

    def rewards(self, pixels, input_ids, attention_mask):
        """Normalised rewards ``[n]`` (float32 tensor) of image ``pixels`` with their token ids."""
        import torch

        with torch.inference_mode():
            image_embeds = self.vision(pixel_values=pixels).last_hidden_state
            image_atts = torch.ones(
                image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device
            )
            out = self.text(
                input_ids=input_ids,
                attention_mask=attention_mask,
                encoder_hidden_states=image_embeds,
                encoder_attention_mask=image_atts,
            )
            x = out.last_hidden_state[:, 0, :].float()
            for weight, bias in self.head:
                x = x @ weight.T + bias
            return (x[:, 0] - REWARD_MEAN) / REWARD_STD


# ----------------------------------------------------------------------------- loading


def load_tokenizer(directory: str | Path):
    """bert-base-uncased with BLIP's added ``[DEC]`` (bos) and ``[ENC]`` tokens, as the reference."""
    from transformers import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(directory)
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    return tokenizer


class ImageRewardScorer:
    """A loaded ImageReward: model, tokenizer, device and the weights' sha256."""

    def __init__(
        self, model: ImageRewardModel, tokenizer, device, sha256: str, tokenizer_name: str
    ):
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.weights_sha256, self.tokenizer_name = sha256, tokenizer_name
        self.lock = threading.Lock()
        if len(tokenizer) != model.text.config.vocab_size:
            raise ValueError(
                f"the tokenizer has {len(tokenizer)} tokens but the text tower {model.text.config.vocab_size}: "
                "use bert-base-uncased's vocabulary"
            )

    def provenance(self) -> dict[str, Any]:
        """What an ImageReward result records."""
        from metrics.engine.provenance import versions

        return {
            "versions": versions(),
            "reference": "THUDM/ImageReward ImageReward.score, rebuilt from transformers' BLIP classes",
            "imagereward_weights_file": IMAGEREWARD.name,
            "imagereward_weights_sha256": self.weights_sha256,
            "preprocessing": PREPROCESSING,
            "tokenizer": self.tokenizer_name,
            "max_tokens": MAX_TOKENS,
            "normalisation": {"mean": REWARD_MEAN, "std": REWARD_STD},
            "unused_tensors": len(self.model.unused),
        }

    def score_images(self, images: Sequence[Any], prompts: Sequence[str]) -> np.ndarray:
        """Rewards (float64) of decoded PIL images, each with its prompt."""
        import torch

        pixels = torch.from_numpy(np.stack([preprocess(i, self.model.image_size) for i in images]))
        return self.score_pixels(pixels, prompts)

    def score_pixels(self, pixels, prompts: Sequence[str]) -> np.ndarray:
        """Rewards (float64) of pixels from :func:`preprocess`, ``[n, 3, size, size]``, each with its prompt."""
        tokens = self.tokenizer(
            list(prompts),
            padding="max_length",
            truncation=True,
            max_length=MAX_TOKENS,
            return_tensors="pt",
        )
        with self.lock:
            out = self.model.rewards(
                pixels.to(self.device),
                tokens["input_ids"].to(self.device),
                tokens["attention_mask"].to(self.device),
            )
        return out.double().cpu().numpy()


_CACHE = ModelCache()


def load_imagereward(
    path: str | Path | None = None,
    *,
    tokenizer: str = TOKENIZER,
    device: Any = "auto",
    download: bool | None = None,
    vision_heads: int = VISION_HEADS,
    text_heads: int = TEXT_HEADS,
) -> ImageRewardScorer:
    """ImageReward from its checkpoint (found or fetched by the weights manager), loaded once."""
    from metrics.engine.device import resolve_device

    file = weights_path(IMAGEREWARD, path, download=download)
    dev = resolve_device(device)
    key = (str(file), tokenizer, str(dev), vision_heads, text_heads)

    def load() -> ImageRewardScorer:
        tok_dir = resolve_processor_dir(tokenizer, download=download, files=TOKENIZER_FILES)
        state = read_checkpoint(file)
        model = ImageRewardModel(state, vision_heads=vision_heads, text_heads=text_heads).to(dev)
        return ImageRewardScorer(model, load_tokenizer(tok_dir), dev, file_sha256(file), tokenizer)

    return _CACHE.get_or_load(key, load)


def _file_pixels(path: Path, *, size: int) -> np.ndarray:
    from metrics.engine.images import decode_rgb

    return preprocess(decode_rgb(path), size)


def imagereward_paths(
    paths: Sequence[str | Path],
    prompts: Sequence[str],
    *,
    scorer: ImageRewardScorer,
    batch_size: int = 16,
    workers: int = 0,
    resamples: int = 1000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
):
    """ImageReward of image files against their prompts (same order), mean and per image.

    ``workers`` threads decode and preprocess the files a few batches ahead (0: in this thread).
    """
    from metrics.engine.loading import iter_host_batches, to_device

    if len(paths) != len(prompts):
        raise ValueError(f"{len(paths)} images but {len(prompts)} prompts; give one per image")
    scores = np.empty(len(paths), dtype=np.float64)
    batches = iter_host_batches(
        paths,
        partial(_file_pixels, size=scorer.model.image_size),
        batch_size=batch_size,
        workers=workers,
        pin_memory=scorer.device.type == "cuda",
    )
    start = 0
    for batch in batches:
        n = len(batch)
        pixels = to_device(batch, scorer.device)
        scores[start : start + n] = scorer.score_pixels(pixels, prompts[start : start + n])
        start += n
        if progress is not None:
            progress(n)
    return per_image_result(
        "imagereward",
        scores,
        names=[Path(p).name for p in paths],
        resamples=resamples,
        seed=seed,
        provenance=scorer.provenance(),
    )
