"""KL between the Inception class distributions of a generated and a reference set."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.engine.class_kl import EPSILON, class_kl_from_logits, class_marginal, kl_divergence


def _logits_for(probabilities: np.ndarray) -> np.ndarray:
    return np.log(probabilities)


def test_identical_sets_have_zero_divergence():
    logits = np.random.default_rng(0).normal(size=(30, 8))
    result = class_kl_from_logits(logits, logits)
    assert result.value == pytest.approx(0.0, abs=1e-12)
    assert result.extra["js_divergence"] == pytest.approx(0.0, abs=1e-12)


def test_the_value_is_kl_of_reference_over_generated_marginals():
    p_ref = np.array([[0.5, 0.5, 0.0 + 1e-300]])
    p_gen = np.array([[0.9, 0.1, 1e-300]])
    result = class_kl_from_logits(_logits_for(p_gen), _logits_for(p_ref))
    expected = 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1)
    assert result.value == pytest.approx(expected, rel=1e-9)
    reverse = 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    assert result.extra["kl_generated_to_reference"] == pytest.approx(reverse, rel=1e-9)
    assert result.provenance["direction"] == "KL(p_reference || p_generated)"


def test_marginals_are_means_of_per_image_softmax():
    logits = np.log(np.array([[0.2, 0.8], [0.6, 0.4]]))
    np.testing.assert_allclose(class_marginal(logits), [0.4, 0.6])


def test_a_class_the_generator_never_predicts_gives_a_large_finite_value():
    p = np.array([0.5, 0.5])
    q = np.array([1.0, 0.0])
    value = kl_divergence(p, q)
    assert np.isfinite(value)
    assert value == pytest.approx(0.5 * np.log(0.5 / 1.0) + 0.5 * np.log(0.5 / EPSILON), rel=1e-6)


def test_mode_dropping_costs_more_than_the_same_extra_mass():
    ref = np.log(np.full((4, 4), 0.25))
    dropped = np.log(np.array([[0.5, 0.5 - 2e-9, 1e-9, 1e-9]] * 4))
    assert class_kl_from_logits(dropped, ref).value > class_kl_from_logits(ref, dropped).value
