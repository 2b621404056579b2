"""Inception Score: known answers and torch-fidelity's splits and shuffle."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.engine.inception_score import inception_score_from_logits


def test_identical_predictions_give_an_inception_score_of_one():
    logits = np.tile(np.random.default_rng(0).normal(size=(1, 10)), (20, 1))
    assert inception_score_from_logits(logits, splits=2).value == pytest.approx(1.0, abs=1e-12)


def test_confident_predictions_spread_evenly_over_k_classes_score_k():
    k = 5
    logits = np.full((50, 10), -1000.0)
    logits[np.arange(50), np.arange(50) % k] = 0.0
    result = inception_score_from_logits(logits, splits=1)
    assert result.value == pytest.approx(k, rel=1e-9)


def test_splits_give_the_spread_and_shuffling_is_seeded():
    logits = np.random.default_rng(1).normal(size=(60, 12)) * 3
    a = inception_score_from_logits(logits, splits=3, seed=1)
    b = inception_score_from_logits(logits, splits=3, seed=1)
    c = inception_score_from_logits(logits, splits=3, seed=2)
    assert a.value == b.value and a.std == b.std and a.std > 0
    assert a.value != c.value
    assert len(a.extra["split_values"]) == 3


def test_without_shuffle_splits_follow_the_input_order():
    logits = np.random.default_rng(2).normal(size=(10, 4))
    first_half = inception_score_from_logits(logits[:5], splits=1, shuffle=False).value
    result = inception_score_from_logits(logits, splits=2, shuffle=False)
    assert result.extra["split_values"][0] == pytest.approx(first_half, rel=1e-12)


def test_more_splits_than_images_is_refused():
    with pytest.raises(ValueError, match="needs at least 10 images"):
        inception_score_from_logits(np.zeros((4, 3)))


def test_is_equals_torch_fidelitys_with_one_split(reference_features, golden):
    """Golden: torch-fidelity 0.4.0, isc_splits=1, same images and weights."""
    logits = reference_features["a"]["logits_unbiased"]
    value = inception_score_from_logits(logits, splits=1).value
    assert value == pytest.approx(golden["is_one_split"], rel=1e-4)


def test_is_splits_are_shuffled_as_torch_fidelity_shuffles_them(reference_features, golden):
    """Golden: torch-fidelity 0.4.0, isc_splits=3, samples_shuffle with rng_seed 2020."""
    logits = reference_features["a"]["logits_unbiased"]
    result = inception_score_from_logits(logits, splits=3, seed=2020)
    assert result.value == pytest.approx(golden["is_3_splits_seed2020"]["mean"], rel=1e-4)
    assert result.std == pytest.approx(golden["is_3_splits_seed2020"]["std"], rel=1e-3)
