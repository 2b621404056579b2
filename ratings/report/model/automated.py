"""The automated side of the report and where it meets people: metrics, correlations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ratings.report.model.typed import Num, Typed

# --- metrics -------------------------------------------------------------------------------


@dataclass
class MetricCell(Typed):
    """One metric on one model: the run the report uses and its result."""

    run: int
    value: Num
    std: Num
    low: Num
    high: Num
    reference_set: str
    reference_matches: bool  # against the campaign's reference set (or needs none)
    n_images: int | None
    finished_at: str | None
    params: dict[str, Any]
    provenance: dict[str, Any]


@dataclass
class MetricRow(Typed):
    """One metric across the models (name, unit and direction from the engine's metadata)."""

    metric: str
    label: str
    lower_is_better: bool
    direction: str
    unit: str
    per_image: bool
    models: list[MetricCell | None]  # index = model index; None: no finished run


@dataclass
class RunRef(Typed):
    """A metric run the report names: one still active or one whose newest attempt failed."""

    id: int
    metric: str
    set_id: int
    error: str = ""


@dataclass
class MissingMetric(Typed):
    """A metric that applies to a model but has no finished run."""

    model: int
    label: str
    metric: str
    metric_label: str
    running: bool
    failed: RunRef | None
    needs: str


@dataclass
class MetricsSection(Typed):
    reference_set_id: int | None
    rows: list[MetricRow]
    missing: list[MissingMetric]
    active_runs: list[RunRef]


# --- where people and metrics meet ---------------------------------------------------------


@dataclass
class Coef(Typed):
    """A correlation coefficient with its interval and p-value (and how p was obtained)."""

    value: Num
    low: Num
    high: Num
    p_value: Num
    p_method: str = ""


@dataclass
class Point(Typed):
    model: int
    label: str
    human: Num
    metric: Num


@dataclass
class CorrelationRow(Typed):
    """One criterion's human measure against one metric, at system or item level."""

    criterion: str
    protocol: str
    criterion_name: str
    human_measure: str
    metric: str
    metric_label: str
    level: str  # "system" (one point per model) | "item" (one point per image)
    n: int
    spearman: Coef
    kendall: Coef
    pearson: Coef
    metric_negated: bool
    sign_note: str
    interval_method: str
    warning: str
    confidence: float
    n_resamples: int
    points: list[Point] = field(default_factory=list)  # system level: one per model


@dataclass
class PairAgreementRow(Typed):
    """A comparison criterion against a per-image metric: does it prefer the judges' image?"""

    criterion: str
    protocol: str
    criterion_name: str
    metric: str
    metric_label: str
    metric_negated: bool
    accuracy: Num
    low: Num
    high: Num
    n_votes: int
    n_agree: int
    n_metric_ties: int
    n_missing: int
    ceiling: Num
    ceiling_low: Num
    ceiling_high: Num
    n_ceiling: int
    confidence: float
    n_resamples: int


@dataclass
class SummaryStat(Typed):
    value: Num
    low: Num
    high: Num
    n: int


@dataclass
class SummaryPair(Typed):
    accuracy: Num
    low: Num
    high: Num
    ceiling: Num
    n_votes: int


@dataclass
class SummaryRow(Typed):
    """Per criterion and metric: system-level Spearman beside the item-level measure."""

    criterion: str
    protocol: str
    criterion_name: str
    metric: str
    metric_label: str
    metric_negated: bool
    system: SummaryStat | None = None
    item: SummaryStat | None = None
    pairwise: SummaryPair | None = None


@dataclass
class CorrelationsSection(Typed):
    system: list[CorrelationRow]
    item: list[CorrelationRow]
    pairwise: list[PairAgreementRow]
    summary: list[SummaryRow]
    notes: list[str]
