"""Batched loading: order kept, worker processes, errors that name the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics.engine.images import ImageError
from metrics.engine.loading import decode_array, inception_transform, iter_batches
from metrics.engine.resize import resize_image
from tests.engine import inception_fixtures as fx


@pytest.fixture(scope="module")
def mixed_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    pngs = fx.write_image_set(root, seed=9, count=7)
    jpgs = fx.write_image_set(root / "j", seed=10, count=3, fmt="jpg")
    return pngs + jpgs


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_keep_the_order_of_the_paths_with_mixed_sizes(mixed_set, workers):
    transform = inception_transform("legacy-tf")
    batches = list(iter_batches(mixed_set, transform, batch_size=3, workers=workers))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    stacked = torch.cat(batches)
    expected = torch.stack([resize_image(decode_array(p)) for p in mixed_set])
    assert torch.equal(stacked, expected)


def test_non_tensor_results_come_as_lists(mixed_set):
    batches = list(iter_batches(mixed_set[:4], lambda p: p.name, batch_size=3, workers=0))
    assert batches == [[p.name for p in mixed_set[:3]], [mixed_set[3].name]]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_broken_image_is_reported_by_name_even_from_a_worker(tmp_path, mixed_set, workers):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    paths = [mixed_set[0], bad]
    with pytest.raises(ImageError) as info:
        list(iter_batches(paths, inception_transform(), batch_size=1, workers=workers))
    assert info.value.name.endswith("broken.png")


def test_no_paths_give_no_batches():
    assert list(iter_batches([], inception_transform(), batch_size=4)) == []


def test_decoding_goes_through_the_one_decode_path(tmp_path):
    from PIL import Image

    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(path)
    arr = decode_array(path)
    assert arr.shape == (4, 4, 3) and arr.dtype == np.uint8 and arr.max() == 255


@pytest.mark.parametrize(
    ("cores", "device", "expected"),
    [(2, "cpu", 0), (4, "cpu", 0), (16, "cpu", 4), (64, "cpu", 4), (2, "cuda", 1), (16, "cuda", 8)],
)
def test_default_workers_leave_small_cpus_to_the_network(monkeypatch, cores, device, expected):
    from metrics.engine import loading

    monkeypatch.setattr(loading.os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert loading.default_workers(device) == expected
