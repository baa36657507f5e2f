"""A month's labelled cells by UTC day: ``token_stats_YYYY-MM.totals.json``.

A report by a label needs the hour of a cell only where a day of its zone or its range
begins inside an hour: a daily report in UTC needs its days, a summary or a monthly report
in UTC only its months (and a day to price each cell on). The labels file keeps a labelled
call's cells hour by hour: a label of many values makes a year of them millions of one-hour
entries, each parsed and checked by such a report. This file keeps, per (provider, model,
band, host, dims), its counters per UTC day from the first day of the month with calls to
the last: a label of 50 values over 20 models is a thousand entries a month, however many
calls (``_coarse`` says which reports take which months from it).

A writer writes it with the labels file, under the same token (docs/FORMAT.md). It is
checked as the month file is: each key a writer's, each count in range and consistent, and
per key less its labels, its sums equal to the month file's cells (an edited or damaged file
is stale: the lines decide).
"""

from __future__ import annotations

import calendar
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from asynctokens.record._dims import only_label_keys
from asynctokens.record._format import stats_totals_file
from asynctokens.stats._fold import WIDTH, Aggregate, add_into
from asynctokens.stats._month import CellName, StaleStats, valid_counts, valid_key


class MonthTotal(NamedTuple):
    """One entry: a cell's name, the first and last day of the month it has calls on, its
    counters per day from the first to the last (eight lists, ``_fold`` order), and their
    sums over the month."""

    name: CellName
    first: int
    last: int
    columns: list[list[int]]
    counts: list[int]


def encode_totals(agg: Aggregate, token: str) -> bytes:
    """The totals file of a month's hourly cells (as a writer keeps them: UTC hours)."""
    by_day: dict[CellName, dict[int, list[int]]] = {}
    for (hour, api, model, band, _, host, dims), counts in agg.cells.items():
        days = by_day.setdefault((api, model, band, host, dims), {})
        add_into(days, int(hour[8:10]), counts)
    names = sorted(by_day)
    spans, columns = [], []
    none = [0] * WIDTH
    for name in names:
        days = by_day[name]
        first, last = min(days), max(days)
        rows = [days.get(day, none) for day in range(first, last + 1)]
        spans.append([first, last])
        columns.append([list(col) for col in zip(*rows, strict=True)])
    return orjson.dumps(
        {"quarters": token, "keys": [list(n) for n in names], "days": spans, "columns": columns}
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
    keys, days, columns = found.get("keys"), found.get("days"), found.get("columns")
    if not (type(keys) is type(days) is type(columns) is list) or not (
        len(keys) == len(days) == len(columns)
    ):
        raise StaleStats(month)
    month_days = calendar.monthrange(int(month[:4]), int(month[5:7]))[1]
    entries: list[MonthTotal] = []
    last_key: Any = None
    for key, span, cols in zip(keys, days, columns, strict=True):
        if (
            not valid_key(key)
            or (last_key is not None and key <= last_key)
            or type(span) is not list
            or len(span) != 2
            or not all(type(d) is int for d in span)
            or not 1 <= span[0] <= span[1] <= month_days
            or type(cols) is not list
            or len(cols) != WIDTH
            or not all(type(c) is list and len(c) == span[1] - span[0] + 1 for c in cols)
        ):
            raise StaleStats(month)
        last_key = key
        entries.append(MonthTotal(tuple(key), span[0], span[1], cols, [sum(c) for c in cols]))
    # every day's counts at once, counter by counter, in C (as the month file's columns)
    every = [list(chain.from_iterable(cols[i] for cols in columns)) for i in range(WIDTH)]
    if entries and not valid_counts(every):
        raise StaleStats(month)
    if _without_labels(entries) != _month_sums(doc):
        raise StaleStats(month)  # not the month file's cells: edited, or of a bug
    return entries


def _without_labels(entries: list[MonthTotal]) -> dict[CellName, list[int]]:
    out: dict[CellName, list[int]] = {}
    for (api, model, band, host, dims), _, _, _, counts in entries:
        add_into(out, (api, model, band, host, only_label_keys(dims)), counts)
    return out


def _month_sums(doc: dict[str, Any]) -> dict[CellName, list[int]]:
    """The month file's counters per key over the month (its columns are checked)."""
    out: dict[CellName, list[int]] = {}
    for key, (_, *cols) in zip(doc["keys"], doc["columns"], strict=True):
        add_into(out, tuple(key), map(sum, cols))
    return out
