"""Simulated campaigns with a known truth, to check that the statistics recover it.

Ratings follow a crossed random-effects model: the rating of model ``m`` on prompt ``p`` by
judge ``j`` is ``mu_m + prompt_p + interaction_mp + judge_j + noise``, with prompt, interaction,
judge and noise effects drawn from centred normals. Over the population of prompts (and judges)
the expected rating of model ``m`` is exactly ``mu_m``, which is what the bootstrap interval of
the mean over prompts should cover (with ``judge_sd=0``: judges are a fixed sample here, so a
judge effect is a bias that a prompt bootstrap rightly does not claim to cover). With
``scale=(1, 5)`` scores are rounded and clipped to a rating scale: the ordering of models is
kept, but ``mu_m`` is then no longer the expected rating.

Votes follow the Bradley-Terry model with the given log-scale strengths: "A better" with
probability ``sigmoid(s_a - s_b)``; ``tie_rate`` and ``both_bad_rate`` replace that many votes
by ties and "both bad" regardless of the pair (ties then shrink the fitted scale, so keep
``tie_rate=0`` when checking that intervals cover the true strengths).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pairwise import A_BETTER, B_BETTER, BOTH_BAD, TIE


@dataclass(frozen=True)
class SimulatedRatings:
    """One entry per rating; ``item_idx`` is the (model, prompt) image ``model * n_prompts + prompt``."""

    model_idx: np.ndarray
    prompt_idx: np.ndarray
    judge_idx: np.ndarray
    item_idx: np.ndarray
    score: np.ndarray
    true_means: np.ndarray


@dataclass(frozen=True)
class SimulatedVotes:
    """One entry per pairwise vote, with the true centred log-scale strengths."""

    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    prompt_idx: np.ndarray
    true_scores: np.ndarray


def simulate_ratings(
    true_means: np.ndarray,
    *,
    n_prompts: int = 60,
    n_judges: int = 12,
    ratings_per_item: int = 3,
    prompt_sd: float = 0.5,
    interaction_sd: float = 0.2,
    judge_sd: float = 0.0,
    noise_sd: float = 0.7,
    scale: tuple[int, int] | None = None,
    seed: int = 0,
) -> SimulatedRatings:
    """Ratings of one image per (model, prompt), each by ``ratings_per_item`` distinct judges."""
    mu = np.asarray(true_means, dtype=np.float64)
    if ratings_per_item > n_judges:
        raise ValueError(
            f"ratings_per_item ({ratings_per_item}) cannot exceed n_judges ({n_judges})."
        )
    rng = np.random.default_rng(seed)
    n_models = mu.size
    prompt = rng.normal(0.0, prompt_sd, n_prompts)
    interaction = rng.normal(0.0, interaction_sd, (n_models, n_prompts))
    judge = rng.normal(0.0, judge_sd, n_judges)
    n_items = n_models * n_prompts
    item = np.repeat(np.arange(n_items), ratings_per_item)
    # Distinct judges per item: the first k of a random permutation of all judges.
    judges = np.argsort(rng.random((n_items, n_judges)), axis=1)[:, :ratings_per_item].ravel()
    model, prm = np.divmod(item, n_prompts)
    score = (
        mu[model]
        + prompt[prm]
        + interaction[model, prm]
        + judge[judges]
        + rng.normal(0.0, noise_sd, item.size)
    )
    if scale is not None:
        score = np.clip(np.round(score), scale[0], scale[1])
    return SimulatedRatings(
        model_idx=model,
        prompt_idx=prm,
        judge_idx=judges,
        item_idx=item,
        score=score,
        true_means=mu,
    )


def simulate_votes(
    true_scores: np.ndarray,
    *,
    n_votes: int = 2000,
    n_prompts: int = 50,
    tie_rate: float = 0.0,
    both_bad_rate: float = 0.0,
    seed: int = 0,
) -> SimulatedVotes:
    """Pairwise votes between uniformly drawn pairs of distinct models under Bradley-Terry."""
    s = np.asarray(true_scores, dtype=np.float64)
    m = s.size
    if m < 2:
        raise ValueError("Pairwise votes need at least two models.")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, m, n_votes)
    b = (a + rng.integers(1, m, n_votes)) % m
    p_a = 1.0 / (1.0 + np.exp(-(s[a] - s[b])))
    outcome = np.where(rng.random(n_votes) < p_a, A_BETTER, B_BETTER)
    u = rng.random(n_votes)
    outcome = np.where(u < tie_rate, TIE, outcome)
    outcome = np.where((u >= tie_rate) & (u < tie_rate + both_bad_rate), BOTH_BAD, outcome)
    return SimulatedVotes(
        model_a=a,
        model_b=b,
        outcome=outcome.astype(np.int64),
        prompt_idx=rng.integers(0, n_prompts, n_votes),
        true_scores=s - s.mean(),
    )
