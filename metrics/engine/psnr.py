"""MSE and PSNR between pairs of 8-bit RGB images.

Per pair: ``MSE = mean((a - b)^2)`` over every pixel and channel (float64) and
``PSNR = 10 log10(255^2 / MSE)`` dB, as scikit-image's
``peak_signal_noise_ratio(a, b, data_range=255)`` computes it. Identical images
have MSE 0 and an infinite PSNR: we return ``inf`` (JSON ``"inf"``), never a
huge finite number.

Mean over pairs: the arithmetic mean of the per-pair PSNR values in dB (what
image-to-image papers report as "mean PSNR"), taken over the pairs with a finite
PSNR; identical pairs are counted in ``extra["identical_pairs"]`` and named in a
note, since one infinity would make the mean meaningless. When every pair is
identical the mean is ``inf``. ``extra["psnr_of_mean_mse"]`` gives the other
common convention, PSNR of the MSE pooled over all pairs (torchmetrics' default),
which stays finite unless all pairs are identical. The bootstrap interval is over
the finite values, like the mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from metrics.engine.pairs import (
    ImagePair,
    Pairing,
    PixelInputError,
    check_sizes,
    mean_result,
    pairing_extra,
    pairing_params,
    per_pair_values,
)
from metrics.engine.result import MetricResult

DATA_RANGE = 255.0


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise PixelInputError(
            f"the two images differ in shape: {a.shape} vs {b.shape}; compare images of the same size"
        )
    if a.size == 0:
        raise PixelInputError("empty image")
    return a, b


def mse(img_a: np.ndarray, img_b: np.ndarray) -> float:
    """Mean squared error over all pixels and channels (float64)."""
    a, b = _check(img_a, img_b)
    diff = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr_from_mse(value: float, data_range: float = DATA_RANGE) -> float:
    """``10 log10(data_range^2 / MSE)`` in dB; ``inf`` for MSE 0."""
    if value == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / value)


def psnr(img_a: np.ndarray, img_b: np.ndarray, *, data_range: float = DATA_RANGE) -> float:
    """PSNR in dB of two images of the same shape (``inf`` when identical)."""
    return psnr_from_mse(mse(img_a, img_b), data_range)


def psnr_mse_results(
    per_pair_mse: dict[str, float],
    *,
    seed: int | None = 0,
    params: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[MetricResult, MetricResult]:
    """The PSNR and MSE MetricResults from per-pair MSE values (see the module docstring for the mean)."""
    params = {"data_range": DATA_RANGE, **(params or {})}
    per_psnr = {k: psnr_from_mse(v) for k, v in per_pair_mse.items()}
    identical = sorted(k for k, v in per_pair_mse.items() if v == 0.0)
    mse_result = mean_result("mse", per_pair_mse, seed=seed, params=params, extra=extra)
    psnr_extra: dict[str, Any] = dict(extra or {})
    notes = list(psnr_extra.pop("notes", []))
    psnr_extra["identical_pairs"] = len(identical)
    psnr_extra["psnr_of_mean_mse"] = psnr_from_mse(
        float(np.mean(np.fromiter(per_pair_mse.values(), dtype=np.float64)))
    )
    psnr_extra["mse"] = {
        "value": mse_result.value,
        "interval": mse_result.interval,
        "per_item": mse_result.per_item,
    }
    if identical:
        shown = ", ".join(identical[:5]) + (" ..." if len(identical) > 5 else "")
        if len(identical) == len(per_pair_mse):
            notes.append("every pair is identical: PSNR is infinite")
        else:
            notes.append(
                f"{len(identical)} of {len(per_pair_mse)} pairs are identical (PSNR = inf: {shown}); "
                "the mean and interval are over the other pairs"
            )
    if notes:
        psnr_extra["notes"] = notes
    psnr_result = mean_result(
        "psnr",
        per_psnr,
        seed=seed,
        params={**params, "mean": "over pairs with finite PSNR (identical pairs counted apart)"},
        extra=psnr_extra,
    )
    if identical and len(identical) == len(per_pair_mse):
        psnr_result.value = math.inf
        psnr_result.interval = (math.inf, math.inf)
    return psnr_result, mse_result


def psnr_mse_pairs(
    pairs: Pairing | Sequence[ImagePair],
    *,
    resize_to_match: bool = False,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    seed: int | None = 0,
) -> tuple[MetricResult, MetricResult]:
    """PSNR and MSE of every pair (per_item keyed by A's file name), means and bootstrap 95% CIs."""
    pairing = pairs if isinstance(pairs, Pairing) else None
    items = pairing.pairs if pairing is not None else list(pairs)
    if not resize_to_match:
        check_sizes(items)
    per_mse = per_pair_values(
        items, mse, resize_to_match=resize_to_match, workers=workers, progress=progress
    )
    return psnr_mse_results(
        per_mse,
        seed=seed,
        params=pairing_params(pairing, resize_to_match=resize_to_match),
        extra=pairing_extra(pairing),
    )
