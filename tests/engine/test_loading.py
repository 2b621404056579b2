"""The loading half of the pipeline: threads, order, errors that name the file, daemonic processes."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest
import torch

from metrics.engine.images import ImageError
from metrics.engine.loading import (
    assemble,
    decode_array,
    default_workers,
    inception_transform,
    iter_host_batches,
    to_device,
)
from metrics.engine.resize import resize_image
from tests.engine import inception_fixtures as fx


@pytest.fixture(scope="module")
def mixed_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    pngs = fx.write_image_set(root, seed=9, count=7)
    jpgs = fx.write_image_set(root / "j", seed=10, count=3, fmt="jpg")
    return pngs + jpgs


def _reference(paths):
    return torch.stack([resize_image(decode_array(p)) for p in paths])


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_batches_keep_the_order_of_the_paths_with_mixed_sizes(mixed_set, workers):
    batches = list(
        iter_host_batches(mixed_set, inception_transform(), batch_size=3, workers=workers)
    )
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    stacked = torch.cat([to_device(b, torch.device("cpu")) for b in batches])
    assert torch.equal(stacked, _reference(mixed_set))


def test_uint8_images_of_several_sizes_are_grouped_and_put_back_in_order(mixed_set):
    # The GPU path: decoded uint8 pixels, one tensor per size, the device step per group.
    batch = next(iter_host_batches(mixed_set, decode_array, batch_size=10, workers=2))
    sizes = {tuple(t.shape[1:]) for t, _ in batch.groups}
    assert len(batch.groups) == len(sizes) > 1
    assert all(t.dtype == torch.uint8 for t, _ in batch.groups)

    def resize_group(x):
        return torch.stack([resize_image(a.numpy()) for a in x])

    assert torch.equal(to_device(batch, torch.device("cpu"), resize_group), _reference(mixed_set))


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_a_broken_image_is_reported_by_name_from_any_thread(tmp_path, mixed_set, workers):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    paths = [*mixed_set[:4], bad, *mixed_set[4:]]
    with pytest.raises(ImageError) as info:
        list(iter_host_batches(paths, decode_array, batch_size=2, workers=workers))
    assert info.value.name.endswith("broken.png")


def _decode_threads() -> list[threading.Thread]:
    return [
        t for t in threading.enumerate() if t.name.startswith(("evalsite-decode", "evalsite-batch"))
    ]


def test_an_abandoned_or_failed_iteration_leaves_no_thread_behind(tmp_path, mixed_set):
    batches = iter_host_batches(mixed_set * 3, decode_array, batch_size=2, workers=2)
    next(batches)
    assert _decode_threads()
    batches.close()
    assert _decode_threads() == []


def test_no_paths_give_no_batches():
    assert list(iter_host_batches([], inception_transform(), batch_size=4)) == []


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        list(iter_host_batches([], decode_array, batch_size=0))
    with pytest.raises(ValueError, match="workers"):
        list(iter_host_batches([], decode_array, workers=-1))


def test_assemble_stacks_into_pinned_memory_only_when_asked():
    items = [np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8)]
    batch = assemble(items)
    ((tensor, positions),) = batch.groups
    assert positions == [0, 1] and tensor.shape == (2, 2, 2, 3) and not tensor.is_pinned()


def test_decoding_goes_through_the_one_decode_path(tmp_path):
    from PIL import Image

    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(path)
    arr = decode_array(path)
    assert arr.shape == (4, 4, 3) and arr.dtype == np.uint8 and arr.max() == 255


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 2), (4, 4), (64, 4)])
def test_default_decode_threads_are_one_per_core_up_to_four(monkeypatch, cores, expected):
    from metrics.engine import loading

    monkeypatch.setattr(loading.os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert default_workers("cpu") == expected == default_workers("cuda")


def _features_in_child(weights, paths, queue) -> None:
    # A daemonic process, as a Celery prefork child is: processes of its own are forbidden.
    from metrics.engine.extractors import InceptionExtractor

    try:
        feats = InceptionExtractor(weights).extract_paths(paths, batch_size=2, workers=2)
        queue.put(("ok", feats["pool3"]))
    except BaseException as exc:  # reported to the parent, which fails the test with it
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def test_decoding_threads_work_inside_a_daemonic_process(inception_weights, mixed_set):
    from metrics.engine.extractors import InceptionExtractor

    ctx = multiprocessing.get_context("spawn")  # fork after torch's OpenMP threads can hang
    queue = ctx.Queue()
    child = ctx.Process(
        target=_features_in_child, args=(inception_weights, mixed_set[:5], queue), daemon=True
    )
    child.start()
    try:
        status, value = queue.get(timeout=300)
    finally:
        child.join(60)
    assert status == "ok", value
    here = InceptionExtractor(inception_weights).extract_paths(mixed_set[:5], workers=0)
    np.testing.assert_array_equal(value, here["pool3"])
