"""The human side of the report: who is compared, scores, comparisons, tests, agreement."""

from __future__ import annotations

from dataclasses import dataclass, field

from ratings.report.model.typed import Matrix, Num, Typed

# --- who and what is compared --------------------------------------------------------------


@dataclass
class ModelEntry(Typed):
    """One generated image set of the campaign (index in ``Report.models`` = model index)."""

    set_id: int
    set_name: str
    kind: str
    model_name: str
    model_version: str
    label: str  # unique within the report
    paired: bool = False  # its images have source images (image-to-image metrics apply)


@dataclass
class CriterionEntry(Typed):
    """A question judges answer; ``(protocol, key)`` identifies it (one key per protocol)."""

    id: int
    key: str
    name: str
    protocol: str  # "rate" | "compare" | "grid"
    labels: list[str]
    points: int  # scale points; 0 for comparisons


# --- human scores --------------------------------------------------------------------------


@dataclass
class ScoreRow(Typed):
    """One model's mean rating on one criterion, with its prompt-bootstrap interval."""

    model: int
    label: str
    mean: Num
    low: Num
    high: Num
    n_ratings: int
    n_judges: int
    n_prompts: int
    n_cant_tell: int


@dataclass
class ScoreSection(Typed):
    """A rate or grid criterion: every model's mean rating."""

    criterion: str
    name: str
    protocol: str
    scale: list[int]  # [lowest, highest] scale point
    labels: list[str]
    models: list[ScoreRow]
    ranking: list[int]  # model indices, best first (models without ratings left out)
    confidence: float
    n_resamples: int
    seed: int
    resampled: str


@dataclass
class BTRow(Typed):
    """One model on a comparison criterion: Bradley-Terry score, Elo-like score, win rate."""

    model: int
    label: str
    n_votes: int
    score: Num = None
    low: Num = None
    high: Num = None
    elo: Num = None
    elo_low: Num = None
    elo_high: Num = None
    win_rate: Num = None
    win_rate_low: Num = None
    win_rate_high: Num = None
    bound: str = ""  # "lower" (never lost), "upper" (never won) or "" (two-sided)


@dataclass
class CompareGroup(Typed):
    """Models that were compared with each other (directly or through others)."""

    models: list[int]
    ranking: list[int]
    labels: list[str]  # in ranking order


@dataclass
class SignTests(Typed):
    """Exact sign tests on the decisive votes of every pair of models, Holm-adjusted."""

    method: str
    decisive_wins: Matrix  # [i][j]: decisive votes for i over j
    p_value: Matrix
    p_holm: Matrix
    n_ties: int


@dataclass
class PairwiseSection(Typed):
    """A comparison criterion: win rates, Bradley-Terry scores within groups, sign tests."""

    criterion: str
    name: str
    protocol: str
    labels: list[str]
    n_votes: int
    n_ties: int
    n_both_bad: int
    win_rate: Matrix
    games: Matrix
    both_bad: Matrix
    models: list[BTRow]
    significance: SignTests
    confidence: float
    n_resamples: int
    seed: int
    note: str = ""  # what the votes cannot tell, in words (empty when nothing)
    prior: Num = None
    resampled: str = ""
    groups: list[CompareGroup] = field(default_factory=list)
    ranking: list[int] | None = None  # only when every model is in one group


@dataclass
class PairedTests(Typed):
    """A rate or grid criterion: paired tests over shared prompts for every pair of models."""

    criterion: str
    protocol: str
    name: str
    method: str
    mean_diff: Matrix
    low: Matrix
    high: Matrix
    rank_biserial: Matrix
    n_prompts: list[list[int]]
    p_wilcoxon: Matrix
    p_bootstrap: Matrix
    p_wilcoxon_holm: Matrix
    p_bootstrap_holm: Matrix
    confidence: float
    n_resamples: int
    seed: int | None


# --- agreement between judges --------------------------------------------------------------


@dataclass
class AlphaRow(Typed):
    """Krippendorff's alpha of one criterion, bootstrap interval over items."""

    criterion: str
    protocol: str
    name: str
    alpha: Num
    low: Num
    high: Num
    level: str
    n_units: int
    n_values: int
    confidence: float
    n_resamples: int
    seed: int
    band: str  # "reliable" | "tentative" | "weak" | "undefined"
    alpha_interval: Num = None  # the same data read as an interval scale (a check)


@dataclass
class JudgeRow(Typed):
    """One judge: volume, gold accuracy, speed and agreement with the others."""

    judge: str
    id: int
    n_ratings: int
    n_cant_tell: int
    gold_answered: int
    gold_accuracy: Num
    median_ms: Num
    spearman_vs_others: Num
    mean_abs_diff: Num
    bias: Num
    flagged: bool
    flag_reasons: list[str]
    excluded: bool
    included: bool
    n_used: int


@dataclass
class AgreementSection(Typed):
    criteria: list[AlphaRow]
    units: str
    judges: list[JudgeRow]
