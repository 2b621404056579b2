"""The per-image feature cache: which features exist, reading and writing them."""

from __future__ import annotations

import hashlib

import numpy as np

from metrics.models import Feature
from metrics.services.extractors import FeatureKey

# SQLite allows ~32k bound variables per query; stay well under it everywhere.
IN_BATCH = 900


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def present_shas(key: FeatureKey, shas: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(shas), IN_BATCH):
        found.update(
            Feature.objects.filter(
                content_sha256__in=shas[start : start + IN_BATCH],
                extractor_id=key.extractor_id,
                preprocessing=key.preprocessing,
                weights_sha256=key.weights_sha256,
            ).values_list("content_sha256", flat=True)
        )
    return found


def feature_row(key: FeatureKey, sha: str, vector: np.ndarray) -> Feature:
    return Feature(
        content_sha256=sha,
        extractor_id=key.extractor_id,
        preprocessing=key.preprocessing,
        weights_sha256=key.weights_sha256,
        layout=key.layout_dict,
        data=vector.tobytes(),
    )


def features_of(key: FeatureKey, shas: list[str], what: str) -> dict[str, np.ndarray]:
    """Cached features of ``shas``, in order: output name -> float32 ``[n, dim]``."""
    data: dict[str, bytes] = {}
    for start in range(0, len(shas), IN_BATCH):
        data.update(
            Feature.objects.filter(
                content_sha256__in=shas[start : start + IN_BATCH],
                extractor_id=key.extractor_id,
                preprocessing=key.preprocessing,
                weights_sha256=key.weights_sha256,
            ).values_list("content_sha256", "data")
        )
    missing = [s for s in shas if s not in data]
    if missing:
        raise RuntimeError(f"{len(missing)} features of the {what} are missing from the cache")
    width = sum(dim for _, dim in key.layout)
    # One decode of every row (PostgreSQL hands back memoryviews, SQLite bytes).
    matrix = np.frombuffer(b"".join(bytes(data[s]) for s in shas), dtype="<f4")
    matrix = matrix.reshape(len(shas), width)
    out, start = {}, 0
    for name, dim in key.layout:
        out[name] = np.ascontiguousarray(matrix[:, start : start + dim])
        start += dim
    return out
