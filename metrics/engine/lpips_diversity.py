"""LPIPS as intra-set diversity: the mean LPIPS over pairs of a set's images.

All pairs up to ``max_pairs``, else a seeded sample of pairs; each image's feature
maps are computed once and kept within a memory budget (``cache_bytes``). The
bootstrap interval resamples pairs, which share images, so it is somewhat narrow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.engine.lpips import LPIPS, _params
from metrics.engine.pairs import common_size, decode_resized, mean_result, sample_index_pairs
from metrics.engine.result import MetricResult

DEFAULT_MAX_PAIRS = 2000
DEFAULT_CACHE_BYTES = 2 << 30  # feature maps kept in memory at once (float32)


def _pair_chunks(pairs: list[tuple[int, int]], max_images: int) -> list[list[tuple[int, int]]]:
    """Consecutive runs of (sorted) pairs touching at most ``max_images`` images each."""
    chunks: list[list[tuple[int, int]]] = [[]]
    images: set[int] = set()
    for pair in pairs:
        grown = images | set(pair)
        if len(grown) > max_images and chunks[-1]:
            chunks.append([])
            grown = set(pair)
        chunks[-1].append(pair)
        images = grown
    return chunks


def lpips_diversity(
    paths: Sequence[str | Path],
    model: LPIPS,
    *,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    seed: int | None = 0,
    size: int | None = None,
    batch_size: int = 16,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
) -> MetricResult:
    """Intra-set diversity: mean LPIPS over all pairs of ``paths`` (or a seeded sample of ``max_pairs``).

    Each image's feature maps are computed once and kept while they fit in
    ``cache_bytes``; ``progress`` counts images run through the network. per_item
    is keyed ``"a.png|b.png"``. The bootstrap interval resamples pairs, which share
    images, so it is somewhat narrow: read it as the spread of the pair sample.
    """
    paths = [Path(p) for p in paths]
    seed = 0 if seed is None else seed
    pairs = [(int(i), int(j)) for i, j in sample_index_pairs(len(paths), max_pairs, seed)]
    if size is None:
        common_size(sorted({paths[k] for pair in pairs for k in pair}), hint="--size N")
    device = model.shift.device
    cache: dict[int, list[torch.Tensor]] = {}
    per_item: dict[str, float] = {}

    def featurize(indices: list[int]) -> None:
        todo = [i for i in indices if i not in cache]
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for s in range(0, len(todo), batch_size):
                chunk = todo[s : s + batch_size]
                imgs = list(pool.map(lambda i: decode_resized(paths[i], size), chunk))
                with torch.no_grad():
                    feats = model.feature_maps(model.to_input(np.stack(imgs)))
                for r, i in enumerate(chunk):
                    cache[i] = [f[r : r + 1].cpu() for f in feats]
                if progress is not None:
                    progress(len(chunk))

    featurize([pairs[0][0]])
    per_image = sum(t.numel() * t.element_size() for t in cache[pairs[0][0]])
    for chunk in _pair_chunks(pairs, max(2, cache_bytes // per_image)):
        needed = {k for pair in chunk for k in pair}
        for i in [i for i in cache if i not in needed]:
            del cache[i]
        featurize(sorted(needed))
        for s in range(0, len(chunk), 256):
            sub = chunk[s : s + 256]
            fa = [torch.cat([cache[i][layer] for i, _ in sub]).to(device) for layer in range(5)]
            fb = [torch.cat([cache[j][layer] for _, j in sub]).to(device) for layer in range(5)]
            with torch.no_grad():
                d = model.distance_from_features(fa, fb).cpu().numpy()
            for (i, j), v in zip(sub, d, strict=True):
                per_item[f"{paths[i].name}|{paths[j].name}"] = float(v)
    all_pairs = len(paths) * (len(paths) - 1) // 2
    sampled = len(pairs) < all_pairs
    extra: dict[str, Any] = {"images": len(paths), "pairs": len(pairs), "all_pairs": all_pairs}
    if sampled:
        extra["notes"] = [f"mean over a seeded sample of {len(pairs)} of the {all_pairs} pairs"]
    return mean_result(
        "lpips_diversity",
        per_item,
        seed=seed,
        n=len(paths),
        extra=extra,
        params=_params(
            model,
            pairs=f"seeded sample of {len(pairs)}" if sampled else "all",
            max_pairs=max_pairs,
            resize=f"{size}x{size} PIL bicubic" if size else None,
        ),
    )
