"""SSIM (Wang et al. 2004) and MS-SSIM (Wang, Simoncelli & Bovik 2003) on 8-bit RGB images.

SSIM matches scikit-image's ``structural_similarity(a, b, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)``, which is
the setting its documentation gives for "the implementation of Wang et al.":

- an 11x11 Gaussian window, sigma 1.5 (scipy's truncation at 3.5 sigma gives radius 5);
- K1 = 0.01, K2 = 0.03, L = 255; population (not sample) covariances;
- the SSIM map is averaged over the image less a (11 - 1) / 2 = 5 pixel border,
  per channel, then the channels are averaged.

Because the 5-pixel border is dropped, only pixels whose whole window lies inside
the image count; we filter in "valid" mode, so the boundary rule never matters.
Maths in float64 (scikit-image converts uint8 to float64 too).

MS-SSIM follows the original MATLAB ``msssim.m`` of Wang et al. and TensorFlow's
``tf.image.ssim_multiscale``: at each of 5 scales the contrast-structure term
(``cs``) is averaged over the valid window positions; at the coarsest scale the
full SSIM is used instead; scale weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333);
between scales a 2x2 average with the last row/column repeated when a side is odd
(MATLAB's ``imfilter(..., 'symmetric')`` then every other pixel). Per channel, then
the channels are averaged (as TensorFlow and ``pytorch_msssim``; MATLAB's is
greyscale only). Negative terms are clipped to 0 before the fractional powers
(as TensorFlow and ``pytorch_msssim``; a negative base would give NaN).
For sizes that stay even at every scale (a multiple of 16) this equals
``pytorch_msssim.ms_ssim(x, y, data_range=255)``; for odd sizes ``pytorch_msssim``
pads with zeros instead (darkening the border), and torchmetrics differs more (it
averages the SSIM map of the coarsest scale over a reflect-padded full image and
averages channels before combining scales): see tests/engine/test_ssim.py.

The 11-pixel window must fit at the coarsest scale, 1/16 of the size (rounded up),
so MS-SSIM needs both sides to be at least 161 pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from metrics.engine.pairs import (
    ImagePair,
    Pairing,
    PixelInputError,
    check_sizes,
    header_size,
    mean_result,
    pairing_extra,
    pairing_params,
    per_pair_values,
)
from metrics.engine.result import MetricResult

SIGMA = 1.5
TRUNCATE = 3.5  # scikit-image's choice: radius int(3.5 * 1.5 + 0.5) = 5 -> an 11-tap window
K1 = 0.01
K2 = 0.03
DATA_RANGE = 255.0
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(sigma: float = SIGMA, truncate: float = TRUNCATE) -> np.ndarray:
    """The normalised 1-d Gaussian taps scipy.ndimage (and so scikit-image) uses."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _as_float_image(img: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise PixelInputError(f"{what}: expected an HxWxC image array, got shape {arr.shape}")
    return arr.astype(np.float64, copy=False)


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fa = _as_float_image(a, "first image")
    fb = _as_float_image(b, "second image")
    if fa.shape != fb.shape:
        raise PixelInputError(
            f"the two images differ in size: {_size(fa)} vs {_size(fb)}; "
            "compare images of the same size (or resize one to the other first)"
        )
    return fa, fb


def _size(arr: np.ndarray) -> str:
    return f"{arr.shape[1]}x{arr.shape[0]}"


def _valid_filter(stack: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable correlation of the last two axes, keeping only full-window positions."""
    r = (window.size - 1) // 2
    h, w = stack.shape[-2:]
    # The boundary mode is irrelevant: the r-pixel border it affects is cut off.
    out = ndimage.correlate1d(stack, window, axis=-2, mode="reflect")[..., r : h - r, :]
    return ndimage.correlate1d(out, window, axis=-1, mode="reflect")[..., r : w - r]


def _ssim_terms(
    x: np.ndarray, y: np.ndarray, window: np.ndarray, data_range: float, k1: float, k2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel means of the SSIM map and of the contrast-structure map (valid positions).

    ``x`` and ``y`` are HxWxC float64; the maths runs channel-first (contiguous rows for
    the filters).
    """
    win = window.size
    if x.shape[0] < win or x.shape[1] < win:
        raise PixelInputError(
            f"image of {_size(x)} pixels is smaller than the {win}x{win} SSIM window; "
            f"SSIM needs images of at least {win}x{win} pixels"
        )
    x = x.transpose(2, 0, 1)
    y = y.transpose(2, 0, 1)
    # Four maps filtered in one pass: SSIM needs var(x) + var(y), never each alone.
    stack = np.stack((x, y, x * x + y * y, x * y))
    mx, my, m_sq, mxy = _valid_filter(stack, window)
    mx2, my2, mxmy = mx * mx, my * my, mx * my
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    cs_map = (2.0 * (mxy - mxmy) + c2) / (m_sq - mx2 - my2 + c2)
    ssim_map = (2.0 * mxmy + c1) / (mx2 + my2 + c1) * cs_map
    return ssim_map.mean(axis=(1, 2)), cs_map.mean(axis=(1, 2))


def ssim(
    img_a: np.ndarray,
    img_b: np.ndarray,
    *,
    data_range: float = DATA_RANGE,
    sigma: float = SIGMA,
    k1: float = K1,
    k2: float = K2,
) -> float:
    """Mean SSIM of two HxWx3 (or HxW) images, per channel then averaged (scikit-image's Wang et al. setting)."""
    x, y = _check_pair(img_a, img_b)
    ssim_c, _ = _ssim_terms(x, y, gaussian_window(sigma), data_range, k1, k2)
    return float(ssim_c.mean())


def _downsample(img: np.ndarray) -> np.ndarray:
    """2x2 average; an odd side repeats its last row/column first (MATLAB 'symmetric', TensorFlow)."""
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return 0.25 * (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2])


def ms_ssim_min_size(scales: int = len(MS_SSIM_WEIGHTS), window: int = 11) -> int:
    """Smallest side for which the window fits at the coarsest of ``scales`` scales."""
    # After s halvings (rounded up) a side n becomes ceil(n / 2^s) >= window.
    return (window - 1) * 2 ** (scales - 1) + 1


def ms_ssim(
    img_a: np.ndarray,
    img_b: np.ndarray,
    *,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
    data_range: float = DATA_RANGE,
    sigma: float = SIGMA,
    k1: float = K1,
    k2: float = K2,
) -> float:
    """Multi-scale SSIM of two HxWx3 images (Wang, Simoncelli & Bovik 2003; see the module docstring)."""
    x, y = _check_pair(img_a, img_b)
    window = gaussian_window(sigma)
    need = ms_ssim_min_size(len(weights), window.size)
    if min(x.shape[:2]) < need:
        raise PixelInputError(
            f"MS-SSIM with {len(weights)} scales needs images of at least {need}x{need} pixels "
            f"(the {window.size}-pixel window must fit at 1/{2 ** (len(weights) - 1)} of the size); "
            f"got {_size(x)}. Use SSIM for smaller images."
        )
    terms = []
    for scale in range(len(weights)):
        ssim_c, cs_c = _ssim_terms(x, y, window, data_range, k1, k2)
        last = scale == len(weights) - 1
        terms.append(ssim_c if last else cs_c)
        if not last:
            x, y = _downsample(x), _downsample(y)
    stacked = np.maximum(np.stack(terms), 0.0)  # (scales, channels)
    per_channel = np.prod(stacked ** np.asarray(weights, dtype=np.float64)[:, None], axis=0)
    return float(per_channel.mean())


def _pair_result(
    metric: str,
    fn,
    pairs: Pairing | Sequence[ImagePair],
    *,
    resize_to_match: bool,
    workers: int,
    progress: Callable[[int], None] | None,
    seed: int | None,
    params: dict[str, Any],
) -> MetricResult:
    pairing = pairs if isinstance(pairs, Pairing) else None
    items = pairing.pairs if pairing is not None else list(pairs)
    if not resize_to_match:
        check_sizes(items)
    per_item = per_pair_values(
        items, fn, resize_to_match=resize_to_match, workers=workers, progress=progress
    )
    return mean_result(
        metric,
        per_item,
        seed=seed,
        extra=pairing_extra(pairing),
        params={**params, **pairing_params(pairing, resize_to_match=resize_to_match)},
    )


def ssim_pairs(
    pairs: Pairing | Sequence[ImagePair],
    *,
    resize_to_match: bool = False,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    seed: int | None = 0,
) -> MetricResult:
    """SSIM of every pair (per_item, keyed by A's file name), their mean and a bootstrap 95% CI."""
    return _pair_result(
        "ssim",
        ssim,
        pairs,
        resize_to_match=resize_to_match,
        workers=workers,
        progress=progress,
        seed=seed,
        params=_params(),
    )


def ms_ssim_pairs(
    pairs: Pairing | Sequence[ImagePair],
    *,
    resize_to_match: bool = False,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    seed: int | None = 0,
) -> MetricResult:
    """MS-SSIM of every pair (per_item), their mean and a bootstrap 95% CI."""
    need = ms_ssim_min_size()
    items = pairs.pairs if isinstance(pairs, Pairing) else pairs
    small = [(p.key, header_size(p.path_a)) for p in items]
    small = [f"{key} ({w}x{h})" for key, (w, h) in small if min(w, h) < need]
    if small:
        shown = ", ".join(small[:5]) + (f" and {len(small) - 5} more" if len(small) > 5 else "")
        raise PixelInputError(
            f"MS-SSIM with 5 scales needs images of at least {need}x{need} pixels (the 11-pixel "
            f"window must fit at 1/16 of the size); too small: {shown}. Use SSIM for smaller images."
        )
    return _pair_result(
        "ms_ssim",
        ms_ssim,
        pairs,
        resize_to_match=resize_to_match,
        workers=workers,
        progress=progress,
        seed=seed,
        params=_params(weights=list(MS_SSIM_WEIGHTS), downsample="2x2 mean, odd side repeated"),
    )


def _params(**more: Any) -> dict[str, Any]:
    return {
        "window": "gaussian 11x11, sigma 1.5",
        "k1": K1,
        "k2": K2,
        "data_range": DATA_RANGE,
        "covariance": "population",
        "border": "valid positions only (5 px cropped, as scikit-image)",
        "channels": "per RGB channel, then averaged",
        **more,
    }
