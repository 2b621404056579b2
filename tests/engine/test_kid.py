"""KID: the unbiased estimator, seeded subsets as torch-fidelity draws them, known answers."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.engine.kid import kid_from_features, mmd2_unbiased, polynomial_kernel


def _mmd2_by_loops(x, y):
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (a @ b / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2 * xy / (m * m)


def test_the_unbiased_estimate_matches_its_definition_written_as_loops():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(7, 5)) + 0.3
    value = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(x, y), polynomial_kernel(y, y))
    assert value == pytest.approx(_mmd2_by_loops(x, y), rel=1e-12)


def test_one_subset_of_all_samples_is_the_full_set_estimate():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(9, 4)), rng.normal(size=(9, 4)) * 1.5
    result = kid_from_features(x, y, subsets=1, subset_size=9)
    assert result.value == pytest.approx(_mmd2_by_loops(x, y), rel=1e-10)
    assert result.std == 0.0


def test_two_samples_of_one_distribution_give_kid_about_zero():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    far = kid_from_features(x, y + 1.0, subsets=20, subset_size=100).value
    near = kid_from_features(x, y, subsets=20, subset_size=100)
    assert abs(near.value) < 0.05 * far
    assert abs(near.value) < 3 * near.std


def test_subsets_are_seeded():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(50, 8)), rng.normal(size=(50, 8)) + 0.2
    one = kid_from_features(x, y, subsets=5, subset_size=10, seed=7)
    again = kid_from_features(x, y, subsets=5, subset_size=10, seed=7)
    other = kid_from_features(x, y, subsets=5, subset_size=10, seed=8)
    assert one.value == again.value != other.value
    assert one.provenance["seed"] == 7


def test_precomputed_and_per_subset_kernels_agree(monkeypatch):
    from metrics.engine import kid

    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 8)), rng.normal(size=(25, 8)) + 0.1
    full = kid.kid_from_features(x, y, subsets=50, subset_size=10)
    monkeypatch.setattr(kid, "_MAX_PRECOMPUTED_ENTRIES", 0)
    direct = kid.kid_from_features(x, y, subsets=50, subset_size=10)
    assert full.value == pytest.approx(direct.value, rel=1e-12)


def test_a_subset_larger_than_a_set_is_capped_with_a_note():
    rng = np.random.default_rng(5)
    result = kid_from_features(rng.normal(size=(20, 4)), rng.normal(size=(30, 4)), subsets=3)
    assert result.provenance["subset_size"] == 20
    assert result.provenance["subset_size_asked"] == 1000
    assert "used 20" in result.extra["notes"][0]


def test_sets_of_one_image_are_refused():
    with pytest.raises(ValueError, match="at least 2 images"):
        kid_from_features(np.zeros((1, 4)), np.zeros((5, 4)))


def test_kid_equals_torch_fidelitys_with_one_subset_of_all_samples(reference_features, golden):
    """Golden: torch-fidelity 0.4.0, kid_subsets=1, kid_subset_size=12, same images and weights."""
    a, b = reference_features["a"]["pool3"], reference_features["b"]["pool3"]
    result = kid_from_features(a, b, subsets=1, subset_size=12)
    assert result.value == pytest.approx(golden["kid_one_subset"], rel=1e-4)


def test_seeded_subsets_are_drawn_as_torch_fidelity_draws_them(reference_features, golden):
    """Golden: torch-fidelity 0.4.0, 100 subsets of 5, rng_seed 2020 (its default)."""
    a, b = reference_features["a"]["pool3"], reference_features["b"]["pool3"]
    result = kid_from_features(a, b, subsets=100, subset_size=5, seed=2020)
    assert result.value == pytest.approx(golden["kid_100x5_seed2020"]["mean"], rel=1e-4)
    assert result.std == pytest.approx(golden["kid_100x5_seed2020"]["std"], rel=1e-4)
