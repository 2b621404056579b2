"""Resize modes: TF1 bilinear (legacy-tf) and clean-fid's PIL bicubic (clean)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics.engine.resize import (
    preprocessing_id,
    resize_batch,
    resize_image,
    resize_tf1_bilinear,
)
from tests.engine import inception_fixtures as fx


def test_tf1_bilinear_maps_output_pixels_without_a_half_pixel_offset():
    # 2 -> 4 pixels: TF1 samples at 0, 0.5, 1, 1.5 (clamped at the last pixel), unlike
    # torch's align_corners=False, which samples at -0.25, 0.25, 0.75, 1.25.
    x = torch.tensor([[[[0.0, 10.0]]]])
    out = resize_tf1_bilinear(x, (1, 4))
    assert out.flatten().tolist() == [0.0, 5.0, 10.0, 10.0]


def test_tf1_bilinear_downscaling_skips_pixels_as_tensorflow_does():
    x = torch.arange(6, dtype=torch.float32).view(1, 1, 1, 6)
    # scale 3: samples at 0 and 3
    assert resize_tf1_bilinear(x, (1, 2)).flatten().tolist() == [0.0, 3.0]


def test_tf1_bilinear_interpolates_rows_and_columns():
    x = torch.tensor([[0.0, 10.0], [20.0, 30.0]])
    out = resize_tf1_bilinear(x, (4, 4))
    assert out[1, 1].item() == pytest.approx(15.0)  # (0.5, 0.5): mean of the four
    assert out[3, 3].item() == 30.0


def test_the_same_size_is_left_unchanged_by_both_modes():
    img = fx.image_set_arrays(seed=5, count=1, sizes=[(299, 299)])[0]
    expected = img.transpose(2, 0, 1).astype(np.float32)
    for mode in ("legacy-tf", "clean"):
        assert np.array_equal(resize_image(img, mode).numpy(), expected)


@pytest.mark.parametrize("mode", ["legacy-tf", "clean"])
def test_images_of_mixed_sizes_all_come_out_299_float_in_pixel_range(mode):
    for img in fx.image_set_arrays(seed=3, count=6):
        out = resize_image(img, mode)
        assert out.shape == (3, 299, 299) and out.dtype == torch.float32
        assert 0.0 <= out.min().item() and out.max().item() <= 255.0


@pytest.mark.parametrize(("mode", "key"), [("legacy-tf", "tf1"), ("clean", "clean")])
def test_resize_equals_the_reference_implementations(mode, key, golden, golden_arrays):
    """legacy-tf vs torch-fidelity's interpolate_bilinear_2d_like_tensorflow1x, clean vs
    clean-fid's PIL bicubic resizer, on set A's six sizes (tests/engine/make_reference_numbers.py)."""
    positions = fx.resize_sample_positions()
    for i, img in enumerate(fx.image_set_arrays(**fx.SET_A)[:6]):
        out = resize_image(img, mode).numpy()
        np.testing.assert_allclose(
            out.reshape(-1)[positions], golden_arrays[f"resize_{key}_samples"][i], rtol=0, atol=1e-4
        )
        assert out.astype(np.float64).sum() == pytest.approx(
            golden[f"resize_{key}_sums"][i], rel=1e-9
        )


@pytest.mark.parametrize("mode", ["legacy-tf", "clean"])
def test_a_batch_resizes_like_its_images_one_by_one(mode):
    imgs = fx.image_set_arrays(seed=4, count=3, sizes=[(40, 56)])
    batch = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
    one_by_one = torch.stack([resize_image(a, mode) for a in imgs])
    assert torch.equal(resize_batch(batch, mode), one_by_one)


def test_an_unknown_mode_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="legacy-tf, clean"):
        resize_image(np.zeros((4, 4, 3), np.uint8), "bicubic")


def test_non_rgb_input_is_refused():
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        resize_image(np.zeros((4, 4), np.uint8))


def test_the_preprocessing_id_names_mode_and_size():
    assert preprocessing_id("legacy-tf") == "legacy-tf-299"
    assert preprocessing_id("clean", 224) == "clean-224"
