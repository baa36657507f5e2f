"""A month's cells summed over the month, labels kept: ``token_stats_YYYY-MM.totals.json``.

A report by a label over whole months (``summary --by customer``, ``monthly --by feature``)
needs neither the hour nor the day of a cell, only its month and a UTC day to price it on.
The labels file keeps a labelled call's cells hour by hour: a label of many values makes a
year of them millions of one-hour entries, each parsed and checked by such a report. This
file keeps, per (provider, model, band, host, dims), the month's counters and the first and
last UTC day with calls: a few thousand entries a month, however many calls.

A writer writes it with the labels file, under the same token (docs/FORMAT.md). A report
takes a month from it only when every entry is priced alike on each of its days (``one
price``: a price with no change between them, at no tier of its own); else from the hours.
It is checked as the month file is: each key a writer's, each count in range and
consistent, and per key less its labels, its sums equal to the month file's cells (an edited
or damaged file is stale: the lines decide).
"""

from __future__ import annotations

import calendar
import datetime as _dt
from collections.abc import Callable
from operator import add
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from asynctokens.record._dims import only_label_keys, parse_dims
from asynctokens.record._format import stats_totals_file
from asynctokens.stats._fold import WIDTH, Aggregate, add_into
from asynctokens.stats._month import CellName, StaleStats, valid_counts, valid_key

#: Whether (provider, served model, tier) is priced alike on every UTC day from the first
#: date to the last (``PriceBook.one_price``).
OnePrice = Callable[[str, str, str | None, _dt.date, _dt.date], bool]


class MonthTotal(NamedTuple):
    """One entry: a cell's name, the first and last day of the month it has calls on, and
    its counters over the month."""

    name: CellName
    first: int
    last: int
    counts: list[int]


def encode_totals(agg: Aggregate, token: str) -> bytes:
    """The totals file of a month's hourly cells (as a writer keeps them: UTC hours)."""
    sums: dict[CellName, list[int]] = {}
    days: dict[CellName, list[int]] = {}
    for (hour, api, model, band, _, host, dims), counts in agg.cells.items():
        name = (api, model, band, host, dims)
        day = int(hour[8:10])
        found = sums.get(name)
        if found is None:
            sums[name] = list(counts)
            days[name] = [day, day]
        else:
            found[:] = map(add, found, counts)
            span = days[name]
            span[0], span[1] = min(span[0], day), max(span[1], day)
    names = sorted(sums)
    return orjson.dumps(
        {
            "quarters": token,
            "keys": [list(name) for name in names],
            "days": [days[name] for name in names],
            "counts": [sums[name] for name in names],
        }
    )


def read_totals(log_dir: Path, month: str, doc: dict[str, Any]) -> list[MonthTotal]:
    """The checked entries of the totals file written with the month file ``doc`` (its
    cells without labels, as ``read_month(plain=True)`` gives them); StaleStats when the
    file is missing, of another update, or fails a check."""
    try:
        found = orjson.loads((log_dir / stats_totals_file(month)).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StaleStats(month) from exc
    if type(found) is not dict or found.get("quarters") != doc.get("quarters"):
        raise StaleStats(month)
    keys, days, counts = found.get("keys"), found.get("days"), found.get("counts")
    if not (type(keys) is type(days) is type(counts) is list) or not (
        len(keys) == len(days) == len(counts)
    ):
        raise StaleStats(month)
    month_days = calendar.monthrange(int(month[:4]), int(month[5:7]))[1]
    entries: list[MonthTotal] = []
    last_key: Any = None
    for key, span, sums in zip(keys, days, counts, strict=True):
        if (
            not valid_key(key)
            or (last_key is not None and key <= last_key)
            or type(span) is not list
            or len(span) != 2
            or not all(type(d) is int for d in span)
            or not 1 <= span[0] <= span[1] <= month_days
            or type(sums) is not list
            or len(sums) != WIDTH
        ):
            raise StaleStats(month)
        last_key = key
        entries.append(MonthTotal(tuple(key), span[0], span[1], sums))
    if entries and not valid_counts([list(c) for c in zip(*counts, strict=True)]):
        raise StaleStats(month)
    if _without_labels(entries) != _month_sums(doc):
        raise StaleStats(month)  # not the month file's cells: edited, or of a bug
    return entries


def _without_labels(entries: list[MonthTotal]) -> dict[CellName, list[int]]:
    out: dict[CellName, list[int]] = {}
    for (api, model, band, host, dims), _, _, counts in entries:
        add_into(out, (api, model, band, host, only_label_keys(dims)), counts)
    return out


def _month_sums(doc: dict[str, Any]) -> dict[CellName, list[int]]:
    """The month file's counters per key over the month (its columns are checked)."""
    out: dict[CellName, list[int]] = {}
    for key, (_, *cols) in zip(doc["keys"], doc["columns"], strict=True):
        add_into(out, tuple(key), map(sum, cols))
    return out


def add_totals(entries: list[MonthTotal], month: str, agg: Aggregate, one_price: OnePrice) -> bool:
    """Add each entry to ``agg`` as one cell of its last day with calls (its day and its
    price day), if every entry is priced alike on each of its days; else add none: False."""
    for (api, model, _, _, dims), first, last, _ in entries:
        served = parse_dims(dims)
        start = _dt.date(int(month[:4]), int(month[5:7]), first)
        end = start.replace(day=last)
        if not one_price(api, served.response_model or model, served.service_tier, start, end):
            return False
    cells = agg.cells
    for (api, model, band, host, dims), _, last, counts in entries:
        day = f"{month}-{last:02d}"
        add_into(cells, (day, api, model, band, day, host, dims), counts)
    return True
