"""Seeded images and LPIPS weights shared by the pixel-metric tests and their reference script.

Everything here depends only on numpy and torch (no project code), so that
``tests/data/pixels_make_reference.py`` can run it in the peers' environment
(scikit-image, lpips, pytorch_msssim) and the project tests can rebuild the very
same inputs. Random numbers come from numpy's PCG64 (stable across versions),
never from torch's generator.

Weights files are saved the way their projects save them: torchvision's backbone
state dict (``features.N.weight`` / ``features.N.bias``, as in
``alexnet-owt-7be5be79.pth``) and the lpips project's linear layers
(``lin0.model.1.weight`` ..., as in ``weights/v0.1/alex.pth``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

# (torchvision features index, in channels, out channels, kernel) of every conv.
BACKBONE_CONVS = {
    "alex": [
        (0, 3, 64, 11),
        (3, 64, 192, 5),
        (6, 192, 384, 3),
        (8, 384, 256, 3),
        (10, 256, 256, 3),
    ],
    "vgg": [
        (0, 3, 64, 3),
        (2, 64, 64, 3),
        (5, 64, 128, 3),
        (7, 128, 128, 3),
        (10, 128, 256, 3),
        (12, 256, 256, 3),
        (14, 256, 256, 3),
        (17, 256, 512, 3),
        (19, 512, 512, 3),
        (21, 512, 512, 3),
        (24, 512, 512, 3),
        (26, 512, 512, 3),
        (28, 512, 512, 3),
    ],
}
LINEAR_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
# The file names of the real weights, as the weights manager knows them.
BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
LINEAR_FILES = {"alex": "lpips-v0.1-alex.pth", "vgg": "lpips-v0.1-vgg.pth"}


def backbone_state(net: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded He-normal conv weights and small biases under torchvision's key names."""
    rng = np.random.default_rng([seed, 1 if net == "alex" else 2])
    state = {}
    for idx, cin, cout, k in BACKBONE_CONVS[net]:
        std = np.sqrt(2.0 / (cin * k * k))
        w = rng.standard_normal((cout, cin, k, k)) * std
        state[f"features.{idx}.weight"] = torch.from_numpy(w.astype(np.float32))
        state[f"features.{idx}.bias"] = torch.from_numpy(
            (rng.standard_normal(cout) * 0.05).astype(np.float32)
        )
    return state


def linear_state(net: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded non-negative 1x1 weights (the released ones are non-negative too), lpips key names."""
    rng = np.random.default_rng([seed, 3 if net == "alex" else 4])
    return {
        f"lin{k}.model.1.weight": torch.from_numpy(
            rng.uniform(0.0, 0.2, size=(1, c, 1, 1)).astype(np.float32)
        )
        for k, c in enumerate(LINEAR_CHANNELS[net])
    }


def write_weights(directory: Path, net: str, seed: int = 0) -> tuple[Path, Path]:
    """Save the backbone and linear state dicts under their real file names; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    backbone = directory / BACKBONE_FILES[net]
    linear = directory / LINEAR_FILES[net]
    torch.save(backbone_state(net, seed), backbone)
    torch.save(linear_state(net, seed), linear)
    return backbone, linear


def smooth_image(seed: int, height: int, width: int) -> np.ndarray:
    """A deterministic HxWx3 uint8 picture: random sinusoids (structure) plus a little noise."""
    rng = np.random.default_rng([seed, height, width])
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for _ in range(6):
        fy, fx = rng.uniform(0.005, 0.08, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        amp = rng.uniform(10, 40, size=3)
        img += amp * np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)[:, :, None]
    img += 128 + rng.normal(0, 6, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def distorted(img: np.ndarray, seed: int, noise: float, shift: int = 0) -> np.ndarray:
    """``img`` with Gaussian noise of std ``noise`` (grey levels) and a horizontal roll of ``shift`` px."""
    rng = np.random.default_rng([seed, 99])
    out = np.roll(img.astype(np.float64), shift, axis=1) + rng.normal(0, noise, size=img.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# Pairs compared with scikit-image / pytorch_msssim / lpips: (name, seed, height, width, noise, shift).
PIXEL_CASES = [
    ("tiny-11", 1, 11, 11, 20.0, 0),
    ("odd-37x53", 2, 37, 53, 10.0, 1),
    ("noisy-64", 3, 64, 64, 40.0, 0),
    ("shifted-96x80", 4, 96, 80, 2.0, 3),
    ("ms-192x176", 5, 192, 176, 15.0, 0),
    ("ms-odd-161x203", 6, 161, 203, 15.0, 2),
]
LPIPS_CASES = {
    "alex": [
        ("a64", 11, 64, 64, 25.0, 0),
        ("a96x80", 12, 96, 80, 5.0, 2),
        ("a40", 13, 40, 40, 60.0, 0),
    ],
    "vgg": [("v32", 21, 32, 32, 25.0, 0), ("v48x40", 22, 48, 40, 5.0, 2)],
}


def case_images(case: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The (A, B) images of one case."""
    _, seed, h, w, noise, shift = case
    a = smooth_image(seed, h, w)
    return a, distorted(a, seed, noise, shift)


def images_digest(a: np.ndarray, b: np.ndarray) -> str:
    """sha256 prefix of both images' bytes: shows the inputs were rebuilt identically."""
    return hashlib.sha256(a.tobytes() + b.tobytes()).hexdigest()[:16]
