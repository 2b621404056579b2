"""Vendi score (Friedman & Dieng 2023): known answers and the authors' package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metrics.engine.vendi import vendi_from_embeddings, vendi_score, vendi_score_from_kernel


def test_n_identical_items_have_a_vendi_score_of_one():
    x = np.tile(np.array([[0.3, -1.2, 4.0, 0.5]]), (10, 1))
    assert vendi_score(x) == pytest.approx(1.0, abs=1e-9)


def test_n_orthogonal_items_have_a_vendi_score_of_n():
    assert vendi_score(np.eye(7) * 3.0) == pytest.approx(7.0, abs=1e-9)
    # More dimensions than items: still n.
    assert vendi_score(np.eye(5, 12)) == pytest.approx(5.0, abs=1e-9)


def test_two_orthogonal_groups_of_copies_count_as_two_items():
    x = np.array([[1.0, 0.0]] * 6 + [[0.0, 2.0]] * 6)
    assert vendi_score(x) == pytest.approx(2.0, abs=1e-9)


def test_scaling_embeddings_does_not_change_the_score_because_the_kernel_is_cosine():
    x = np.random.default_rng(0).normal(size=(20, 5))
    scaled = x * np.random.default_rng(1).uniform(0.1, 10, size=(20, 1))
    assert vendi_score(scaled) == pytest.approx(vendi_score(x), rel=1e-10)


def test_the_dual_form_for_many_items_equals_the_full_kernel_form():
    x = np.random.default_rng(2).normal(size=(40, 6))  # n > d: uses X^T X
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert vendi_score(x) == pytest.approx(vendi_score_from_kernel(xn @ xn.T), rel=1e-10)


def test_scores_equal_the_vendi_score_package():
    # vendi.score_dual / score_K on the row-normalised arrays below (numpy default_rng(11): first
    # a 30 x 6 draw, then a 5 x 40 draw), written by tests/data/make_prdc_vendi_golden.py.
    golden = json.loads((Path(__file__).parents[1] / "data" / "prdc_vendi_golden.json").read_text())
    rng = np.random.default_rng(11)
    many, few = rng.standard_normal((30, 6)), rng.standard_normal((5, 40))
    assert vendi_score(many) == pytest.approx(golden["vendi"]["many_30x6_score_dual"], rel=1e-10)
    assert vendi_score(few) == pytest.approx(golden["vendi"]["few_5x40_score_K"], rel=1e-10)


def test_the_result_records_the_kernel_and_bounds():
    result = vendi_from_embeddings(np.eye(3), embedding="clip", provenance={"clip_model": "m"})
    assert result.metric == "vendi" and result.value == pytest.approx(3.0)
    assert result.n == 3 and result.extra["max_possible"] == 3
    assert result.provenance["kernel"] == "cosine" and result.provenance["clip_model"] == "m"


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((0, 3)), "non-empty"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), "all-zero"),
        (np.array([[1.0, np.nan]]), "NaN"),
    ],
)
def test_bad_embeddings_are_refused_with_a_message(x, message):
    with pytest.raises(ValueError, match=message):
        vendi_score(x)


def test_a_kernel_without_unit_diagonal_is_refused():
    with pytest.raises(ValueError, match="unit diagonal"):
        vendi_score_from_kernel(np.array([[2.0, 0.0], [0.0, 1.0]]))
