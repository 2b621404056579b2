"""Precision/recall (Kynkaanniemi 2019) and density/coverage (Naeem 2020)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metrics.engine.prdc import knn_radii, prdc, prdc_from_features

# The authors' package on the fixture's arrays (tests/data/make_prdc_vendi_golden.py).
GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "prdc_vendi_golden.json").read_text())[
    "prdc"
]


def naive_prdc(gen, ref, k):
    """The definitions written out on full distance matrices (test oracle)."""

    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    r_ref = np.sort(dist(ref, ref), axis=1)[:, k]
    r_gen = np.sort(dist(gen, gen), axis=1)[:, k]
    d = dist(gen, ref)  # [n_gen, n_ref]
    precision = (d < r_ref[None, :]).any(axis=1).mean()
    recall = (d.T < r_gen[None, :]).any(axis=1).mean()
    density = (d < r_ref[None, :]).sum(axis=1).mean() / k
    coverage = (d.min(axis=0) < r_ref).mean()
    return precision, recall, density, coverage


@pytest.fixture(scope="module")
def features():
    # Same draws as the prdc-package reference numbers below.
    rng = np.random.default_rng(7)
    ref = rng.standard_normal((50, 8))
    gen = rng.standard_normal((40, 8)) * 1.2 + 0.3
    return gen, ref


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("chunk", [None, 7])
def test_chunked_prdc_equals_the_full_matrix_definitions(features, k, chunk):
    gen, ref = features
    r = prdc(gen, ref, k=k, chunk=chunk)
    assert (r.precision, r.recall, r.density, r.coverage) == pytest.approx(naive_prdc(gen, ref, k))


@pytest.mark.parametrize("k", [3, 5])
def test_prdc_equals_the_authors_package(features, k):
    gen, ref = features
    r = prdc(gen, ref, k=k, chunk=16)
    expected = tuple(GOLDEN[f"k{k}"][m] for m in ("precision", "recall", "density", "coverage"))
    assert (r.precision, r.recall, r.density, r.coverage) == pytest.approx(expected, abs=1e-12)


def test_far_apart_sets_have_zero_precision_recall_density_and_coverage():
    rng = np.random.default_rng(1)
    r = prdc(rng.normal(size=(20, 4)) + 100.0, rng.normal(size=(20, 4)), k=3)
    assert (r.precision, r.recall, r.density, r.coverage) == (0.0, 0.0, 0.0, 0.0)


def test_a_generated_set_equal_to_the_reference_has_full_precision_recall_and_coverage():
    ref = np.random.default_rng(2).normal(size=(30, 5))
    r = prdc(ref.copy(), ref, k=5)
    assert (r.precision, r.recall, r.coverage) == (1.0, 1.0, 1.0)


def test_generated_samples_collapsed_on_one_reference_point_have_precision_but_no_recall():
    ref = np.random.default_rng(3).normal(size=(30, 5))
    gen = np.repeat(ref[:1], 20, axis=0) + 1e-6 * np.random.default_rng(4).normal(size=(20, 5))
    r = prdc(gen, ref, k=3)
    assert r.precision == 1.0
    assert r.coverage <= 4 / 30  # only that point's ball (and balls reaching it) are covered
    assert r.recall < 0.2


def test_radii_are_the_distance_to_the_kth_other_point():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert knn_radii(x, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(x, 2, chunk=1).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_the_results_come_as_four_metric_results_with_k_in_their_provenance(features):
    gen, ref = features
    results = prdc_from_features(gen, ref, k=3, embedding="clip")
    assert list(results) == ["precision", "recall", "density", "coverage"]
    assert results["density"].value == pytest.approx(GOLDEN["k3"]["density"])
    assert results["precision"].n == {"generated": 40, "reference": 50}
    assert results["coverage"].provenance["k"] == 3


def test_k_must_be_smaller_than_each_set():
    with pytest.raises(ValueError, match="more than k samples"):
        prdc(np.ones((5, 2)), np.random.default_rng(0).normal(size=(3, 2)), k=5)


def test_features_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="same extractor"):
        prdc(np.ones((6, 2)), np.ones((6, 3)), k=2)
