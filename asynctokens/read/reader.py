"""Read-only access to a token log directory: events in order, newest first, or aggregated.

Depends only on the file format (``record``) and the stats (``stats``), never on the writer:
it works on directories written by other processes, other versions, or copied from a server.
Nothing here writes, renames or repairs a file. Bad lines (torn by a crash, garbage, a field
of the wrong type) are skipped and counted in a :class:`ReadReport`, never raised.
"""

from __future__ import annotations

import datetime as _dt
import heapq
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from asynctokens.read._dirs import DayPlan, LogDirs, plan_days, resolve_log_dirs
from asynctokens.record._format import (
    PROMPT_BANDS,
    Judged,
    judge_line,
    misnamed_files,
)
from asynctokens.record._lines import BackwardLines, ForwardBlocks, ReadReport, unreadable
from asynctokens.record._range import UTC, DateLike, DayOf, TimeRange, get_timezone, time_range
from asynctokens.stats import _plan
from asynctokens.stats._coarse import OnePrice
from asynctokens.stats._fold import Aggregate
from asynctokens.stats._periods import Periods

#: The read side's public names (``asynctokens.reader``), some defined below the read side.
__all__ = [
    "DateLike",
    "ReadReport",
    "TimeRange",
    "aggregate",
    "get_timezone",
    "iter_events",
    "iter_recent",
    "open_log_dirs",
    "time_range",
]


def open_log_dirs(log_dir: LogDirs) -> list[Path]:
    """The directories to read: a path, a glob (``'fleet/*/logs/tokens'``) or a list of
    them; each checked, each counted once. LogDirError says what is wrong and what to do."""
    return resolve_log_dirs(log_dir)


def _selected_days(dirs: list[Path], rng: TimeRange) -> list[DayPlan]:
    first, last = rng.utc_days()
    return [
        plan
        for plan in plan_days(dirs)
        if (first is None or plan.day >= first) and (last is None or plan.day <= last)
    ]


def _misnamed(dirs: list[Path], report: ReadReport) -> None:
    for d in dirs:
        report.misnamed.extend(n for n in misnamed_files(d) if n not in report.misnamed)


def _forward(path: Path, day: str, report: ReadReport, counts: bool) -> Iterator[Judged]:
    """The valid lines of one file in order; bad ones counted when ``counts`` (see holds_day)."""
    judge, lineno = judge_line, 0
    blocks = ForwardBlocks(path)
    try:
        for block in blocks:
            lines = block.split(b"\n")
            lines.pop()
            report.lines_read += len(lines)
            for line in lines:
                lineno += 1
                judged = judge(line, day)
                if isinstance(judged, tuple):
                    yield judged
                elif judged is not None and counts:
                    report.bad(path, f"line {lineno}", judged)
    except OSError as exc:
        raise unreadable(path, exc) from None
    if blocks.unfinished and counts:
        report.unfinished.append(path.name)


def _backward(path: Path, day: str, report: ReadReport, counts: bool) -> Iterator[Judged]:
    """The valid lines of one file, last first (``recent`` reads only what it shows)."""
    judge = judge_line
    lines = BackwardLines(path)
    try:
        for offset, line in lines:
            if lines.unfinished and counts and path.name not in report.unfinished:
                report.unfinished.append(path.name)
            report.lines_read += 1
            judged = judge(line, day)
            if isinstance(judged, tuple):
                yield judged
            elif judged is not None and counts:
                report.bad(path, f"byte {offset}", judged)
    except OSError as exc:
        raise unreadable(path, exc) from None


def _judged(
    log_dir: LogDirs,
    rng: TimeRange,
    report: ReadReport,
    *,
    newest_first: bool,
) -> Iterator[Judged]:
    """The valid lines in the range, from the files whose day can hold any of it, over
    every directory (see ``_dirs``: copies set aside, shared events counted once)."""
    dirs = open_log_dirs(log_dir)
    _misnamed(dirs, report)
    return _judged_plans(_selected_days(dirs, rng), rng, report, newest_first=newest_first)


def _judged_plans(
    plans: list[DayPlan], rng: TimeRange, report: ReadReport, *, newest_first: bool
) -> Iterator[Judged]:
    exact = rng.whole_utc_days  # file days alone decide; no instant needs comparing
    contains = rng.contains
    read = _backward if newest_first else _forward
    for plan in reversed(plans) if newest_first else plans:
        counts = exact or rng.holds_day(plan.day)
        report.files_read += len(plan.files)
        sources = [read(path, plan.day, report, counts) for path in plan.files]
        lines: Iterator[Judged]
        if len(sources) == 1:
            lines = sources[0]
        elif newest_first:  # several files of one day: newest first across them
            lines = heapq.merge(*sources, key=_instant, reverse=True)
        else:
            lines = heapq.merge(*sources, key=_instant)
        seen: set[str] | None = set() if plan.dedup else None
        for judged in lines:
            if seen is not None:
                event_id = judged[0]["event_id"]
                if event_id in seen:
                    continue
                seen.add(event_id)
            if exact or contains(judged[2]):
                yield judged


def _instant(judged: Judged) -> _dt.datetime:
    return judged[2]


def iter_events(
    log_dir: LogDirs = None,
    since: DateLike = None,
    until: DateLike = None,
    *,
    tz: _dt.tzinfo = UTC,
    report: ReadReport | None = None,
) -> Iterator[dict[str, Any]]:
    """Every valid event in file order (oldest day first), within [since, until].

    ``since``/``until``: a date (whole day in ``tz``, both included), an aware date-time
    (exact instant, ``until`` excluded) or a string of either. Only files whose UTC day can
    overlap the range are opened, and read in blocks: memory does not grow with file size.
    """
    rng = time_range(since, until, tz)
    report = report if report is not None else ReadReport()
    return (j[0] for j in _judged(log_dir, rng, report, newest_first=False))


def iter_recent(
    log_dir: LogDirs = None,
    since: DateLike = None,
    until: DateLike = None,
    *,
    tz: _dt.tzinfo = UTC,
    report: ReadReport | None = None,
) -> Iterator[dict[str, Any]]:
    """Events newest first (in file order, backwards), reading files from their end.

    ``recent -n 20`` touches only the last few kilobytes of the newest file, however large
    the directory is. With a range, only the files whose day can overlap it are read.
    """
    rng = time_range(since, until, tz)
    report = report if report is not None else ReadReport()
    return (j[0] for j in _judged(log_dir, rng, report, newest_first=True))


def aggregate(
    log_dir: LogDirs = None,
    since: DateLike = None,
    until: DateLike = None,
    *,
    tz: _dt.tzinfo = UTC,
    report: ReadReport | None = None,
    bands: tuple[int, ...] = PROMPT_BANDS,
    by_date: Callable[[str, str], bool] | None = None,
    scan: bool = False,
    cuts: Callable[[str, str], tuple[int, ...]] | None = None,
    labels: frozenset[str] | None = None,
    period: str = "day",
    one_price: OnePrice | None = None,
) -> Aggregate:
    """Counters per (day in ``tz``, api_type, model, prompt band, UTC day, host) over the range.
    ``scan``: read every line of the range instead of the stats (each label value apart,
    where a month of stats sums those beyond ``_fold.LABEL_VALUES_CAP``).

    The UTC day is there to price each call at the price in force on its date. ``by_date``,
    when given, says which (api_type, model) are priced by date: from the stats, the others'
    cells of a day in ``tz`` are not split by UTC day (they take the UTC day the day's first
    hours are in), which halves the cells of a report in any zone but UTC. ``cuts``, when
    given, names the minutes of the UTC day at which a model's price changes (a price by
    time of day): its cells are kept apart by part of the day (``_periods.price_period``).
    ``labels``: the label keys the caller groups or filters by (None: any); with none, the
    stats' cells without labels will do (a label of many values makes the others many
    times more); a key the stats were told not to keep (``label_keys``) is read from the lines.
    ``period`` ("day", "month" or "all") and ``one_price``: what the caller groups days by,
    and which prices hold alike over several days: a report by a label takes months from
    the stats' totals by day or by month where that is exact (``stats._coarse``); coarser
    than a day, each cell's day is then only right to its month.

    With the stats' prompt bands this comes from the stats: cells per UTC hour (caught up
    with what was appended since they were written), so a day of any whole-hour zone (UTC,
    Europe/Lisbon, America/New_York, ...) is a sum of cells. An hour cut in two on a quarter
    hour, by a zone whose days begin inside an hour (Asia/Kolkata, +5:30; Asia/Kathmandu,
    +5:45) or by an end of the range, is a sum of cells and of the stats' counters of its
    first 15 and 30 minutes; cut elsewhere, it is read from the bytes the stats say hold its
    lines, and only those. With other ``bands`` the files of the range are scanned, each
    event's day taken in ``tz`` and its prompt banded by ``bands``.
    """
    dirs = open_log_dirs(log_dir)
    rng = time_range(since, until, tz)
    report = report if report is not None else ReadReport()
    _misnamed(dirs, report)
    plans = _selected_days(dirs, rng)  # compares same-named files: once per report
    days_of = DayOf(tz)
    periods = None if cuts is None else Periods(cuts)
    if bands == PROMPT_BANDS and not scan:
        # the stats answer each day whose files share no events; those that do are scanned
        alone = [(plan.day, plan.files) for plan in plans if not plan.dedup]
        days = {plan.day for plan in plans}
        agg = _plan.settled(  # read again while a writer is renaming the stats files
            dirs,
            report,
            lambda read: _plan.from_stats(
                dirs, alone, days, rng, tz, read, by_date, periods, labels, period, one_price
            ),
        )
        if agg is not None:
            dedup = [plan for plan in plans if plan.dedup]
            _scan_into(agg, dedup, rng, report, days_of, periods)
            return agg
    agg = Aggregate(bands)
    _scan_into(agg, plans, rng, report, days_of, periods)
    return agg


def _scan_into(
    agg: Aggregate,
    plans: list[DayPlan],
    rng: TimeRange,
    report: ReadReport,
    days_of: DayOf,
    periods: Periods | None,
) -> None:
    """Fold the valid lines of ``plans`` in the range into ``agg``, by days of its zone."""
    add = agg.add
    for event, values, instant in _judged_plans(plans, rng, report, newest_first=False):
        local, utc = days_of(event["ts"], instant)
        if periods is not None:
            utc = periods.key(values[0], values[1], utc, instant)
        add(local, *values, utc)
