"""A month's labelled cells summed over the month and by UTC day:
``token_stats_YYYY-MM.totals.json`` and ``token_stats_YYYY-MM.days.json``.

A report by a label needs the hour of a cell only where a day of its zone or its range
begins inside an hour: a daily report in UTC needs its days, a summary or a monthly report
in UTC only its months (and a day to price each cell on). The labels file keeps a labelled
call's cells hour by hour: a label of many values makes a year of them millions of one-hour
entries, each parsed and checked by such a report. The totals file keeps, per (provider,
model, band, host, dims), its counters over the month and the first and last day of the
month it has calls on; the days file, per entry of the totals file, its counters per UTC day
from the first to the last. A label of 50 values over 20 models is a thousand entries a
month, however many calls (``_coarse`` says which reports take which months from them): a
report by month reads the totals alone, one by day the days too.

A writer writes them with the labels file, under the token the index names (docs/FORMAT.md),
so a report by month reads the index and the totals file alone, not the month file. They
are checked as the month file is: each key a writer's, each count in range and consistent;
the totals sum to the index's rows of the month (per model, provider and host); per entry,
the days sum to its totals (an edited or damaged file is stale: the lines decide). One of
another update, or missing, is passed over: the hours answer.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Any, Final, NamedTuple

import orjson

from asynctokens.record._format import stats_days_file, stats_totals_file
from asynctokens.stats._fold import WIDTH, Aggregate, add_into
from asynctokens.stats._month import (
    CellName,
    StaleStats,
    days_in,
    valid_counts,
    valid_key,
    valid_label_keys,
)
from asynctokens.stats._pinned import read_bytes


class MonthTotal(NamedTuple):
    """One entry: a cell's name, the first and last day of the month it has calls on, and
    its counters over the month (``_fold`` order)."""

    name: CellName
    first: int
    last: int
    counts: list[int]


def encode_totals(
    agg: Aggregate, token: str, kept: frozenset[str] | None = None
) -> tuple[bytes, bytes]:
    """The totals and days files of a month's hourly cells (as a writer keeps them: UTC
    hours), whose writers kept the label keys ``kept`` (None: every key)."""
    by_day: dict[CellName, dict[int, list[int]]] = {}
    for (hour, api, model, band, _, host, dims), counts in agg.cells.items():
        days = by_day.setdefault((api, model, band, host, dims), {})
        add_into(days, int(hour[8:10]), counts)
    names = sorted(by_day)
    spans, sums, columns = [], [], []
    none = [0] * WIDTH
    for name in names:
        days = by_day[name]
        first, last = min(days), max(days)
        rows = [days.get(day, none) for day in range(first, last + 1)]
        spans.append([first, last])
        columns.append([list(col) for col in zip(*rows, strict=True)])
        sums.append([sum(col) for col in columns[-1]])
    keys = [list(n) for n in names]
    totals = {"quarters": token, "keys": keys, "days": spans, "counts": sums}
    if kept is not None:
        totals["label_keys"] = sorted(kept)
    return (
        orjson.dumps(totals),
        orjson.dumps({"quarters": token, "columns": columns}),
    )


class MonthTotals:
    """The checked entries of a month's totals file, and (read when first asked for) their
    counters per day from its days file."""

    def __init__(
        self,
        log_dir: Path,
        month: str,
        token: str,
        entries: list[MonthTotal],
        label_keys: list[str] | None,
    ) -> None:
        self.log_dir, self.month, self.token, self.entries = log_dir, month, token, entries
        #: The label keys every writer of the month kept (None: every key; ``label_keys``).
        self.label_keys = label_keys

    def days(self) -> list[list[list[int]]] | None:
        """Per entry, its eight counters per day from its first to its last; None when the
        days file is missing or of another update (the hours answer), StaleStats when it
        does not sum to the totals."""
        month = self.month
        found = _load(self.log_dir / stats_days_file(month), month, self.token)
        if found is None:
            return None
        columns = found.get("columns")
        if type(columns) is not list or len(columns) != len(self.entries):
            raise StaleStats(month)
        for (_, first, last, _), cols in zip(self.entries, columns, strict=True):
            if (
                type(cols) is not list
                or len(cols) != WIDTH
                or not all(type(c) is list and len(c) == last - first + 1 for c in cols)
            ):
                raise StaleStats(month)
        # every day's counts at once, counter by counter, in C (as the month file's columns),
        # then each entry's sums against its totals
        every = [list(chain.from_iterable(cols[i] for cols in columns)) for i in range(WIDTH)]
        if columns and not valid_counts(every):
            raise StaleStats(month)
        for (*_, counts), cols in zip(self.entries, columns, strict=True):
            if list(map(sum, cols)) != counts:
                raise StaleStats(month)
        return columns


def _load(path: Path, month: str, token: str) -> dict[str, Any] | None:
    """The file's document; None when it is missing or names another token (of another
    update, or of a month no longer labelled: the index's token decides), StaleStats when
    it is no document of ours."""
    try:
        found = orjson.loads(read_bytes(path))
    except OSError:
        return None
    except orjson.JSONDecodeError as exc:
        raise StaleStats(month) from exc
    if type(found) is not dict:
        raise StaleStats(month)
    return found if found.get("quarters") == token else None


def read_totals(
    log_dir: Path, month: str, token: str, rows: dict[str, dict[str, list[int]]]
) -> MonthTotals | None:
    """The checked totals file of the update whose index names ``token`` and holds the
    month's ``rows`` (counters per model, api and host), which it must sum to; None when
    the file is missing or of another update (the hours answer: ``_load``); StaleStats when
    it fails a check."""
    found = _load(log_dir / stats_totals_file(month), month, token)
    if found is None:
        return None
    keys, days, counts = found.get("keys"), found.get("days"), found.get("counts")
    label_keys = found.get("label_keys")
    if (
        not (type(keys) is type(days) is type(counts) is list)
        or not len(keys) == len(days) == len(counts)
        or not (label_keys is None or valid_label_keys(label_keys))
    ):
        raise StaleStats(month)
    month_days = days_in(month)
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
    for dim, at in _INDEX_ROWS.items():  # the index's rows of the same update
        by_name: dict[str, list[int]] = {}
        for entry in entries:
            add_into(by_name, entry.name[at], entry.counts)
        if by_name != rows.get(dim, {}):
            raise StaleStats(month)  # not the month's cells: edited, or of a bug
    return MonthTotals(log_dir, month, token, entries, label_keys)


#: The index's rows per month the totals must sum to, and where each name is in an entry's.
_INDEX_ROWS: Final = {"model": 1, "api": 0, "host": 3}
