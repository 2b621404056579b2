"""Tables described once, by their columns, and rendered from that one description.

A :class:`Table` is a tuple of :class:`Column` s: a heading, the raw value (what the CSV and
JSON carry) and how the page shows it. The page, the HTML export and the CSV bundle render the
same rows (the typed rows of :mod:`ratings.report.model`) through the same columns, so adding a
column is one line here, never a header list to keep in step with positional rows elsewhere.
Every CSV file of the bundle is a table of this module.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ratings.report.model import Coef, ItemRow, MetricCell, MetricRow, Report
from ratings.report.present_format import bounded, fmt, interval, pvalue


@dataclass(frozen=True)
class Column:
    """One column: CSV name, page heading, raw value of a row, and its page text."""

    name: str
    head: str
    value: Callable[[Any], Any]
    text: Callable[[Any], str] | None = None  # default: fmt(value)
    page: bool = True  # shown on the page (every column goes to the CSV)
    csv: bool = True

    def show(self, row: Any) -> str:
        return self.text(row) if self.text else fmt(self.value(row))


@dataclass(frozen=True)
class Table:
    """An ordered set of columns."""

    columns: tuple[Column, ...]

    def heads(self) -> list[str]:
        return [c.head for c in self.columns if c.page]

    def page_rows(self, rows: Iterable[Any]) -> list[list[str]]:
        return [[c.show(r) for c in self.columns if c.page] for r in rows]

    def csv_header(self) -> list[str]:
        return [c.name for c in self.columns if c.csv]

    def csv_rows(self, rows: Iterable[Any]) -> list[list[Any]]:
        cols = [c for c in self.columns if c.csv]
        return [[c.value(r) for c in cols] for r in rows]


def key(name: str) -> Callable[[Any], Any]:
    """The value of ``row.name``; dotted names reach into nested sections.

    Typed rows are read by attribute (a misspelt field raises), plain dicts (``params``,
    ``provenance``, rows built as dicts) by ``.get``; a missing section (None) gives None.
    """
    parts = name.split(".")

    def get(row: Any) -> Any:
        value: Any = row
        for part in parts:
            if value is None:
                return None
            value = value.get(part) if isinstance(value, dict) else getattr(value, part)
        return value

    return get


def fields_table(cls: type) -> Table:
    """One column per field of a dataclass, named after it: a field added is a column added."""
    return Table(tuple(Column(f.name, f.name, key(f.name)) for f in dataclasses.fields(cls)))


# --- the page's tables (and their CSV files) ------------------------------------------------


def _coef_columns(name: str, title: str, *, with_interval: bool = True) -> tuple[Column, ...]:
    def coef(r: Any) -> Coef:
        return getattr(r, name)

    return (
        Column(name, title, key(f"{name}.value")),
        Column(f"{name}_low", "interval", key(f"{name}.low"), page=with_interval,
               text=lambda r: interval(coef(r).low, coef(r).high)),
        Column(f"{name}_high", "", key(f"{name}.high"), page=False),
        Column(f"{name}_p", f"p ({title})", key(f"{name}.p_value"), page=name == "spearman",
               text=lambda r: p_with_method(coef(r))),
        Column(f"{name}_p_method", "", key(f"{name}.p_method"), page=False),
    )  # fmt: skip


def p_with_method(coef: Coef) -> str:
    """A p-value that says which p it is: exact enumeration or an asymptotic formula."""
    method = coef.p_method or ""
    tag = "exact" if method.startswith("exact") else "asymptotic" if method else ""
    return pvalue(coef.p_value) + (f" ({tag})" if tag and coef.p_value is not None else "")


def _metric_text(r: Any) -> str:
    return r.metric_label + (" (negated)" if r.metric_negated else "")


CORRELATIONS = Table(
    (
        Column("level", "level", key("level"), page=False),
        Column("criterion", "criterion", key("criterion"), text=key("criterion_name")),
        Column("protocol", "protocol", key("protocol"), page=False),
        Column("human_measure", "human measure", key("human_measure"), text=key("human_measure")),
        Column("metric", "metric", key("metric"), text=_metric_text),
        Column("metric_negated", "", lambda r: int(r.metric_negated), page=False),
        Column("n", "points", key("n")),
        *_coef_columns("spearman", "Spearman"),
        *_coef_columns("kendall", "Kendall"),
        *_coef_columns("pearson", "Pearson"),
        Column("interval_method", "", key("interval_method"), page=False),
        Column("warning", "warning", key("warning"), text=lambda r: r.warning or ""),
        Column("sign_note", "", key("sign_note"), page=False),
    )
)


def _share(value: str, low: str, high: str) -> Callable[[Any], str]:
    def text(r: Any) -> str:
        if getattr(r, value) is None:
            return "–"
        return f"{fmt(getattr(r, value))} {interval(getattr(r, low), getattr(r, high))}"

    return text


PAIRWISE_AGREEMENT = Table(
    (
        Column("criterion", "criterion", key("criterion"), text=key("criterion_name")),
        Column("protocol", "protocol", key("protocol"), page=False),
        Column("metric", "metric", key("metric"), text=_metric_text),
        Column("metric_negated", "", lambda r: int(r.metric_negated), page=False),
        Column("n_votes", "decisive votes", key("n_votes")),
        Column("accuracy", "metric agrees", key("accuracy"),
               text=_share("accuracy", "low", "high")),
        Column("accuracy_low", "", key("low"), page=False),
        Column("accuracy_high", "", key("high"), page=False),
        Column("n_metric_ties", "metric ties", key("n_metric_ties")),
        Column("n_missing", "no metric value", key("n_missing")),
        Column("ceiling", "judge vs other judges", key("ceiling"),
               text=_share("ceiling", "ceiling_low", "ceiling_high")),
        Column("ceiling_low", "", key("ceiling_low"), page=False),
        Column("ceiling_high", "", key("ceiling_high"), page=False),
        Column("n_ceiling", "votes with a majority", key("n_ceiling")),
    )
)  # fmt: skip


def _item_level_text(r: Any) -> str:
    if r.pairwise:
        p = r.pairwise
        return (f"accuracy {fmt(p.accuracy)} {interval(p.low, p.high)}, "
                f"judges' ceiling {fmt(p.ceiling)}")  # fmt: skip
    if r.item:
        return f"Spearman {fmt(r.item.value)} {interval(r.item.low, r.item.high)}"
    return "–"


def _system_text(r: Any) -> str:
    return f"{fmt(r.system.value)} {interval(r.system.low, r.system.high)}" if r.system else "–"


SUMMARY = Table(
    (
        Column("criterion", "criterion", key("criterion"), text=key("criterion_name")),
        Column("protocol", "asked as", key("protocol")),
        Column("metric", "metric", key("metric"), text=_metric_text),
        Column("system_spearman", "system level (Spearman over models)", key("system.value"),
               text=_system_text),
        Column("system_low", "", key("system.low"), page=False),
        Column("system_high", "", key("system.high"), page=False),
        Column("item_spearman", "", key("item.value"), page=False),
        Column("pairwise_accuracy", "", key("pairwise.accuracy"), page=False),
        Column("pairwise_ceiling", "", key("pairwise.ceiling"), page=False),
        Column("item_level", "item level", lambda r: None, text=_item_level_text, csv=False),
    )
)  # fmt: skip


SCORES = Table(
    (
        Column("model", "model", key("label")),
        Column("mean", "mean", key("mean")),
        Column("low", "interval", key("low"), text=lambda r: interval(r.low, r.high)),
        Column("high", "", key("high"), page=False),
        Column("n_ratings", "ratings", key("n_ratings")),
        Column("n_judges", "judges", key("n_judges")),
        Column("n_prompts", "prompts", key("n_prompts")),
        Column("n_cant_tell", "can't tell", key("n_cant_tell")),
    )
)


def _bt_interval(low: str, high: str) -> Callable[[Any], str]:
    return lambda r: bounded(getattr(r, low), getattr(r, high), r.bound)


BRADLEY_TERRY = Table(
    (
        Column("model", "model", key("label")),
        Column("score", "Bradley-Terry", key("score")),
        Column("low", "interval", key("low"), text=_bt_interval("low", "high")),
        Column("high", "", key("high"), page=False),
        Column("bound", "", key("bound"), page=False),
        Column("elo", "Elo-like", key("elo"), text=lambda r: fmt(r.elo, 0)),
        Column("win_rate", "win rate", key("win_rate")),
        Column("win_rate_low", "interval", key("win_rate_low"),
               text=_bt_interval("win_rate_low", "win_rate_high")),
        Column("win_rate_high", "", key("win_rate_high"), page=False),
        Column("n_votes", "votes", key("n_votes")),
    )
)  # fmt: skip

# A campaign may ask one key as a rating and as a comparison: (protocol, key) is the criterion.
ALPHA = Table(
    (
        Column("criterion", "criterion", key("criterion"), text=key("name")),
        Column("protocol", "asked as", key("protocol")),
        Column("level", "level", key("level")),
        Column("alpha", "alpha", key("alpha"), text=lambda r: fmt(r.alpha, 3)),
        Column("low", "interval", key("low"), text=lambda r: interval(r.low, r.high, 3)),
        Column("high", "", key("high"), page=False),
        Column("alpha_interval", "interval alpha", key("alpha_interval"),
               text=lambda r: fmt(r.alpha_interval, 3)),
        Column("band", "band", key("band")),
        Column("n_units", "units", key("n_units")),
        Column("n_values", "values", key("n_values")),
        Column("n_resamples", "", key("n_resamples"), page=False),
        Column("seed", "", key("seed"), page=False),
    )
)  # fmt: skip

JUDGES = Table(
    (
        Column("judge", "judge", key("judge")),
        Column("n_ratings", "ratings", key("n_ratings")),
        Column("n_used", "", key("n_used"), page=False),
        Column("n_cant_tell", "can't tell", key("n_cant_tell")),
        Column("gold_answered", "", key("gold_answered"), page=False),
        Column("gold_accuracy", "gold accuracy", key("gold_accuracy")),
        Column("median_ms", "median ms", key("median_ms"), text=lambda r: fmt(r.median_ms, 0)),
        Column("spearman_vs_others", "agreement", key("spearman_vs_others")),
        Column("mean_abs_diff", "", key("mean_abs_diff"), page=False),
        Column("bias", "bias", key("bias")),
        Column("flagged", "flagged", key("flagged"),
               text=lambda r: ", ".join(r.flag_reasons) if r.flagged else ""),
        Column("excluded", "excluded", key("excluded"), text=lambda r: "yes" if r.excluded else ""),
        Column("included", "included", key("included"),
               text=lambda r: "yes" if r.included else "no"),
        Column("flag_reasons", "", lambda r: "; ".join(r.flag_reasons), page=False),
    )
)  # fmt: skip


# --- tables of the CSV bundle only ----------------------------------------------------------

ITEMS = fields_table(ItemRow)  # items.csv: report.items, one column per ItemRow field


@dataclass(frozen=True, slots=True)
class RatingRow:
    """One raw rating (a row of ratings.csv), every judge; ``included``: used by the report."""

    rating_id: int
    judge: str
    item_id: int
    kind: str
    criterion: str
    protocol: str
    model: str
    model_b: str
    image_id: int | None
    image_b_id: int | None
    prompt: str
    value: int | None
    choice: str  # "first" (image_id preferred) | "second" | "tie" | "both_bad" | ""
    cant_tell: int
    time_ms: int | None
    judge_flagged: int
    judge_excluded: int
    included: int


RATINGS = fields_table(RatingRow)


@dataclass(frozen=True, slots=True)
class PairTest:
    """One test of one pair of models on one criterion (a row of significance.csv)."""

    criterion: str
    protocol: str
    model_i: str
    model_j: str
    test: str  # "wilcoxon" | "paired_bootstrap" (rate, grid) | "sign_test" (compare)
    effect: float | None  # mean difference i - j; sign test: i's share of decisive votes
    effect_low: float | None
    effect_high: float | None
    n: int  # shared prompts; sign test: decisive votes
    p: float | None
    p_holm: float | None


SIGNIFICANCE = fields_table(PairTest)


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One metric on one model with a finished run (a row of metrics.csv)."""

    row: MetricRow
    model: str
    cell: MetricCell


METRICS = Table(
    (
        Column("metric", "metric", key("row.metric")),
        Column("label", "label", key("row.label")),
        Column("unit", "unit", key("row.unit")),
        Column("direction", "direction", key("row.direction")),
        Column("lower_is_better", "lower is better", lambda r: int(r.row.lower_is_better)),
        Column("model", "model", key("model")),
        *(Column(n, n, key(f"cell.{n}")) for n in ("run", "value", "std", "low", "high",
                                                   "n_images", "reference_set", "finished_at")),
        Column("params", "params", lambda r: json.dumps(r.cell.params, sort_keys=True)),
        Column("provenance", "provenance",
               lambda r: json.dumps(r.cell.provenance, sort_keys=True, default=str)),
    )
)  # fmt: skip


def _of_model(rows: list[Any], name: str) -> Callable[[int], Any]:
    """A column reading field ``name`` of model k's entry (one per model, in model order)."""
    return lambda k: getattr(rows[k], name) if rows[k] is not None else None


def models_table(report: Report) -> Table:
    """models.csv: one row per model index (``range(len(report.models))``), wide.

    Per rate or grid criterion ``<key>_mean`` etc. (``<key>_<protocol>_mean`` where a key is
    asked both as a rating and on a grid), per comparison ``<key>_bt_score`` etc., per metric
    ``<metric>_value`` etc. (``metric_<metric>_value`` should it clash with a criterion's).
    """
    m = report.models
    cols = [
        Column("model", "model", lambda k: m[k].label),
        Column("set", "set", lambda k: m[k].set_name),
        Column("model_name", "model name", lambda k: m[k].model_name),
        Column("model_version", "model version", lambda k: m[k].model_version),
    ]
    asked = Counter(s.criterion for s in report.scores)
    for s in report.scores:
        prefix = s.criterion if asked[s.criterion] == 1 else f"{s.criterion}_{s.protocol}"
        for name in ("mean", "low", "high", "n_ratings", "n_judges"):
            cols.append(Column(f"{prefix}_{name}", f"{prefix}_{name}", _of_model(s.models, name)))
    for p in report.pairwise:
        for name in ("score", "low", "high", "elo", "win_rate", "n_votes"):
            head = f"{p.criterion}_bt_{name}"
            cols.append(Column(head, head, _of_model(p.models, name)))
    taken = {c.name for c in cols}
    for row in report.metrics.rows:
        names = ("value", "low", "high", "run")
        prefix = row.metric
        if any(f"{prefix}_{n}" in taken for n in names):
            prefix = f"metric_{row.metric}"
        for name in names:
            cols.append(Column(f"{prefix}_{name}", f"{prefix}_{name}", _of_model(row.models, name)))
    return Table(tuple(cols))
