"""Pillow's resize re-done in torch: equal to Pillow bit for bit, 8-bit and float, either pass order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from metrics.engine.pil_resample import coefficients, resample

# (in_h, in_w, out_h, out_w): up, down, mixed, one axis only. Pillow 13 runs 512x384 -> 299
# vertical pass first and 1024x768 -> 224x298 horizontal first: both orders are covered.
SHAPES = [
    (40, 56, 299, 299),
    (512, 384, 299, 299),
    (1024, 768, 224, 298),
    (300, 200, 224, 336),
    (17, 200, 224, 224),
    (224, 500, 224, 508),
    (299, 299, 299, 299),
]
PIL_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def _noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("filter_name", ["bicubic", "bilinear"])
@pytest.mark.parametrize(("in_h", "in_w", "out_h", "out_w"), SHAPES)
def test_8_bit_resize_equals_pillows_rgb_resize(in_h, in_w, out_h, out_w, filter_name):
    img = _noise(in_h, in_w)
    expected = np.asarray(Image.fromarray(img).resize((out_w, out_h), PIL_FILTERS[filter_name]))
    ours = resample(torch.from_numpy(img).permute(2, 0, 1), (out_h, out_w), filter_name=filter_name)
    assert ours.dtype == torch.uint8
    np.testing.assert_array_equal(ours.permute(1, 2, 0).numpy(), expected)


@pytest.mark.parametrize(("in_h", "in_w", "out_h", "out_w"), SHAPES)
def test_float_resize_equals_pillows_mode_f_resize(in_h, in_w, out_h, out_w):
    img = _noise(in_h, in_w, seed=1)[:, :, 0].astype(np.float32) * 0.75 + 0.125
    expected = np.asarray(Image.fromarray(img).resize((out_w, out_h), Image.Resampling.BICUBIC))
    ours = resample(torch.from_numpy(img)[None, None], (out_h, out_w))[0, 0]
    assert ours.dtype == torch.float32
    np.testing.assert_array_equal(ours.numpy(), expected)


def test_a_batch_is_resized_like_its_images_one_by_one():
    imgs = torch.from_numpy(np.stack([_noise(50, 70, seed=s) for s in range(3)])).permute(
        0, 3, 1, 2
    )
    together = resample(imgs, (31, 45))
    alone = torch.stack([resample(img, (31, 45)) for img in imgs])
    assert torch.equal(together, alone)


def test_weights_of_every_output_pixel_sum_to_one():
    for in_size, out_size in [(7, 3), (3, 7), (1000, 299), (299, 299)]:
        _, weights = coefficients(in_size, out_size)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)


def test_other_dtypes_and_filters_are_refused():
    with pytest.raises(TypeError, match="uint8 or float32"):
        resample(torch.zeros(1, 4, 4, dtype=torch.float64), (2, 2))
    with pytest.raises(ValueError, match="bicubic, bilinear"):
        resample(torch.zeros(1, 4, 4), (2, 2), filter_name="lanczos")
