"""What the votes cannot tell: comparison groups never compared, and one-sided bounds.

- **Groups.** Models only meet through the comparisons they share. When the comparison graph
  ("i and j played at least one decisive or tied game") falls apart into connected groups,
  nothing in the votes orders one group against another: any shift of one group's scores
  fits equally well. Scores are then fitted, centred and ranked within each group only.
- **One-sided bounds.** A model that never lost has no finite maximum-likelihood score: the
  likelihood keeps rising as its score goes to +infinity, so the data bound it from below
  only, and any finite point or upper bound would come from the prior alone. The lower bound
  here is exact given the others: the score ``t`` at which winning every one of its games
  becomes as improbable as ``1 - confidence``, with its opponents held at their scores
  (``sum_j g_j log sigmoid(t - s_j) = log(1 - confidence)``). With one opponent this is the
  Clopper-Pearson bound on the win probability, ``p >= (1 - confidence)^(1 / n)``, on the
  log-odds scale. A model that never won gets the mirror upper bound. Win rates of 1 (or 0)
  get the same Clopper-Pearson one-sided bound instead of a bootstrap [1, 1].
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy.sparse.csgraph import connected_components

LOWER, UPPER = "lower", "upper"


def comparison_groups(games: np.ndarray, models: np.ndarray) -> list[np.ndarray]:
    """Connected groups of ``models`` in the graph "played at least one game" (sorted, largest first)."""
    linked = np.asarray(games)[np.ix_(models, models)] > 0
    n_groups, label = connected_components(linked, directed=False)
    groups = [np.sort(models[label == g]) for g in range(n_groups)]
    groups.sort(key=lambda g: (-g.size, g[0]))
    return groups


def score_bound(wins_of: np.ndarray, opponents: np.ndarray, confidence: float, side: str) -> float:
    """One-sided bound on a score given its games against opponents held at their scores.

    ``side="lower"``: the model won all ``wins_of[j]`` games against opponent ``j`` (score
    ``opponents[j]``); the bound solves ``sum_j g_j log sigmoid(t - s_j) = log(1 - confidence)``.
    ``side="upper"``: it lost all of them; the mirror image.
    """
    g = np.asarray(wins_of, dtype=np.float64)
    s = np.asarray(opponents, dtype=np.float64)
    keep = (g > 0) & np.isfinite(s)
    g, s = g[keep], s[keep]
    if g.size == 0:
        return float("nan")
    target = np.log(1.0 - confidence)
    sign = 1.0 if side == LOWER else -1.0

    def gap(t: float) -> float:
        return float(-(g * np.logaddexp(0.0, -sign * (t - s))).sum() - target)

    lo, hi = s.min() - 60.0, s.max() + 60.0
    return float(optimize.brentq(gap, lo, hi, xtol=1e-12))


def win_rate_bound(n_games: float, confidence: float, side: str) -> tuple[float, float]:
    """Clopper-Pearson one-sided interval of a win rate of 1 (``lower``) or 0 (``upper``)."""
    if n_games <= 0:
        return float("nan"), float("nan")
    edge = (1.0 - confidence) ** (1.0 / n_games)
    return (edge, 1.0) if side == LOWER else (0.0, 1.0 - edge)
