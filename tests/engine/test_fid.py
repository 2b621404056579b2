"""FID maths: known answers, mergeable statistics, refusal of small sets, torch-fidelity agreement."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from metrics.engine.fid import (
    FeatureStats,
    GaussianStats,
    TooFewSamplesError,
    fid_from_features,
    fid_from_stats,
    frechet_distance,
    load_stats,
    trace_sqrt_product,
)


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_identical_sets_have_fid_zero():
    x = np.random.default_rng(0).normal(size=(200, 16))
    assert fid_from_features(x, x).value == pytest.approx(0.0, abs=1e-9)


def test_two_gaussians_with_diagonal_covariances_give_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 1.0])
    # |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2 = 5 + (1 + 1 + 4)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(11.0, rel=1e-12)


def test_the_trace_term_equals_the_matrix_square_root_of_the_product():
    rng = np.random.default_rng(1)
    s1, s2 = _spd(rng, 40), _spd(rng, 40)
    expected = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-10)


def test_samples_of_two_known_gaussians_approach_their_closed_form_distance():
    rng = np.random.default_rng(2)
    d, n = 4, 200_000
    x = rng.normal(size=(n, d))  # N(0, I)
    y = rng.normal(size=(n, d)) * 2.0 + 1.0  # N(1, 4 I)
    # |mu|^2 = d, sum (1 - 2)^2 = d
    assert fid_from_features(x, y).value == pytest.approx(2 * d, rel=0.02)


def test_merged_statistics_equal_the_statistics_of_the_concatenation():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(50, 8)), rng.normal(size=(70, 8)) + 3.0
    merged = FeatureStats.from_features(a).merge(FeatureStats.from_features(b))
    whole = FeatureStats.from_features(np.concatenate([a, b]))
    assert merged.n == 120
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.cov, whole.cov, rtol=1e-10)
    np.testing.assert_allclose(whole.cov, np.cov(np.concatenate([a, b]), rowvar=False), rtol=1e-10)
    assert (FeatureStats.empty(8) + merged).n == 120


def test_statistics_accumulate_in_float64_even_from_float32_features():
    x = np.random.default_rng(4).normal(size=(30, 5)).astype(np.float32)
    stats = FeatureStats.from_features(x)
    assert stats.sum.dtype == np.float64 and stats.outer.dtype == np.float64


def test_a_set_with_no_more_samples_than_dimensions_is_refused_with_advice():
    x = np.random.default_rng(5).normal(size=(16, 16))
    with pytest.raises(TooFewSamplesError, match=r"set A has 16 images.*at least 17.*force"):
        fid_from_features(x, x + 1)


def test_forcing_a_small_set_computes_and_says_so():
    x = np.random.default_rng(6).normal(size=(10, 16))
    result = fid_from_features(x, x, force=True)
    assert result.value == pytest.approx(0.0, abs=1e-6)
    assert any("singular covariance" in note for note in result.extra["notes"])
    assert result.provenance["forced"] is True


def test_statistics_of_different_dimensions_do_not_merge():
    with pytest.raises(ValueError, match="dimension 3 and 4"):
        FeatureStats.empty(3).merge(FeatureStats.empty(4))


def test_statistics_round_trip_through_npz_and_pytorch_fid_style_files_load(tmp_path):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(40, 6)) + 0.5
    stats = FeatureStats.from_features(x)
    stats.save(tmp_path / "ours.npz")
    np.savez(tmp_path / "pytorch_fid.npz", mu=stats.mean, sigma=stats.cov)
    expected = fid_from_features(x, y).value
    ours = load_stats(tmp_path / "ours.npz")
    theirs = load_stats(tmp_path / "pytorch_fid.npz")
    assert isinstance(ours, FeatureStats) and ours.n == 40
    assert isinstance(theirs, GaussianStats) and theirs.n is None
    y_stats = FeatureStats.from_features(y)
    assert fid_from_stats(ours, y_stats).value == pytest.approx(expected, rel=1e-10)
    assert fid_from_stats(theirs, y_stats).value == pytest.approx(expected, rel=1e-10)


def test_a_file_without_statistics_is_refused(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="needs arrays mu and sigma"):
        load_stats(tmp_path / "other.npz")


def test_the_result_records_what_lower_is_better_and_the_counts():
    x = np.random.default_rng(8).normal(size=(30, 4))
    result = fid_from_features(x, x + 1)
    assert result.higher_is_better is False
    assert result.n == {"a": 30, "b": 30}
    assert result.provenance["dim"] == 4 and "numpy" in result.provenance["versions"]


def test_fid_equals_torch_fidelitys_on_the_same_images_and_weights(reference_features, golden):
    """Golden: torch-fidelity 0.4.0 calculate_metrics(fid=True) on the 2 x 12 seeded PNGs."""
    a, b = reference_features["a"]["pool3"], reference_features["b"]["pool3"]
    assert fid_from_features(a, b, force=True).value == pytest.approx(golden["fid"], rel=1e-4)
