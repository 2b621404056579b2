"""The device half of the pipeline: the GPU preprocessing equals the CPU reference, run here on CPU tensors.

The batched torch code is the code a GPU runs; on the CPU it runs the same
operations, so equality here is the parity claim (tests/engine/test_pil_resample.py
shows the resampling itself equals Pillow bit for bit).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics.engine.loading import assemble, decode_array, to_device
from metrics.engine.preprocess import (
    ClipPixels,
    Preprocess,
    clip_preprocess,
    extract,
    inception_preprocess,
)
from metrics.engine.resize import resize_image
from tests.engine import clip_fixtures as cf
from tests.engine import inception_fixtures as fx

CPU = torch.device("cpu")


def _device_path(pre_for_gpu: Preprocess, arrays) -> torch.Tensor:
    return to_device(assemble(arrays), CPU, pre_for_gpu.device)


@pytest.mark.parametrize("mode", ["legacy-tf", "clean"])
def test_the_gpu_inception_resize_equals_the_reference_bit_for_bit(mode, monkeypatch):
    from metrics.engine import preprocess

    arrays = fx.image_set_arrays(seed=21, count=8)  # mixed sizes, up and down
    monkeypatch.setattr(preprocess, "on_gpu", lambda device: True)
    pre = inception_preprocess(CPU, mode)
    assert pre.host is decode_array
    ours = _device_path(pre, arrays)
    expected = torch.stack([resize_image(a, mode) for a in arrays])
    assert ours.dtype == torch.float32 and torch.equal(ours, expected)


def test_on_a_cpu_the_threads_resize_and_the_device_step_is_nothing():
    pre = inception_preprocess(CPU, "legacy-tf")
    assert pre.device is None and pre.host is not decode_array


def _openai_processor():
    from metrics.engine.clip import _image_processor_class

    return _image_processor_class()()  # OpenAI's settings: short side 224, crop 224, bicubic


def _processor_pixels(processor, arrays):
    from PIL import Image

    images = [Image.fromarray(a) for a in arrays]
    return torch.from_numpy(processor(images=images, return_tensors="np")["pixel_values"])


@pytest.mark.parametrize(
    "size", [(256, 256), (480, 640), (640, 480), (300, 225), (100, 150), (224, 224), (1000, 223)]
)
def test_clip_pixels_equal_the_clip_image_processor(size):
    processor = _openai_processor()
    pixels = ClipPixels.from_processor(processor)
    assert pixels is not None and pixels.crop == (224, 224) and pixels.shortest_edge == 224
    rng = np.random.default_rng(sum(size))
    arrays = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(2)]
    ours = to_device(assemble(arrays), CPU, pixels)
    expected = _processor_pixels(processor, arrays)
    assert ours.shape == expected.shape == (2, 3, 224, 224)
    assert torch.equal(ours, expected)


def test_the_tiny_checkpoints_processor_is_reproduced_too(tmp_path):
    from metrics.engine.clip import _image_processor_class

    ckpt = cf.build_tiny_clip(tmp_path / "tiny")
    processor = _image_processor_class().from_pretrained(ckpt)
    arrays = fx.image_set_arrays(seed=5, count=4)
    pixels = ClipPixels.from_processor(processor)
    ours = torch.cat([to_device(assemble([a]), CPU, pixels) for a in arrays])
    assert torch.equal(ours, _processor_pixels(processor, arrays))


def test_a_processor_we_do_not_reproduce_stays_on_the_cpu():
    processor = _openai_processor()
    processor.size = {"height": 224, "width": 224}
    assert ClipPixels.from_processor(processor) is None
    pre = clip_preprocess(torch.device("cuda"), processor)  # device type only; nothing runs
    assert pre.device is None


def test_clip_embeddings_through_the_gpu_path_equal_the_cpu_path(tmp_path, monkeypatch):
    from metrics.engine import clip, preprocess

    ckpt = cf.build_tiny_clip(tmp_path / "tiny")
    paths = cf.make_test_images(tmp_path / "images")
    bundle = clip.load_clip(str(ckpt), device="cpu")
    try:
        on_cpu = clip.clip_image_embeddings(bundle, paths, batch_size=4, workers=2)
        monkeypatch.setattr(preprocess, "on_gpu", lambda device: True)
        on_gpu_path = clip.clip_image_embeddings(bundle, paths, batch_size=4, workers=2)
    finally:
        clip.clear_cache()
    np.testing.assert_array_equal(on_gpu_path, on_cpu)


def test_extract_reports_progress_per_batch_and_keeps_order_across_sizes(tmp_path):
    paths = fx.write_image_set(tmp_path, seed=3, count=5)  # several sizes
    seen = []

    def per_group(x):  # the device step runs once per same-size group
        return x.float().mean(dim=(1, 2, 3))[:, None]

    out = extract(
        paths,
        Preprocess(decode_array, per_group),
        lambda x: {"mean": x},
        device=CPU,
        outputs={"mean": 1},
        batch_size=2,
        workers=2,
        progress=seen.append,
    )
    expected = [decode_array(p).astype(np.float32).mean() for p in paths]
    np.testing.assert_allclose(out["mean"][:, 0], expected, rtol=1e-6)
    assert seen == [2, 2, 1]
