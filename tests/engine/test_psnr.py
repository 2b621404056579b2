"""PSNR and MSE: scikit-image agreement, infinities for identical images, the mean over pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from metrics.engine.pairs import PixelInputError
from metrics.engine.psnr import mse, psnr, psnr_from_mse, psnr_mse_results
from tests.engine import lpips_fixtures as fx

# scikit-image 0.26.0 peak_signal_noise_ratio / mean_squared_error, written by
# tests/data/pixels_make_reference.py on the seeded images of lpips_fixtures.
REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "pixels_reference.json").read_text())[
    "pixels"
]


@pytest.mark.parametrize("case", fx.PIXEL_CASES, ids=[c[0] for c in fx.PIXEL_CASES])
def test_psnr_and_mse_equal_scikit_image(case):
    a, b = fx.case_images(case)
    assert fx.images_digest(a, b) == REFERENCE[case[0]]["digest"]
    assert psnr(a, b) == pytest.approx(REFERENCE[case[0]]["psnr"], abs=1e-10)
    assert mse(a, b) == pytest.approx(REFERENCE[case[0]]["mse"], rel=1e-12)


def test_an_image_against_itself_has_infinite_psnr_and_zero_mse():
    a = fx.smooth_image(1, 30, 40)
    assert mse(a, a.copy()) == 0.0
    assert psnr(a, a.copy()) == math.inf


def test_an_error_of_one_grey_level_everywhere_gives_20_log10_255():
    a = np.zeros((8, 8, 3), np.uint8)
    assert psnr(a, a + 1) == pytest.approx(20 * math.log10(255), abs=1e-12)
    assert psnr(a + 1, a) == psnr(a, a + 1)  # no uint8 wrap-around in the difference


def test_psnr_refuses_images_of_different_shapes():
    with pytest.raises(PixelInputError, match="differ in shape"):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


def test_the_mean_psnr_leaves_identical_pairs_out_and_counts_them():
    per_mse = {"a.png": 0.0, "b.png": 1.0, "c.png": 100.0}
    result, mse_result = psnr_mse_results(per_mse)
    finite = [psnr_from_mse(1.0), psnr_from_mse(100.0)]
    assert result.value == pytest.approx(np.mean(finite))
    assert result.per_item["a.png"] == math.inf
    assert result.extra["identical_pairs"] == 1
    assert "1 of 3 pairs are identical" in result.extra["notes"][0]
    assert result.extra["psnr_of_mean_mse"] == pytest.approx(psnr_from_mse(101.0 / 3))
    assert result.to_dict()["per_item"]["a.png"] == "inf"
    assert mse_result.value == pytest.approx(101.0 / 3) and not mse_result.higher_is_better
    assert result.extra["mse"]["value"] == mse_result.value


def test_the_mean_psnr_of_only_identical_pairs_is_infinite():
    result, _ = psnr_mse_results({"a.png": 0.0, "b.png": 0.0})
    assert result.value == math.inf
    assert result.to_dict()["value"] == "inf"
    assert result.extra["notes"] == ["every pair is identical: PSNR is infinite"]
