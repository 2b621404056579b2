"""Seeded stand-ins for the preference scorers' checkpoints, each in its published format.

- the aesthetic head: a ``torch.save``d state dict with the published key names
  (``layers.{0,2,4,6,7}``) and sizes (768 -> 1024 -> 128 -> 64 -> 16 -> 1);
- PickScore: a ``save_pretrained`` CLIPModel directory (as ``yuvalkirstain/PickScore_v1``)
  plus a separate processor directory (as ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``);
- HPS v2.1: a ``torch.save``d ``{"state_dict": ...}`` in OpenCLIP's key names, built here
  from OpenCLIP's layout (not from our key mapping), at toy size.

And :class:`OpenClipReference`, an independent forward pass written after
``open_clip/transformer.py`` (``nn.MultiheadAttention`` blocks, ``x @ proj``, pooling at the
argmax token), which reads the OpenCLIP state dict by its own names: the reference the
key mapping is checked against.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tests.engine import clip_fixtures as cf

AESTHETIC_SIZES = (768, 1024, 128, 64, 16, 1)


def _values(shape, rng, scale=None) -> torch.Tensor:
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    s = scale if scale is not None else 1 / math.sqrt(fan_in)
    return torch.from_numpy((s * rng.standard_normal(shape)).astype(np.float32))


def aesthetic_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    state = {}
    for index, (n_in, n_out) in zip(
        (0, 2, 4, 6, 7), zip(AESTHETIC_SIZES[:-1], AESTHETIC_SIZES[1:], strict=True), strict=True
    ):
        state[f"layers.{index}.weight"] = _values((n_out, n_in), rng)
        state[f"layers.{index}.bias"] = _values((n_out,), rng, 0.1)
    return state


def save_aesthetic_head(directory: Path, seed: int = 0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sac+logos+ava1-l14-linearMSE.pth"
    torch.save(aesthetic_state_dict(seed), path)
    return path


def published_aesthetic_mlp() -> nn.Module:
    """The head exactly as the reference repository defines it (ReLUs commented out there)."""
    mlp = nn.Module()
    mlp.layers = nn.Sequential(
        nn.Linear(768, 1024),
        nn.Dropout(0.2),
        nn.Linear(1024, 128),
        nn.Dropout(0.2),
        nn.Linear(128, 64),
        nn.Dropout(0.1),
        nn.Linear(64, 16),
        nn.Linear(16, 1),
    )
    mlp.forward = mlp.layers.forward
    return mlp


def build_clip_dir(directory: Path, *, projection_dim: int, seed: int = 0) -> Path:
    """The tiny CLIP of ``clip_fixtures`` with another embedding size (768 for the aesthetic head)."""
    return cf.build_tiny_clip(directory, seed, projection_dim=projection_dim)


def build_processor_dir(directory: Path, *, size: int = cf.IMAGE_SIZE) -> Path:
    """Preprocessing + tokenizer files only, as the LAION CLIP-H repository is read."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    cf._write_tokenizer(directory)
    cf._write_image_processor(directory)
    if size != cf.IMAGE_SIZE:
        cfg = json.loads((directory / "preprocessor_config.json").read_text())
        cfg["size"] = {"shortest_edge": size}
        cfg["crop_size"] = {"height": size, "width": size}
        (directory / "preprocessor_config.json").write_text(json.dumps(cfg))
    return directory


# ----------------------------------------------------------------------------- OpenCLIP


def openclip_state_dict(
    *,
    seed: int = 0,
    width: int = 32,
    layers: int = 2,
    patch: int = 8,
    image_size: int = 32,
    text_width: int = 24,
    text_layers: int = 2,
    embed_dim: int = 16,
    vocab: int | None = None,
    context: int = 77,
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """An OpenCLIP ``CLIP`` state dict (standard towers), seeded; ``device="meta"`` for shapes only."""
    vocab = vocab or len(cf.tiny_vocab())
    rng = np.random.default_rng(seed)
    shapes: dict[str, tuple[int, ...]] = {
        "positional_embedding": (context, text_width),
        "text_projection": (text_width, embed_dim),
        "logit_scale": (),
        "token_embedding.weight": (vocab, text_width),
        "ln_final.weight": (text_width,),
        "ln_final.bias": (text_width,),
        "attn_mask": (context, context),
        "visual.class_embedding": (width,),
        "visual.positional_embedding": ((image_size // patch) ** 2 + 1, width),
        "visual.proj": (width, embed_dim),
        "visual.conv1.weight": (width, 3, patch, patch),
        "visual.ln_pre.weight": (width,),
        "visual.ln_pre.bias": (width,),
        "visual.ln_post.weight": (width,),
        "visual.ln_post.bias": (width,),
    }
    for prefix, w, n in (
        ("visual.transformer", width, layers),
        ("transformer", text_width, text_layers),
    ):
        for i in range(n):
            b = f"{prefix}.resblocks.{i}."
            shapes |= {
                b + "ln_1.weight": (w,), b + "ln_1.bias": (w,),
                b + "attn.in_proj_weight": (3 * w, w), b + "attn.in_proj_bias": (3 * w,),
                b + "attn.out_proj.weight": (w, w), b + "attn.out_proj.bias": (w,),
                b + "ln_2.weight": (w,), b + "ln_2.bias": (w,),
                b + "mlp.c_fc.weight": (4 * w, w), b + "mlp.c_fc.bias": (4 * w,),
                b + "mlp.c_proj.weight": (w, 4 * w), b + "mlp.c_proj.bias": (w,),
            }  # fmt: skip
    if device == "meta":
        return {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    state = {}
    for name, shape in sorted(shapes.items()):
        if name == "logit_scale":
            state[name] = torch.tensor(math.log(1 / 0.07))
        elif name == "attn_mask":
            state[name] = torch.full(shape, float("-inf")).triu_(1)
        elif ".ln_" in name or name.startswith("ln_"):
            base = 1.0 if name.endswith("weight") else 0.0
            state[name] = base + _values(shape, rng, 0.1)
        elif "embedding" in name:
            state[name] = _values(shape, rng, 0.5)
        else:
            state[name] = _values(shape, rng)
    return state


def save_hps_checkpoint(directory: Path, state: dict[str, torch.Tensor]) -> Path:
    """As the published file: ``torch.save({"state_dict": ...})`` under its real name."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "HPS_v2.1_compressed.pt"
    torch.save({"state_dict": state}, path)
    return path


class _Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, 4 * width))
        self.mlp.add_module("gelu", nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(4 * width, width))

    def forward(self, x, mask=None):  # x: [L, N, D], as OpenCLIP's older (not batch-first) blocks
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class OpenClipReference(nn.Module):
    """encode_image / encode_text of OpenCLIP's ``CLIP`` with the standard towers."""

    def __init__(self, state: dict[str, torch.Tensor], *, vision_heads: int, text_heads: int):
        super().__init__()
        width = state["visual.conv1.weight"].shape[0]
        t_width = state["token_embedding.weight"].shape[1]
        n_v = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.")})
        n_t = len({k.split(".")[2] for k in state if k.startswith("transformer.")})
        self.v_blocks = nn.ModuleList(_Block(width, vision_heads) for _ in range(n_v))
        self.t_blocks = nn.ModuleList(_Block(t_width, text_heads) for _ in range(n_t))
        for prefix, blocks in (
            ("visual.transformer.resblocks", self.v_blocks),
            ("transformer.resblocks", self.t_blocks),
        ):
            for i, block in enumerate(blocks):
                sub = {
                    k[len(f"{prefix}.{i}.") :]: v
                    for k, v in state.items()
                    if k.startswith(f"{prefix}.{i}.")
                }
                block.load_state_dict(sub, strict=True)
        self.s = state

    def _ln(self, x, name):
        return nn.functional.layer_norm(
            x, x.shape[-1:], self.s[f"{name}.weight"], self.s[f"{name}.bias"]
        )

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        s = self.s
        x = nn.functional.conv2d(
            pixels, s["visual.conv1.weight"], stride=s["visual.conv1.weight"].shape[-1]
        )
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = s["visual.class_embedding"].expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + s["visual.positional_embedding"]
        x = self._ln(x, "visual.ln_pre").permute(1, 0, 2)
        for block in self.v_blocks:
            x = block(x)
        x = self._ln(x.permute(1, 0, 2)[:, 0], "visual.ln_post")
        return x @ s["visual.proj"]

    @torch.no_grad()
    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        s = self.s
        n = ids.shape[1]
        x = s["token_embedding.weight"][ids] + s["positional_embedding"][:n]
        mask = torch.full((n, n), float("-inf")).triu_(1)
        x = x.permute(1, 0, 2)
        for block in self.t_blocks:
            x = block(x, mask)
        x = self._ln(x.permute(1, 0, 2), "ln_final")
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ s["text_projection"]
