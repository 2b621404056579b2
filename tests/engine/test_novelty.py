"""Novelty: nearest-neighbour cosine similarity to a reference set, and memorisation."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.engine.novelty import nearest_neighbours, novelty_from_embeddings


def test_exact_copies_of_reference_images_are_similarity_one_and_memorised():
    ref = np.random.default_rng(0).normal(size=(12, 6))
    gen = ref[[3, 7]] * 2.5  # the same directions, another length
    result = novelty_from_embeddings(gen, ref, generated_names=["a", "b"])
    assert result.per_item == pytest.approx({"a": 1.0, "b": 1.0})
    assert result.extra["memorised_fraction"] == 1.0
    assert result.extra["nearest"] == {"a": 3, "b": 7}


def test_images_orthogonal_to_every_reference_have_similarity_zero():
    ref = np.eye(6)[:3]
    gen = np.eye(6)[3:]
    result = novelty_from_embeddings(gen, ref)
    assert result.value == pytest.approx(0.0)
    assert result.extra["memorised_fraction"] == 0.0
    assert result.higher_is_better is False


def test_the_memorised_fraction_counts_similarities_at_or_above_the_threshold():
    ref = np.array([[1.0, 0.0]])
    angles = np.arccos([0.95, 0.9, 0.5, -0.2])
    gen = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    result = novelty_from_embeddings(gen, ref, threshold=0.9, generated_names=list("wxyz"))
    assert result.per_item == pytest.approx({"w": 0.95, "x": 0.9, "y": 0.5, "z": -0.2})
    assert result.extra["memorised_fraction"] == 0.5
    assert result.extra["memorised"] == ["w", "x"]
    assert result.value == pytest.approx((0.95 + 0.9 + 0.5 - 0.2) / 4)


def test_chunked_search_equals_the_full_similarity_matrix():
    rng = np.random.default_rng(1)
    gen, ref = rng.normal(size=(23, 8)), rng.normal(size=(31, 8))
    sims, idx = nearest_neighbours(gen, ref, chunk=4)
    g = gen / np.linalg.norm(gen, axis=1, keepdims=True)
    r = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    full = g @ r.T
    assert sims == pytest.approx(full.max(axis=1))
    assert idx.tolist() == full.argmax(axis=1).tolist()


def test_nearest_neighbours_are_named_by_reference_file_when_names_are_given():
    result = novelty_from_embeddings(
        np.array([[1.0, 0.1]]), np.eye(2), generated_names=["g.png"], reference_names=["r0", "r1"]
    )
    assert result.extra["nearest"] == {"g.png": "r0"}
    assert result.interval == pytest.approx((result.value, result.value))


def test_a_threshold_outside_the_cosine_range_is_refused():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        novelty_from_embeddings(np.eye(2), np.eye(2), threshold=1.5)
