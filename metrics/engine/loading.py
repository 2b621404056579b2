"""Batched image loading: decode (and resize) in worker processes while the network computes.

Every image goes through :func:`metrics.engine.images.decode_rgb` (the one decode
path), then a per-image transform (for the Inception: resize to 299 in float),
so sets of mixed sizes batch without padding. With ``workers > 0`` a torch
``DataLoader`` runs the transforms in that many processes, a few batches ahead
of the consumer; order is always the order of ``paths``.

A worker's :class:`ImageError` reaches the caller as the same ImageError (file
name and reason), not as the DataLoader's generic wrapper.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from metrics.engine.images import ImageError, decode_rgb
from metrics.engine.resize import INCEPTION_SIZE, LEGACY_TF, resize_image

Transform = Callable[[Path], Any]


def decode_array(path: Path) -> np.ndarray:
    """Decode ``path`` to an ``(H, W, 3)`` uint8 array through the one decode path."""
    return np.asarray(decode_rgb(path), dtype=np.uint8)


def decode_and_resize(
    path: Path, mode: str = LEGACY_TF, size: int = INCEPTION_SIZE
) -> torch.Tensor:
    """Decode ``path`` and resize it for the Inception: ``(3, size, size)`` float32 in 0..255."""
    return resize_image(decode_array(path), mode, size)


def inception_transform(mode: str = LEGACY_TF, size: int = INCEPTION_SIZE) -> Transform:
    """A picklable per-image transform for the FID Inception's input."""
    return partial(decode_and_resize, mode=mode, size=size)


class _Failed:
    """An ImageError carried out of a worker process as data (re-raised by the consumer)."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason


class PathDataset(Dataset):
    """``paths[i]`` through ``transform``; a failure is returned as a :class:`_Failed` marker."""

    def __init__(self, paths: Sequence[Path], transform: Transform):
        self.paths = [Path(p) for p in paths]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Any:
        try:
            return self.transform(self.paths[i])
        except ImageError as exc:
            return _Failed(exc.name, exc.reason)


def _collate(items: list[Any]) -> Any:
    for item in items:
        if isinstance(item, _Failed):
            return item
    if isinstance(items[0], torch.Tensor):
        return torch.stack(items)
    return items


def default_workers(device_type: str = "cpu") -> int:
    """Decode processes to use when the caller does not say.

    On a CPU with few cores the network needs every core: a decode process
    preempts one of its OpenMP threads and stalls the other at the next barrier
    (measured on 2 cores: a third slower with one worker than with none), while
    decoding and resizing a generator-sized image costs 2-3% of one Inception
    forward. So: none up to 4 cores, then a quarter of the cores (at most 4). A GPU
    leaves the cores to decoding: up to 8, one core kept for the main process.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    if device_type == "cuda":
        return max(1, min(8, cores - 1))
    return 0 if cores <= 4 else min(4, cores // 4)


def iter_batches(
    paths: Sequence[Path],
    transform: Transform,
    *,
    batch_size: int = 32,
    workers: int | None = None,
    pin_memory: bool = False,
) -> Iterator[Any]:
    """Yield ``transform(path)`` results for ``paths`` in order, stacked in batches of ``batch_size``.

    Tensors are stacked into one tensor per batch; anything else comes as a list.
    Raises the first :class:`ImageError` met, naming the file.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    workers = default_workers() if workers is None else workers
    if not paths:
        return
    dataset = PathDataset(paths, transform)
    if workers == 0:
        for start in range(0, len(dataset), batch_size):
            batch = _collate(
                [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            )
            if isinstance(batch, _Failed):
                raise ImageError(batch.name, batch.reason)
            yield batch
        return
    n_batches = -(-len(dataset) // batch_size)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=min(workers, n_batches),
        collate_fn=_collate,
        pin_memory=pin_memory,
        prefetch_factor=2,
        persistent_workers=False,
    )
    for batch in loader:
        if isinstance(batch, _Failed):
            raise ImageError(batch.name, batch.reason)
        yield batch
