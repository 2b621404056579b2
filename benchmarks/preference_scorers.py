"""Images/s of the human-preference scorers next to CLIP score's, at their real sizes.

Used by ``benchmarks/feature_throughput.py --scorers``. The networks are the published
architectures (CLIP ViT-L/14 for CLIP score and the aesthetic head; CLIP ViT-H/14 for
PickScore and HPS v2.1; BLIP ViT-L/16 + BERT-base for ImageReward) with random weights: speed depends on the shapes, not the values.
Each timing covers decoding, preprocessing and the image tower, as a worker's chunk does;
prompt embeddings are computed once per prompt and cached, so they are left out.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch


def _clip_config(
    *, width: int, layers: int, heads: int, text_width: int, text_layers: int, dim: int
):
    from transformers import CLIPConfig

    return CLIPConfig(
        vision_config={
            "hidden_size": width, "intermediate_size": 4 * width, "num_hidden_layers": layers,
            "num_attention_heads": heads, "patch_size": 14, "image_size": 224,
            "hidden_act": "quick_gelu" if width == 1024 else "gelu",
        },
        text_config={
            "hidden_size": text_width, "intermediate_size": 4 * text_width,
            "num_hidden_layers": text_layers, "num_attention_heads": text_width // 64,
        },
        projection_dim=dim,
    )  # fmt: skip


VIT_L_14 = {
    "width": 1024,
    "layers": 24,
    "heads": 16,
    "text_width": 768,
    "text_layers": 12,
    "dim": 768,
}
VIT_H_14 = {
    "width": 1280,
    "layers": 32,
    "heads": 16,
    "text_width": 1024,
    "text_layers": 24,
    "dim": 1024,
}


def _bundle(arch: dict, processor, name: str):
    from transformers import CLIPModel

    from metrics.engine.clip import ClipBundle

    torch.manual_seed(0)
    model = CLIPModel(_clip_config(**arch)).eval()
    return ClipBundle(
        name=name, directory=Path("."), model=model, image_processor=processor, tokenizer=None,
        device=torch.device("cpu"), weights_sha256="random", embedding_dim=arch["dim"],
        max_text_tokens=77,
    )  # fmt: skip


def _clip_processor():
    from metrics.engine.clip import _image_processor_class

    return _image_processor_class()(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
    )  # fmt: skip


def _rate(bundle, paths: list[Path], batch_size: int) -> tuple[float, np.ndarray]:
    from metrics.engine.clip import clip_image_embeddings

    clip_image_embeddings(bundle, paths[:batch_size], batch_size=batch_size)  # warm-up
    t = time.perf_counter()
    emb = clip_image_embeddings(bundle, paths, batch_size=batch_size)
    return len(paths) / (time.perf_counter() - t), emb


def scorer_throughput(paths: list[Path], *, batch_size: int = 8) -> None:
    """Print images/s of clip_score, aesthetic, pickscore and hpsv2 on ``paths``."""
    from metrics.engine.aesthetic import LAYER_SIZES, AestheticHead
    from metrics.engine.hpsv2 import HpsImageProcessor

    n = len(paths)
    print(f"preference scorers: {n} images, batch {batch_size}, threads {torch.get_num_threads()}")
    large = _bundle(VIT_L_14, _clip_processor(), "clip-vit-large-patch14 (random)")
    rate, emb = _rate(large, paths, batch_size)
    print(f"  clip_score (ViT-L/14 image tower)      {rate:7.2f} img/s")
    rng = np.random.default_rng(0)
    head = AestheticHead(
        [(rng.normal(size=(o, i)) / np.sqrt(i), np.zeros(o))
         for i, o in zip(LAYER_SIZES[:-1], LAYER_SIZES[1:], strict=True)],
        sha256="random", name="random",
    )  # fmt: skip
    t = time.perf_counter()
    head(emb / np.linalg.norm(emb, axis=1, keepdims=True))
    head_rate = n / max(time.perf_counter() - t, 1e-9)
    print(f"  aesthetic, cached CLIP embeddings      {head_rate:7.0f} img/s (the head alone)")
    print(f"  aesthetic, embeddings not cached       {1 / (1 / rate + 1 / head_rate):7.2f} img/s")
    del large
    huge = _bundle(VIT_H_14, _clip_processor(), "PickScore_v1 (random)")
    rate, _ = _rate(huge, paths, batch_size)
    print(f"  pickscore (ViT-H/14 image tower)       {rate:7.2f} img/s")
    huge.image_processor = HpsImageProcessor()
    rate, _ = _rate(huge, paths, batch_size)
    print(f"  hpsv2 (ViT-H/14, resize-longest + pad) {rate:7.2f} img/s")
    del huge
    imagereward_throughput(paths, batch_size=batch_size)


def imagereward_throughput(paths: list[Path], *, batch_size: int = 8) -> None:
    """ImageReward at its real size: decoding, preprocessing, both towers and the head."""
    import tempfile

    from metrics.engine.imagereward import ImageRewardModel, ImageRewardScorer, load_tokenizer
    from metrics.engine.images import decode_rgb
    from tests.engine import imagereward_fixtures as irf

    with tempfile.TemporaryDirectory() as tmp:
        vocab = irf.write_bert_vocab(Path(tmp))
        state = irf.imagereward_state_dict(
            vocab=irf.vocab_size(vocab), width=1024, depth=24, patch=16, image=224, hidden=768,
            layers=12, inter=3072, max_pos=512,
        )  # fmt: skip
        scorer = ImageRewardScorer(
            ImageRewardModel(state), load_tokenizer(vocab), torch.device("cpu"), "random", "tiny"
        )
    prompts = ["a photo of a red dog on the sea"] * len(paths)
    scorer.score_images([decode_rgb(p) for p in paths[:batch_size]], prompts[:batch_size])
    t = time.perf_counter()
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        scorer.score_images([decode_rgb(p) for p in chunk], prompts[: len(chunk)])
    rate = len(paths) / (time.perf_counter() - t)
    print(f"  imagereward (BLIP ViT-L/16 + BERT)     {rate:7.2f} img/s")
