"""Cell formatting shared by every report table: numbers, intervals, one-sided bounds, p-values."""

from __future__ import annotations

from typing import Any


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table cell: fixed digits, an en dash for missing."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if abs(value) >= 1e4 or (value != 0 and abs(value) < 0.5 * 10 ** (-digits)):
            return f"{value:.{digits}e}"
        return f"{value:.{digits}f}"
    return str(value)


def interval(low: Any, high: Any, digits: int = 2) -> str:
    if low is None or high is None:
        return "–"
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


def bounded(low: Any, high: Any, bound: str, digits: int = 2) -> str:
    """An interval, or a one-sided bound ("≥ 0.74 (never lost)") where the data give only one."""
    if bound == "lower" and low is not None:
        return f"≥ {fmt(low, digits)} (never lost)"
    if bound == "upper" and high is not None:
        return f"≤ {fmt(high, digits)} (never won)"
    return interval(low, high, digits)


def pvalue(p: Any) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
