"""Pairwise votes: win-rate matrix and Bradley-Terry scores with bootstrap intervals.

Protocol as in GenAI-Arena (Jiang et al. 2024) and Chatbot Arena (Chiang et al. 2024): each vote
says "A better", "B better", "tie" or "both bad". Ties count half a win to each side; "both
bad" votes say nothing about which model is better, so they are left out of win rates and of
the Bradley-Terry fit, and counted separately so the report can show them.

Scores: the Bradley-Terry maximum-likelihood fit of :mod:`ratings.stats.bradley_terry`, on the
natural-log scale centred at mean 0, and on an Elo-like scale (``1000 + 400 s / ln 10``).

Intervals: 95% percentile bootstrap (Efron and Tibshirani 1993). With ``prompt_idx`` the votes
are resampled by prompt (cluster bootstrap: votes on one prompt are correlated); without it,
votes are resampled one by one, which is what Chatbot Arena does. Resampling votes one by one
is drawn exactly and cheaply as a multinomial over the few distinct (A, B, outcome) kinds of
vote. Every resample is refitted (batched Newton); a resample whose maximum does not exist
(e.g. one model drew only wins) is fitted with the small prior and counted in
``n_regularised_resamples``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._common import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Exportable,
    as_index,
    check_resampling,
    kind_count_blocks,
    percentile_interval,
    resample_counts,
)
from .bradley_terry import fit_scores, strongly_connected, to_elo
from .bt_bounds import LOWER, UPPER, comparison_groups, score_bound, win_rate_bound

A_BETTER, B_BETTER, TIE, BOTH_BAD = 0, 1, 2, 3
OUTCOME_CODES = {"a": A_BETTER, "b": B_BETTER, "tie": TIE, "both_bad": BOTH_BAD}

# Virtual tied games added to every pair only when the maximum likelihood does not exist.
AUTO_PRIOR = 0.1


def encode_outcomes(labels: Sequence[str] | np.ndarray) -> np.ndarray:
    """Map outcome labels ("a", "b", "tie", "both_bad", any case) to the integer codes 0-3."""
    out = np.empty(len(labels), dtype=np.int64)
    for k, label in enumerate(labels):
        code = OUTCOME_CODES.get(str(label).strip().lower())
        if code is None:
            raise ValueError(
                f"Unknown pairwise outcome {label!r}; expected one of {sorted(OUTCOME_CODES)}."
            )
        out[k] = code
    return out


@dataclass(frozen=True)
class WinRates(Exportable):
    """Win-rate matrix: ``win_rate[i, j]`` = share of i-vs-j games won by i (ties count half)."""

    wins: np.ndarray  # (M x M) wins of i over j plus half the ties
    games: np.ndarray  # (M x M) decisive votes and ties between i and j
    both_bad: np.ndarray  # (M x M) "both bad" votes between i and j (symmetric)
    win_rate: np.ndarray  # (M x M) wins / games, NaN on the diagonal and for pairs never compared
    overall: np.ndarray  # (M,) all wins / all games of each model
    n_votes: int
    n_ties: int
    n_both_bad: int


@dataclass(frozen=True)
class BradleyTerry(Exportable):
    """Bradley-Terry scores per model with bootstrap intervals, and the win-rate summary."""

    score: np.ndarray  # natural-log scale, mean 0
    low: np.ndarray
    high: np.ndarray
    elo: np.ndarray
    elo_low: np.ndarray
    elo_high: np.ndarray
    win_rate: np.ndarray  # overall win rate per model
    win_rate_low: np.ndarray
    win_rate_high: np.ndarray
    prior: float  # virtual tied games per pair used for the point estimate (0: pure ML)
    n_regularised_resamples: int
    confidence: float
    n_resamples: int
    seed: int
    resampled: str  # "prompts" or "votes"
    note: str
    replicates: np.ndarray | None = None  # (n_resamples x M) log-scale scores
    # Per model: "" (two-sided interval), "lower" (never lost: bounded from below only, high is
    # +inf) or "upper" (never won: bounded from above only, low is -inf).
    bound: tuple[str, ...] = ()
    # Connected groups of the comparison graph (model indices); scores compare within a group.
    groups: tuple[tuple[int, ...], ...] = ()


def _check_votes(
    model_a: np.ndarray, model_b: np.ndarray, outcome: np.ndarray, n_models: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    model_a = as_index("model_a", model_a)
    model_b = as_index("model_b", model_b, model_a.size)
    outcome = as_index("outcome", outcome, model_a.size)
    if outcome.size and outcome.max() > BOTH_BAD:
        raise ValueError(
            "outcome codes must be 0 (A better), 1 (B better), 2 (tie) or 3 (both bad)."
        )
    if np.any(model_a == model_b):
        raise ValueError(
            "A vote compares a model with itself; each vote needs two different models."
        )
    top = int(max(model_a.max(), model_b.max())) + 1 if model_a.size else 0
    if n_models is None:
        n_models = top
    elif top > n_models:
        raise ValueError(f"model indices go up to {top - 1} but n_models is {n_models}.")
    return model_a, model_b, outcome, n_models


def _vote_cells(
    model_a: np.ndarray, model_b: np.ndarray, outcome: np.ndarray, n_models: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat (winner * M + loser) cells, weights and vote rows: a tie gives two half wins."""
    a_win = outcome == A_BETTER
    b_win = outcome == B_BETTER
    tie = outcome == TIE
    cells = np.concatenate(
        [
            model_a[a_win] * n_models + model_b[a_win],
            model_b[b_win] * n_models + model_a[b_win],
            model_a[tie] * n_models + model_b[tie],
            model_b[tie] * n_models + model_a[tie],
        ]
    )
    weights = np.concatenate(
        [np.ones(a_win.sum()), np.ones(b_win.sum()), np.full(2 * tie.sum(), 0.5)]
    )
    rows = np.concatenate(
        [np.flatnonzero(a_win), np.flatnonzero(b_win), np.flatnonzero(tie), np.flatnonzero(tie)]
    )
    return cells, weights, rows


def win_rates(
    model_a: np.ndarray, model_b: np.ndarray, outcome: np.ndarray, *, n_models: int | None = None
) -> WinRates:
    """Win-rate matrix of pairwise votes (ties half to each side, "both bad" counted apart)."""
    model_a, model_b, outcome, m = _check_votes(model_a, model_b, outcome, n_models)
    cells, weights, _ = _vote_cells(model_a, model_b, outcome, m)
    wins = np.bincount(cells, weights=weights, minlength=m * m).reshape(m, m)
    games = wins + wins.T
    bad = outcome == BOTH_BAD
    both_bad = np.bincount(model_a[bad] * m + model_b[bad], minlength=m * m).reshape(m, m)
    both_bad = both_bad + both_bad.T
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = wins / games
        overall = wins.sum(axis=1) / games.sum(axis=1)
    np.fill_diagonal(rate, np.nan)
    return WinRates(
        wins=wins,
        games=games,
        both_bad=both_bad,
        win_rate=rate,
        overall=overall,
        n_votes=int(model_a.size),
        n_ties=int((outcome == TIE).sum()),
        n_both_bad=int(bad.sum()),
    )


def bradley_terry(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    *,
    n_models: int | None = None,
    prompt_idx: np.ndarray | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    prior: float | None = None,
    keep_replicates: bool = False,
) -> BradleyTerry:
    """Bradley-Terry ML scores (log scale, mean 0; and Elo-like) with percentile bootstrap intervals.

    One entry per vote: ``model_a``, ``model_b`` (indices), ``outcome`` (codes 0-3, see
    :func:`encode_outcomes`). ``prompt_idx`` switches the bootstrap from votes to prompts.
    ``prior=None`` fits the pure maximum likelihood and adds ``AUTO_PRIOR`` virtual tied games
    per pair only where that maximum does not exist; a number forces that prior everywhere.
    """
    check_resampling(n_resamples, confidence)
    model_a, model_b, outcome, m = _check_votes(model_a, model_b, outcome, n_models)
    table = win_rates(model_a, model_b, outcome, n_models=m)
    if table.games.sum() == 0:
        raise ValueError(
            "No decisive or tied votes to fit: every vote is 'both bad' or there are none."
        )

    # A model with no decisive or tied vote has no score; the others are fitted without it.
    played = np.flatnonzero(table.games.sum(axis=1) > 0)
    note = ""
    if played.size < m:
        note = f"{m - played.size} model(s) have no decisive or tied vote and no score."
    if prior is not None and prior < 0:
        raise ValueError(f"prior must be >= 0 virtual tied games; got {prior}.")
    groups = comparison_groups(table.games, played)
    all_wins = _resampled_wins(model_a, model_b, outcome, m, prompt_idx, n_resamples, seed)
    score = np.full(m, np.nan)
    reps = np.full((n_resamples, m), np.nan)
    used_max, n_regularised = 0.0, 0
    for group in groups:
        used, group_score, group_reps, n_reg = _fit_group(
            table.wins[np.ix_(group, group)], all_wins[:, group][:, :, group], prior, n_resamples
        )
        score[group], reps[:, group] = group_score, group_reps
        used_max, n_regularised = max(used_max, used), n_regularised + n_reg
    if used_max and prior is None:
        note += (
            " The maximum-likelihood scores do not exist for these votes (some model never "
            f"lost or never won), so {AUTO_PRIOR} virtual tied game per pair of models was "
            "added; such a model's interval is one-sided (see bound)."
        )
    if len(groups) > 1:
        note += (
            f" The comparison graph falls into {len(groups)} groups never compared with each "
            "other: scores are fitted, centred and ranked within each group only."
        )
    n_missing = int(np.isnan(reps[:, played]).any(axis=1).sum())
    if n_missing:
        note += (
            f" {n_missing} of {n_resamples} resamples have no maximum-likelihood scores "
            "and are left out of the intervals."
        )
    low, high = percentile_interval(reps, confidence)

    reps_games = all_wins + np.swapaxes(all_wins, 1, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_reps = all_wins.sum(axis=2) / reps_games.sum(axis=2)
    rate_low, rate_high = percentile_interval(rate_reps, confidence)
    bound = [""] * m
    for group in groups:
        for k in group:
            others = group[group != k]
            side = _one_sided(table.wins, k, others)
            if not side:
                continue
            bound[k] = side
            games_k = table.games[k, others]
            limit = score_bound(games_k, score[others], confidence, side)
            low[k], high[k] = (limit, np.inf) if side == LOWER else (-np.inf, limit)
            rate_low[k], rate_high[k] = win_rate_bound(games_k.sum(), confidence, side)
    return BradleyTerry(
        score=score,
        low=low,
        high=high,
        elo=to_elo(score),
        elo_low=to_elo(low),
        elo_high=to_elo(high),
        win_rate=table.overall,
        win_rate_low=rate_low,
        win_rate_high=rate_high,
        prior=used_max,
        n_regularised_resamples=n_regularised,
        confidence=confidence,
        n_resamples=int(n_resamples),
        seed=seed,
        resampled="votes" if prompt_idx is None else "prompts",
        note=note.strip(),
        replicates=reps if keep_replicates else None,
        bound=tuple(bound),
        groups=tuple(tuple(int(k) for k in g) for g in groups),
    )


def _fit_group(
    wins: np.ndarray, reps_wins: np.ndarray, prior: float | None, n_resamples: int
) -> tuple[float, np.ndarray, np.ndarray, int]:
    """Fit one connected group: (prior used, scores, resampled scores, resamples regularised)."""
    if prior is None:
        used = 0.0 if strongly_connected(wins) else AUTO_PRIOR
    else:
        used = float(prior)
        if used == 0.0 and not strongly_connected(wins):
            raise ValueError(
                "The maximum-likelihood Bradley-Terry scores do not exist for these votes (some "
                "model never lost, or never won); pass prior>0 or prior=None."
            )
    score = fit_scores(wins, prior=used)
    if prior is None and used == 0.0:
        fixed = np.where(strongly_connected(reps_wins), 0.0, AUTO_PRIOR)
    else:
        # The point estimate needed (or was given) a prior: every resample gets the same one.
        fixed = np.full(n_resamples, used)
    return used, score, fit_scores(reps_wins, prior=fixed), int(np.count_nonzero(fixed > used))


def _one_sided(wins: np.ndarray, k: int, others: np.ndarray) -> str:
    """ "lower" when model ``k`` never lost to ``others`` (its group), "upper" when it never won."""
    if wins[others, k].sum() == 0:
        return LOWER
    if wins[k, others].sum() == 0:
        return UPPER
    return ""


def _scatter(values: np.ndarray, columns: np.ndarray, m: int) -> np.ndarray:
    """Put the fitted models' columns back among all ``m`` models (NaN for the others)."""
    out = np.full(values.shape[:-1] + (m,), np.nan)
    out[..., columns] = values
    return out


def _resampled_wins(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    m: int,
    prompt_idx: np.ndarray | None,
    n_resamples: int,
    seed: int,
) -> np.ndarray:
    """Win matrices (n_resamples x M x M) of the bootstrap resamples."""
    if prompt_idx is None:
        # Resampling votes: a multinomial over the distinct kinds of vote.
        kind = (model_a * m + model_b) * 4 + outcome
        freq = np.bincount(kind, minlength=m * m * 4)
        kinds = np.flatnonzero(freq)
        ka, rest = np.divmod(kinds, m * 4)
        kb, ko = np.divmod(rest, 4)
        cells, weights, rows = _vote_cells(ka, kb, ko, m)
        per_kind = np.zeros((kinds.size, m * m))
        np.add.at(per_kind, (rows, cells), weights)
        out = np.empty((n_resamples, m * m))
        rng = np.random.default_rng(seed)
        for lo, hi, counts in kind_count_blocks(freq[kinds], n_resamples, rng):
            out[lo:hi] = counts @ per_kind
        return out.reshape(n_resamples, m, m)

    prompt_idx = as_index("prompt_idx", prompt_idx, model_a.size)
    n_prompts = int(prompt_idx.max()) + 1 if prompt_idx.size else 0
    cells, weights, rows = _vote_cells(model_a, model_b, outcome, m)
    per_prompt = np.bincount(
        prompt_idx[rows] * (m * m) + cells, weights=weights, minlength=n_prompts * m * m
    ).reshape(n_prompts, m * m)
    counts = resample_counts(n_prompts, n_resamples, seed)
    return (counts @ per_prompt).reshape(n_resamples, m, m)
