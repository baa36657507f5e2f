"""Reports over a token log: totals, per model/provider/day/month, recent calls, exports.

Built on ``reader`` only (read-only, never the writer). Every report is plain data (dicts and
lists of JSON types) so ``--json`` is the same numbers the tables show, and the HTML and CSV
exports are renderings of these same structures.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from asynctokens import reader
from asynctokens._format import EVENT_FIELDS, resolve_log_dir
from asynctokens._stats import (
    CACHE_WRITE,
    CACHED,
    COMPLETION,
    PROMPT,
    Aggregate,
    row,
)
from asynctokens.pricing import PriceTable, default_table

DIMENSIONS = ("model", "api", "day", "month")


@dataclass
class Query:
    """What to read: the directory, a time range, filters, the day boundary's zone, prices."""

    log_dir: str | os.PathLike[str] | None = None
    since: reader.DateLike = None
    until: reader.DateLike = None
    models: list[str] | None = None
    apis: list[str] | None = None
    timezone: str | None = None
    prices: PriceTable = field(default_factory=default_table)

    @property
    def tz(self) -> _dt.tzinfo:
        return reader.get_timezone(self.timezone)

    def matches(self, event: dict[str, Any]) -> bool:
        return (not self.models or event["model"] in self.models) and (
            not self.apis or event["api_type"] in self.apis
        )


def load(query: Query, report: reader.ReadReport | None = None) -> Aggregate:
    """The cells the query selects (days in the query's zone)."""
    agg = reader.aggregate(query.log_dir, query.since, query.until, tz=query.tz, report=report)
    if query.models or query.apis:
        agg = agg.filtered(models=query.models, apis=query.apis)
    return agg


def _row(counts: list[int], cost: float | None) -> dict[str, Any]:
    """The counters under the names token_stats.json uses, plus the cost."""
    return {**row(counts), "cost_usd": None if cost is None else round(cost, 6)}


def _key(dimension: str, day: str, api: str, model: str) -> str:
    if dimension == "model":
        return model
    if dimension == "api":
        return api
    if dimension == "month":
        return day[:7]
    return day


def _group(
    agg: Aggregate, prices: PriceTable, dimension: str | None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Rows keyed by the dimension (one row "total" when None) and the unpriced models."""
    sums: dict[str, list[int]] = {}
    costs: dict[str, float | None] = {}
    unpriced: set[str] = set()
    for (day, api, model), counts in agg.cells.items():
        key = "total" if dimension is None else _key(dimension, day, api, model)
        acc = sums.setdefault(key, [0] * len(counts))
        for i, v in enumerate(counts):
            acc[i] += v
        price = prices.get(model)
        if price is None:
            if counts[PROMPT] or counts[COMPLETION]:
                unpriced.add(model)
                costs[key] = None
            else:
                costs.setdefault(key, 0.0)
            continue
        cell_cost = price.cost(
            counts[PROMPT], counts[COMPLETION], counts[CACHED], counts[CACHE_WRITE]
        )
        previous = costs.get(key, 0.0)
        costs[key] = None if previous is None else previous + cell_cost
    rows = {key: _row(sums[key], costs.get(key)) for key in sorted(sums)}
    return rows, sorted(unpriced)


def _priced_part(agg: Aggregate, prices: PriceTable) -> float:
    """Cost of the priced models alone, shown beside "n/a" so known spend is not hidden."""
    total = 0.0
    for (_, _, model), c in agg.cells.items():
        price = prices.get(model)
        if price is not None:
            total += price.cost(c[PROMPT], c[COMPLETION], c[CACHED], c[CACHE_WRITE])
    return round(total, 6)


def summary(query: Query) -> dict[str, Any]:
    """Totals over the query: tokens, requests, success rate, cost, bad lines skipped."""
    report = reader.ReadReport()
    return _summary_of(load(query, report), query, report)


def breakdown(query: Query, dimension: str) -> dict[str, Any]:
    """One row per model, api (provider), day or month, with totals."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown breakdown {dimension!r}: use one of {', '.join(DIMENSIONS)}")
    report = reader.ReadReport()
    return _breakdown_of(load(query, report), query, report, dimension)


def full_report(query: Query) -> dict[str, Any]:
    """Everything the HTML and JSON exports hold, from one read of the directory."""
    report = reader.ReadReport()
    agg = load(query, report)
    return {
        "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "log_dir": str(resolve_log_dir(query.log_dir)),
        "summary": _summary_of(agg, query, report),
        "by_model": _breakdown_of(agg, query, report, "model")["rows"],
        "by_api": _breakdown_of(agg, query, report, "api")["rows"],
        "daily": _breakdown_of(agg, query, report, "day")["rows"],
    }


def _summary_of(agg: Aggregate, query: Query, report: reader.ReadReport) -> dict[str, Any]:
    rows, unpriced = _group(agg, query.prices, None)
    return {
        "totals": rows.get("total") or _row([0] * 7, 0.0),
        "priced_cost_usd": _priced_part(agg, query.prices),
        "unpriced_models": unpriced,
        "pricing": query.prices.source,
        "timezone": query.timezone or "UTC",
        "bad_lines": report.bad_lines,
        "bad_line_samples": report.samples,
    }


def _breakdown_of(
    agg: Aggregate, query: Query, report: reader.ReadReport, dimension: str
) -> dict[str, Any]:
    rows, _ = _group(agg, query.prices, dimension)
    return {
        "dimension": dimension,
        "rows": rows,
        **_summary_of(agg, query, report),
    }


def event_cost(event: dict[str, Any], prices: PriceTable) -> float | None:
    price = prices.get(event["model"])
    if price is None:
        return None
    return price.cost(
        event["prompt_tokens"],
        event["completion_tokens"],
        event["cached_tokens"],
        event["cache_write_tokens"],
    )


def recent(query: Query, n: int = 20) -> dict[str, Any]:
    """The last ``n`` calls, newest first, read from the end of the newest files."""
    if n < 1:
        raise ValueError(f"-n must be >= 1, got {n}")
    report = reader.ReadReport()
    events = []
    recent_events = reader.iter_recent(
        query.log_dir, query.since, query.until, tz=query.tz, report=report
    )
    for event in recent_events:
        if query.matches(event):
            events.append({**event, "cost_usd": event_cost(event, query.prices)})
            if len(events) == n:
                break
    return {"events": events, "bad_lines": report.bad_lines, "bad_line_samples": report.samples}


def iter_filtered(query: Query, report: reader.ReadReport) -> Iterator[dict[str, Any]]:
    for event in reader.iter_events(
        query.log_dir, query.since, query.until, tz=query.tz, report=report
    ):
        if query.matches(event):
            yield event


CSV_COLUMNS = (*EVENT_FIELDS, "cost_usd")


def write_csv(
    events: Iterable[dict[str, Any]], out: io.TextIOBase | Any, prices: PriceTable
) -> int:
    """One row per call in a stable column order; metadata as JSON text. Returns rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for event in events:
        cost = event_cost(event, prices)
        values = []
        for name in EVENT_FIELDS:
            value = event.get(name)
            if name == "metadata":
                value = orjson.dumps(value if value is not None else {}).decode()
            elif isinstance(value, bool):
                value = "true" if value else "false"
            values.append("" if value is None else value)
        values.append("" if cost is None else f"{cost:.8f}")
        writer.writerow(values)
        rows += 1
    return rows
