"""Galleries, per-item rows, provenance, and the :class:`Report` that holds every section."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ratings.report.model.automated import CorrelationsSection, MetricsSection
from ratings.report.model.human import (
    AgreementSection,
    CriterionEntry,
    ModelEntry,
    PairedTests,
    PairwiseSection,
    ScoreSection,
)
from ratings.report.model.typed import Num, Typed

# --- galleries -----------------------------------------------------------------------------


@dataclass
class RatedTile(Typed):
    image: int
    mean: Num
    n: int


@dataclass
class GapTile(Typed):
    image: int
    human: Num
    metric: Num
    gap: Num  # percentile-rank gap between metric and people


@dataclass
class NearTile(Typed):
    image: int
    similarity: Num
    memorised: bool


@dataclass
class RatedGallery(Typed):
    criterion: str
    criterion_name: str
    model: int
    label: str
    best: list[RatedTile]
    worst: list[RatedTile]


@dataclass
class DisagreementGallery(Typed):
    criterion: str
    criterion_name: str
    metric: str
    metric_label: str
    metric_higher_people_lower: list[GapTile]
    people_higher_metric_lower: list[GapTile]


@dataclass
class ClosestGallery(Typed):
    model: int
    label: str
    run: int
    threshold: Num
    reference_set: str
    images: list[NearTile]


@dataclass
class Galleries(Typed):
    rated: list[RatedGallery]
    disagreements: list[DisagreementGallery]
    closest_to_reference: list[ClosestGallery]


# --- per item ------------------------------------------------------------------------------


@dataclass
class ItemRow(Typed):
    """One item and criterion: who is shown, how many answered, mean rating or choice counts."""

    item_id: int
    kind: str
    criterion: str
    protocol: str
    model: str
    model_b: str
    image_id: int | None
    image_b_id: int | None
    prompt: str
    n_ratings: int
    mean_rating: Num
    n_cant_tell: int
    n_first_better: int
    n_second_better: int
    n_tie: int
    n_both_bad: int


# --- what the report was computed from -----------------------------------------------------


@dataclass
class CampaignRef(Typed):
    id: int
    name: str
    status: str
    reference_set_id: int | None


@dataclass
class Counts(Typed):
    models: int
    prompts: int
    items: int
    judges: int
    ratings: int
    ratings_used: int
    ratings_left_out: int
    cant_tell: int
    last_rating_id: int | None


@dataclass
class DroppedJudge(Typed):
    judge: str
    flagged: bool
    excluded: bool
    reasons: list[str]


@dataclass
class Exclusions(Typed):
    rule: str
    judges_flagged_or_excluded: list[DroppedJudge]


@dataclass
class BootstrapInfo(Typed):
    n_resamples: int
    seed: int
    confidence: float
    clusters: str


@dataclass
class RunUsed(Typed):
    """A finished metric run the report uses, with its provenance."""

    id: int
    metric: str
    set_id: int
    reference_set: str
    finished_at: str | None
    provenance: dict[str, Any]


@dataclass
class Meta(Typed):
    report_version: int
    campaign: CampaignRef
    generated_at: str
    include_flagged: bool
    counts: Counts
    exclusions: Exclusions
    bootstrap: BootstrapInfo
    metric_runs: list[RunUsed]
    software: dict[str, str]
    query_seconds: float = 0.0
    build_seconds: float = 0.0
    plot_seconds: float | None = None
    cache_key: str = ""


@dataclass
class Report(Typed):
    """The whole report of a campaign; ``plots`` (name -> inline SVG) is drawn from the rest."""

    models: list[ModelEntry]
    criteria: list[CriterionEntry]
    scores: list[ScoreSection]
    pairwise: list[PairwiseSection]
    significance: list[PairedTests]
    agreement: AgreementSection
    metrics: MetricsSection
    correlations: CorrelationsSection
    galleries: Galleries
    items: list[ItemRow]
    meta: Meta
    warnings: list[str] = field(default_factory=list)
    plots: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """The models' labels, in model-index order."""
        return [m.label for m in self.models]

    def to_json_dict(self) -> dict[str, Any]:
        """What the JSON export holds: everything but the SVG plots (drawn from the rest)."""
        body = self.to_dict()
        body.pop("plots", None)
        return body
