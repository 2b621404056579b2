"""Seeded stand-ins for the FID Inception weights and for image sets, shared by tests and scripts.

The real ``pt_inception-2015-12-05-6726825d.pth`` cannot be downloaded here, so
tests build the same architecture with random weights and save the state dict
under the real file name, in the real format (``torch.save`` of a key -> tensor
dict, torchvision key names), and load it through ``metrics.engine.weights``.

Random convolution weights alone make activations vanish or explode through 94
layers, so BatchNorm statistics are calibrated like a trained network's: one
float64 forward pass in training mode on two seeded images sets every running
mean and variance to the statistics of its input, so each layer sees roughly
normalised activations. The calibrated numbers are rounded to 4 significant
digits so that the file is the same on every machine and torch version (the
golden file records :func:`state_dict_digest`).

Also used by ``tests/engine/make_reference_numbers.py`` under the peers venv
(torch-fidelity), so it imports only torch, numpy, PIL and ``metrics.engine.inception``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from metrics.engine.inception import FIDInceptionV3

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
DEFAULT_SEED = 20151205


def _round_sig(t: torch.Tensor, digits: int = 4) -> torch.Tensor:
    a = t.to(torch.float64).numpy()
    with np.errstate(divide="ignore"):
        exp = np.floor(np.log10(np.abs(a)))
    exp[~np.isfinite(exp)] = 0
    scale = 10.0 ** (exp - (digits - 1))
    return torch.from_numpy(np.round(a / scale) * scale)


def _upsample_bilinear(coarse: np.ndarray, height: int, width: int) -> np.ndarray:
    # Plain numpy (no PIL resampling) so the pixels are the same under every Pillow version.
    ch, cw = coarse.shape[:2]
    ys = np.linspace(0, ch - 1, height)
    xs = np.linspace(0, cw - 1, width)
    y0 = np.minimum(np.floor(ys).astype(int), ch - 2)
    x0 = np.minimum(np.floor(xs).astype(int), cw - 2)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    c = coarse.astype(np.float64)
    top = c[y0][:, x0] * (1 - fx) + c[y0][:, x0 + 1] * fx
    bottom = c[y0 + 1][:, x0] * (1 - fx) + c[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def smooth_image(rng: np.random.Generator, height: int, width: int, tint=(0, 0, 0)) -> np.ndarray:
    """A seeded, natural-looking-enough RGB image: upsampled low-frequency noise plus grain."""
    coarse = rng.uniform(0, 255, size=(6, 6, 3))
    arr = _upsample_bilinear(coarse, height, width)
    arr = arr + rng.normal(0, 12, size=arr.shape) + np.asarray(tint, dtype=np.float64)
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def images_digest(arrays) -> str:
    """sha256 over a list of uint8 images (shape and bytes)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def build_state_dict(seed: int = DEFAULT_SEED) -> dict[str, torch.Tensor]:
    """A calibrated random state dict for the FID Inception (torchvision key names, float32)."""
    rng = np.random.default_rng(seed)
    model = FIDInceptionV3().double()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                w = rng.normal(0, np.sqrt(2.0 / fan_in), size=tuple(module.weight.shape))
                module.weight.copy_(torch.from_numpy(w))
            elif isinstance(module, torch.nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(torch.from_numpy(rng.uniform(0.8, 1.2, size=c)))
                module.bias.copy_(torch.from_numpy(rng.normal(0.1, 0.2, size=c)))
                module.momentum = None  # cumulative average: one batch -> exactly its statistics
                module.reset_running_stats()
        model.fc.weight.copy_(torch.from_numpy(rng.normal(0, 0.1, size=(1008, 2048))))
        model.fc.bias.copy_(torch.from_numpy(rng.normal(0, 1.0, size=1008)))
        calib = np.stack([smooth_image(rng, 299, 299) for _ in range(2)]).transpose(0, 3, 1, 2)
        model.train()
        model(torch.from_numpy(calib).to(torch.float64))
        model.eval()
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0, dtype=torch.int64)
        elif "running_" in key:
            state[key] = _round_sig(value).to(torch.float32)
        else:
            state[key] = value.to(torch.float32)
    return state


def state_dict_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over the keys and raw tensor bytes (independent of torch.save's container)."""
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].contiguous().numpy().tobytes())
    return h.hexdigest()


def save_weights(directory: Path, seed: int = DEFAULT_SEED, name: str = WEIGHTS_NAME) -> Path:
    """Build the calibrated random weights and ``torch.save`` them as ``directory/name``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    torch.save(build_state_dict(seed), path)
    return path


# The two sets compared with torch-fidelity (tests/data/inception_reference.*).
SET_A = {"seed": 1, "count": 12, "tint": (0, 0, 0)}
SET_B = {"seed": 2, "count": 12, "tint": (30, -20, 10)}
RESIZE_SAMPLES = 2000


def resize_sample_positions() -> np.ndarray:
    """Flat indices into a (3, 299, 299) array where golden resize outputs are recorded."""
    return np.random.default_rng(0).choice(3 * 299 * 299, RESIZE_SAMPLES, replace=False)


# Sizes of the reference image sets: mixed on purpose (square, wide, tall, smaller and
# larger than 299, and 299 itself).
SET_SIZES = [(64, 64), (96, 80), (128, 128), (299, 299), (200, 320), (150, 100)]


def image_set_arrays(*, seed: int, count: int, tint=(0, 0, 0), sizes=None) -> list[np.ndarray]:
    """``count`` seeded uint8 images of cycling ``sizes`` (h, w)."""
    rng = np.random.default_rng(seed)
    sizes = sizes or SET_SIZES
    return [smooth_image(rng, *sizes[i % len(sizes)], tint) for i in range(count)]


def write_image_set(
    directory: Path, *, seed: int, count: int, tint=(0, 0, 0), sizes=None, fmt: str = "png"
) -> list[Path]:
    """Write :func:`image_set_arrays` as ``img_000.png``... (or ``.jpg``, quality 90)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, arr in enumerate(image_set_arrays(seed=seed, count=count, tint=tint, sizes=sizes)):
        path = directory / f"img_{i:03d}.{fmt}"
        if fmt == "png":
            Image.fromarray(arr, "RGB").save(path)
        else:
            Image.fromarray(arr, "RGB").save(path, quality=90)
        paths.append(path)
    return paths
