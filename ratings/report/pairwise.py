"""Pairwise (compare) criteria of the report: win rates, Bradley-Terry scores, sign tests.

Scores come from :func:`ratings.stats.bradley_terry` (fitted within each group of models that
were compared with each other; one-sided bounds for a model that never lost or never won); this
module selects the votes of each criterion and words what the votes cannot tell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats as sps

from ratings.models.campaigns import Protocol
from ratings.report.builder import NO_CHOICE
from ratings.report.human import Frame, criterion_id
from ratings.report.model import BTRow, CompareGroup, PairwiseSection, SignTests
from ratings.stats import A_BETTER, B_BETTER, TIE, bradley_terry, holm, win_rates


def _votes(frame: Frame, c: int) -> tuple[np.ndarray, ...]:
    d = frame.data
    rows = frame.of_criterion(c)
    rows = rows[d.rating_choice[rows] != NO_CHOICE]
    items = d.rating_item[rows]
    keep = (d.item_model[items] >= 0) & (d.item_model_b[items] >= 0)
    keep &= d.item_model[items] != d.item_model_b[items]
    rows, items = rows[keep], items[keep]
    return d.item_model[items], d.item_model_b[items], d.rating_choice[rows], frame.cluster[items]


def pairwise_section(
    frame: Frame,
) -> tuple[list[PairwiseSection], dict[tuple[str, str], np.ndarray]]:
    """Per compare criterion: win-rate matrix, Bradley-Terry scores and sign tests (Holm)."""
    d = frame.data
    m = frame.n_models
    out, replicates = [], {}
    for c, crit in enumerate(d.criteria):
        if crit["protocol"] != Protocol.COMPARE:
            continue
        a, b, outcome, cluster = _votes(frame, c)
        table = win_rates(a, b, outcome, n_models=m)
        note = ""
        try:
            bt = bradley_terry(
                a,
                b,
                outcome,
                n_models=m,
                prompt_idx=cluster,
                n_resamples=frame.n_resamples,
                seed=frame.seed,
                confidence=frame.confidence,
                keep_replicates=True,
            )
        except ValueError as exc:
            note = str(exc)
            bt = None
        n_votes = np.bincount(np.r_[a, b], minlength=m)
        fields = ("score", "low", "high", "elo", "elo_low", "elo_high", "win_rate",
                  "win_rate_low", "win_rate_high", "bound")  # fmt: skip
        rows = [
            BTRow(
                model=k,
                label=model["label"],
                n_votes=int(n_votes[k]),
                **({f: getattr(bt, f)[k] for f in fields} if bt is not None else {}),
            )
            for k, model in enumerate(d.models)
        ]
        summary = _bt_summary(bt, d.models) if bt is not None else {"note": note}
        out.append(
            PairwiseSection(
                criterion=crit["key"],
                name=crit["name"],
                protocol=crit["protocol"],
                labels=crit["labels"],
                n_votes=table.n_votes,
                n_ties=table.n_ties,
                n_both_bad=table.n_both_bad,
                win_rate=table.win_rate,
                games=table.games,
                both_bad=table.both_bad,
                models=rows,
                significance=_sign_tests(a, b, outcome, m),
                confidence=frame.confidence,
                n_resamples=frame.n_resamples,
                seed=frame.seed,
                **summary,
            )
        )
        if bt is not None:
            replicates[criterion_id(crit)] = bt.replicates
    return out, replicates


def _bt_summary(bt, models: list[dict[str, Any]]) -> dict[str, Any]:
    """Ranking within each comparison group, and plain notes on what the votes cannot tell."""
    groups = []
    for group in bt.groups:
        order = sorted(group, key=lambda k: -bt.score[k])
        groups.append(CompareGroup(models=list(group), ranking=order,
                                   labels=[models[k]["label"] for k in order]))  # fmt: skip
    notes = [bt.note] if bt.note else []
    for side, verb, word in (("lower", "never lost", "below"), ("upper", "never won", "above")):
        names = [models[k]["label"] for k, b in enumerate(bt.bound) if b == side]
        if names:
            notes.append(
                f"{', '.join(names)} {verb}: the votes bound the score from {word} only, so the "
                f"interval is one-sided ({'≥' if side == 'lower' else '≤'} the bound, exact given "
                "the other models' scores); the point score itself comes from the small prior."
            )
    if len(groups) > 1:
        notes.append(
            "These groups of models were never compared with each other, so the votes cannot "
            "order one group against another: "
            + "; ".join("{" + ", ".join(g.labels) + "}" for g in groups)
            + ". Rankings and scores hold within a group only."
        )
    return {
        "note": " ".join(notes),
        "prior": bt.prior,
        "resampled": bt.resampled,
        "groups": groups,
        # One flat ranking only means something when every model was compared with every other.
        "ranking": groups[0].ranking if len(groups) == 1 else None,
    }


def _sign_tests(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, m: int) -> SignTests:
    """Two-sided exact binomial (sign) test on decisive votes of every pair, Holm-adjusted."""
    wins = np.zeros((m, m))
    decisive_a = outcome == A_BETTER
    decisive_b = outcome == B_BETTER
    np.add.at(wins, (a[decisive_a], b[decisive_a]), 1)
    np.add.at(wins, (b[decisive_b], a[decisive_b]), 1)
    first, second = np.triu_indices(m, k=1)
    p = np.full(first.size, np.nan)
    for k, (i, j) in enumerate(zip(first, second, strict=True)):
        n = int(wins[i, j] + wins[j, i])
        if n:
            p[k] = sps.binomtest(int(wins[i, j]), n, 0.5).pvalue
    raw = np.full((m, m), np.nan)
    adjusted = np.full((m, m), np.nan)
    raw[first, second] = raw[second, first] = p
    adj = holm(p)
    adjusted[first, second] = adjusted[second, first] = adj
    return SignTests(
        method="exact two-sided sign test on decisive votes (ties and 'both bad' left out), "
        "Holm-adjusted over all pairs",
        decisive_wins=wins,
        p_value=raw,
        p_holm=adjusted,
        n_ties=int((outcome == TIE).sum()),
    )
