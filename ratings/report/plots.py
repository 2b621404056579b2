"""Report plots as SVG strings, drawn server-side with matplotlib (Agg, no pyplot state).

- model scores with their intervals, one panel per criterion;
- human-vs-metric scatter plots (one point per model), Spearman and Kendall in each title;
- the win-rate matrix of each pairwise criterion as a heatmap.

The SVG is cleaned for inline use in HTML: no XML declaration, DOCTYPE, RDF metadata or
namespace URLs, so the self-contained export holds no ``http(s)://`` string at all (HTML5
parses inline ``<svg>`` and ``xlink:href`` without them). Text stays text
(``svg.fonttype = none``): smaller files, and the page's font.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before any other matplotlib import: never a GUI backend on a server

from matplotlib import rcParams  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ratings.report.model import CorrelationRow, PairwiseSection, Report, ScoreSection  # noqa: E402

rcParams["svg.fonttype"] = "none"
rcParams["svg.hashsalt"] = "evalsite-report"  # stable element ids: same report, same SVG

MAX_SCATTER_PANELS = 12
MIN_SCATTER_POINTS = 3
_STRIP = [
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*", re.S),
    re.compile(r"<metadata>.*?</metadata>\s*", re.S),
    re.compile(r'\s+xmlns(:\w+)?="[^"]*"'),
]


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    for pattern in _STRIP:
        text = pattern.sub("", text)
    return text.replace("<svg ", '<svg role="img" ', 1)


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def scores_plot(section: ScoreSection | PairwiseSection, *, value: str = "mean") -> str:
    """Horizontal interval plot of each model's score (best on top)."""
    rows: list[Any] = [r for r in section.models if getattr(r, value) is not None]
    rows.sort(key=lambda r: _num(getattr(r, value)))
    fig = Figure(figsize=(6.0, 0.45 * max(len(rows), 2) + 1.0))
    ax = fig.add_subplot()
    y = list(range(len(rows)))
    centre = [_num(getattr(r, value)) for r in rows]
    low = [_num(r.low) for r in rows]
    high = [_num(r.high) for r in rows]
    err = [
        [c - lo if math.isfinite(lo) else 0.0 for c, lo in zip(centre, low, strict=True)],
        [hi - c if math.isfinite(hi) else 0.0 for c, hi in zip(centre, high, strict=True)],
    ]
    ax.errorbar(centre, y, xerr=err, fmt="o", color="#1f4e8c", ecolor="#6b8fc7", capsize=3)
    ax.set_yticks(y, [r.label for r in rows])
    what = "mean rating" if value == "mean" else "Bradley-Terry score (log scale)"
    conf = int(round(100 * section.confidence))
    ax.set_xlabel(f"{what}, {conf}% bootstrap interval")
    scale = getattr(section, "scale", None)  # rate and grid sections only
    if value == "mean" and scale:
        ax.set_xlim(scale[0] - 0.2, scale[1] + 0.2)
    ax.set_title(section.name)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:+.2f}"


def scatter_plot(criterion_name: str, rows: list[CorrelationRow]) -> str:
    """Human score against each metric, one panel per metric, correlations in the titles."""
    rows = rows[:MAX_SCATTER_PANELS]
    cols = min(3, max(len(rows), 1))
    lines = math.ceil(len(rows) / cols) if rows else 1
    fig = Figure(figsize=(3.4 * cols, 3.0 * lines))
    for k, row in enumerate(rows):
        ax = fig.add_subplot(lines, cols, k + 1)
        pts = [p for p in row.points if p.human is not None and p.metric is not None]
        xs = [p.metric for p in pts]
        ys = [p.human for p in pts]
        ax.scatter(xs, ys, color="#1f4e8c", s=22)
        for p in pts:
            ax.annotate(p.label, (p.metric, p.human), fontsize=6, alpha=0.8)
        arrow = " (lower is better)" if row.metric_negated else ""
        ax.set_xlabel(row.metric_label + arrow, fontsize=8)
        ax.set_ylabel(row.human_measure, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_title(
            f"{row.metric_label}: Spearman {_fmt(row.spearman.value)}, "
            f"Kendall {_fmt(row.kendall.value)} (n={row.n})",
            fontsize=8,
        )
    fig.suptitle(f"{criterion_name}: people vs metrics (one point per model)", fontsize=10)
    fig.tight_layout()
    return _svg(fig)


def heatmap_plot(section: PairwiseSection, labels: list[str]) -> str:
    """Win-rate matrix: row model's share of games won against the column model."""
    matrix = [[_num(v) for v in row] for row in section.win_rate]
    n = len(labels)
    fig = Figure(figsize=(1.0 + 0.75 * max(n, 2), 0.8 + 0.65 * max(n, 2)))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="RdBu")
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    for i in range(n):
        for j in range(n):
            v = matrix[i][j]
            if math.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title(f"{section.name}: win rate of row over column (ties count half)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _svg(fig)


def plot_key(kind: str, section: ScoreSection | PairwiseSection) -> str:
    """The name of a section's plot in ``report.plots`` ("scores", "bt" or "winrate")."""
    return f"{kind}-{section.protocol}-{section.criterion}"


def report_plots(report: Report) -> dict[str, str]:
    """Every plot of a report, name -> inline SVG."""
    plots: dict[str, str] = {}
    labels = report.labels
    # An axis without a point is a picture of nothing: a criterion nobody answered gets no plot.
    for section in report.scores:
        if any(r.mean is not None for r in section.models):
            plots[plot_key("scores", section)] = scores_plot(section)
    for pairs in report.pairwise:
        if pairs.groups:
            plots[plot_key("bt", pairs)] = scores_plot(pairs, value="score")
        if pairs.n_votes:
            plots[plot_key("winrate", pairs)] = heatmap_plot(pairs, labels)
    by_criterion: dict[str, list[CorrelationRow]] = {}
    names = {}
    for row in report.correlations.system:
        if row.n < MIN_SCATTER_POINTS:
            continue  # one or two points make a picture of nothing
        # A key asked as a rating and as a comparison is two measures: two plots.
        ident = f"{row.protocol}-{row.criterion}"
        by_criterion.setdefault(ident, []).append(row)
        names[ident] = f"{row.criterion_name} ({row.human_measure})"
    for ident, rows in by_criterion.items():
        plots[f"scatter-{ident}"] = scatter_plot(names[ident], rows)
    return plots
