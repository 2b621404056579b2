"""The feature pipeline's loading half: decode in threads, a few batches ahead, into uint8 batches.

Every image goes through :func:`metrics.engine.images.decode_rgb` (the one decode
path), then a per-image host transform: on a GPU nothing more (the uint8 pixels
cross the bus and the device resizes them, see :mod:`metrics.engine.preprocess`);
on a CPU the reference resize, in the same threads. Decoding runs in a pool of
``workers`` threads, ``prefetch`` batches ahead of the consumer, and a batch is
assembled (stacked, into pinned memory for a GPU) off the consumer's thread too.

Threads, not processes: Pillow and numpy release the GIL while they decode and
resize, and a thread pool works inside a Celery prefork child, which is a daemonic
process and may not start processes of its own. Order is always the order of
``paths``; images of different sizes are grouped by size within a batch (no
padding, no cropping) and put back in order by the consumer.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.engine.images import decode_rgb
from metrics.engine.resize import INCEPTION_SIZE, LEGACY_TF, resize_image

Transform = Callable[[Path], Any]
MAX_DEFAULT_WORKERS = 4


def decode_array(path: Path) -> np.ndarray:
    """Decode ``path`` to an ``(H, W, 3)`` uint8 array through the one decode path."""
    return np.asarray(decode_rgb(path), dtype=np.uint8)


def decode_and_resize(
    path: Path, mode: str = LEGACY_TF, size: int = INCEPTION_SIZE
) -> torch.Tensor:
    """Decode ``path`` and resize it for the Inception: ``(3, size, size)`` float32 in 0..255."""
    return resize_image(decode_array(path), mode, size)


def inception_transform(mode: str = LEGACY_TF, size: int = INCEPTION_SIZE) -> Transform:
    """The per-image host transform of the FID Inception's input on a CPU (decode + reference resize)."""
    return partial(decode_and_resize, mode=mode, size=size)


def default_workers(device_type: str = "cpu") -> int:
    """Decoding threads when the caller does not say: one per core, at most 4.

    A decoding thread costs the network little even on 2 cores (decoding and
    resizing a generator-sized image is 2-3% of one Inception forward on a CPU), and
    on a GPU the decoding is what the device waits for.
    ``benchmarks/metric_runs.py`` measures 1 against 2 threads.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_DEFAULT_WORKERS, cores or 1))


@dataclass
class HostBatch:
    """One batch on the host: tensors of equal-size items and where each item goes in the batch."""

    groups: list[tuple[torch.Tensor, list[int]]]
    size: int

    def __len__(self) -> int:
        return self.size


def _as_array(item: Any) -> np.ndarray:
    return item.numpy() if isinstance(item, torch.Tensor) else np.asarray(item)


def assemble(items: Sequence[Any], *, pin_memory: bool = False) -> HostBatch:
    """Stack ``items`` (arrays or CPU tensors) into one tensor per shape, pinned for a fast copy to a GPU."""
    arrays = [_as_array(item) for item in items]
    by_shape: dict[tuple, list[int]] = {}
    for i, a in enumerate(arrays):
        by_shape.setdefault((a.shape, a.dtype.str), []).append(i)
    groups = []
    for (shape, _), positions in by_shape.items():
        dtype = torch.from_numpy(np.empty(0, dtype=arrays[positions[0]].dtype)).dtype
        # One copy, straight into the (pinned) batch buffer; decoded arrays may be read-only.
        out = torch.empty((len(positions), *shape), dtype=dtype, pin_memory=pin_memory)
        np.stack([arrays[i] for i in positions], out=out.numpy())
        groups.append((out, positions))
    return HostBatch(groups, len(arrays))


def to_device(
    batch: HostBatch,
    device: torch.device,
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The batch on ``device`` in its original order, each same-size group passed through ``fn``."""
    parts = []
    for tensor, positions in batch.groups:
        t = tensor.to(device, non_blocking=True)
        parts.append((fn(t) if fn is not None else t, positions))
    if len(parts) == 1:
        return parts[0][0]
    first = parts[0][0]
    out = torch.empty((batch.size, *first.shape[1:]), dtype=first.dtype, device=first.device)
    for values, positions in parts:
        out[torch.tensor(positions, device=first.device)] = values
    return out


def iter_host_batches(
    paths: Sequence[Path],
    transform: Transform,
    *,
    batch_size: int = 32,
    workers: int | None = None,
    prefetch: int = 2,
    pin_memory: bool = False,
) -> Iterator[HostBatch]:
    """``transform(path)`` for ``paths`` in order, assembled into :class:`HostBatch` es of ``batch_size``.

    ``workers`` threads transform up to ``prefetch`` batches ahead (0: everything in
    the caller's thread). Raises the first error met (an ImageError names the file).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be 0 or more, got {workers}")
    workers = default_workers() if workers is None else workers
    paths = [Path(p) for p in paths]
    chunks = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
    if workers == 0:
        for chunk in chunks:
            yield assemble([transform(p) for p in chunk], pin_memory=pin_memory)
        return
    decoders = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evalsite-decode")
    # A thread of its own stacks each batch, so the consumer only picks up finished ones.
    assembler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalsite-batch")

    def finish(futures: list[Future]) -> HostBatch:
        return assemble([f.result() for f in futures], pin_memory=pin_memory)

    ahead: deque[tuple[list[Future], Future]] = deque()

    def submit(chunk: list[Path]) -> None:
        futures = [decoders.submit(transform, p) for p in chunk]
        ahead.append((futures, assembler.submit(finish, futures)))

    pending = iter(chunks)
    try:
        for chunk in pending:
            submit(chunk)
            if len(ahead) > max(1, prefetch):
                yield ahead.popleft()[1].result()
        while ahead:
            yield ahead.popleft()[1].result()
    finally:
        # An error or an abandoned iterator: drop what is queued, wait for what runs.
        for futures, batch in ahead:
            for f in futures:
                f.cancel()
            batch.cancel()
        decoders.shutdown(wait=True, cancel_futures=True)
        assembler.shutdown(wait=True, cancel_futures=True)
