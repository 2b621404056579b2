"""Bradley-Terry maximum-likelihood fit, batched over many win matrices at once.

Model (Bradley and Terry 1952; Zermelo 1929): model ``i`` beats model ``j`` with probability
``exp(s_i) / (exp(s_i) + exp(s_j))``. Ties count as half a win to each side, as GenAI-Arena and
Chatbot Arena do, so a win matrix ``W[i, j]`` (wins of ``i`` over ``j`` plus half the ties) is
all the fit needs; the log-likelihood is ``sum_ij W[i, j] * log sigmoid(s_i - s_j)``.

Method: Newton's method on that concave log-likelihood with the gauge fixed by ``sum(s) = 0``
(the Hessian is minus the weighted Laplacian of the comparison graph; adding ``1 1^T / M``
makes it invertible on the mean-zero subspace), with step halving whenever a step would lower
the likelihood. This is the same maximum-likelihood estimate as choix's ``ilsr_pairwise`` and
``opt_pairwise`` with ``alpha=0`` (Maystre and Grossglauser 2015) and as an unpenalised logistic
regression on +1/-1 model indicators; Hunter's (2004) MM algorithm reaches it too, only slower.

Existence (Zermelo 1929; Ford 1957): the maximum exists and is unique exactly when the graph
"i won at least half a game against j" is strongly connected; otherwise a model that never
loses drifts to +infinity. Only then, a small prior is added: ``prior`` virtual tied games
between every pair of models (pseudo-counts, a Beta-like prior pulling each pair towards
50/50). The caller reports when that happened.
"""

from __future__ import annotations

import numpy as np

# With more models than this, dense batched Newton (B x M x M) becomes the wrong tool.
MAX_MODELS = 200
_MAX_ITER = 100
_TOL = 1e-12


def strongly_connected(wins: np.ndarray) -> np.ndarray:
    """For each win matrix (..., M, M), whether "i won something against j" is strongly connected."""
    wins = np.asarray(wins, dtype=np.float64)
    m = wins.shape[-1]
    reach = ((wins > 0) | np.eye(m, dtype=bool)).astype(np.float64)
    # Repeated squaring of the reachability matrix: paths of length up to 2^k after k steps.
    steps = 1
    while steps < m:
        reach = ((reach @ reach) > 0).astype(np.float64)
        steps *= 2
    return np.all(reach > 0, axis=(-2, -1))


def log_likelihood(wins: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Bradley-Terry log-likelihood of ``scores`` (..., M) given win matrices (..., M, M)."""
    diff = scores[..., :, None] - scores[..., None, :]
    # log sigmoid(d) = -log(1 + exp(-d)), computed without overflow.
    return -(wins * np.logaddexp(0.0, -diff)).sum(axis=(-2, -1))


def fit_scores(wins: np.ndarray, *, prior: float | np.ndarray = 0.0) -> np.ndarray:
    """Maximum-likelihood Bradley-Terry scores (natural-log scale, mean 0) for each win matrix.

    ``wins`` is (M, M) or (B, M, M): ``wins[..., i, j]`` = wins of ``i`` over ``j`` plus half
    the ties. ``prior`` (a number, or one per matrix) adds that many virtual tied games to every
    pair. A matrix whose maximum does not exist (not strongly connected and no prior) gives NaN
    scores; check :func:`strongly_connected` first to tell the user why.
    """
    wins = np.asarray(wins, dtype=np.float64)
    single = wins.ndim == 2
    if single:
        wins = wins[None]
    if wins.ndim != 3 or wins.shape[1] != wins.shape[2]:
        raise ValueError(f"wins must be (M x M) or (B x M x M); got shape {wins.shape}.")
    batch, m, _ = wins.shape
    if m > MAX_MODELS:
        raise ValueError(f"Bradley-Terry here handles up to {MAX_MODELS} models; got {m}.")
    if np.any(wins < 0) or not np.all(np.isfinite(wins)):
        raise ValueError("wins must hold finite, non-negative counts.")
    off_diag = 1.0 - np.eye(m)
    wins = wins * off_diag  # a model never plays itself
    prior = np.broadcast_to(np.asarray(prior, dtype=np.float64), (batch,))
    wins = wins + (prior / 2.0)[:, None, None] * off_diag
    if m == 1:
        out = np.zeros((batch, 1))
        return out[0] if single else out

    exists = strongly_connected(wins)
    # Matrices without a maximum are replaced by a harmless one and reported as NaN.
    wins = np.where(exists[:, None, None], wins, off_diag)
    scores = _newton(wins)
    scores[~exists] = np.nan
    return scores[0] if single else scores


def _newton(wins: np.ndarray) -> np.ndarray:
    batch, m, _ = wins.shape
    games = wins + np.swapaxes(wins, 1, 2)
    won = wins.sum(axis=2)
    centring = np.full((m, m), 1.0 / m)
    scores = np.zeros((batch, m))
    current = log_likelihood(wins, scores)
    active = np.ones(batch, dtype=bool)
    for _ in range(_MAX_ITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        s, g, w = scores[idx], games[idx], wins[idx]
        prob = 1.0 / (1.0 + np.exp(-(s[:, :, None] - s[:, None, :])))
        grad = won[idx] - (g * prob).sum(axis=2)
        curv = g * prob * (1.0 - prob)
        hess = -curv
        diag = np.arange(m)
        hess[:, diag, diag] = curv.sum(axis=2)
        step = np.linalg.solve(hess + centring, grad[:, :, None])[:, :, 0]
        # Backtracking: halve the step for matrices where the likelihood would go down.
        trial = s + step
        value = log_likelihood(w, trial)
        base = current[idx]
        for _ in range(60):
            worse = value < base - 1e-12 * np.abs(base)
            if not worse.any():
                break
            step[worse] /= 2.0
            trial[worse] = s[worse] + step[worse]
            value[worse] = log_likelihood(w[worse], trial[worse])
        scores[idx] = trial - trial.mean(axis=1, keepdims=True)
        current[idx] = value
        done = np.abs(step).max(axis=1) < _TOL
        active[idx[done]] = False
    return scores


def to_elo(scores: np.ndarray, *, base: float = 1000.0) -> np.ndarray:
    """Bradley-Terry log-scale scores on the Elo scale (400 points = 10:1 odds), centred at ``base``."""
    return base + np.asarray(scores, dtype=np.float64) * 400.0 / np.log(10.0)
