"""The one shape every metric returns, with the provenance that makes it reproducible."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class MetricResult:
    """A metric's value with its spread, sample counts, per-item values and provenance.

    ``std`` is the spread the metric itself defines (KID subsets, IS splits);
    ``interval`` is a (low, high) confidence interval (bootstrap) where one was
    computed. ``per_item`` maps an item key (file name, pair name) to its value
    for per-image metrics. ``provenance`` holds everything needed to reproduce
    the number: weights sha256, resize mode, library versions, seed, parameters.
    """

    metric: str
    value: float
    n: int | dict[str, int]
    std: float | None = None
    interval: tuple[float, float] | None = None
    per_item: dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    # None: the direction declared in metrics.engine.metadata (the one source of truth).
    higher_is_better: bool | None = None

    def __post_init__(self) -> None:
        from metrics.engine.metadata import metric_info

        info = metric_info(self.metric)
        if self.higher_is_better is None:
            self.higher_is_better = info.higher_is_better
        elif info.known and self.higher_is_better != info.higher_is_better:
            raise ValueError(
                f"{self.metric} is declared {info.better}-is-better in metrics.engine.metadata; "
                "a result cannot say otherwise."
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (infinities as the strings "inf"/"-inf", NaN as None)."""
        return _json_safe(asdict(self))


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _json_safe(obj.item())
    return obj
