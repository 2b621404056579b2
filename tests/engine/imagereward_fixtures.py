"""A seeded ImageReward checkpoint in BLIP's key names, a BERT vocabulary, and an independent
forward pass written after BLIP's ``vit.py`` and ``med.py`` and ImageReward's ``score``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tests.engine.preference_fixtures import _values as _v

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = "a an the of photo cat dog red blue sea image things thing , ! 42 big small on in".split()


def write_bert_vocab(directory: Path) -> Path:
    """vocab.txt (+ tokenizer_config.json) of a tiny uncased BERT WordPiece vocabulary."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789")
    tokens = SPECIAL + WORDS + letters + ["##" + c for c in letters]
    (directory / "vocab.txt").write_text("\n".join(dict.fromkeys(tokens)) + "\n")
    (directory / "tokenizer_config.json").write_text(
        json.dumps(
            {"do_lower_case": True, "tokenizer_class": "BertTokenizer", "model_max_length": 512}
        )
    )
    return directory


def vocab_size(directory: Path) -> int:
    return len((directory / "vocab.txt").read_text().split()) + 2  # + [DEC], [ENC]


def imagereward_state_dict(
    *, seed=0, vocab=80, width=32, depth=2, patch=8, image=32, hidden=24, layers=2,
    inter=48, max_pos=40, head_in=None, device="cpu",
) -> dict[str, torch.Tensor]:  # fmt: skip
    """``ImageReward.pt``'s layout (``blip.visual_encoder``, ``blip.text_encoder``, ``mlp``, extras)."""
    shapes: dict[str, tuple] = {
        "blip.visual_encoder.cls_token": (1, 1, width),
        "blip.visual_encoder.pos_embed": (1, (image // patch) ** 2 + 1, width),
        "blip.visual_encoder.patch_embed.proj.weight": (width, 3, patch, patch),
        "blip.visual_encoder.patch_embed.proj.bias": (width,),
        "blip.visual_encoder.norm.weight": (width,),
        "blip.visual_encoder.norm.bias": (width,),
        "blip.text_encoder.embeddings.word_embeddings.weight": (vocab, hidden),
        "blip.text_encoder.embeddings.position_embeddings.weight": (max_pos, hidden),
        "blip.text_encoder.embeddings.LayerNorm.weight": (hidden,),
        "blip.text_encoder.embeddings.LayerNorm.bias": (hidden,),
        "blip.vision_proj.weight": (256, width),
        "blip.vision_proj.bias": (256,),
        "blip.text_proj.weight": (256, hidden),
        "blip.text_proj.bias": (256,),
    }
    for i in range(depth):
        b = f"blip.visual_encoder.blocks.{i}."
        for name, shape in [("norm1", (width,)), ("norm2", (width,)), ("attn.qkv", (3 * width, width)),
                            ("attn.proj", (width, width)), ("mlp.fc1", (4 * width, width)),
                            ("mlp.fc2", (width, 4 * width))]:  # fmt: skip
            shapes[b + name + ".weight"] = shape
            shapes[b + name + ".bias"] = (shape[0],)
    for i in range(layers):
        b = f"blip.text_encoder.encoder.layer.{i}."
        parts = [
            ("attention.self.query", (hidden, hidden)), ("attention.self.key", (hidden, hidden)),
            ("attention.self.value", (hidden, hidden)), ("attention.output.dense", (hidden, hidden)),
            ("attention.output.LayerNorm", (hidden,)),
            ("crossattention.self.query", (hidden, hidden)), ("crossattention.self.key", (hidden, width)),
            ("crossattention.self.value", (hidden, width)), ("crossattention.output.dense", (hidden, hidden)),
            ("crossattention.output.LayerNorm", (hidden,)),
            ("intermediate.dense", (inter, hidden)), ("output.dense", (hidden, inter)),
            ("output.LayerNorm", (hidden,)),
        ]  # fmt: skip
        for name, shape in parts:
            shapes[b + name + ".weight"] = shape
            shapes[b + name + ".bias"] = (shape[0],)
    sizes = (head_in or hidden, 1024, 128, 64, 16, 1)
    for index, (n_in, n_out) in zip(
        (0, 2, 4, 6, 7), zip(sizes[:-1], sizes[1:], strict=True), strict=True
    ):
        shapes[f"mlp.layers.{index}.weight"] = (n_out, n_in)
        shapes[f"mlp.layers.{index}.bias"] = (n_out,)
    if device == "meta":
        out = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    else:
        rng = np.random.default_rng(seed)
        out = {}
        for name, shape in sorted(shapes.items()):
            if "norm" in name.lower() and name.endswith("weight"):
                out[name] = 1.0 + _v(shape, rng, 0.1)
            elif name.endswith("bias"):
                out[name] = _v(shape, rng, 0.05)
            elif "embed" in name or "cls_token" in name:
                out[name] = _v(shape, rng, 0.5)
            else:
                out[name] = _v(shape, rng)
    # med.py saves its position ids as a persistent buffer.
    out["blip.text_encoder.embeddings.position_ids"] = torch.arange(max_pos).expand((1, -1))
    return out


def save_checkpoint(directory: Path, state: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ImageReward.pt"
    torch.save(state, path)
    return path


# ----------------------------------------------------------------------------- reference forward


def _ln(x, s, name, eps):
    return F.layer_norm(x, x.shape[-1:], s[name + ".weight"], s[name + ".bias"], eps)


def _lin(x, s, name):
    return F.linear(x, s[name + ".weight"], s[name + ".bias"])


@torch.no_grad()
def reference_image_embeds(s: dict, pixels: torch.Tensor, heads: int) -> torch.Tensor:
    """BLIP vit.py VisionTransformer.forward (timm blocks, LayerNorm eps 1e-6)."""
    p = "blip.visual_encoder."
    w = s[p + "patch_embed.proj.weight"]
    x = (
        F.conv2d(pixels, w, s[p + "patch_embed.proj.bias"], stride=w.shape[-1])
        .flatten(2)
        .transpose(1, 2)
    )
    x = torch.cat([s[p + "cls_token"].expand(x.shape[0], -1, -1), x], dim=1)
    x = x + s[p + "pos_embed"][:, : x.shape[1]]
    n_blocks = len({k.split(".")[3] for k in s if k.startswith(p + "blocks.")})
    for i in range(n_blocks):
        b = f"{p}blocks.{i}."
        h = _ln(x, s, b + "norm1", 1e-6)
        B, N, C = h.shape
        qkv = _lin(h, s, b + "attn.qkv").reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * (C // heads) ** -0.5).softmax(dim=-1)
        x = x + _lin((attn @ v).transpose(1, 2).reshape(B, N, C), s, b + "attn.proj")
        x = x + _lin(F.gelu(_lin(_ln(x, s, b + "norm2", 1e-6), s, b + "mlp.fc1")), s, b + "mlp.fc2")
    return _ln(x, s, p + "norm", 1e-6)


def _bert_attention(h, ctx, mask, s, name, heads):
    B, L, C = h.shape
    hd = C // heads

    def split(t):
        return t.view(t.shape[0], t.shape[1], heads, hd).permute(0, 2, 1, 3)

    q = split(_lin(h, s, name + ".self.query"))
    k, v = split(_lin(ctx, s, name + ".self.key")), split(_lin(ctx, s, name + ".self.value"))
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask
    out = (scores.softmax(dim=-1) @ v).permute(0, 2, 1, 3).reshape(B, L, C)
    return _ln(_lin(out, s, name + ".output.dense") + h, s, name + ".output.LayerNorm", 1e-12)


@torch.no_grad()
def reference_rewards(s: dict, pixels, input_ids, attention_mask, *, vision_heads, text_heads):
    """ImageReward.score: med.py BertModel (multimodal mode), [CLS] state, MLP, normalisation."""
    image = reference_image_embeds(s, pixels, vision_heads)
    p = "blip.text_encoder."
    L = input_ids.shape[1]
    x = (
        s[p + "embeddings.word_embeddings.weight"][input_ids]
        + s[p + "embeddings.position_embeddings.weight"][:L]
    )
    x = _ln(x, s, p + "embeddings.LayerNorm", 1e-12)
    mask = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0  # med.py's extended mask
    image_mask = torch.zeros(1, 1, 1, image.shape[1])
    n_layers = len({k.split(".")[4] for k in s if k.startswith(p + "encoder.layer.")})
    for i in range(n_layers):
        b = f"{p}encoder.layer.{i}."
        x = _bert_attention(x, x, mask, s, b + "attention", text_heads)
        x = _bert_attention(x, image, image_mask, s, b + "crossattention", text_heads)
        inter = F.gelu(_lin(x, s, b + "intermediate.dense"))
        x = _ln(_lin(inter, s, b + "output.dense") + x, s, b + "output.LayerNorm", 1e-12)
    h = x[:, 0, :]
    for i in (0, 2, 4, 6, 7):
        h = _lin(h, s, f"mlp.layers.{i}")
    return (h[:, 0] - 0.16717362830052426) / 1.0333394966054072
