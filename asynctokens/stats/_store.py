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
index with events (``(day - 1) * 24 + hour``) and eight lists of counters, one value per
hour from there on. A report over a year then sums slices of lists, month by month, instead
of building a dict entry per hour and name (10M events over 20 models and 4 hosts are about
1.4M hourly cells).

Beside it, ``token_stats_YYYY-MM.quarters`` keeps each hour's *early* counters: those of its
lines in the hour's first 15 and first 30 minutes (binary: the file ``ATQ1``, an 8-byte
token the month file names, then per key and hour 16 little-endian int64). A day of a zone
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

from collections.abc import Callable, Mapping, Sequence
from operator import add, sub
from pathlib import Path
from typing import Any, NamedTuple

from asynctokens.stats._fold import WIDTH, Aggregate, add_into, row
from asynctokens.stats._month import (
    DIMENSIONS,
    EARLY,
    HourCells,
    NotKept,
    Spans,
    StaleStats,
    add_early,
    aggregate_of,
    early_of,
    hour_texts,
    month_totals,
    read_month,
    read_quarters,
    rows_of_month,
    valid_spans,
)
from asynctokens.stats._periods import (
    Periods,
    add_by_period,
    cut_parts,
    leave_to_lines,
    period_runs,
)
from asynctokens.stats._runs import Pieces, merged_pieces, runs_of, runs_within, whole_hours
from asynctokens.stats._totals import MonthTotals, read_totals


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
        #: Per daily file folded: a checksum of its first line. Another file under the name
        #: (one moved away and made again by the next append) has another first line, and
        #: makes the stats stale: its offset would skip lines the stats never saw. A copy of
        #: the directory (a backup, a fleet's logs gathered in one place) keeps its lines, so
        #: its stats stay good, where an inode would not.
        self.heads: dict[str, int] = {}
        #: Per month: the token of the month file the index was written with (its
        #: generation). A month file of another update carries another.
        self.tokens: dict[str, str] = {}
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
        #: Stats files that failed their checks (hand-edited, damaged): rebuilt, and said.
        self.stale: list[str] = []
        #: Per month read: the label keys its file keeps (None: every key; ``label_keys``).
        self.kept: dict[str, list[str] | None] = {}

    def month(self, month: str) -> Aggregate:
        """The cells of ``YYYY-MM`` (hours), read from its file the first time."""
        agg = self._months.get(month)
        if agg is None:
            doc = self._doc(month)
            if doc is None:
                agg = Aggregate()
            else:
                quarters = read_quarters(self.log_dir, month, doc)
                if quarters is None:  # its cells would be rewritten without early counters
                    raise StaleStats(month)
                agg = aggregate_of(doc, month, quarters)
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
            if raw is not None and not valid_spans(raw, month):
                raise StaleStats(month)
            self._spans[month] = raw if raw is not None else {}
        return self._spans[month]

    def _doc(self, month: str, plain: bool = False) -> dict[str, Any] | None:
        """The month file, checked but for its spans (not kept: a year of them is large);
        None if it has none. ``plain``: its cells without labels only (``read_month``)."""
        if month not in self.rows:
            return None
        doc = read_month(self.log_dir, month, plain)
        self.kept[month] = doc.get("label_keys")
        if not self._agrees(month, doc):
            raise StaleStats(month)
        if month not in self._spans:
            self._raw_spans[month] = doc["spans"]
        return doc

    def _agrees(self, month: str, doc: dict[str, Any]) -> bool:
        """Whether a month file and the index were written by the same update: the index
        names the month file's token (its generation), and the counters' totals and bad
        lines agree. A kill between an update's renames, or an index or month file restored
        from a backup, leaves them apart: the month is then stale and the stats are rebuilt
        from the lines, instead of counting its lines twice."""
        token = self.tokens.get(month)
        if token is not None and doc.get("quarters") != token:
            return False
        by_api = self.rows[month].get("api", {})
        index_totals = [sum(column) for column in zip(*by_api.values(), strict=True)]
        return (month_totals(doc) == (index_totals or [0] * WIDTH)) and (
            doc["invalid_lines_by_day"] == self.invalid.get(month, {})
        )

    def add_hours(
        self,
        month: str,
        place: Callable[[str], tuple[str, bool] | None],
        days: set[str],
        agg: Aggregate,
        pieces: Callable[[str], list[str | None] | None] | None = None,
        split: Callable[[str, str], bool] | None = None,
        periods: Periods | None = None,
        labels: frozenset[str] | None = None,
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
        it begins in (half the cells for a day of Asia/Kolkata or America/New_York). With
        ``periods``, a model priced by time of day is kept apart by part of the UTC day
        (``_periods.price_period``), an hour it cuts split by its early counters (without a
        quarters file, such an hour is returned as cut, for its lines to decide).
        ``labels``: the label keys the report groups or filters by (None: all of them);
        none, and the cells without labels will do (a month on disk keeps them apart).
        NotKept when the month's writers did not keep one of them (``label_keys``).

        From the columns of the file, summing slices, unless the month was caught up or
        changed in memory: then from its hourly cells.
        """
        plain = labels is not None and not labels
        if month in self._months or month not in self.rows:
            self._check_kept(month, labels)
            return _add_cells(self, month, place, days, agg, periods)
        doc = self._doc(month, plain)
        assert doc is not None
        self._check_kept(month, labels)
        hours = hour_texts(month)
        placed = [place(hour) if hour[:10] in days else None for hour in hours]
        cut_of = (lambda api, model: ()) if periods is None else periods.cuts
        timed = any(cut_of(api, model) for api, model, *_ in doc["keys"])
        quarters = None
        if timed or (pieces is not None and any(p is not None and not p[1] for p in placed)):
            quarters = read_quarters(self.log_dir, month, doc)
        # each hour's pieces, (day in the report, from, to), or None: the caller splits it
        in_pieces: list[Pieces | None] = []
        for hour, where in zip(hours, placed, strict=True):
            if where is None:
                in_pieces.append([(None, 0, 3)])
            elif where[1]:
                in_pieces.append([(where[0], 0, 3)])
            else:
                parts = None if quarters is None or pieces is None else pieces(hour)
                in_pieces.append(None if parts is None else merged_pieces(parts))
        if timed and quarters is None:
            every_cut = tuple(sorted({m for a, m_, *_ in doc["keys"] for m in cut_of(a, m_)}))
            leave_to_lines(hours, placed, in_pieces, every_cut)
        cut_at = [i for i, here in enumerate(in_pieces) if here is None]
        by_utc_day = runs_of(hours, in_pieces, by_utc_day=True)
        by_day = by_utc_day if split is None else runs_of(hours, in_pieces, by_utc_day=False)
        by_period: dict[tuple[int, ...], list[list[Any]]] = {}  # runs per model's cuts
        at = doc.get("quarters_at", 0)  # where this key's early counters begin
        of_range: dict[
            tuple[int, int, bool | tuple[int, ...]], tuple[list[list[Any]], list[slice]]
        ] = {}
        cells = agg.cells
        cells_of: dict[str, HourCells] = {}
        known: dict[str, HourCells] = {}  # the file's early counters: all hours' or none
        cut_texts = [(i, hours[i]) for i in cut_at]
        apart_of: dict[tuple[str, str], bool | tuple[int, ...]] = {}
        # where each hour lying whole in a run goes: (day, price day), for one-hour entries
        # (a key called once in a while, as a label's values are, is thousands of them)
        whole_in = {True: whole_hours(by_utc_day), False: whole_hours(by_day)}
        for (api, model, band, host, dims), (start, *cols) in zip(
            doc["keys"], doc["columns"], strict=True
        ):
            end = start + len(cols[0])
            first, at = at, at + (end - start) * EARLY
            # the runs within this key's hours, and each one's slice of its columns: the same
            # for every key with the same hours (most keys of a busy month have them all)
            apart = apart_of.get((api, model))
            if apart is None:  # the same for every entry of a model: asked once
                cuts = cut_of(api, model)
                apart = apart_of[api, model] = cuts or split is None or split(api, model)
            found = of_range.get((start, end, apart))
            if found is None:
                if type(apart) is tuple:  # the minutes a time-of-day price changes at
                    runs = by_period.get(apart)
                    if runs is None:
                        runs = by_period[apart] = period_runs(hours, in_pieces, apart)
                else:
                    runs = by_utc_day if apart else by_day
                found = of_range[start, end, apart] = runs_within(runs, start, end)
            if end - start == 1 and type(apart) is bool:
                whole = whole_in[apart].get(start)
                if whole is not None:  # no run begins or ends inside: the hour's counts
                    if cols[0][0]:
                        key = (whole[0], api, model, band, whole[1], host, dims)
                        cell = cells.get(key)
                        if cell is None:
                            cells[key] = [col[0] for col in cols]
                        else:
                            cell[:] = map(add, cell, [col[0] for col in cols])
                    continue
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
                            early_at, early = hi, early_of(quarters, first, start, hi, cols)
                        run = list(map(add, run, early))
                    if lo[1] and start <= lo[0] < end:
                        if early_at != lo:
                            early_at, early = lo, early_of(quarters, first, start, lo, cols)
                        run = list(map(sub, run, early))
                        if min(run) < 0:  # counts that disagree: the lines decide
                            raise StaleStats(month)
                    if not run[0]:
                        continue  # no call in this run
                    # add_into, inlined: this runs for every run of every key of a year
                    key = (local, api, model, band, utc, host, dims)
                    cell = cells.get(key)
                    if cell is None:
                        cells[key] = list(run)
                    else:
                        cell[:] = map(add, cell, run)
            name = (api, model, band, host, dims)
            for i, hour in cut_texts:
                if start <= i < end and cols[0][i - start]:
                    cells_of.setdefault(hour, {})[name] = [col[i - start] for col in cols]
                    if quarters is not None:
                        j = first + (i - start) * EARLY
                        known.setdefault(hour, {})[name] = list(quarters[j : j + EARLY])
        return {h: CutHour(c, known.get(h)) for h, c in cells_of.items()}

    def add_totals(
        self,
        month: str,
        labels: frozenset[str] | None,
        add: Callable[[MonthTotals], bool],
    ) -> bool:
        """``add`` the entries of the month's totals file (``_totals``, ``_coarse``), of
        the update the index names, when the month is on disk (not caught up in memory):
        what it returns. False, adding nothing, when the caller must take the month from
        its hours (``add_hours``): no totals file of that update (the month has no label).
        StaleStats when the totals file fails its checks; NotKept as ``add_hours``."""
        token = self.tokens.get(month)
        if month in self._months or month not in self.rows or token is None:
            return False
        totals = read_totals(self.log_dir, month, token, self.rows[month])
        if totals is None:
            return False
        self.kept[month] = totals.label_keys
        self._check_kept(month, labels)
        return add(totals)

    def _check_kept(self, month: str, labels: frozenset[str] | None) -> None:
        kept = self.kept.get(month)
        if kept is not None and (labels is None or not labels <= set(kept)):
            raise NotKept(month)

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
            return rows_of_month(self._months[month])
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
        months = self.months()
        return _summary(
            [rows[m] if rows is not None else self.month_rows(m) for m in months],
            [self.month_invalid(m) for m in months],
        )


def _summary(
    rows: list[dict[str, dict[str, list[int]]]], invalid_of: list[dict[str, int]]
) -> dict[str, Any]:
    """``Snapshot.summary`` of the months' rows and bad lines per day."""
    merged: dict[str, dict[str, list[int]]] = {d: {} for d in DIMENSIONS}
    invalid: dict[str, int] = {}
    for month_rows, month_invalid in zip(rows, invalid_of, strict=True):
        for dim, by_name in month_rows.items():
            acc = merged[dim]
            for name, counts in by_name.items():
                cell = acc.setdefault(name, [0] * len(counts))
                for i, v in enumerate(counts):
                    cell[i] += v
        invalid.update(month_invalid)
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


def _add_cells(
    snap: Snapshot,
    month: str,
    place: Callable[[str], tuple[str, bool] | None],
    days: set[str],
    agg: Aggregate,
    periods: Periods | None,
) -> dict[str, CutHour]:
    """``add_hours`` for a month caught up or changed in memory: from its hourly cells;
    every hour cut in two is returned."""
    cells_of: dict[str, HourCells] = {}
    early_of: dict[str, HourCells | None] = {}
    month_agg = snap.month(month)
    cut_of = (lambda api, model: ()) if periods is None else periods.cuts
    # hours a time-of-day price changes inside, without the early counters to split
    # them: their lines decide, for every key (as for a zone's cut hour)
    unsplit = {
        key[0]
        for key in month_agg.cells
        if key not in month_agg.early and cut_parts(key[0], cut_of(key[1], key[2]))
    }
    for key, counts in month_agg.cells.items():
        if key[4] not in days:
            continue
        placed = place(key[0])
        if placed is None:
            continue
        if not placed[1] or key[0] in unsplit:
            name = (key[1], key[2], key[3], key[5], key[6])
            cells_of.setdefault(key[0], {})[name] = list(counts)
            add_early(early_of, key[0], name, month_agg.early.get(key))
            continue
        cuts = cut_of(key[1], key[2])
        if not cuts:
            add_into(agg.cells, (placed[0], *key[1:]), counts)
            continue
        add_by_period(agg, placed[0], key, counts, month_agg.early.get(key), cuts)
    return {h: CutHour(c, early_of[h]) for h, c in cells_of.items()}
