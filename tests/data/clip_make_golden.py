"""Write tests/data/clip_torchmetrics_golden.json: reference CLIP numbers on the tiny test checkpoint.

Run in the peers venv (torchmetrics needs transformers 4.x), never by the test suite. ``make peers`` builds that venv from
requirements-peers.txt; ``make check-goldens`` runs this script with ``--out`` a temporary
folder and compares its output with the committed file(s) (tests/data/check_goldens.py):

    PYTHONPATH=. .peers-venv/bin/python tests/data/clip_make_golden.py [--out DIR]

It builds the same tiny CLIP checkpoint and the same images as the tests
(tests/engine/clip_fixtures.py, seeded numpy weights), then records:

- torchmetrics ``CLIPScore`` on each image alone (``100 x cos`` clamped at 0) and on
  all images at once (torchmetrics clamps the mean), plus the raw per-image
  ``100 x cos`` from ``torchmetrics.functional.multimodal.clip_score._clip_score_update``;
- CLIP directional similarity computed as the diffusers evaluation guide does
  (transformers 4 ``CLIPModel`` features, L2-normalised, differences, cosine) on
  pairs of these images with captions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "engine"))

import clip_fixtures as cf  # noqa: E402

PAIRS = [  # (source image, edited image, source caption, edited caption)
    ("img_00.png", "img_03.png", "a photo of the cat", "a photo of the dog"),
    ("img_01.png", "img_04.png", "a red dog", "a red cat"),
    ("img_02.png", "img_05.png", "the photo of a dog", "the photo of a red dog"),
]


def pixels_sha256(path: Path) -> str:
    return hashlib.sha256(np.asarray(Image.open(path).convert("RGB")).tobytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into")
    out_dir = parser.parse_args().out
    from torchmetrics.functional.multimodal.clip_score import _clip_score_update
    from torchmetrics.multimodal.clip_score import CLIPScore
    from transformers import CLIPModel, CLIPProcessor

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = cf.build_tiny_clip(Path(tmp) / "tiny-clip")
        paths = cf.make_test_images(Path(tmp) / "images")
        weights_sha = hashlib.sha256((ckpt / "model.safetensors").read_bytes()).hexdigest()

        def load():
            return CLIPModel.from_pretrained(ckpt), CLIPProcessor.from_pretrained(ckpt)

        model, processor = load()
        model.eval()
        images = [
            torch.from_numpy(np.asarray(Image.open(p).convert("RGB"))).permute(2, 0, 1).contiguous()
            for p in paths
        ]
        prompts = cf.TEST_PROMPTS[: len(paths)]
        with torch.no_grad():
            raw, _ = _clip_score_update(images, prompts, model, processor)
        per_image = []
        for img, prompt in zip(images, prompts, strict=True):
            metric = CLIPScore(model_name_or_path=load)
            metric.update(img, prompt)
            per_image.append(float(metric.compute()))
        metric = CLIPScore(model_name_or_path=load)
        metric.update(images, prompts)
        mean_all = float(metric.compute())

        # Directional similarity as in the diffusers guide ("Evaluating Diffusion Models").
        by_name = {p.name: p for p in paths}

        def image_features(names):
            ims = [Image.open(by_name[n]).convert("RGB") for n in names]
            px = processor.image_processor(ims, return_tensors="pt")["pixel_values"]
            feats = model.get_image_features(pixel_values=px)
            return feats / feats.norm(dim=1, keepdim=True)

        def text_features(texts):
            tok = processor.tokenizer(
                texts, max_length=77, padding="max_length", truncation=True, return_tensors="pt"
            )
            feats = model.get_text_features(input_ids=tok["input_ids"])
            return feats / feats.norm(dim=1, keepdim=True)

        with torch.no_grad():
            src_i = image_features([p[0] for p in PAIRS])
            edit_i = image_features([p[1] for p in PAIRS])
            src_t = text_features([p[2] for p in PAIRS])
            edit_t = text_features([p[3] for p in PAIRS])
            directional = torch.nn.functional.cosine_similarity(edit_i - src_i, edit_t - src_t)

        golden = {
            "how": "tests/data/clip_make_golden.py in the peers venv",
            "versions": {
                name: metadata.version(name) for name in ("torchmetrics", "transformers", "torch")
            },
            "weights_sha256": weights_sha,
            "image_processor": type(processor.image_processor).__name__,
            "images": [p.name for p in paths],
            "pixels_sha256": [pixels_sha256(p) for p in paths],
            "prompts": prompts,
            "torchmetrics_raw_100cos": [float(v) for v in raw],
            "torchmetrics_clipscore_per_image": per_image,
            "torchmetrics_clipscore_all": mean_all,
            "pairs": [list(p) for p in PAIRS],
            "diffusers_guide_directional": [float(v) for v in directional],
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "clip_torchmetrics_golden.json"
    out.write_text(json.dumps(golden, indent=1) + "\n")
    print(json.dumps(golden, indent=1))


if __name__ == "__main__":
    main()
