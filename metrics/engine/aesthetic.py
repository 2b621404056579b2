"""LAION aesthetic score: the "improved aesthetic predictor" head on CLIP ViT-L/14 image embeddings.

Reference: christophschuhmann/improved-aesthetic-predictor (``simple_inference.py``), the
"sac+logos+ava1-l14-linearMSE" head that LAION-Aesthetics v2 and HEIM use. Per image:

1. the OpenAI CLIP ViT-L/14 projected image embedding (768-d; ``encode_image``, which is
   ``get_image_features`` of ``openai/clip-vit-large-patch14`` in ``transformers``);
2. L2-normalised (a zero vector is left as it is, as the reference's ``normalized`` does);
3. through the head: five linear layers 768 -> 1024 -> 128 -> 64 -> 16 -> 1 with dropout
   between the first four and **no activation** (the ReLUs are commented out in the
   published definition, so the head is one affine map, trained with an MSE loss on
   1-10 ratings).

The weights file is the published ``state_dict`` (keys ``layers.{0,2,4,6,7}.weight/bias``;
the dropouts hold no tensors). The head runs in float64 here: it costs nothing at this
size and keeps the score independent of the device.

The maths take CLIP image embeddings, so a worker reuses the cached embeddings that CLIP
score computed with the same checkpoint: no second pass over the images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metrics.engine.embeddings import feature_rows
from metrics.engine.preference import per_image_result, read_checkpoint
from metrics.engine.result import MetricResult
from metrics.engine.weights import WeightsSpec, file_sha256, register, weights_path

CLIP_MODEL = "openai/clip-vit-large-patch14"  # the embedding the head was trained on
LAYER_SIZES = (768, 1024, 128, 64, 16, 1)
# Indices of the Linear layers in the published nn.Sequential (Dropouts sit at 1, 3, 5).
LINEAR_INDICES = (0, 2, 4, 6, 7)

AESTHETIC_HEAD = register(
    WeightsSpec(
        name="sac+logos+ava1-l14-linearMSE.pth",
        urls=(
            "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
            "sac%2Blogos%2Bava1-l14-linearMSE.pth",
        ),
        sha256="",
        # No sha256 is published; this MD5 is the one independent users pin for this URL
        # (pooch.retrieve("md5:...") in several evaluation repositories).
        md5="b1047fd767a00134b8fd6529bf19521a",
        description="LAION improved aesthetic predictor head (sac+logos+ava1, CLIP ViT-L/14)",
    )
)


class AestheticHead:
    """The predictor head as float64 matrices: ``score = W5 (W4 (W3 (W2 (W1 x + b1)...)`` ."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], *, sha256: str, name: str):
        self.layers = layers
        self.weights_sha256 = sha256
        self.weights_file = name
        self.input_dim = int(layers[0][0].shape[1])

    def __call__(self, unit_embeddings: np.ndarray) -> np.ndarray:
        x = np.asarray(unit_embeddings, dtype=np.float64)
        for weight, bias in self.layers:
            x = x @ weight.T + bias
        return x[:, 0]

    def provenance(self) -> dict[str, Any]:
        """What a result computed with this head must record."""
        return {
            "aesthetic_head": self.weights_file,
            "aesthetic_head_sha256": self.weights_sha256,
        }


def load_aesthetic_head(
    path: str | Path | None = None, *, download: bool | None = None
) -> AestheticHead:
    """Load the head from its published state-dict file (found or fetched by the weights manager)."""
    file = weights_path(AESTHETIC_HEAD, path, download=download)
    state = read_checkpoint(file)
    layers = []
    expected = list(zip(LAYER_SIZES[:-1], LAYER_SIZES[1:], strict=True))
    for index, (n_in, n_out) in zip(LINEAR_INDICES, expected, strict=True):
        try:
            weight = state[f"layers.{index}.weight"].double().numpy()
            bias = state[f"layers.{index}.bias"].double().numpy()
        except (KeyError, TypeError):
            raise ValueError(
                f"{file} is not the aesthetic predictor head: it lacks layers.{index}.weight/bias"
            ) from None
        if weight.shape != (n_out, n_in) or bias.shape != (n_out,):
            raise ValueError(
                f"{file}: layers.{index} has shape {tuple(weight.shape)}, expected ({n_out}, {n_in})"
            )
        layers.append((weight, bias))
    return AestheticHead(layers, sha256=file_sha256(file), name=file.name)


def normalise_rows(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; a zero row stays zero (the reference divides by 1 there)."""
    x = feature_rows(embeddings, "CLIP image embeddings")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def aesthetic_scores(image_embeddings: np.ndarray, head: AestheticHead) -> np.ndarray:
    """Per-image aesthetic scores (float64) from raw CLIP ViT-L/14 image embeddings."""
    x = normalise_rows(image_embeddings)
    if x.shape[1] != head.input_dim:
        raise ValueError(
            f"the aesthetic head takes {head.input_dim}-d CLIP ViT-L/14 embeddings, got "
            f"{x.shape[1]}-d ones: compute them with {CLIP_MODEL}"
        )
    return head(x)


def aesthetic_from_embeddings(
    image_embeddings: np.ndarray,
    head: AestheticHead,
    *,
    names: Sequence[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    provenance: dict | None = None,
) -> MetricResult:
    """Mean aesthetic score with per-image values and a seeded 95% bootstrap interval."""
    return per_image_result(
        "aesthetic",
        aesthetic_scores(image_embeddings, head),
        names=names,
        resamples=resamples,
        seed=seed,
        provenance={
            "reference": "LAION improved-aesthetic-predictor, sac+logos+ava1-l14-linearMSE head "
            "on L2-normalised CLIP ViT-L/14 image embeddings",
            "clip_model_expected": CLIP_MODEL,
            **head.provenance(),
            **(provenance or {}),
        },
    )


def aesthetic_paths(
    paths: Sequence[str | Path],
    *,
    bundle,
    head: AestheticHead,
    batch_size: int = 32,
    workers: int = 0,
    resamples: int = 1000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> MetricResult:
    """Aesthetic scores of image files, with ``bundle`` from ``load_clip`` (ViT-L/14)."""
    from metrics.engine.clip import clip_image_embeddings

    emb = clip_image_embeddings(
        bundle, paths, batch_size=batch_size, workers=workers, progress=progress
    )
    result = aesthetic_from_embeddings(
        emb,
        head,
        names=[Path(p).name for p in paths],
        resamples=resamples,
        seed=seed,
        provenance=bundle.provenance(),
    )
    if bundle.name != CLIP_MODEL:
        result.extra.setdefault("notes", []).append(
            f"embeddings from {bundle.name}, not {CLIP_MODEL}: the head was trained on the "
            "latter, so scores are comparable to published ones only if it is the same model"
        )
    return result
