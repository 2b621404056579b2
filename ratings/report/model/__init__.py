"""The report as one typed model: every section a dataclass, every field named and typed.

:func:`ratings.report.report_build` returns a :class:`Report`. The page, the JSON, the CSV
bundle and the HTML export are all rendered from it (``Report.to_dict()`` is the JSON; the
tables of :mod:`ratings.report.tables` read the rows' attributes), so a field added here
reaches every output through one path and a field misspelt anywhere fails loudly.

Values are plain Python (``int``, ``float``, ``str``, lists, dicts of JSON values): numpy
scalars and arrays become Python numbers and lists, and a missing or undefined number (NaN) is
``None``, on construction. ``Report.from_dict(report.to_dict()) == report``: the JSON export
loads back into the same model.

Sections by module: ``human`` (models, criteria, scores, comparisons, paired tests, agreement),
``automated`` (metrics, correlations, item-level agreement), ``report`` (galleries, item rows,
provenance and :class:`Report` itself); ``typed`` holds the base class.
"""

from ratings.report.model.automated import (
    Coef,
    CorrelationRow,
    CorrelationsSection,
    MetricCell,
    MetricRow,
    MetricsSection,
    MissingMetric,
    PairAgreementRow,
    Point,
    RunRef,
    SummaryPair,
    SummaryRow,
    SummaryStat,
)
from ratings.report.model.human import (
    AgreementSection,
    AlphaRow,
    BTRow,
    CompareGroup,
    CriterionEntry,
    JudgeRow,
    ModelEntry,
    PairedTests,
    PairwiseSection,
    ScoreRow,
    ScoreSection,
    SignTests,
)
from ratings.report.model.report import (
    BootstrapInfo,
    CampaignRef,
    ClosestGallery,
    Counts,
    DisagreementGallery,
    DroppedJudge,
    Exclusions,
    Galleries,
    GapTile,
    ItemRow,
    Meta,
    NearTile,
    RatedGallery,
    RatedTile,
    Report,
    RunUsed,
)
from ratings.report.model.typed import Matrix, Num, Typed

__all__ = [
    "Matrix",
    "Num",
    "Typed",
    "ModelEntry",
    "CriterionEntry",
    "ScoreRow",
    "ScoreSection",
    "BTRow",
    "CompareGroup",
    "SignTests",
    "PairwiseSection",
    "PairedTests",
    "AlphaRow",
    "JudgeRow",
    "AgreementSection",
    "MetricCell",
    "MetricRow",
    "RunRef",
    "MissingMetric",
    "MetricsSection",
    "Coef",
    "Point",
    "CorrelationRow",
    "PairAgreementRow",
    "SummaryStat",
    "SummaryPair",
    "SummaryRow",
    "CorrelationsSection",
    "RatedTile",
    "GapTile",
    "NearTile",
    "RatedGallery",
    "DisagreementGallery",
    "ClosestGallery",
    "Galleries",
    "ItemRow",
    "CampaignRef",
    "Counts",
    "DroppedJudge",
    "Exclusions",
    "BootstrapInfo",
    "RunUsed",
    "Meta",
    "Report",
]


def _schema_digest() -> str:
    """A digest of every section's field names and types: changes whenever the shape does."""
    import dataclasses
    import hashlib

    parts = []
    for name in sorted(__all__):
        cls = globals()[name]
        if isinstance(cls, type) and dataclasses.is_dataclass(cls):
            parts.append(
                name + ":" + ",".join(f"{f.name}={f.type}" for f in dataclasses.fields(cls))
            )
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:16]


# Part of the report's cache key: a cached report of an older shape is never read back.
SCHEMA_DIGEST = _schema_digest()
