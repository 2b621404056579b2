"""CMMD (Jayasumana et al. 2024): known answers and the reference's estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metrics.engine.cmmd import cmmd_from_embeddings, mmd2


def naive_mmd2(x, y, sigma=10.0, unbiased=False):
    """Gretton et al. 2012 written out with full kernel matrices (test oracle)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)

    def k(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * sigma**2))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    if unbiased:
        n, m = len(x), len(y)
        return (
            (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
            + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean()
        )
    return kxx.mean() + kyy.mean() - 2 * kxy.mean()


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    return rng.normal(size=(37, 12)), rng.normal(size=(29, 12)) + 0.4


def test_identical_sets_have_a_cmmd_of_exactly_zero(sets):
    x, _ = sets
    assert cmmd_from_embeddings(x, x.copy()).value == pytest.approx(0.0, abs=1e-12)


def test_the_biased_estimator_matches_the_full_matrix_formula_times_1000(sets):
    x, y = sets
    result = cmmd_from_embeddings(x, y, chunk=5)
    assert result.value == pytest.approx(1000 * naive_mmd2(x, y), rel=1e-10)
    assert result.value > 0 and result.higher_is_better is False


def test_the_unbiased_estimator_matches_the_full_matrix_formula(sets):
    x, y = sets
    assert mmd2(x, y, unbiased=True, chunk=4) == pytest.approx(
        naive_mmd2(x, y, unbiased=True), rel=1e-10
    )


def test_two_single_points_give_the_closed_form():
    x, y = np.array([[1.0, 0.0]]), np.array([[0.0, 3.0]])  # unit vectors after normalising
    expected = 1000 * (2 - 2 * math.exp(-2.0 / 200.0))
    assert cmmd_from_embeddings(x, y).value == pytest.approx(expected, rel=1e-12)


def test_cmmd_is_symmetric_and_ignores_embedding_length(sets):
    x, y = sets
    assert mmd2(x, y) == pytest.approx(mmd2(y, x), rel=1e-12)
    assert mmd2(3 * x, y) == pytest.approx(mmd2(x, y), rel=1e-12)


def test_embeddings_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="same CLIP model"):
        mmd2(np.ones((3, 4)), np.ones((3, 5)))
