"""Reports over a token log: totals, per model/provider/day/month, recent calls, exports.

Built on ``reader`` only (read-only, never the writer). Every report is plain data (dicts and
lists of JSON types) so ``--json`` is the same numbers the tables show, and the HTML and CSV
exports are renderings of these same structures.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import add
from typing import Any

from asynctokens import reader
from asynctokens._dirs import LogDirs
from asynctokens._format import PROMPT_BANDS
from asynctokens._stats import (
    CACHE_WRITE,
    CACHED,
    COMPLETION,
    PROMPT,
    SUCCESSES,
    WIDTH,
    Aggregate,
    row,
)
from asynctokens.pricing import Parts, PriceBook, parts_cost

DIMENSIONS = ("model", "api", "day", "month", "host")


@dataclass
class Query:
    """What to read: the directory, a time range, filters, the day boundary's zone, prices."""

    log_dir: LogDirs = None
    since: reader.DateLike = None
    until: reader.DateLike = None
    models: list[str] | None = None
    apis: list[str] | None = None
    hosts: list[str] | None = None
    timezone: str | None = None
    prices: PriceBook = field(default_factory=PriceBook)

    @property
    def tz(self) -> _dt.tzinfo:
        return reader.get_timezone(self.timezone)

    def matches(self, event: dict[str, Any]) -> bool:
        return (
            (not self.models or event["model"] in self.models)
            and (not self.apis or event["api_type"] in self.apis)
            and (not self.hosts or event.get("host", "") in self.hosts)
        )


def load(query: Query, report: reader.ReadReport | None = None) -> Aggregate:
    """The cells the query selects (days in the query's zone), split finely enough to price.

    The stats file splits prompts at every long-context threshold known when it was written
    (``_format.PROMPT_BANDS``). A price with a threshold of its own (a ``--pricing`` file's,
    or newer data's) makes the range be scanned once more with that threshold added, so
    every request is still priced at its own tier.
    """
    first = reader.ReadReport()
    agg = _select(query, first, PROMPT_BANDS)
    needed: set[int] = set()
    for api, model in {(k[1], k[2]) for k in agg.cells}:
        needed |= query.prices.thresholds(api, model)
    if not needed <= set(agg.bands):
        first = reader.ReadReport()
        agg = _select(query, first, tuple(sorted(needed | set(agg.bands))))
    if report is not None:
        report.add(first)
    return agg


def _select(query: Query, report: reader.ReadReport, bands: tuple[int, ...]) -> Aggregate:
    agg = reader.aggregate(
        query.log_dir,
        query.since,
        query.until,
        tz=query.tz,
        report=report,
        bands=bands,
        by_date=query.prices.by_date,
    )
    if query.models or query.apis or query.hosts:
        agg = agg.filtered(models=query.models, apis=query.apis, hosts=query.hosts)
    return agg


def _row(counts: list[int], cost: float | None) -> dict[str, Any]:
    """The counters under the names token_stats.json uses, plus the cost."""
    return {**row(counts), "cost_usd": None if cost is None else round(cost, 6)}


def _key(dimension: str, day: str, api: str, model: str, host: str) -> str:
    if dimension == "model":
        return model
    if dimension == "api":
        return api
    if dimension == "host":
        return host or "(no host)"
    if dimension == "month":
        return day[:7]
    return day


@dataclass
class _Priced:
    """Rows of one grouping, their total, and what pricing them met."""

    rows: dict[str, dict[str, Any]]
    total: dict[str, Any]
    priced_cost: float
    unpriced: dict[str, int]  # model -> its tokens, which no price covers
    upper_bound: list[str]


def _group(agg: Aggregate, prices: PriceBook, dimension: str | None) -> _Priced:
    """Rows keyed by the dimension (one row "total" when None), each cell at its own price,
    and the total row, in one pass over the cells (a year over many hosts has many)."""
    sums: dict[str, list[int]] = {}
    costs: dict[str, float | None] = {}
    total_cost: float | None = 0.0
    unpriced: dict[str, int] = {}
    bounded: set[str] = set()
    priced = 0.0
    # the rates of each (provider, model, price day, band), as Rates.parts: a year over
    # many hosts has a cell per day, model, band and host, and few distinct prices
    rates_of: dict[tuple[str, str, str, int], tuple[Parts | None, bool]] = {}
    for (day, api, model, band, price_day, host), counts in agg.cells.items():
        key = "total" if dimension is None else _key(dimension, day, api, model, host)
        acc = sums.get(key)
        sums[key] = list(counts) if acc is None else list(map(add, acc, counts))
        found = rates_of.get((api, model, price_day, band))
        if found is None:
            rates, upper = prices.cell_rates(api, model, price_day, band, agg.bands)
            found = rates_of[api, model, price_day, band] = (
                None if rates is None else rates.parts,
                upper,
            )
        parts, upper = found
        if parts is None:
            if counts[PROMPT] or counts[COMPLETION]:
                unpriced[model] = unpriced.get(model, 0) + counts[PROMPT] + counts[COMPLETION]
                costs[key] = total_cost = None
            else:
                costs.setdefault(key, 0.0)
            continue
        if upper:
            bounded.add(model)
        cell_cost = parts_cost(
            parts,
            counts[PROMPT],
            counts[COMPLETION],
            counts[CACHED],
            counts[CACHE_WRITE],
            counts[SUCCESSES],
        )
        priced += cell_cost
        previous = costs.get(key, 0.0)
        costs[key] = None if previous is None else previous + cell_cost
        if total_cost is not None:
            total_cost += cell_cost
    rows = {key: _row(sums[key], costs.get(key)) for key in sorted(sums)}
    total = [sum(column) for column in zip(*sums.values(), strict=True)] or [0] * WIDTH
    return _Priced(
        rows,
        _row(total, total_cost),
        round(priced, 6),
        dict(sorted(unpriced.items())),
        sorted(bounded),
    )


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
        "generated_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "log_dir": ", ".join(str(d) for d in reader.open_log_dirs(query.log_dir)),
        "summary": _summary_of(agg, query, report),
        "by_model": _breakdown_of(agg, query, report, "model")["rows"],
        "by_api": _breakdown_of(agg, query, report, "api")["rows"],
        "daily": _breakdown_of(agg, query, report, "day")["rows"],
        "by_host": _breakdown_of(agg, query, report, "host")["rows"],
        "daily_by_model": _tokens_by_day_and_model(agg),
    }


def _tokens_by_day_and_model(agg: Aggregate) -> dict[str, dict[str, int]]:
    """{day: {model: total tokens}}, for the HTML chart's bars stacked by model."""
    out: dict[str, dict[str, int]] = {}
    for (day, _, model, _, _, _), counts in agg.cells.items():
        models = out.setdefault(day, {})
        models[model] = models.get(model, 0) + counts[PROMPT] + counts[COMPLETION]
    return {day: dict(sorted(out[day].items())) for day in sorted(out)}


def _summary_of(
    agg: Aggregate, query: Query, report: reader.ReadReport, priced: _Priced | None = None
) -> dict[str, Any]:
    """The totals and findings; from ``priced`` when a breakdown has just priced the cells."""
    if priced is None:
        priced = _group(agg, query.prices, None)
    return {
        "totals": priced.total,
        "priced_cost_usd": priced.priced_cost,
        "unpriced_models": list(priced.unpriced),
        "unpriced_tokens": priced.unpriced,
        "upper_bound_models": priced.upper_bound,
        "pricing": query.prices.describe(),
        "timezone": query.timezone or "UTC",
        **read_findings(report),
    }


def _breakdown_of(
    agg: Aggregate, query: Query, report: reader.ReadReport, dimension: str
) -> dict[str, Any]:
    priced = _group(agg, query.prices, dimension)
    return {"dimension": dimension, "rows": priced.rows, **_summary_of(agg, query, report, priced)}


def event_cost(event: dict[str, Any], prices: PriceBook) -> float | None:
    """One call's cost at the price in force at its own instant; None when unpriced."""
    return prices.event_cost(event)


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
    return {"events": events, **read_findings(report)}


def read_findings(report: reader.ReadReport) -> dict[str, Any]:
    """What a read met besides events, under the names every report uses."""
    return {
        "bad_lines": report.bad_lines,
        "bad_line_samples": report.samples,
        "unfinished_files": report.unfinished,
        "misnamed_files": report.misnamed,
    }


def iter_filtered(query: Query, report: reader.ReadReport) -> Iterator[dict[str, Any]]:
    for event in reader.iter_events(
        query.log_dir, query.since, query.until, tz=query.tz, report=report
    ):
        if query.matches(event):
            yield event
