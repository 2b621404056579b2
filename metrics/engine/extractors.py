"""The feature extractor protocol: what a worker needs to fill the per-image feature cache.

A feature in the cache is keyed by (image sha256, ``extractor_id``, ``preprocessing``,
``weights_sha256``): any change to one of the three extractor fields must give
different features a different key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class FeatureExtractor(Protocol):
    """Turns image files into named float32 feature arrays, one row per image, in order."""

    extractor_id: str  # stable id, e.g. "fid-inception" / "clip-image:<model name>"
    preprocessing: str  # e.g. "legacy-tf-299", "clean-299", "clip-processor"
    weights_sha256: str  # full sha256 of the weights file(s) in use
    outputs: dict[str, int]  # output name -> dimension, e.g. {"pool3": 2048}

    def extract_paths(
        self,
        paths: Sequence[Path],
        *,
        batch_size: int = 32,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Features of ``paths`` in order: output name -> float32 array ``[len(paths), dim]``.

        ``workers``: decoding threads (None: :func:`metrics.engine.loading.default_workers`).
        ``progress`` is called with the number of images finished since its last call.
        """
        ...


PRECISIONS = ("fp32", "bf16", "fp16")


class InceptionExtractor:
    """The FID Inception as a :class:`FeatureExtractor`: ``pool3`` (2048) and ``logits_unbiased`` (1008).

    ``weights``: an explicit file, else resolved by :func:`metrics.engine.weights.weights_path`.
    ``precision``: ``fp32`` (exact, the default) or an opt-in reduced precision
    (``bf16`` on CPU or GPU, ``fp16`` on GPU) whose features get their own
    ``extractor_id`` so they never mix with exact ones in a cache.
    ``fast``: run the folded network (BatchNorm folded, 1x1 heads merged; equal to
    the plain network to float rounding, see ``inception_folded.fold``).
    """

    outputs = {"pool3": 2048, "logits_unbiased": 1008}

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        resize: str = "legacy-tf",
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        fast: bool = True,
        download: bool | None = None,
    ):
        from metrics.engine.device import resolve_device
        from metrics.engine.inception import load_fid_inception
        from metrics.engine.inception_folded import fold
        from metrics.engine.resize import preprocessing_id
        from metrics.engine.weights import FID_INCEPTION, file_sha256, weights_path

        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        self.device = resolve_device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("fp16 runs on a GPU only; on a CPU use --precision bf16")
        self.resize = resize
        self.preprocessing = preprocessing_id(resize)
        self.precision = precision
        self.extractor_id = "fid-inception" if precision == "fp32" else f"fid-inception-{precision}"
        self.weights_file = weights_path(FID_INCEPTION, weights, download=download)
        self.weights_sha256 = file_sha256(self.weights_file)
        model = load_fid_inception(self.weights_file)
        if fast:
            model = fold(model, fold_input=precision == "fp32")
        # channels_last lets oneDNN / cuDNN pick their fastest convolution kernels.
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        if self.device.type == "cuda" and precision == "fp32":
            # Exact mode means float32 arithmetic: TF32 convolutions round inputs to 10 bits.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False

    def provenance(self) -> dict:
        """What a result computed from these features must record."""
        return {
            "extractor": self.extractor_id,
            "weights_file": self.weights_file.name,
            "weights_sha256": self.weights_sha256,
            "resize": self.resize,
            "preprocessing": self.preprocessing,
            "precision": self.precision,
        }

    def forward(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        """Features of resized float pixels ``[N, 3, 299, 299]`` in 0..255 (float32 arrays)."""
        out = self.forward_device(x)
        return {name: value.float().cpu().numpy() for name, value in out.items()}

    def forward_device(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """:meth:`forward` with the features left on the device (the pipeline copies them back later)."""
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if self.precision == "fp32":
                pool3, logits = self.model(x)
            else:
                dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
                with torch.autocast(self.device.type, dtype=dtype):
                    pool3, _ = self.model(x)
                # IS is sensitive to the logits' scale: the last product runs in float32.
                pool3 = pool3.float()
                logits = pool3 @ self._fc_weight_t()
        return {"pool3": pool3, "logits_unbiased": logits}

    def _fc_weight_t(self) -> torch.Tensor:
        model = self.model
        if hasattr(model, "fc_weight_t"):
            return model.fc_weight_t
        return model.fc.weight.t()

    def extract_images(
        self, images: Sequence[np.ndarray], *, batch_size: int = 32
    ) -> dict[str, np.ndarray]:
        """Features of decoded ``(H, W, 3)`` uint8 images (any sizes), in order."""
        from metrics.engine.loading import assemble, to_device
        from metrics.engine.preprocess import inception_preprocess
        from metrics.engine.resize import resize_image

        pre = inception_preprocess(self.device, self.resize)
        parts: list[dict[str, np.ndarray]] = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            if pre.device is None:
                x = torch.stack([resize_image(a, self.resize) for a in chunk])
            else:
                x = to_device(
                    assemble([np.ascontiguousarray(a) for a in chunk]), self.device, pre.device
                )
            parts.append(self.forward(x))
        return _concat(parts, self.outputs)

    def extract_paths(
        self,
        paths: Sequence[Path],
        *,
        batch_size: int = 32,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Features of image files through the pipeline (``workers`` decoding threads), in order."""
        from metrics.engine.preprocess import extract, inception_preprocess

        return extract(
            paths,
            inception_preprocess(self.device, self.resize),
            self.forward_device,
            device=self.device,
            outputs=self.outputs,
            batch_size=batch_size,
            workers=workers,
            progress=progress,
        )


def _concat(parts: list[dict[str, np.ndarray]], outputs: dict[str, int]) -> dict[str, np.ndarray]:
    if not parts:
        return {name: np.zeros((0, dim), dtype=np.float32) for name, dim in outputs.items()}
    return {name: np.concatenate([p[name] for p in parts]) for name in outputs}
