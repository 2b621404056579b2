"""An OpenCLIP ``CLIP`` state dict (``open_clip.model.CLIP``, standard text tower) as a
``transformers`` ``CLIPModel``: the key mapping and the config read from the tensors.

OpenCLIP names (``open_clip/model.py``, ``transformer.py``) -> transformers names:

- ``visual.conv1.weight`` -> ``vision_model.embeddings.patch_embedding.weight`` (no bias in both)
- ``visual.class_embedding`` / ``visual.positional_embedding`` -> ``...embeddings.class_embedding`` /
  ``...embeddings.position_embedding.weight``
- ``visual.ln_pre`` / ``visual.ln_post`` -> ``vision_model.pre_layrnorm`` / ``post_layernorm``
- ``visual.proj`` ``[width, dim]`` (used as ``x @ proj``) -> ``visual_projection.weight`` (its transpose)
- ``token_embedding``, ``positional_embedding``, ``ln_final``, ``text_projection`` (``x @ P``)
  -> ``text_model.embeddings.*``, ``text_model.final_layer_norm``, ``text_projection.weight`` (P^T)
- per block ``[visual.]transformer.resblocks.N.``: ``ln_1``/``ln_2`` -> ``layer_norm1``/``2``;
  ``attn.in_proj_weight``/``bias`` (q, k, v stacked along dim 0, as ``nn.MultiheadAttention``)
  -> ``self_attn.{q,k,v}_proj``; ``attn.out_proj`` -> ``self_attn.out_proj``;
  ``mlp.c_fc``/``mlp.c_proj`` -> ``mlp.fc1``/``fc2``
- ``logit_scale`` -> ``logit_scale``.

``attn_mask`` (the text tower's causal mask, a buffer older OpenCLIP versions saved) carries
no weights: transformers builds the same causal mask. Anything else left over is an error,
so a checkpoint of another architecture (layer scale, attention pooling, custom text tower)
is refused rather than half loaded.

The two models compute the same function: pre-LN transformer blocks, exact GELU for
non-``quick_gelu`` models (ViT-H-14), LayerNorm eps 1e-5, the class token through
``ln_post`` then the projection, the text pooled at the first end-of-text token (OpenCLIP
pools at ``argmax`` of the ids, which is the end-of-text id, 49407, the largest).
"""

from __future__ import annotations

import re
from typing import Any

IGNORED = {"attn_mask"}

_BLOCK = {
    "ln_1.weight": "layer_norm1.weight",
    "ln_1.bias": "layer_norm1.bias",
    "ln_2.weight": "layer_norm2.weight",
    "ln_2.bias": "layer_norm2.bias",
    "attn.out_proj.weight": "self_attn.out_proj.weight",
    "attn.out_proj.bias": "self_attn.out_proj.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight",
    "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight",
    "mlp.c_proj.bias": "mlp.fc2.bias",
}
_DIRECT = {
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
    "logit_scale": "logit_scale",
}
_TRANSPOSED = {
    "visual.proj": "visual_projection.weight",
    "text_projection": "text_projection.weight",
}
_RESBLOCK = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")


def strip_prefix(state: dict[str, Any]) -> dict[str, Any]:
    """Drop a ``module.`` prefix that DistributedDataParallel training leaves on every key."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def openclip_to_hf(state: dict[str, Any]) -> dict[str, Any]:
    """The ``CLIPModel`` state dict holding the tensors of OpenCLIP ``state`` (every one used)."""
    out: dict[str, Any] = {}
    leftovers = []
    for key, tensor in strip_prefix(state).items():
        if key in IGNORED:
            continue
        if key in _DIRECT:
            out[_DIRECT[key]] = tensor
            continue
        if key in _TRANSPOSED:
            out[_TRANSPOSED[key]] = tensor.t().contiguous()
            continue
        match = _RESBLOCK.match(key)
        if match is None:
            leftovers.append(key)
            continue
        tower = "vision_model" if match.group(1) else "text_model"
        prefix = f"{tower}.encoder.layers.{match.group(2)}."
        rest = match.group(3)
        if rest in _BLOCK:
            out[prefix + _BLOCK[rest]] = tensor
        elif rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
            kind = "weight" if rest.endswith("weight") else "bias"
            for name, part in zip(("q", "k", "v"), tensor.chunk(3, dim=0), strict=True):
                out[f"{prefix}self_attn.{name}_proj.{kind}"] = part.contiguous()
        else:
            leftovers.append(key)
    if leftovers:
        shown = ", ".join(sorted(leftovers)[:5])
        raise ValueError(
            f"{len(leftovers)} tensors of the checkpoint have no place in a CLIP model ({shown}"
            f"{', ...' if len(leftovers) > 5 else ''}): it is not a standard OpenCLIP ViT"
        )
    return out


def _layers(state: dict[str, Any], prefix: str) -> int:
    found = {
        int(m.group(2)) for k in state if (m := _RESBLOCK.match(k)) and (m.group(1) or "") == prefix
    }
    return max(found) + 1 if found else 0


def config_from_openclip(state: dict[str, Any], *, vision_heads: int, text_heads: int):
    """The ``CLIPConfig`` of OpenCLIP ``state``: sizes from tensor shapes, heads given."""
    from transformers import CLIPConfig

    state = strip_prefix(state)
    conv = state["visual.conv1.weight"]
    v_width, patch = int(conv.shape[0]), int(conv.shape[-1])
    grid = round((int(state["visual.positional_embedding"].shape[0]) - 1) ** 0.5)
    vocab, t_width = (int(n) for n in state["token_embedding.weight"].shape)
    return CLIPConfig(
        text_config={
            "vocab_size": vocab,
            "hidden_size": t_width,
            "intermediate_size": int(state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]),
            "num_hidden_layers": _layers(state, ""),
            "num_attention_heads": text_heads,
            "max_position_embeddings": int(state["positional_embedding"].shape[0]),
            "hidden_act": "gelu",
            "layer_norm_eps": 1e-5,
            # End of text is the last id of CLIP's vocabulary, start of text the one before.
            "bos_token_id": vocab - 2,
            "eos_token_id": vocab - 1,
            "pad_token_id": vocab - 1,
        },
        vision_config={
            "image_size": grid * patch,
            "patch_size": patch,
            "hidden_size": v_width,
            "intermediate_size": int(
                state["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
            ),
            "num_hidden_layers": _layers(state, "visual."),
            "num_attention_heads": vision_heads,
            "hidden_act": "gelu",
            "layer_norm_eps": 1e-5,
        },
        projection_dim=int(state["text_projection"].shape[1]),
    )
