"""SSIM and MS-SSIM: scikit-image / pytorch_msssim agreement, known answers, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metrics.engine.pairs import ImagePair, PixelInputError
from metrics.engine.ssim import (
    K1,
    K2,
    MS_SSIM_WEIGHTS,
    gaussian_window,
    ms_ssim,
    ms_ssim_min_size,
    ms_ssim_pairs,
    ssim,
    ssim_pairs,
)
from tests.engine import lpips_fixtures as fx

# Written by tests/data/pixels_make_reference.py (scikit-image 0.26.0, pytorch-msssim 1.0.0,
# torchmetrics 1.9.0 in a scratch venv) from the seeded images of lpips_fixtures.
REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "pixels_reference.json").read_text())[
    "pixels"
]
CASES = {case[0]: case for case in fx.PIXEL_CASES}


def _images(name: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = fx.case_images(CASES[name])
    assert fx.images_digest(a, b) == REFERENCE[name]["digest"], "test images changed"
    return a, b


@pytest.mark.parametrize("name", list(CASES))
def test_ssim_equals_scikit_image_with_the_wang_et_al_settings(name):
    a, b = _images(name)
    assert ssim(a, b) == pytest.approx(REFERENCE[name]["ssim"], abs=1e-10)


@pytest.mark.parametrize("name", [n for n in CASES if "ms_ssim_pytorch_msssim" in REFERENCE[n]])
def test_ms_ssim_equals_the_edge_padded_reference_at_every_size(name):
    # The reference uses pytorch_msssim's per-scale terms (float32 window: ~1e-7 apart).
    a, b = _images(name)
    assert ms_ssim(a, b) == pytest.approx(REFERENCE[name]["ms_ssim_edge_padded"], abs=1e-6)


def test_ms_ssim_equals_pytorch_msssim_when_every_scale_has_even_sides():
    a, b = _images("ms-192x176")  # 192 and 176 are multiples of 16
    assert ms_ssim(a, b) == pytest.approx(
        REFERENCE["ms-192x176"]["ms_ssim_pytorch_msssim"], abs=1e-6
    )


def test_ms_ssim_departs_from_pytorch_msssim_on_odd_sides_where_it_pads_with_zeros():
    a, b = _images("ms-odd-161x203")
    gap = ms_ssim(a, b) - REFERENCE["ms-odd-161x203"]["ms_ssim_pytorch_msssim"]
    assert 1e-3 < abs(gap) < 1e-2


def test_ms_ssim_is_within_2e_4_of_torchmetrics_whose_borders_differ():
    # torchmetrics averages the coarsest SSIM map over a reflect-padded image and pools
    # channels before combining scales; the gap is documented, not a bug of ours.
    a, b = _images("ms-192x176")
    assert ms_ssim(a, b) == pytest.approx(REFERENCE["ms-192x176"]["ms_ssim_torchmetrics"], abs=2e-4)


def test_an_image_against_itself_has_ssim_and_ms_ssim_exactly_one():
    a = fx.smooth_image(7, 170, 165)
    assert ssim(a, a.copy()) == 1.0
    assert ms_ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ssim_is_symmetric():
    a, b = _images("noisy-64")
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)


def test_ssim_of_two_flat_images_is_the_luminance_term_alone():
    a = np.full((20, 20, 3), 100, np.uint8)
    b = np.full((20, 20, 3), 150, np.uint8)
    c1 = (K1 * 255) ** 2
    expected = (2 * 100 * 150 + c1) / (100**2 + 150**2 + c1)  # variances 0: cs = C2 / C2
    assert ssim(a, b) == pytest.approx(expected, abs=1e-12)


def test_the_window_is_scipys_11_tap_gaussian_of_sigma_1_5():
    w = gaussian_window()
    assert w.size == 11
    assert w.sum() == pytest.approx(1.0)
    x = np.arange(-5, 6)
    assert w == pytest.approx(np.exp(-(x**2) / (2 * 1.5**2)) / np.exp(-(x**2) / 4.5).sum())
    assert K2 == 0.03 and MS_SSIM_WEIGHTS == (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def test_ssim_refuses_images_smaller_than_the_window():
    a = np.zeros((10, 40, 3), np.uint8)
    with pytest.raises(PixelInputError, match="at least 11x11"):
        ssim(a, a)


def test_ssim_refuses_two_images_of_different_sizes():
    with pytest.raises(PixelInputError, match="differ in size: 20x10 vs 10x20"):
        ssim(np.zeros((10, 20, 3), np.uint8), np.zeros((20, 10, 3), np.uint8))


def test_ms_ssim_needs_161_pixels_on_the_smaller_side():
    assert ms_ssim_min_size() == 161
    ms_ssim(fx.smooth_image(1, 161, 161), fx.smooth_image(2, 161, 161))  # fits exactly
    with pytest.raises(PixelInputError, match="at least 161x161 pixels.*got 300x160"):
        ms_ssim(np.zeros((160, 300, 3), np.uint8), np.zeros((160, 300, 3), np.uint8))


def _write_pairs(tmp_path, cases):
    from PIL import Image

    pairs = []
    for case in cases:
        a, b = fx.case_images(case)
        pa, pb = tmp_path / "a" / f"{case[0]}.png", tmp_path / "b" / f"{case[0]}.png"
        pa.parent.mkdir(exist_ok=True)
        pb.parent.mkdir(exist_ok=True)
        Image.fromarray(a).save(pa)
        Image.fromarray(b).save(pb)
        pairs.append(ImagePair(pa.name, pa, pb))
    return pairs


def test_ssim_pairs_gives_per_pair_values_their_mean_and_a_bootstrap_interval(tmp_path):
    names = ["odd-37x53", "noisy-64", "shifted-96x80"]
    pairs = _write_pairs(tmp_path, [CASES[n] for n in names])
    result = ssim_pairs(pairs, workers=2)
    expected = {f"{n}.png": REFERENCE[n]["ssim"] for n in names}
    assert result.per_item == pytest.approx(expected, abs=1e-10)
    assert result.value == pytest.approx(np.mean(list(expected.values())), abs=1e-10)
    lo, hi = result.interval
    assert min(expected.values()) <= lo <= result.value <= hi <= max(expected.values())
    assert result.n == 3 and result.higher_is_better
    assert result.provenance["covariance"] == "population"
    assert ssim_pairs(pairs, workers=0).per_item == result.per_item  # threads change nothing


def test_ms_ssim_pairs_refuses_small_images_before_computing_anything(tmp_path):
    pairs = _write_pairs(tmp_path, [CASES["noisy-64"], CASES["ms-192x176"]])
    with pytest.raises(PixelInputError, match=r"too small: noisy-64.png \(64x64\)"):
        ms_ssim_pairs(pairs)
