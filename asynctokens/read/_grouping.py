"""Rows of a report: the cells grouped by one or more dimensions, each cell priced at its
own rate (the served model's, on its own day and prompt band), and the row shape every
report shares. Pure functions of an Aggregate and a PriceBook: ``summary`` reads, this
groups.
"""

from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import dataclass
from operator import add
from typing import Any, Final

from asynctokens.pricing import Parts, PriceBook, parts_cost
from asynctokens.record._dims import NO_DIMS, dim_value, parse_dims
from asynctokens.stats._fold import (
    CACHE_WRITE,
    CACHE_WRITE_1H,
    CACHED,
    COMPLETION,
    NO_LABEL,
    PROMPT,
    REQUESTS,
    SUCCESSES,
    WIDTH,
    Aggregate,
    row,
)


def priced_row(
    counts: list[int], cost: float, unpriced: dict[str, int], unknown: int = 0
) -> dict[str, Any]:
    """The counters under the names token_stats.json uses, the uncached part of the input
    (what a provider's dashboard and ccusage call input), and the cost.

    ``cost_usd`` is always the cost of what is priced; ``unpriced_tokens`` and
    ``unpriced_models`` say what no price covers in this row, so one self-hosted model
    never blanks a row's known cost, and a partial cost is never taken for the whole.
    ``requests_with_unknown_counts`` says how many of its calls were billed with counts
    not all known (logged as 0): when it is not 0, the row's tokens and cost are a lower
    bound.
    """
    return {
        **row(counts),
        "total_uncached_input_tokens": counts[PROMPT] - counts[CACHED] - counts[CACHE_WRITE],
        "cost_usd": round(cost, 6),
        "unpriced_tokens": sum(unpriced.values()),
        "unpriced_models": sorted(unpriced),
        "requests_with_unknown_counts": unknown,
    }


@functools.lru_cache(maxsize=4096)
def week_of(day: str, week_start: int = 0) -> str:
    """The first day (``YYYY-MM-DD``) of the week holding ``day``, weeks starting on
    ``week_start`` (0 Monday: ISO weeks, to 6 Sunday): a week's row is named by it."""
    date = _dt.date.fromisoformat(day)
    return (date - _dt.timedelta(days=(date.weekday() - week_start) % 7)).isoformat()


def key_of(
    dimension: str, day: str, api: str, model: str, host: str, dims: str, week_start: int = 0
) -> str:
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
    if dimension == "week":
        return week_of(day, week_start)
    value = dim_value(model, dims, dimension)
    return NO_LABEL if value is None else value


@dataclass
class Priced:
    """Rows of one grouping, their total, and what pricing them met."""

    rows: dict[str, dict[str, Any]]
    total: dict[str, Any]
    unpriced: dict[str, int]  # model -> its tokens, which no price covers
    upper_bound: list[str]
    newest_priced_day: str | None = None  # the UTC day of the newest call genai-prices priced


def group(
    agg: Aggregate,
    prices: PriceBook,
    dimension: str | tuple[str, ...] | None,
    week_start: int = 0,
) -> Priced:
    """Rows keyed by the dimension (one row "total" when None; by a tuple of values for a
    tuple of dimensions), each cell at its own price, and the total row, in one pass over
    the cells (a year over many hosts has many)."""
    sums: dict[Any, list[int]] = {}
    costs: dict[Any, float] = {}
    unpriced_in: dict[Any, dict[str, int]] = {}  # row -> model -> tokens no price covers
    unpriced: dict[str, int] = {}
    unknown_in: dict[Any, int] = {}  # row -> its requests whose counts are not all known
    bounded: set[str] = set()
    sources: dict[Any, set[str]] = {}  # model row -> the sources that price it
    several = isinstance(dimension, tuple)
    newest = ""  # the newest price day genai-prices priced
    genai = prices.genai.name
    priced = 0.0
    # the rates of each (provider, model, price day, band), as Rates.parts: a year over
    # many hosts has a cell per day, model, band and host, and few distinct prices
    rates_of: dict[tuple[str, str, str, int, str | None], tuple[Parts | None, bool]] = {}
    for (day, api, requested, band, price_day, host, dims), counts in agg.cells.items():
        key: Any
        if dimension is None:
            key = "total"
        elif several:
            key = tuple(key_of(d, day, api, requested, host, dims, week_start) for d in dimension)
        else:
            key = key_of(dimension, day, api, requested, host, dims, week_start)  # type: ignore[arg-type]
        acc = sums.get(key)
        sums[key] = list(counts) if acc is None else list(map(add, acc, counts))
        # priced as the model that served it (when the reply named one), at its tier
        served = parse_dims(dims) if dims else NO_DIMS
        if served.counts_unknown:
            unknown_in[key] = unknown_in.get(key, 0) + counts[REQUESTS]
        model, tier = served.response_model or requested, served.service_tier
        found = rates_of.get((api, model, price_day, band, tier))
        if found is None:
            rates, upper = prices.cell_rates(api, model, price_day, band, agg.bands, tier)
            found = rates_of[api, model, price_day, band, tier] = (
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
                newest = price_day[:10]
            if dimension == "model":
                sources.setdefault(key, set()).add(source)
        cell_cost = parts_cost(
            parts,
            counts[PROMPT],
            counts[COMPLETION],
            counts[CACHED],
            counts[CACHE_WRITE],
            counts[SUCCESSES],
            counts[CACHE_WRITE_1H],
        )
        priced += cell_cost
        costs[key] = costs.get(key, 0.0) + cell_cost
    rows = {
        key: priced_row(
            sums[key], costs.get(key, 0.0), unpriced_in.get(key, {}), unknown_in.get(key, 0)
        )
        for key in sorted(sums)
    }
    if dimension == "model":
        for key, r in rows.items():
            r["price_source"] = ", ".join(sorted(sources.get(key, ()))) or None
    total = [sum(column) for column in zip(*sums.values(), strict=True)] or [0] * WIDTH
    return Priced(
        rows,
        priced_row(total, priced, unpriced, sum(unknown_in.values())),
        dict(sorted(unpriced.items())),
        sorted(bounded),
        newest or None,
    )


WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def nested(
    agg: Aggregate,
    prices: PriceBook,
    dimensions: tuple[str, ...],
    top: dict[str, dict[str, Any]],
    week_start: int = 0,
) -> dict[str, dict[str, Any]]:
    """The rows of ``top`` (the first dimension's), each with the rows of the next levels
    under ``"breakdown"``: each level priced from the cells, as every row is."""
    levels: list[dict[Any, dict[str, Any]]] = [{(k,): dict(r) for k, r in top.items()}]
    levels += [
        group(agg, prices, dimensions[:depth], week_start).rows
        for depth in range(2, len(dimensions) + 1)
    ]
    for depth in range(len(levels) - 1, 0, -1):
        for key, r in levels[depth].items():
            parent = levels[depth - 1][key[:-1]]
            parent.setdefault("breakdown", {})[key[-1]] = r
    return {key[0]: r for key, r in levels[0].items()}
