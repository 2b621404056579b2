"""Tables described once, by their columns, and rendered from that one description.

A :class:`Table` is a tuple of :class:`Column` s: a heading, the raw value (what the CSV and
JSON carry) and how the page shows it. The page, the HTML export and the CSV bundle render the
same rows through the same columns, so adding a column is one line here, never a header list
to keep in step with positional rows elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ratings.report.present_format import bounded, fmt, interval, pvalue


@dataclass(frozen=True)
class Column:
    """One column: CSV name, page heading, raw value of a row, and its page text."""

    name: str
    head: str
    value: Callable[[dict[str, Any]], Any]
    text: Callable[[dict[str, Any]], str] | None = None  # default: fmt(value)
    page: bool = True  # shown on the page (every column goes to the CSV)
    csv: bool = True

    def show(self, row: dict[str, Any]) -> str:
        return self.text(row) if self.text else fmt(self.value(row))


@dataclass(frozen=True)
class Table:
    """An ordered set of columns."""

    columns: tuple[Column, ...]

    def heads(self) -> list[str]:
        return [c.head for c in self.columns if c.page]

    def page_rows(self, rows: Iterable[dict[str, Any]]) -> list[list[str]]:
        return [[c.show(r) for c in self.columns if c.page] for r in rows]

    def csv_header(self) -> list[str]:
        return [c.name for c in self.columns if c.csv]

    def csv_rows(self, rows: Iterable[dict[str, Any]]) -> list[list[Any]]:
        return [[c.value(r) for c in self.columns if c.csv] for r in rows]


def key(name: str) -> Callable[[dict[str, Any]], Any]:
    """The value of ``row[name]`` (dotted names reach into nested dicts)."""
    parts = name.split(".")

    def get(row: dict[str, Any]) -> Any:
        value: Any = row
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    return get


def _coef_columns(name: str, title: str, *, with_interval: bool = True) -> tuple[Column, ...]:
    cols = [Column(name, title, key(f"{name}.value"))]
    cols.append(
        Column(f"{name}_low", "interval", key(f"{name}.low"), page=with_interval,
               text=lambda r: interval(r[name]["low"], r[name]["high"]))
    )  # fmt: skip
    cols.append(Column(f"{name}_high", "", key(f"{name}.high"), page=False))
    cols.append(
        Column(f"{name}_p", f"p ({title})", key(f"{name}.p_value"), page=name == "spearman",
               text=lambda r: p_with_method(r[name]))
    )  # fmt: skip
    cols.append(Column(f"{name}_p_method", "", key(f"{name}.p_method"), page=False))
    return tuple(cols)


def p_with_method(coef: dict[str, Any]) -> str:
    """A p-value that says which p it is: exact enumeration or an asymptotic formula."""
    method = coef.get("p_method") or ""
    tag = "exact" if method.startswith("exact") else "asymptotic" if method else ""
    return pvalue(coef.get("p_value")) + (
        f" ({tag})" if tag and coef.get("p_value") is not None else ""
    )


def _metric_text(r: dict[str, Any]) -> str:
    return r["metric_label"] + (" (negated)" if r["metric_negated"] else "")


CORRELATIONS = Table(
    (
        Column("level", "level", key("level"), page=False),
        Column("criterion", "criterion", key("criterion"), text=key("criterion_name")),
        Column("protocol", "protocol", key("protocol"), page=False),
        Column("human_measure", "human measure", key("human_measure"), text=key("human_measure")),
        Column("metric", "metric", key("metric"), text=_metric_text),
        Column("metric_negated", "", lambda r: int(r["metric_negated"]), page=False),
        Column("n", "points", key("n")),
        *_coef_columns("spearman", "Spearman"),
        *_coef_columns("kendall", "Kendall"),
        *_coef_columns("pearson", "Pearson"),
        Column("interval_method", "", key("interval_method"), page=False),
        Column("warning", "warning", key("warning"), text=lambda r: r["warning"] or ""),
        Column("sign_note", "", key("sign_note"), page=False),
    )
)


def _share(value: str, low: str, high: str) -> Callable[[dict[str, Any]], str]:
    def text(r: dict[str, Any]) -> str:
        if r.get(value) is None:
            return "–"
        return f"{fmt(r[value])} {interval(r.get(low), r.get(high))}"

    return text


PAIRWISE_AGREEMENT = Table(
    (
        Column("criterion", "criterion", key("criterion"), text=key("criterion_name")),
        Column("protocol", "protocol", key("protocol"), page=False),
        Column("metric", "metric", key("metric"), text=_metric_text),
        Column("metric_negated", "", lambda r: int(r["metric_negated"]), page=False),
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


def _item_level_text(r: dict[str, Any]) -> str:
    if r.get("pairwise"):
        p = r["pairwise"]
        return (f"accuracy {fmt(p['accuracy'])} {interval(p['low'], p['high'])}, "
                f"judges' ceiling {fmt(p['ceiling'])}")  # fmt: skip
    if r.get("item"):
        return f"Spearman {fmt(r['item']['value'])} {interval(r['item']['low'], r['item']['high'])}"
    return "–"


SUMMARY = Table(
    (
        Column("criterion", "criterion", key("criterion"), text=key("criterion_name")),
        Column("protocol", "asked as", key("protocol")),
        Column("metric", "metric", key("metric"), text=_metric_text),
        Column("system_spearman", "system level (Spearman over models)", key("system.value"),
               text=lambda r: (f"{fmt(r['system']['value'])} "
                               f"{interval(r['system']['low'], r['system']['high'])}"
                               if r.get("system") else "–")),
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
        Column("low", "interval", key("low"), text=lambda r: interval(r["low"], r["high"])),
        Column("high", "", key("high"), page=False),
        Column("n_ratings", "ratings", key("n_ratings")),
        Column("n_judges", "judges", key("n_judges")),
        Column("n_prompts", "prompts", key("n_prompts")),
        Column("n_cant_tell", "can't tell", key("n_cant_tell")),
    )
)


def _bt_interval(low: str, high: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: bounded(r.get(low), r.get(high), r.get("bound", ""))


BRADLEY_TERRY = Table(
    (
        Column("model", "model", key("label")),
        Column("score", "Bradley-Terry", key("score")),
        Column("low", "interval", key("low"), text=_bt_interval("low", "high")),
        Column("high", "", key("high"), page=False),
        Column("bound", "", key("bound"), page=False),
        Column("elo", "Elo-like", key("elo"), text=lambda r: fmt(r.get("elo"), 0)),
        Column("win_rate", "win rate", key("win_rate")),
        Column("win_rate_low", "interval", key("win_rate_low"),
               text=_bt_interval("win_rate_low", "win_rate_high")),
        Column("win_rate_high", "", key("win_rate_high"), page=False),
        Column("n_votes", "votes", key("n_votes")),
    )
)  # fmt: skip

ALPHA = Table(
    (
        Column("criterion", "criterion", key("criterion"), text=key("name")),
        Column("level", "level", key("level")),
        Column("alpha", "alpha", key("alpha"), text=lambda r: fmt(r["alpha"], 3)),
        Column("low", "interval", key("low"), text=lambda r: interval(r["low"], r["high"], 3)),
        Column("high", "", key("high"), page=False),
        Column("alpha_interval", "interval alpha", key("alpha_interval"),
               text=lambda r: fmt(r.get("alpha_interval"), 3)),
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
        Column("median_ms", "median ms", key("median_ms"), text=lambda r: fmt(r["median_ms"], 0)),
        Column("spearman_vs_others", "agreement", key("spearman_vs_others")),
        Column("mean_abs_diff", "", key("mean_abs_diff"), page=False),
        Column("bias", "bias", key("bias")),
        Column("flagged", "flagged", key("flagged"),
               text=lambda r: ", ".join(r["flag_reasons"]) if r["flagged"] else ""),
        Column("excluded", "excluded", key("excluded"),
               text=lambda r: "yes" if r["excluded"] else ""),
        Column("included", "included", key("included"),
               text=lambda r: "yes" if r["included"] else "no"),
        Column("flag_reasons", "", lambda r: "; ".join(r["flag_reasons"]), page=False),
    )
)  # fmt: skip
