"""Reports over a token log: totals, per model/provider/day/month, recent calls, exports.

Built on ``reader`` only (read-only, never the writer). Every report is plain data (dicts and
lists of JSON types) so ``--json`` is the same numbers the tables show, and the HTML and CSV
exports are renderings of these same structures.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import add
from typing import Any, Final

from asynctokens._errors import NothingMatchedError
from asynctokens.pricing import Parts, PriceBook, parts_cost
from asynctokens.read import reader
from asynctokens.read._dirs import LogDirs
from asynctokens.record._dims import dim_value, parse_dims
from asynctokens.record._format import PROMPT_BANDS
from asynctokens.stats._fold import (
    CACHE_WRITE,
    CACHED,
    COMPLETION,
    NO_LABEL,
    PROMPT,
    SUCCESSES,
    WIDTH,
    Aggregate,
    row,
)

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

    @functools.cached_property
    def _apis_lowered(self) -> frozenset[str]:
        return frozenset(a.lower() for a in self.apis or ())

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether one call passes the filters (providers compared without case). Runs once
        per event of a CSV export: the lowered provider names are made once per query."""
        return (
            (not self.models or event["model"] in self.models)
            and (not self.apis or event["api_type"].lower() in self._apis_lowered)
            and (not self.hosts or event.get("host", "") in self.hosts)
        )


def _resolve_filters(query: Query, agg: Aggregate) -> tuple[list[str] | None, ...]:
    """The filters as the names the cells hold; ``NothingMatchedError`` for one that names
    nothing in the range, with the closest names the logs do hold.

    A filter that silently matches nothing prints a table of zeros and $0.00, which reads
    as "nothing was spent". Providers match without case (``--api OpenAI``).
    """
    held = {
        "--model": sorted({k[2] for k in agg.cells}),
        "--api": sorted({k[1] for k in agg.cells}),
        "--host": sorted({k[5] for k in agg.cells}),
    }
    out: list[list[str] | None] = []
    for flag, asked in (("--model", query.models), ("--api", query.apis), ("--host", query.hosts)):
        if not asked:
            out.append(None)
            continue
        names: list[str] = []
        for value in asked:
            if flag == "--api":
                found = [n for n in held[flag] if n.lower() == value.lower()]
            else:
                found = [value] if value in held[flag] else []
            if not found:
                raise NothingMatchedError(
                    f"no calls with {flag} {value!r}{_closest(value, held[flag])}"
                )
            names.extend(found)
        out.append(names)
    return tuple(out)


def _closest(value: str, names: list[str]) -> str:
    """``: the logs hold 'a', 'b'`` with the names most like ``value`` first."""
    if not names:
        return " (the logs hold no calls in this range)"
    lowered = value.lower()
    starting = [n for n in names if n.lower().startswith(lowered) or lowered.startswith(n.lower())]
    close = difflib.get_close_matches(value, names, n=5, cutoff=0.5)
    shown = list(dict.fromkeys([*starting, *close]))[:5] or names[:5]
    more = "" if len(shown) == len(names) else f" (of {len(names)})"
    return f" in this range: the logs hold {', '.join(repr(n) for n in shown)}{more}"


def check_filters(query: Query) -> None:
    """Raise ``NothingMatchedError`` when a filter names nothing in the query's range (for
    the reports that read calls one by one: ``recent`` and the CSV export)."""
    if query.models or query.apis or query.hosts:
        _resolve_filters(
            query, reader.aggregate(query.log_dir, query.since, query.until, tz=query.tz)
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
        models, apis, hosts = _resolve_filters(query, agg)
        agg = agg.filtered(models=models, apis=apis, hosts=hosts)
    return agg


def _row(counts: list[int], cost: float, unpriced: dict[str, int]) -> dict[str, Any]:
    """The counters under the names token_stats.json uses, the uncached part of the input
    (what a provider's dashboard and ccusage call input), and the cost.

    ``cost_usd`` is always the cost of what is priced; ``unpriced_tokens`` and
    ``unpriced_models`` say what no price covers in this row, so one self-hosted model
    never blanks a row's known cost, and a partial cost is never taken for the whole.
    """
    return {
        **row(counts),
        "total_uncached_input_tokens": counts[PROMPT] - counts[CACHED] - counts[CACHE_WRITE],
        "cost_usd": round(cost, 6),
        "unpriced_tokens": sum(unpriced.values()),
        "unpriced_models": sorted(unpriced),
    }


def _key(dimension: str, day: str, api: str, model: str, host: str, dims: str) -> str:
    if dimension == "model":
        return model
    if dimension == "api":
        return api
    if dimension == "host":
        return host or "(no host)"
    if dimension == "month":
        return day[:7]
    if dimension == "day":
        return day
    value = dim_value(model, dims, dimension)
    return NO_LABEL if value is None else value


@dataclass
class _Priced:
    """Rows of one grouping, their total, and what pricing them met."""

    rows: dict[str, dict[str, Any]]
    total: dict[str, Any]
    unpriced: dict[str, int]  # model -> its tokens, which no price covers
    upper_bound: list[str]
    newest_priced_day: str | None = None  # the UTC day of the newest call genai-prices priced


def _group(agg: Aggregate, prices: PriceBook, dimension: str | None) -> _Priced:
    """Rows keyed by the dimension (one row "total" when None), each cell at its own price,
    and the total row, in one pass over the cells (a year over many hosts has many)."""
    sums: dict[str, list[int]] = {}
    costs: dict[str, float] = {}
    unpriced_in: dict[str, dict[str, int]] = {}  # row -> model -> tokens no price covers
    unpriced: dict[str, int] = {}
    bounded: set[str] = set()
    sources: dict[str, set[str]] = {}  # model row -> the sources that price it
    newest = ""  # the newest price day genai-prices priced
    genai = prices.genai.name
    priced = 0.0
    # the rates of each (provider, model, price day, band), as Rates.parts: a year over
    # many hosts has a cell per day, model, band and host, and few distinct prices
    rates_of: dict[tuple[str, str, str, int], tuple[Parts | None, bool]] = {}
    for (day, api, requested, band, price_day, host, dims), counts in agg.cells.items():
        key = "total" if dimension is None else _key(dimension, day, api, requested, host, dims)
        acc = sums.get(key)
        sums[key] = list(counts) if acc is None else list(map(add, acc, counts))
        # priced as the model that served it, when the reply named one
        model = parse_dims(dims).response_model or requested if dims else requested
        found = rates_of.get((api, model, price_day, band))
        if found is None:
            rates, upper = prices.cell_rates(api, model, price_day, band, agg.bands)
            found = rates_of[api, model, price_day, band] = (
                None if rates is None else rates.parts,
                upper,
            )
        parts, upper = found
        if parts is None:
            tokens = counts[PROMPT] + counts[COMPLETION]
            if tokens:
                unpriced[model] = unpriced.get(model, 0) + tokens
                in_row = unpriced_in.setdefault(key, {})
                in_row[model] = in_row.get(model, 0) + tokens
            costs.setdefault(key, 0.0)
            continue
        if upper:
            bounded.add(model)
        if price_day > newest or dimension == "model":
            source = prices.source_of(api, model) or ""
            if price_day > newest and genai in source:
                newest = price_day
            if dimension == "model":
                sources.setdefault(key, set()).add(source)
        cell_cost = parts_cost(
            parts,
            counts[PROMPT],
            counts[COMPLETION],
            counts[CACHED],
            counts[CACHE_WRITE],
            counts[SUCCESSES],
        )
        priced += cell_cost
        costs[key] = costs.get(key, 0.0) + cell_cost
    rows = {
        key: _row(sums[key], costs.get(key, 0.0), unpriced_in.get(key, {})) for key in sorted(sums)
    }
    if dimension == "model":
        for key, r in rows.items():
            r["price_source"] = ", ".join(sorted(sources.get(key, ()))) or None
    total = [sum(column) for column in zip(*sums.values(), strict=True)] or [0] * WIDTH
    return _Priced(
        rows,
        _row(total, priced, unpriced),
        dict(sorted(unpriced.items())),
        sorted(bounded),
        newest or None,
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


def costs(agg: Aggregate, prices: PriceBook | None = None) -> dict[str, Any]:
    """The priced rows of an aggregate (totals, per model, per provider), each with its cost
    and what no price covers: what ``TokenTracker.print_summary()`` adds to its counts."""
    book = PriceBook() if prices is None else prices
    by_model = _group(agg, book, "model")
    return {
        "totals": by_model.total,
        "by_model": by_model.rows,
        "by_api": _group(agg, book, "api").rows,
    }


def _tokens_by_day_and_model(agg: Aggregate) -> dict[str, dict[str, int]]:
    """{day: {model: total tokens}}, for the HTML chart's bars stacked by model."""
    out: dict[str, dict[str, int]] = {}
    for (day, _, model, _, _, _, _), counts in agg.cells.items():
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
        "unpriced_models": list(priced.unpriced),
        "unpriced_tokens_by_model": priced.unpriced,
        "upper_bound_models": priced.upper_bound,
        "pricing": {
            **query.prices.describe(),
            "stale": query.prices.staleness(priced.newest_priced_day),
        },
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


#: Lines read past the n-th match before the last calls are sorted by time: processes append
#: in batches, so a file is in time order only batch by batch (see ``recent``).
RECENT_LOOKBACK: Final = 2_000


def recent(query: Query, n: int = 20) -> dict[str, Any]:
    """The last ``n`` calls by time, newest first, read from the end of the newest files.

    Daily files hold the lines of their UTC day, so a newer file's calls are all newer; within
    a file, several processes' batches interleave. Reading goes on past the ``n``-th match
    for ``RECENT_LOOKBACK`` more lines of the same file (or to its start) before sorting, so
    ``recent`` still touches only the end of a large file. A call logged with an explicit
    ``ts`` further out of order than that can be passed over. Each call carries its cost
    (``None`` when unpriced) and ``unpriced_tokens`` (its tokens when unpriced, else 0).
    """
    if n < 1:
        raise ValueError(f"-n must be >= 1, got {n}")
    report = reader.ReadReport()
    found: list[dict[str, Any]] = []
    past_nth = 0
    last_day = ""
    for event in reader.iter_recent(
        query.log_dir, query.since, query.until, tz=query.tz, report=report
    ):
        day = event["ts"][:10]
        if len(found) >= n and (day != last_day or past_nth >= RECENT_LOOKBACK):
            break  # an older file (its calls are all older), or far enough back in this one
        last_day = day
        if len(found) >= n:
            past_nth += 1
        if query.matches(event):
            found.append(event)
    found.sort(key=_instant, reverse=True)
    events = []
    for event in found[:n]:
        cost = event_cost(event, query.prices)
        tokens = event["prompt_tokens"] + event["completion_tokens"]
        events.append(
            {**event, "cost_usd": cost, "unpriced_tokens": 0 if cost is not None else tokens}
        )
    return {"events": events, "timezone": query.timezone or "UTC", **read_findings(report)}


def _instant(event: dict[str, Any]) -> _dt.datetime:
    return _dt.datetime.fromisoformat(event["ts"])


def read_findings(report: reader.ReadReport) -> dict[str, Any]:
    """What a read met besides events, under the names every report uses."""
    return {
        "bad_lines": report.bad_lines,
        "bad_line_samples": report.samples,
        "unfinished_files": report.unfinished,
        "misnamed_files": report.misnamed,
        "stale_stats": report.stale_stats,
    }


def iter_filtered(query: Query, report: reader.ReadReport) -> Iterator[dict[str, Any]]:
    for event in reader.iter_events(
        query.log_dir, query.since, query.until, tz=query.tz, report=report
    ):
        if query.matches(event):
            yield event
