"""Resizing images to the Inception input size, the two ways published FID numbers use.

- ``legacy-tf``: TensorFlow 1.x ``tf.image.resize_bilinear`` with
  ``align_corners=False`` on float pixels, as the TTUR reference code (the
  published FID numbers) and torch-fidelity do. TF1 maps output pixel ``i`` to
  source coordinate ``i * in/out`` (no half-pixel offset, unlike torch's
  ``F.interpolate``), in float32, and interpolates horizontally first, then
  vertically. We reproduce that arithmetic step for step, so the result equals
  torch-fidelity's ``interpolate_bilinear_2d_like_tensorflow1x`` bit for bit on CPU.
- ``clean``: clean-fid's "clean" mode (Parmar et al. 2022, "On Aliased Resizing
  and Surprising Subtleties in GAN Evaluation"): each channel resized on its own
  with PIL's bicubic filter in 32-bit float mode ``F`` (antialiased, no
  quantisation), then clipped to [0, 255].

Both take 8-bit RGB pixels and return float32 pixels still in the 0..255 range;
the network applies ``(x - 128) / 128`` itself. Images of any size work, one at
a time, so a set of mixed sizes needs no padding or cropping. The per-image
numpy/PIL functions are the reference (and the CPU path); :func:`resize_batch`
does the same arithmetic batched in torch on any device (the GPU path), equal
bit for bit (tests/engine/test_resize.py).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

LEGACY_TF = "legacy-tf"
CLEAN = "clean"
RESIZE_MODES = (LEGACY_TF, CLEAN)
INCEPTION_SIZE = 299


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a known resize mode, else raise ValueError naming the choices."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; use one of {', '.join(RESIZE_MODES)}")
    return mode


def preprocessing_id(mode: str, size: int = INCEPTION_SIZE) -> str:
    """The preprocessing label stored with features, e.g. ``legacy-tf-299``."""
    return f"{check_mode(mode)}-{size}"


def _tf1_source_grid(
    in_size: int, out_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # TF1 (align_corners=False): scale = in / out, src = dst * scale, both in float32;
    # lower = floor(src), upper = min(lower + 1, in - 1), lerp = src - lower.
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    src = torch.arange(out_size, dtype=torch.float32) * scale
    lo = src.floor().to(torch.int64)
    hi = (lo + 1).clamp_max(in_size - 1)
    frac = src - lo.to(torch.float32)
    return lo, hi, frac


def resize_tf1_bilinear(
    x: torch.Tensor, size: tuple[int, int] = (INCEPTION_SIZE, INCEPTION_SIZE)
) -> torch.Tensor:
    """TF1 bilinear resize (align_corners=False) of float images ``[..., H, W]`` to ``size`` (h, w)."""
    if not torch.is_floating_point(x):
        raise TypeError("resize_tf1_bilinear needs a floating point tensor (convert uint8 first)")
    out_h, out_w = size
    in_h, in_w = x.shape[-2], x.shape[-1]
    if (in_h, in_w) == (out_h, out_w):
        # src = i * 1.0 and lerp 0 everywhere: TF1's result is the input itself.
        return x.clone()
    # The grid is computed on the CPU (the same float32 values everywhere), then moved.
    y_lo, y_hi, dy = (t.to(x.device) for t in _tf1_source_grid(in_h, out_h))
    x_lo, x_hi, dx = (t.to(x.device) for t in _tf1_source_grid(in_w, out_w))
    dx = dx.to(x.dtype)
    dy = dy.to(x.dtype).unsqueeze(-1)
    rows_lo = x.index_select(-2, y_lo)
    rows_hi = x.index_select(-2, y_hi)
    # Same operation order as TF1's compute_lerp: horizontal lerps first, then vertical.
    top_l, top_r = rows_lo.index_select(-1, x_lo), rows_lo.index_select(-1, x_hi)
    bot_l, bot_r = rows_hi.index_select(-1, x_lo), rows_hi.index_select(-1, x_hi)
    top = top_l + (top_r - top_l) * dx
    bottom = bot_l + (bot_r - bot_l) * dx
    return top + (bottom - top) * dy


def _tf1_source_grid_np(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # The same float32 arithmetic as _tf1_source_grid, in numpy.
    src = np.arange(out_size, dtype=np.float32) * np.float32(in_size / out_size)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, in_size - 1)
    return lo, hi, src - lo.astype(np.float32)


def resize_tf1_bilinear_hwc(img: np.ndarray, size: int = INCEPTION_SIZE) -> np.ndarray:
    """TF1 bilinear resize of one ``(H, W, C)`` image, as float32 ``(C, size, size)``.

    Bit-identical to :func:`resize_tf1_bilinear` (the same float32 operations on the
    same values), in numpy: one image is too small a job for torch's thread pool,
    whose start-up cost made the per-image resize several times slower on two cores.
    """
    in_h, in_w = img.shape[:2]
    x = np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)
    if (in_h, in_w) == (size, size):
        return x
    y_lo, y_hi, dy = _tf1_source_grid_np(in_h, size)
    x_lo, x_hi, dx = _tf1_source_grid_np(in_w, size)
    dy = dy[:, None]
    if in_h <= 2 * size:
        # Horizontal lerp once per input row, then pick the rows: every output row's
        # top/bottom value is that same lerp, so the result is unchanged, and cheaper.
        left, right = np.take(x, x_lo, axis=2), np.take(x, x_hi, axis=2)
        rows = left + (right - left) * dx
        top, bottom = np.take(rows, y_lo, axis=1), np.take(rows, y_hi, axis=1)
    else:
        rows_lo, rows_hi = np.take(x, y_lo, axis=1), np.take(x, y_hi, axis=1)
        top_l, top_r = np.take(rows_lo, x_lo, axis=2), np.take(rows_lo, x_hi, axis=2)
        bot_l, bot_r = np.take(rows_hi, x_lo, axis=2), np.take(rows_hi, x_hi, axis=2)
        top = top_l + (top_r - top_l) * dx
        bottom = bot_l + (bot_r - bot_l) * dx
    return top + (bottom - top) * dy


def resize_clean(img: np.ndarray, size: int = INCEPTION_SIZE) -> np.ndarray:
    """clean-fid's resize of an ``(H, W, 3)`` uint8 image: PIL bicubic per channel in mode F.

    Returns ``(3, size, size)`` float32 in [0, 255].
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {img.shape}")
    out = np.empty((3, size, size), dtype=np.float32)
    for c in range(3):
        channel = Image.fromarray(np.ascontiguousarray(img[:, :, c], dtype=np.float32))
        resized = channel.resize((size, size), resample=Image.Resampling.BICUBIC)
        out[c] = np.asarray(resized, dtype=np.float32)
    # Bicubic overshoots at edges; clean-fid clips back to the pixel range.
    np.clip(out, 0.0, 255.0, out=out)
    return out


def resize_image(
    img: np.ndarray, mode: str = LEGACY_TF, size: int = INCEPTION_SIZE
) -> torch.Tensor:
    """Resize one ``(H, W, 3)`` uint8 image for the Inception: ``(3, size, size)`` float32 in 0..255."""
    check_mode(mode)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {img.dtype} {img.shape}")
    if mode == CLEAN:
        return torch.from_numpy(resize_clean(img, size))
    return torch.from_numpy(resize_tf1_bilinear_hwc(img, size))


def resize_clean_batch(x: torch.Tensor, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """clean-fid's resize of a batch ``[N, 3, H, W]`` (uint8 or float) on its own device, float32 out.

    Pillow's mode-F bicubic re-done in torch (:mod:`metrics.engine.pil_resample`):
    equal to :func:`resize_clean` bit for bit, and batched, so it runs on a GPU.
    """
    from metrics.engine.pil_resample import resample

    out = resample(x.to(torch.float32), (size, size), filter_name="bicubic")
    return out.clamp_(0.0, 255.0)


def resize_batch(
    x: torch.Tensor, mode: str = LEGACY_TF, size: int = INCEPTION_SIZE
) -> torch.Tensor:
    """Resize a uint8 batch ``[N, 3, H, W]`` (one size, any device) to float32 ``[N, 3, size, size]``.

    Equal to :func:`resize_image` image by image; the batched form the GPU pipeline uses.
    """
    check_mode(mode)
    if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a uint8 [N, 3, H, W] tensor, got {x.dtype} {tuple(x.shape)}")
    if mode == LEGACY_TF:
        return resize_tf1_bilinear(x.to(torch.float32), (size, size))
    return resize_clean_batch(x, size)
