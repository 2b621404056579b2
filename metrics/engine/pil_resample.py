"""Pillow's resampling (``Image.resize`` with BICUBIC or BILINEAR) as batched torch code on any device.

Pillow (``libImaging/Resample.c``) resizes in two separable passes, horizontal
then vertical, each output pixel a weighted sum over a window of input pixels.
The weights (``precompute_coeffs``) are the filter evaluated at
``(x + xmin - center + 0.5) / filterscale`` with ``center = (i + 0.5) * in / out``,
the filter stretched by the scale when downsampling (antialiasing), the window
clipped to the image and the weights normalised to sum 1, all in double.

- 32-bit float images (mode ``F``, clean-fid's resize) accumulate in double and
  store float32 after each pass.
- 8-bit images (``RGB``, CLIP's processor) use the weights as 22-bit fixed point
  (``normalize_coeffs_8bpc``), add half a unit, shift right and clip to 0..255
  after each pass.

We compute the same weights with the same double arithmetic (numpy, same
operation order) and accumulate window position by window position in float64,
the order Pillow uses. Every product and partial sum of the 8-bit path is an
integer below 2**53, so float64 holds it exactly and the result equals Pillow's
bit for bit on any device; the float path does the same double operations in the
same order, so it equals Pillow's too (checked in tests/engine/test_pil_resample.py).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed point for 8-bit images


def _bicubic(x: float) -> float:
    a = -0.5  # Pillow's bicubic (Keys, a = -0.5)
    x = -x if x < 0.0 else x
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def _bilinear(x: float) -> float:
    x = -x if x < 0.0 else x
    return 1.0 - x if x < 1.0 else 0.0


FILTERS = {"bicubic": (_bicubic, 2.0), "bilinear": (_bilinear, 1.0)}


@lru_cache(maxsize=256)
def coefficients(
    in_size: int, out_size: int, filter_name: str = "bicubic"
) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's window starts ``[out]`` and weights ``[out, ksize]`` (zero-padded) for one axis."""
    fn, support = FILTERS[filter_name]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    starts = np.zeros(out_size, dtype=np.int64)
    weights = np.zeros((out_size, ksize), dtype=np.float64)
    ss = 1.0 / filterscale
    for xx in range(out_size):
        center = 0.0 + (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        k = [fn((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        ww = 0.0
        for w in k:
            ww += w
        if ww != 0.0:
            k = [w / ww for w in k]
        starts[xx] = xmin
        weights[xx, :xmax] = k
    return starts, weights


def _fixed_point(weights: np.ndarray) -> np.ndarray:
    # normalize_coeffs_8bpc: round half away from zero to 22 fractional bits (C's int() truncates).
    scaled = weights * (1 << PRECISION_BITS)
    return np.trunc(np.where(weights < 0, scaled - 0.5, scaled + 0.5))


def _pass(x: torch.Tensor, dim: int, out_size: int, filter_name: str, fixed: bool):
    """Axis ``dim`` of ``x`` (float64) resampled: the weighted window sum, in Pillow's order."""
    in_size = x.shape[dim]
    starts, weights = coefficients(in_size, out_size, filter_name)
    if fixed:
        weights = _fixed_point(weights)
    ksize = weights.shape[1]
    # Padded window slots point at a valid pixel with weight 0 (adding 0.0 changes nothing).
    index = np.minimum(starts[:, None] + np.arange(ksize)[None, :], in_size - 1)
    index_t = torch.from_numpy(index.T.copy()).to(x.device)
    weights_t = torch.from_numpy(weights.T.copy()).to(x.device).unsqueeze(-1)
    # The resampled axis first, everything else flattened behind it: each window tap is
    # then a gather of whole contiguous rows (fast on CPU and GPU alike).
    moved = x.movedim(dim, 0)
    rest = moved.shape[1:]
    rows = moved.reshape(in_size, -1).contiguous()
    acc = None
    for k in range(ksize):
        # A separate multiply and add (no fused multiply-add): Pillow's rounding.
        term = rows.index_select(0, index_t[k]) * weights_t[k]
        acc = term if acc is None else acc + term
    return acc.reshape(out_size, *rest).movedim(0, dim)


def _finish_fixed(x: torch.Tensor) -> torch.Tensor:
    # clip8: (sum + half) >> 22, clipped to 0..255; exact division by a power of two, then floor.
    return torch.floor((x + float(1 << (PRECISION_BITS - 1))) / float(1 << PRECISION_BITS)).clamp_(
        0, 255
    )


@lru_cache(maxsize=256)
def vertical_first(in_h: int, in_w: int, out_h: int, out_w: int) -> bool:
    """Whether Pillow runs its vertical pass first for this resize.

    Pillow up to 11 always went horizontal first; newer releases choose the order
    per shape, by a rule of their own. Each one-axis pass is exact (tested), so we
    ask the installed Pillow once per shape: a seeded noise image resized in one go
    equals one of the two orders done axis by axis.
    """
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (in_h, in_w), dtype=np.uint8)
    img = Image.fromarray(noise)
    bicubic = Image.Resampling.BICUBIC
    whole = np.asarray(img.resize((out_w, out_h), bicubic))
    h_first = np.asarray(img.resize((out_w, in_h), bicubic).resize((out_w, out_h), bicubic))
    return not np.array_equal(whole, h_first)


def resample(
    x: torch.Tensor, size: tuple[int, int], *, filter_name: str = "bicubic"
) -> torch.Tensor:
    """Pillow's ``resize`` of images ``[..., H, W]`` to ``size`` (h, w), per channel.

    uint8 input: Pillow's 8-bit arithmetic, uint8 out. float32 input: mode ``F``, float32 out.
    """
    if filter_name not in FILTERS:
        raise ValueError(f"unknown filter {filter_name!r}; use one of {', '.join(FILTERS)}")
    fixed = x.dtype == torch.uint8
    if not fixed and x.dtype != torch.float32:
        raise TypeError(f"resample takes uint8 or float32 images, got {x.dtype}")
    out_h, out_w = size
    in_h, in_w = x.shape[-2], x.shape[-1]
    y = x.to(torch.float64)
    # Pillow skips a pass whose axis keeps its size (its weights would be the identity anyway).
    passes = [(-1, out_w)] if out_w != in_w else []
    if out_h != in_h:
        passes.append((-2, out_h))
    if len(passes) == 2 and vertical_first(in_h, in_w, out_h, out_w):
        passes.reverse()
    for dim, out_size in passes:
        y = _pass(y, dim, out_size, filter_name, fixed)
        # Pillow stores each pass's result in the image's own type.
        y = _finish_fixed(y) if fixed else y.to(torch.float32).to(torch.float64)
    return y.to(torch.uint8) if fixed else y.to(torch.float32)
