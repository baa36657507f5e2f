"""The stats files: a cache of the fold over the JSONL files, exact by construction.

``token_stats.json`` (the index) records, for each daily file, the byte offset up to which
its lines have been folded, plus the totals and per-model/api/day/host rows for people and
tools. The cells themselves, per UTC *hour* (so a day in any whole-hour time zone is a sum of
cells), live in one file per month, ``token_stats_YYYY-MM.json``: an update rewrites the
index and the months it touched, so the file rewritten every few seconds stays the size of a
month, however long the directory has been written to.

Updating means folding whatever lies beyond the offsets, whoever wrote it, and advancing
them, all under one lock file. So the totals equal the sums over the lines even with many
processes writing, after a crash (a dead process's lines are folded by the next updater),
and after a torn line (counted as invalid once it is ended by a ``\\n``).

A month file keeps its cells as columns: per (provider, model, band, host), the first hour
index with events (``(day - 1) * 24 + hour``) and seven lists of counters, one value per
hour from there on. A report over a year then sums slices of lists, month by month, instead
of building a dict entry per hour and name (10M events over 20 models and 4 hosts are about
1.4M hourly cells).

Beside it, ``token_stats_YYYY-MM.quarters`` keeps each hour's *early* counters: those of its
lines in the hour's first 15 and first 30 minutes (binary: the file ``ATQ1``, an 8-byte
token the month file names, then per key and hour 14 little-endian int64). A day of a zone
that begins at hh:30 or hh:15 UTC (Asia/Kolkata +5:30, Asia/Kathmandu +5:45, every such zone
today) is then a sum of cells and early counters too: no line is read.

Each month file also keeps, per daily file and UTC hour, the bytes ``[start, end)`` that
hold every line of that hour (``spans``): a report whose days begin elsewhere inside an hour,
or whose range ends inside one, or that finds no usable quarters file, reads just those
bytes, and takes the other hours from the cells. Lines are appended in time order, so a
span is a few batches long; a line with an old ``ts`` (a backfill) only widens its hour's
span.

A writer passes the ranges it appended itself, with their folds, so in the common
one-process case nothing is read back. A missing, corrupt or stale index or month file (a
daily file shrank or vanished), or one of another version, is rebuilt from offset 0: that is
how the stats migrate.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as _dt
import os
import sys
from array import array
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from operator import add, itemgetter, le, sub
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from asynctokens.record import _files
from asynctokens.record._format import (
    PROMPT_BANDS,
    STATS_FILE,
    STATS_LOCK_FILE,
    STATS_VERSION,
    daily_files,
    judge_line,
    stats_month_file,
    stats_month_files,
    stats_quarters_file,
    utc_minute,
)
from asynctokens.record._lines import ForwardBlocks
from asynctokens.stats._fold import WIDTH, Aggregate, add_into, row

_DIMENSIONS = {"model": 2, "api": 1, "day": 0, "host": 5}

#: Per daily file name, per UTC hour (``YYYY-MM-DDTHH``): ``[start, end)``, the bytes that
#: hold every line of the hour in that file.
Spans = dict[str, dict[str, list[int]]]
#: The cells of one UTC hour, by (provider, model, band, host).
HourCells = dict[tuple[str, str, int, str], list[int]]
#: The quarters file: its magic, then a token the month file names (they were written
#: together), then per key and hour ``EARLY`` int64.
_QUARTERS_MAGIC = b"ATQ1"
_TOKEN_BYTES = 8
_HEADER = len(_QUARTERS_MAGIC) + _TOKEN_BYTES
#: Early counters per hour: the first 15 minutes' WIDTH, then the first 30 minutes'.
EARLY = 2 * WIDTH


class CutHour(NamedTuple):
    """An hour a report cuts in two: its cells, and their early counters when the stats
    have them for every cell (None: the hour's lines decide)."""

    cells: HourCells
    early: HourCells | None


def widen_span(spans: dict[str, list[int]], hour: str, start: int, end: int) -> None:
    """The lines of ``hour`` lie within ``[start, end)`` too: its span grows to hold them."""
    span = spans.get(hour)
    if span is None:
        spans[hour] = [start, end]
    else:
        span[0], span[1] = min(span[0], start), max(span[1], end)


class OwnRange(NamedTuple):
    """Bytes ``[start, end)`` of one daily file that this process appended, their fold, and
    where each UTC hour's lines lie in them (``[start, end)`` counted from ``start``)."""

    start: int
    end: int
    agg: Aggregate
    hours: Mapping[str, list[int]]


class StaleStats(Exception):
    """A month file the index names is missing, corrupt or of another layout: rebuild."""


class Snapshot:
    """The stats of a directory: offsets, and cells per month, read when first needed."""

    def __init__(
        self,
        log_dir: Path,
        offsets: dict[str, int] | None = None,
        rows: dict[str, dict[str, dict[str, list[int]]]] | None = None,
        invalid: dict[str, dict[str, int]] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.offsets: dict[str, int] = offsets or {}
        #: Per month: the rows of the index (counters per model, api, day and host).
        self.rows = rows or {}
        #: Per month: bad lines per day.
        self.invalid = invalid or {}
        self._months: dict[str, Aggregate] = {}
        self._spans: dict[str, Spans] = {}
        #: Spans as read, not yet checked (see ``spans``).
        self._raw_spans: dict[str, Any] = {}
        self.dirty: set[str] = set()
        #: Built from offset 0 (no usable stats): month files of vanished days are removed.
        self.rebuilt = False

    def month(self, month: str) -> Aggregate:
        """The cells of ``YYYY-MM`` (hours), read from its file the first time."""
        agg = self._months.get(month)
        if agg is None:
            doc = self._doc(month)
            if doc is None:
                agg = Aggregate()
            else:
                quarters = _read_quarters(self.log_dir, month, doc)
                if quarters is None:  # its cells would be rewritten without early counters
                    raise StaleStats(month)
                agg = _aggregate_of(doc, month, quarters)
            self._months[month] = agg
        return agg

    def spans(self, month: str) -> Spans:
        """Where each hour's lines lie in the month's daily files (see the module docstring).

        Checked here, when first asked for (a report that cuts no hour never is), not with
        the rest of the month file: StaleStats if a hand edit would send a read astray."""
        if month not in self._spans:
            if month not in self._raw_spans:
                self._doc(month)  # None for a month without a file: no spans
            raw = self._raw_spans.pop(month, None)
            if raw is not None and not _valid_spans(raw, month):
                raise StaleStats(month)
            self._spans[month] = raw if raw is not None else {}
        return self._spans[month]

    def _doc(self, month: str) -> dict[str, Any] | None:
        """The month file, checked but for its spans (not kept: a year of them is large);
        None if it has none."""
        if month not in self.rows:
            return None
        doc = _read_month(self.log_dir, month)
        if month not in self._spans:
            self._raw_spans[month] = doc["spans"]
        return doc

    def add_hours(
        self,
        month: str,
        place: Callable[[str], tuple[str, bool] | None],
        days: set[str],
        agg: Aggregate,
        pieces: Callable[[str], list[str | None] | None] | None = None,
        split: Callable[[str, str], bool] | None = None,
    ) -> dict[str, CutHour]:
        """Add the month's cells of UTC ``days`` into ``agg`` under the day ``place`` gives
        each hour (None: not in the report). An hour ``place`` says is cut in two is added
        in pieces (its first 15 minutes, the next 15, the rest) when ``pieces`` gives each
        piece's day (None: outside the report) and the quarters file has their counts;
        else it is not added but returned, with its cells and early counters by (provider,
        model, band, host), for the caller to split.

        A cell's price day is the UTC day of its hours: a day of a zone other than UTC has
        a cell for each UTC day it holds. With ``split``, only the (provider, model) it says
        are priced by date are kept apart so; the others' cells of a day take the UTC day
        it begins in (half the cells for a day of Asia/Kolkata or America/New_York).

        From the columns of the file, summing slices, unless the month was caught up or
        changed in memory: then from its hourly cells.
        """
        if month in self._months or month not in self.rows:
            return self._add_cells(month, place, days, agg)
        doc = self._doc(month)
        assert doc is not None
        hours = _hour_texts(month)
        placed = [place(hour) if hour[:10] in days else None for hour in hours]
        quarters = None
        if pieces is not None and any(p is not None and not p[1] for p in placed):
            quarters = _read_quarters(self.log_dir, month, doc)
        # each hour's pieces, (day in the report, from, to), or None: the caller splits it
        in_pieces: list[list[tuple[str | None, int, int]] | None] = []
        for hour, where in zip(hours, placed, strict=True):
            if where is None:
                in_pieces.append([(None, 0, 3)])
            elif where[1]:
                in_pieces.append([(where[0], 0, 3)])
            else:
                parts = None if quarters is None or pieces is None else pieces(hour)
                in_pieces.append(None if parts is None else merged_pieces(parts))
        cut_at = [i for i, here in enumerate(in_pieces) if here is None]
        by_utc_day = _runs(hours, in_pieces, by_utc_day=True)
        by_day = by_utc_day if split is None else _runs(hours, in_pieces, by_utc_day=False)
        at = 0  # where this key's early counters begin in the quarters
        of_range: dict[tuple[int, int, bool], tuple[list[list[Any]], list[slice]]] = {}
        cells = agg.cells
        cells_of: dict[str, HourCells] = {}
        known: dict[str, HourCells] = {}  # the file's early counters: all hours' or none
        cut_texts = [(i, hours[i]) for i in cut_at]
        for (api, model, band, host), (start, *cols) in zip(
            doc["keys"], doc["columns"], strict=True
        ):
            end = start + len(cols[0])
            first, at = at, at + (end - start) * EARLY
            # the runs within this key's hours, and each one's slice of its columns: the same
            # for every key with the same hours (most keys of a busy month have them all)
            apart = split is None or split(api, model)
            found = of_range.get((start, end, apart))
            if found is None:
                found = of_range[start, end, apart] = _runs_within(
                    by_utc_day if apart else by_day, start, end
                )
            key_runs, slices = found
            if key_runs:
                # each run's whole hours, column by column, in C: sum() of each slice
                per_column = [list(map(sum, map(col.__getitem__, slices))) for col in cols]
                totals = zip(key_runs, zip(*per_column, strict=True), strict=True)
                early_at: tuple[int, int] | None = None  # the last early counters checked
                early: Sequence[int] = ()
                for (local, utc, lo, hi), whole in totals:
                    run: Any = whole  # sums of checked columns: none below zero
                    # and the parts of the hours it begins or ends inside (where one run
                    # ends, the next often begins: those counters are checked once)
                    if hi[1] and start <= hi[0] < end:
                        if early_at != hi:
                            early_at, early = hi, _early(quarters, first, start, hi, cols)
                        run = list(map(add, run, early))
                    if lo[1] and start <= lo[0] < end:
                        if early_at != lo:
                            early_at, early = lo, _early(quarters, first, start, lo, cols)
                        run = list(map(sub, run, early))
                        if min(run) < 0:  # counts that disagree: the lines decide
                            raise StaleStats(month)
                    if not run[0]:
                        continue  # no call in this run
                    # add_into, inlined: this runs for every run of every key of a year
                    key = (local, api, model, band, utc, host)
                    cell = cells.get(key)
                    if cell is None:
                        cells[key] = list(run)
                    else:
                        cell[:] = map(add, cell, run)
            name = (api, model, band, host)
            for i, hour in cut_texts:
                if start <= i < end and cols[0][i - start]:
                    cells_of.setdefault(hour, {})[name] = [col[i - start] for col in cols]
                    if quarters is not None:
                        j = first + (i - start) * EARLY
                        known.setdefault(hour, {})[name] = list(quarters[j : j + EARLY])
        return {h: CutHour(c, known.get(h)) for h, c in cells_of.items()}

    def _add_cells(
        self,
        month: str,
        place: Callable[[str], tuple[str, bool] | None],
        days: set[str],
        agg: Aggregate,
    ) -> dict[str, CutHour]:
        """``add_hours`` for a month caught up or changed in memory: from its hourly cells;
        every hour cut in two is returned."""
        cells_of: dict[str, HourCells] = {}
        early_of: dict[str, HourCells | None] = {}
        month_agg = self.month(month)
        for key, counts in month_agg.cells.items():
            if key[4] not in days:
                continue
            placed = place(key[0])
            if placed is None:
                continue
            if not placed[1]:
                name = (key[1], key[2], key[3], key[5])
                cells_of.setdefault(key[0], {})[name] = list(counts)
                _add_early(early_of, key[0], name, month_agg.early.get(key))
                continue
            add_into(agg.cells, (placed[0], *key[1:]), counts)
        return {h: CutHour(c, early_of[h]) for h, c in cells_of.items()}

    def changed(self, month: str) -> Aggregate:
        """The month's cells, to be changed: written back by the next :func:`save`."""
        self.dirty.add(month)
        return self.month(month)

    def months(self) -> list[str]:
        return sorted(set(self.rows) | set(self._months))

    def month_rows(self, month: str) -> dict[str, dict[str, list[int]]]:
        """The month's counters per model, api, day and host: from its cells when they were
        read (they may have changed), else as the index has them."""
        if month in self._months:
            return _month_rows(self._months[month])
        return self.rows[month]

    def month_invalid(self, month: str) -> dict[str, int]:
        """The month's bad lines per day."""
        if month in self._months:
            return self._months[month].invalid
        return self.invalid.get(month, {})

    def summary(
        self, rows: Mapping[str, dict[str, dict[str, list[int]]]] | None = None
    ) -> dict[str, Any]:
        """Totals and rows per model, api, day and host over every month, from the month
        rows (``rows``: those already computed, by month)."""
        merged: dict[str, dict[str, list[int]]] = {d: {} for d in _DIMENSIONS}
        invalid: dict[str, int] = {}
        for month in self.months():
            month_rows = rows[month] if rows is not None else self.month_rows(month)
            for dim, by_name in month_rows.items():
                acc = merged[dim]
                for name, counts in by_name.items():
                    cell = acc.setdefault(name, [0] * len(counts))
                    for i, v in enumerate(counts):
                        cell[i] += v
            invalid.update(self.month_invalid(month))
        totals = [0] * WIDTH
        for counts in merged["api"].values():
            for i, v in enumerate(counts):
                totals[i] += v
        out: dict[str, Any] = dict(row(totals))
        for dim, key in (("model", "by_model"), ("api", "by_api"), ("day", "by_day"),
                         ("host", "by_host")):  # fmt: skip
            out[key] = {name: row(merged[dim][name]) for name in sorted(merged[dim])}
        out["invalid_lines"] = sum(invalid.values())
        out["invalid_lines_by_day"] = dict(sorted(invalid.items()))
        return out


def _runs(
    hours: list[str],
    in_pieces: list[list[tuple[str | None, int, int]] | None],
    *,
    by_utc_day: bool,
) -> list[list[Any]]:
    """Runs of hours and pieces of hours in one day of the report (and one UTC day, if
    ``by_utc_day``): ``[day, UTC day, lo, hi]`` from position ``lo`` to ``hi``, a position
    being (hour, part): part 0 the hour's start, 1 its 15th minute, 2 its 30th."""
    runs: list[list[Any]] = []
    last: list[Any] | None = None
    for i, (hour, here) in enumerate(zip(hours, in_pieces, strict=True)):
        utc = hour[:10]
        for local, a, b in here or ((None, 0, 3),):
            if local is None:
                last = None
                continue
            lo, hi = (i, a), ((i + 1, 0) if b == 3 else (i, b))
            if (
                last is not None
                and last[0] == local
                and last[3] == lo
                and (not by_utc_day or last[1] == utc)
            ):
                last[3] = hi
            else:
                last = [local, utc, lo, hi]
                runs.append(last)
    return runs


def _runs_within(
    runs: list[list[Any]], start: int, end: int
) -> tuple[list[list[Any]], list[slice]]:
    """The runs that hold hours of ``[start, end)``, and the slice of those whole hours
    in columns that begin at ``start``."""
    within = [r for r in runs if r[2][0] < end and r[3][0] + (r[3][1] > 0) > start]
    slices = [slice(max(lo[0], start) - start, min(hi[0], end) - start) for _, _, lo, hi in within]
    return within, slices


def merged_pieces(days: list[str | None]) -> list[tuple[str | None, int, int]]:
    """An hour's three pieces' days as ``(day, a, b)``: from ``a`` to ``b`` in (the hour's
    start, its 15th minute, its 30th, its end), neighbouring pieces of one day as one."""
    bounds = (0, 1, 2, 3)
    merged: list[tuple[str | None, int, int]] = []
    for k, day in enumerate(days):
        if merged and merged[-1][0] == day:
            merged[-1] = (day, merged[-1][1], bounds[k + 1])
        else:
            merged.append((day, bounds[k], bounds[k + 1]))
    return merged


def _early(
    quarters: Sequence[int] | None,
    first: int,
    start: int,
    position: tuple[int, int],
    cols: list[list[int]],
) -> Sequence[int]:
    """A key's counters from the start of an hour to its 15th (part 1) or 30th (part 2)
    minute, checked against the hour's own: StaleStats when they disagree."""
    assert quarters is not None
    hour, part = position
    j = first + (hour - start) * EARLY + (part - 1) * WIDTH
    early = quarters[j : j + WIDTH]
    if min(early) < 0 or not all(map(le, early, map(itemgetter(hour - start), cols))):
        raise StaleStats(f"hour {hour} of a quarters file")
    return early


def _add_early(
    early_of: dict[str, HourCells | None],
    hour: str,
    name: tuple[str, str, int, str],
    early: list[int] | None,
) -> None:
    """Keep a cut hour's early counters by cell; None for the hour once one cell lacks them."""
    if early is None:
        early_of[hour] = None
    else:
        known = early_of.setdefault(hour, {})
        if known is not None:
            known[name] = list(early)


def _month_rows(agg: Aggregate) -> dict[str, dict[str, list[int]]]:
    """The month's counters per model, api, day and host: a writer's update computes them
    for the index from every cell of the month (a busy month has tens of thousands), so
    each sum is ``map(add, ...)``, in C."""
    rows: dict[str, dict[str, list[int]]] = {d: {} for d in _DIMENSIONS}
    dims = [(rows[dim], index, dim == "day") for dim, index in _DIMENSIONS.items()]
    for key, counts in agg.cells.items():
        for acc, index, is_day in dims:
            name = str(key[index])[:10] if is_day else str(key[index])
            before = acc.get(name)  # add_into, inlined: 4 rows for each cell of the month
            if before is None:
                acc[name] = list(counts)
            else:
                before[:] = map(add, before, counts)
    return rows


def _hours_in(month: str) -> int:
    return calendar.monthrange(int(month[:4]), int(month[5:7]))[1] * 24


def _hour_index(hour: str) -> int:
    """``YYYY-MM-DDTHH`` -> its place in the month's columns."""
    return (int(hour[8:10]) - 1) * 24 + int(hour[11:13])


def _hour_texts(month: str) -> list[str]:
    """Every hour of the month, by its index in the columns."""
    return [_hour_text(month, i) for i in range(_hours_in(month))]


def _hour_text(month: str, index: int) -> str:
    day, hour = divmod(index, 24)
    return f"{month}-{day + 1:02d}T{hour:02d}"


def _columns(agg: Aggregate) -> tuple[list[list[Any]], list[list[Any]], array[int]]:
    """The hourly cells of a month as (keys, columns, early counters): see the module
    docstring."""
    by_key: dict[tuple[str, str, int, str], dict[int, tuple[list[int], list[int]]]] = {}
    early_of = agg.early
    index_of: dict[str, int] = {}  # an hour's index, once per hour (a month has 744)
    for cell_key, counts in agg.cells.items():
        hour, api, model, band, price_day, host = cell_key
        early = early_of.get(cell_key)
        index = index_of.get(hour)
        if index is None:
            if len(hour) != 13:
                raise ValueError("only an aggregate of UTC hours is stored")
            index = index_of[hour] = _hour_index(hour)
        if price_day != hour[:10] or early is None:
            raise ValueError("only cells of UTC hours with early counters are stored")
        by_key.setdefault((api, model, band, host), {})[index] = (counts, early)
    keys: list[list[Any]] = []
    columns: list[list[Any]] = []
    quarters = array("q")
    no_counts, no_early = (0,) * WIDTH, (0,) * EARLY
    for key in sorted(by_key):
        hours = by_key[key]
        start = min(hours)
        n = max(hours) + 1 - start
        # a row per hour, then turned into columns in C: a busy month has tens of
        # thousands of cells, and a writer's update writes them every few seconds
        rows: list[Sequence[int]] = [no_counts] * n
        firsts: list[Sequence[int]] = [no_early] * n
        for i, (counts, early) in hours.items():
            rows[i - start], firsts[i - start] = counts, early
        keys.append(list(key))
        columns.append([start, *map(list, zip(*rows, strict=True))])
        quarters.extend(chain.from_iterable(firsts))
    return keys, columns, quarters


def _aggregate_of(doc: dict[str, Any], month: str, quarters: Sequence[int]) -> Aggregate:
    """The hourly cells of a checked month file, with their early counters; StaleStats when
    an hour's first 15 minutes count below zero, or more than its first 30, or those more
    than the hour (a hand edit: the writer would keep adding to numbers no report can use).

    A writer's update runs this over its busy month every few seconds: the checks go
    counter by counter over a key's hours, in C."""
    agg = Aggregate()
    texts = _hour_texts(month)
    at = 0
    for (api, model, band, host), (start, *cols) in zip(doc["keys"], doc["columns"], strict=True):
        n = len(cols[0])
        block = quarters[at : at + n * EARLY]
        for c, col in enumerate(cols):
            first15, first30 = block[c::EARLY], block[WIDTH + c :: EARLY]
            if min(first15) < 0 or not (
                all(map(le, first15, first30)) and all(map(le, first30, col))
            ):
                raise StaleStats(month)
        for j, counts in enumerate(zip(*cols, strict=True)):
            if counts[0]:
                hour = texts[start + j]
                key = (hour, api, model, band, hour[:10], host)
                agg.cells[key] = list(counts)
                agg.early[key] = list(block[j * EARLY : (j + 1) * EARLY])
        at += n * EARLY
    agg.invalid = dict(doc["invalid_lines_by_day"])
    return agg


def _read_quarters(log_dir: Path, month: str, doc: dict[str, Any]) -> Sequence[int] | None:
    """The early counters of a checked month file, or None when its quarters file is
    missing, cut or of another update (the token differs). Not copied, and their values
    are checked where they are used (a count below zero, or above the hour's, makes the
    report read the hour's lines and a writer rebuild the file): a year of them is large."""
    token = doc.get("quarters")
    try:
        data = (log_dir / stats_quarters_file(month)).read_bytes()
    except OSError:
        return None
    expected = sum(len(col[1]) for col in doc["columns"]) * EARLY * 8
    if (
        type(token) is not str
        or len(data) != _HEADER + expected
        or data[: len(_QUARTERS_MAGIC)] != _QUARTERS_MAGIC
        or data[len(_QUARTERS_MAGIC) : _HEADER].hex() != token
    ):
        return None
    if sys.byteorder == "big":
        swapped = array("q", data[_HEADER:])
        swapped.byteswap()
        return swapped
    return memoryview(data)[_HEADER:].cast("q")


def _read_month(log_dir: Path, month: str) -> dict[str, Any]:
    """The month file, checked in passes that run in C (a hand-edited or cut file is stale)."""
    try:
        doc = orjson.loads((log_dir / stats_month_file(month)).read_bytes())
        if (
            type(doc) is not dict
            or doc.get("format_version") != STATS_VERSION
            or doc.get("month") != month
            or not _valid_columns(doc["keys"], doc["columns"], _hours_in(month))
            or "spans" not in doc
        ):
            raise StaleStats(month)
        invalid = doc["invalid_lines_by_day"]
        if not isinstance(invalid, dict) or not all(
            type(d) is str and d.startswith(month) and type(v) is int and v > 0
            for d, v in invalid.items()
        ):
            raise StaleStats(month)
    except (OSError, orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
        raise StaleStats(month) from exc
    return doc


def _valid_columns(keys: Any, columns: Any, hours: int) -> bool:
    """Each key (provider, model, band, host) with a start hour and seven equally long
    lists of integer counts >= 0 within the month. Per list, ``min`` and ``sum`` run in
    C (what is no number fails to compare; ``sum`` is an int only over integers): a year
    of columns stays cheap to check."""
    if type(keys) is not list or type(columns) is not list or len(keys) != len(columns):
        return False
    for key, col in zip(keys, columns, strict=True):
        if (
            type(key) is not list
            or len(key) != 4
            or not (type(key[0]) is type(key[1]) is type(key[3]) is str)
            or type(key[2]) is not int
            or not 0 <= key[2] <= len(PROMPT_BANDS)
            or type(col) is not list
            or len(col) != 1 + WIDTH
            or type(col[0]) is not int
            or col[0] < 0
        ):
            return False
        n = len(col[1]) if type(col[1]) is list else 0
        if n == 0 or col[0] + n > hours:
            return False
        for values in col[1:]:
            if (
                type(values) is not list
                or len(values) != n
                or min(values) < 0
                or type(sum(values)) is not int
            ):
                return False
    return True


def _valid_spans(spans: Any, month: str) -> bool:
    """A hand-edited or truncated ``spans`` must not send a report to the wrong bytes."""
    if not isinstance(spans, dict):
        return False
    for of_file in spans.values():
        if not isinstance(of_file, dict):
            return False
        for hour, span in of_file.items():
            if (
                not hour.startswith(month)
                or type(span) is not list
                or len(span) != 2
                or not all(type(v) is int for v in span)
                or not 0 <= span[0] < span[1]
            ):
                return False
    return True


def load(log_dir: Path) -> Snapshot | None:
    """The index, or None when it is missing, corrupt or of another version."""
    try:
        raw = (log_dir / STATS_FILE).read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = orjson.loads(raw)
        if obj.get("format_version") != STATS_VERSION or obj.get("prompt_bands") != list(
            PROMPT_BANDS
        ):
            return None  # an older layout: rebuilt from the lines, its migration
        offsets = obj["files"]
        months = obj["months"]
        if (
            not isinstance(offsets, dict)
            or not all(type(v) is int and v >= 0 for v in offsets.values())
            or not isinstance(months, dict)
        ):
            return None
        rows = {m: months[m]["rows"] for m in months}
        invalid = {m: months[m]["invalid_lines_by_day"] for m in months}
        for m in months:
            if not isinstance(rows[m], dict) or not isinstance(invalid[m], dict):
                return None
    except (orjson.JSONDecodeError, ValueError, KeyError, AttributeError, TypeError):
        return None
    return Snapshot(log_dir, offsets, rows, invalid)


def fold_lines(
    agg: Aggregate, block: bytes, day: str, spans: dict[str, list[int]] | None = None, at: int = 0
) -> None:
    """Fold the complete lines of ``block`` (it ends with ``\\n``) into hourly cells.

    With ``spans`` (the file's, by hour), each valid line widens its hour's span; ``at`` is
    the block's offset in the file.
    """
    judge, add = judge_line, agg.add_in_hour
    lines = block.split(b"\n")
    lines.pop()
    bad = 0
    pos = at
    for line in lines:
        judged = judge(line, day)
        end = pos + len(line) + 1
        if isinstance(judged, tuple):
            ts = judged[0]["ts"]  # utc_minute, inlined for the lines as writers write them
            if ts.endswith("+00:00") and ts[10:11] == "T" and ts[13:14] == ":":
                hour, minute = ts[:13], ts[14:16]
            else:
                hour, minute = utc_minute(judged)
            add(hour, minute, *judged[1], day)
            if spans is not None:  # widen_span, inlined: this runs for every line folded
                span = spans.get(hour)
                if span is None:
                    spans[hour] = [pos, end]
                else:
                    if pos < span[0]:
                        span[0] = pos
                    if end > span[1]:
                        span[1] = end
        elif judged is not None:
            bad += 1
        pos = end
    if bad:
        agg.add_invalid(day, bad)


def _widen(spans: dict[str, list[int]], own: OwnRange) -> None:
    """Each hour of ``own`` has lines within its range, placed in the file."""
    for hour, (first, last) in own.hours.items():
        widen_span(spans, hour, own.start + first, own.start + last)


def _fold_file(
    agg: Aggregate,
    path: Path,
    day: str,
    start: int,
    stop: int | None,
    spans: dict[str, list[int]] | None = None,
) -> ForwardBlocks:
    """Fold complete lines of ``path`` from ``start`` up to ``stop`` (None: end of file).

    The result's ``end`` is the offset after the last line folded; an unfinished tail is
    left for later (its ``unfinished`` bytes).
    """
    blocks = ForwardBlocks(path, start, stop)
    for block in blocks:
        fold_lines(agg, block, day, spans, blocks.end - len(block))
    return blocks


def catch_up(
    log_dir: Path,
    snap: Snapshot,
    own: Mapping[str, list[OwnRange]] | None = None,
    unfinished: list[str] | None = None,
) -> bool:
    """Fold into ``snap`` every line beyond its offsets; False when it is stale (rebuild).

    The names of files that end in an unfinished line are added to ``unfinished``.
    """
    own = own or {}
    present = {path.name: (day, path) for day, path in daily_files(log_dir)}
    sizes: dict[str, int] = {}
    for name, offset in snap.offsets.items():
        if name not in present:
            return False
        with contextlib.suppress(FileNotFoundError):
            sizes[name] = present[name][1].stat().st_size
            if sizes[name] < offset:
                return False
    try:
        for name, (day, path) in present.items():
            pos = snap.offsets.get(name, 0)
            if pos == sizes.get(name) and not own.get(name):
                continue  # nothing new: the month need not be read
            agg = snap.changed(day[:7])
            spans = snap.spans(day[:7]).setdefault(name, {})
            for r in sorted(own.get(name, ()), key=lambda r: r.start):
                if r.end <= pos:
                    continue  # another process's update already folded these lines of ours
                if r.start >= pos:
                    pos = _fold_file(agg, path, day, pos, r.start, spans).end
                    if pos != r.start:
                        return False  # the file is not what we appended to: rebuild
                    agg.merge(r.agg)
                    _widen(spans, r)
                    pos = r.end
                else:  # partly folded by someone who read while we wrote
                    pos = _fold_file(agg, path, day, pos, r.end, spans).end
            rest = _fold_file(agg, path, day, pos, None, spans)
            snap.offsets[name] = rest.end
            if rest.unfinished and unfinished is not None:
                unfinished.append(name)
    except StaleStats:
        return False
    return True


def current(
    log_dir: Path,
    own: Mapping[str, list[OwnRange]] | None = None,
    unfinished: list[str] | None = None,
) -> Snapshot:
    """The exact stats of the directory now, without writing anything."""
    found: list[str] = []
    snap = load(log_dir)
    if snap is None or not catch_up(log_dir, snap, own, found):
        snap = Snapshot(log_dir)
        found.clear()
        catch_up(log_dir, snap, own, found)
        snap.rebuilt = True
    if unfinished is not None:
        unfinished.extend(found)
    return snap


def update(log_dir: Path, own: Mapping[str, list[OwnRange]], mode: int) -> Snapshot:
    """Fold new lines into the stats under the stats lock; rewrite the months touched."""
    with _files.locked_file(log_dir / STATS_LOCK_FILE, mode):
        snap = current(log_dir, own)
        for month in sorted(snap.dirty):
            cells, quarters = encode_month(snap, month)
            # quarters first: a month file never names quarters that are not there yet
            _files.replace_atomically(log_dir / stats_quarters_file(month), quarters, mode)
            _files.replace_atomically(log_dir / stats_month_file(month), cells, mode)
        _files.replace_atomically(log_dir / STATS_FILE, encode(snap), mode)
        if snap.rebuilt:  # month files of days no longer there
            keep = {f(m) for m in snap.months() for f in (stats_month_file, stats_quarters_file)}
            for path in stats_month_files(log_dir):
                if path.name not in keep:
                    with contextlib.suppress(OSError):
                        path.unlink()
    return snap


def encode_month(snap: Snapshot, month: str) -> tuple[bytes, bytes]:
    """The month file and its quarters file, naming each other by a fresh token."""
    agg = snap.month(month)
    keys, columns, quarters = _columns(agg)
    token = os.urandom(_TOKEN_BYTES)
    if sys.byteorder == "big":
        quarters.byteswap()
    doc = {
        "format_version": STATS_VERSION,
        "month": month,
        "quarters": token.hex(),
        "invalid_lines_by_day": dict(sorted(agg.invalid.items())),
        "keys": keys,
        "columns": columns,
        "spans": {
            name: dict(sorted(of_file.items()))
            for name, of_file in sorted(snap.spans(month).items())
            if of_file
        },
    }
    return orjson.dumps(doc), _QUARTERS_MAGIC + token + quarters.tobytes()


def encode(snap: Snapshot) -> bytes:
    doc: dict[str, Any] = {"format_version": STATS_VERSION, "prompt_bands": PROMPT_BANDS}
    doc["updated_at"] = _dt.datetime.now(_dt.UTC).isoformat()
    rows = {month: snap.month_rows(month) for month in snap.months()}  # once per update
    doc.update(snap.summary(rows))
    months: dict[str, Any] = {}
    for month, month_rows in rows.items():
        months[month] = {
            "file": stats_month_file(month),
            "rows": month_rows,
            "invalid_lines_by_day": dict(sorted(snap.month_invalid(month).items())),
        }
    doc["months"] = months
    doc["files"] = dict(sorted(snap.offsets.items()))
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)
