"""Read-only access to a token log directory: events in order, newest first, or aggregated.

Depends only on the file format (``_format``, ``_stats``, ``_statsfile``), never on the writer:
it works on directories written by other processes, other versions, or copied from a server.
Nothing here writes, renames or repairs a file. Bad lines (torn by a crash, garbage, a field
of the wrong type) are skipped and counted in a :class:`ReadReport`, never raised.
"""

from __future__ import annotations

import datetime as _dt
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import sub
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from asynctokens._errors import LogDirError
from asynctokens.read._dirs import DayPlan, LogDirs, plan_days, resolve_log_dirs
from asynctokens.record._format import (
    PROMPT_BANDS,
    Judged,
    daily_file_name,
    day_of_file,
    judge_line,
    misnamed_files,
    utc_hour,
)
from asynctokens.record._lines import BackwardLines, ForwardBlocks
from asynctokens.stats import _store as _statsfile
from asynctokens.stats._fold import WIDTH, Aggregate, add_into

UTC: Final = _dt.UTC
_MAX_SAMPLES: Final = 10

DateLike = _dt.date | _dt.datetime | str | None


@dataclass
class ReadReport:
    """What a read met besides good events: the CLI turns this into one warning line."""

    files_read: int = 0
    lines_read: int = 0
    bad_lines: int = 0
    samples: list[str] = field(default_factory=list)  # "file:line: reason", the first few
    #: Files whose last bytes are a write cut short (no bad line until a writer ends it).
    unfinished: list[str] = field(default_factory=list)
    #: Names shaped like daily files with an impossible date: not read.
    misnamed: list[str] = field(default_factory=list)

    def bad(self, path: Path, where: str, reason: str) -> None:
        """Count a bad line; ``where`` is "line N" or "byte N"."""
        self.bad_lines += 1
        if len(self.samples) < _MAX_SAMPLES:
            self.samples.append(f"{path.name} {where}: {reason}")

    def add(self, other: ReadReport) -> None:
        """Count another read's findings in this one (samples still capped)."""
        self.files_read += other.files_read
        self.lines_read += other.lines_read
        self.bad_lines += other.bad_lines
        self.samples.extend(other.samples[: _MAX_SAMPLES - len(self.samples)])
        self.unfinished.extend(n for n in other.unfinished if n not in self.unfinished)
        self.misnamed.extend(n for n in other.misnamed if n not in self.misnamed)


@dataclass(frozen=True)
class TimeRange:
    """A half-open range of instants [start, end); None means unbounded on that side."""

    start: _dt.datetime | None = None
    end: _dt.datetime | None = None

    def utc_days(self) -> tuple[str | None, str | None]:
        """The first and last UTC file day that can hold events of this range."""
        first = self.start.astimezone(UTC).date().isoformat() if self.start else None
        last = None
        if self.end is not None:
            last = (self.end - _dt.timedelta(microseconds=1)).astimezone(UTC).date().isoformat()
        return first, last

    def contains(self, ts: _dt.datetime) -> bool:
        return (self.start is None or ts >= self.start) and (self.end is None or ts < self.end)

    def holds_day(self, utc_day: str) -> bool:
        """Whether the range holds the start of a UTC day: where that day's bad lines count.

        A bad line has no instant of its own; it belongs to its file's UTC day, dated at its
        first instant. So any split of time into ranges (days of any zone) counts each bad
        line exactly once, and whole UTC days count exactly their own.
        """
        return self.contains(_dt.datetime.fromisoformat(utc_day).replace(tzinfo=UTC))

    @property
    def whole_utc_days(self) -> bool:
        """True when both ends fall on UTC midnight, so file days alone decide membership."""
        return all(
            t is None or (t.astimezone(UTC).time() == _dt.time(0) and t.utcoffset() is not None)
            for t in (self.start, self.end)
        )


def get_timezone(name: str | None) -> _dt.tzinfo:
    """A tzinfo from an IANA name ("Europe/Lisbon"), "UTC" or "local"; ValueError if unknown."""
    if name is None or name.upper() == "UTC":
        return UTC
    if name == "local":
        local = _dt.datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Lisbon', 'UTC' or"
            " 'local'"
        ) from None


def _parse_date(value: str) -> _dt.date | _dt.datetime:
    """A date (``2026-03-28``, ``20260328``) when the text is one, else an ISO date-time."""
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return _dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"bad date {value!r}: use YYYY-MM-DD or an ISO 8601 date-time") from None


def _to_instant(value: DateLike, tz: _dt.tzinfo, *, end: bool) -> _dt.datetime | None:
    """The UTC instant a bound stands for; None (unbounded) past the calendar's ends.

    ``--until 9999-12-31`` ends at year 10000 and ``--since 0001-01-01`` east of UTC starts
    before year 1: no event can lie beyond either, so such a bound is no bound.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = _parse_date(value)
    try:
        if isinstance(value, _dt.datetime):
            instant = value if value.tzinfo else value.replace(tzinfo=tz)
        else:
            day = value + _dt.timedelta(days=1) if end else value
            instant = _dt.datetime.combine(day, _dt.time(0), tzinfo=tz)
        return instant.astimezone(UTC)
    except OverflowError:
        return None


def time_range(since: DateLike = None, until: DateLike = None, tz: _dt.tzinfo = UTC) -> TimeRange:
    """Dates are whole days in ``tz``, both ends included; date-times are exact instants."""
    start = _to_instant(since, tz, end=False)
    end = _to_instant(until, tz, end=True)
    if start and end and start >= end:
        raise ValueError(f"--since ({since}) must be before --until ({until})")
    return TimeRange(start, end)


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


def _unreadable(path: Path, exc: OSError) -> LogDirError:
    return LogDirError(f"cannot read {str(path)!r}: {exc.strerror or exc}")


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
        raise _unreadable(path, exc) from None
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
        raise _unreadable(path, exc) from None


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
) -> Aggregate:
    """Counters per (day in ``tz``, api_type, model, prompt band, UTC day, host) over the range.

    The UTC day is there to price each call at the price in force on its date. ``by_date``,
    when given, says which (api_type, model) are priced by date: from the stats, the others'
    cells of a day in ``tz`` are not split by UTC day (they take the UTC day the day's first
    hours are in), which halves the cells of a report in any zone but UTC.

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
    if bands == PROMPT_BANDS:
        agg = _from_stats(dirs, plans, rng, tz, report, by_date)
        if agg is not None:
            return agg
    agg = Aggregate(bands)
    days_of = _Days(tz)
    add = agg.add
    for event, values, instant in _judged_plans(plans, rng, report, newest_first=False):
        local, utc = days_of(event["ts"], instant)
        add(local, *values, utc)
    return agg


class _Hours:
    """UTC hour text -> None when the hour lies outside the range, else (its day in ``tz``,
    whether it lies whole in the range and in one day of ``tz``); once per hour."""

    def __init__(self, tz: _dt.tzinfo, rng: TimeRange) -> None:
        self.tz, self.rng = tz, rng
        self.cache: dict[str, tuple[str, bool] | None] = {}

    def __call__(self, hour: str) -> tuple[str, bool] | None:
        if hour in self.cache:
            return self.cache[hour]
        start = _dt.datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC)
        end = start + _dt.timedelta(hours=1)
        rng = self.rng
        found: tuple[str, bool] | None = None
        if (rng.start is None or end > rng.start) and (rng.end is None or start < rng.end):
            inside = (rng.start is None or start >= rng.start) and (
                rng.end is None or end <= rng.end
            )
            try:
                first = start.astimezone(self.tz)
                last = (end - _dt.timedelta(microseconds=1)).astimezone(self.tz)
                found = (first.date().isoformat(), inside and first.date() == last.date())
            except OverflowError:  # year 1 or 9999 seen from across the edge
                found = (hour[:10], inside)
        self.cache[hour] = found
        return found


def _from_stats(
    dirs: list[Path],
    plans: list[DayPlan],
    rng: TimeRange,
    tz: _dt.tzinfo,
    report: ReadReport,
    by_date: Callable[[str, str], bool] | None = None,
) -> Aggregate | None:
    """The range from each directory's stats (cells per UTC hour, caught up with what was
    appended since), by days of ``tz``. An hour cut by the range or by a day of ``tz`` is
    taken in pieces from its early counters (its first 15 and 30 minutes) where the cut
    falls on a quarter hour, else read from its span (the bytes of its file that hold its
    lines); None, for the caller to scan, when the stats disagree with themselves or have
    no span for an hour with events. A day whose files share events (see ``_dirs``) is
    scanned."""
    days = {plan.day for plan in plans}
    found = ReadReport()
    snaps: dict[Path, _statsfile.Snapshot] = {}
    for d in dirs:
        unfinished: list[str] = []
        snaps[d] = _statsfile.current(d, unfinished=unfinished)
        found.unfinished.extend(n for n in unfinished if day_of_file(n) in days)
    agg = Aggregate()
    shared = []
    from_stats: dict[Path, set[str]] = {d: set() for d in dirs}  # the UTC days of each
    for plan in plans:
        if plan.dedup:
            shared.append(plan)
            continue
        found.files_read += len(plan.files)
        counts_bad = rng.holds_day(plan.day)
        for path in plan.files:
            from_stats[path.parent].add(plan.day)
            bad = snaps[path.parent].month_invalid(plan.day[:7]).get(plan.day, 0)
            if bad and counts_bad:
                agg.add_invalid(plan.day, bad)
    hours = _Hours(tz, rng)
    days_of = _Days(tz)

    def pieces(hour: str) -> list[str | None] | None:
        start = _dt.datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC)
        return _quarter_pieces(start, rng, tz, days_of)

    cut: list[tuple[Path, str, list[int], _statsfile.CutHour]] = []  # hours cut in two
    for d, utc_days in from_stats.items():
        snap = snaps[d]
        for month in sorted({day[:7] for day in utc_days}):
            try:
                cut_hours = snap.add_hours(month, hours, utc_days, agg, pieces, by_date)
            except _statsfile.StaleStats:
                return None  # a month file edited or cut: the lines decide (a writer rebuilds it)
            try:
                spans = snap.spans(month) if cut_hours else {}
            except _statsfile.StaleStats:
                return None  # a hand-edited span: the lines decide
            for hour, cut_hour in sorted(cut_hours.items()):
                name = daily_file_name(hour[:10])
                span = spans.get(name, {}).get(hour)
                if span is None:
                    return None  # no span for an hour with events: stats of a bug
                cut.append((d / name, hour, span, cut_hour))
    found.bad_lines += agg.invalid_lines
    add = agg.add
    for path, hour, span, cells in cut:
        if not _add_cut_hour(path, hour, span, cells, rng, tz, days_of, agg, found):
            return None  # the lines disagree with the stats: only a scan is sure
    for event, values, instant in _judged_plans(shared, rng, found, newest_first=False):
        local, utc = days_of(event["ts"], instant)
        add(local, *values, utc)
    report.add(found)
    return agg


def _add_cut_hour(
    path: Path,
    hour: str,
    span: list[int],
    cut: _statsfile.CutHour,
    rng: TimeRange,
    tz: _dt.tzinfo,
    days_of: _Days,
    agg: Aggregate,
    report: ReadReport,
) -> bool:
    """Add one UTC hour that the report cuts in two.

    Cut by a day of the zone alone at hh:15 or hh:30 (Asia/Kathmandu, Asia/Kolkata): from
    the stats, the hour's early counters to the first day and the rest of its cells to the
    second, reading no line. Cut elsewhere by a day of the zone, or with no early counters:
    the lines in ``span`` of the shorter part are judged and added to their day, and the
    hour's cells less those lines go to the other day, so the longer part's lines are
    skipped unparsed wherever their time can be read off the line as a writer writes it.
    Cut by an end of the range: every line of the hour is judged. False if the lines (or
    the early counters) and the stats disagree.
    """
    cells = cut.cells
    start = _dt.datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC)
    end = start + _dt.timedelta(hours=1)
    if cut.early is not None:
        pieces = _quarter_pieces(start, rng, tz, days_of)
        if pieces is not None:
            return _add_pieces(hour, cells, cut.early, pieces, agg)
    whole = (rng.start is None or start >= rng.start) and (rng.end is None or end <= rng.end)
    split = _day_split(start, tz) if whole else None
    if split is None:
        for event, values, instant in _span_lines(path, hour, span, report):
            if rng.contains(instant):
                local, utc = days_of(event["ts"], instant)
                agg.add(local, *values, utc)
        return True
    first_day = days_of(hour + ":00:00+00:00", start)[0]
    then = start + _dt.timedelta(minutes=split)
    second_day = days_of(then.isoformat(), then)[0]
    utc_day = hour[:10]
    # the longer part's minutes are skipped; the shorter part's lines are judged
    if split >= 30:
        skipped, small_day, big_day = range(split), second_day, first_day
    else:
        skipped, small_day, big_day = range(split, 60), first_day, second_day
    part = Aggregate(agg.bands)  # the shorter part's lines, by cell
    for _event, values, instant in _span_lines(path, hour, span, report, skipped):
        if instant.astimezone(UTC).minute not in skipped:  # else the cells hold it
            part.add(small_day, *values, utc_day)
    rest = {key: list(counts) for key, counts in cells.items()}
    for (_, api, model, band, _, host), counts in part.cells.items():
        left = rest.get((api, model, band, host))
        if left is None:
            return False
        for i, v in enumerate(counts):
            left[i] -= v
    agg.merge(part)
    for (api, model, band, host), counts in rest.items():
        if min(counts) < 0:
            return False
        if counts[0]:
            cell = agg.cell(big_day, api, model, band, utc_day, host)
            for i, v in enumerate(counts):
                cell[i] += v
    return True


#: The pieces of an hour the stats count apart (minutes ``[a, b)``): the first 15 minutes,
#: the next 15 (the first 30 less the first 15), and the rest of the hour.
_PIECES: Final = ((0, 15), (15, 30), (30, 60))


def _quarter_pieces(
    start: _dt.datetime, rng: TimeRange, tz: _dt.tzinfo, days_of: _Days
) -> list[str | None] | None:
    """For each of ``_PIECES`` of the hour from ``start``, its day in ``tz`` (None: outside
    the range); None when a piece is itself cut by the range or by a day of ``tz``, so
    only the hour's lines can tell."""
    days: list[str | None] = []
    try:
        for a, b in _PIECES:
            lo, hi = start + _dt.timedelta(minutes=a), start + _dt.timedelta(minutes=b)
            if (rng.end is not None and lo >= rng.end) or (
                rng.start is not None and hi <= rng.start
            ):
                days.append(None)
                continue
            if (rng.start is not None and lo < rng.start) or (rng.end is not None and hi > rng.end):
                return None
            last = hi - _dt.timedelta(microseconds=1)
            if lo.astimezone(tz).date() != last.astimezone(tz).date():
                return None
            days.append(days_of(lo.isoformat(), lo)[0])
    except OverflowError:  # year 1 or 9999 seen from across the edge
        return None
    return days


def _add_pieces(
    hour: str,
    cells: _statsfile.HourCells,
    early: _statsfile.HourCells,
    days: list[str | None],
    agg: Aggregate,
) -> bool:
    """Add each piece of the hour (``_quarter_pieces``) to its day, from the hour's cells
    and early counters; False when they disagree (a part would count below zero).

    For a month the report caught up in memory (lines appended since the stats were
    written); from the month's files, ``Snapshot.add_hours`` folds the pieces into the runs
    of hours around them. Neighbouring pieces of one day are added as one."""
    parts = _statsfile.merged_pieces(days)
    utc_day = hour[:10]
    agg_cells = agg.cells
    for name, counts in cells.items():
        first = early[name]
        # from a piece's start to its end in (nothing, the first 15 minutes, the first 30,
        # the hour)
        upto: tuple[list[int], ...] = ([], first[:WIDTH], first[WIDTH:], counts)
        api, model, band, host = name
        for day, a, b in parts:
            part = upto[b] if a == 0 else list(map(sub, upto[b], upto[a]))
            if min(part) < 0:
                return False
            if day is not None and part[0]:
                add_into(agg_cells, (day, api, model, band, utc_day, host), part)
    return True


def _day_split(start: _dt.datetime, tz: _dt.tzinfo) -> int | None:
    """The minute of the UTC hour from ``start`` at which the day in ``tz`` changes, or None
    (a zone's days begin on whole minutes, at most once an hour)."""
    try:
        first = start.astimezone(tz).date()
        if (start + _dt.timedelta(minutes=59)).astimezone(tz).date() == first:
            return None
        lo, hi = 0, 59  # the day at lo is first's, at hi is not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if (start + _dt.timedelta(minutes=mid)).astimezone(tz).date() == first:
                lo = mid
            else:
                hi = mid
    except OverflowError:  # year 1 or 9999 seen from across the edge
        return None
    return hi


def _quick_minute(line: bytes, hour: bytes) -> int | None:
    """The minute of the line's time within ``hour`` read off the bytes as writers write
    them (-1: another hour), or None when only parsing can tell (another layout, another
    offset, a second ``"ts":``)."""
    if not line.startswith(b'{"event_id":"'):
        return None
    at = line.find(b'","ts":"', 13)
    if at < 0 or line.find(b'"', 13, at) >= 0 or line.count(b'"ts":') != 1:
        return None
    ts = line[at + 8 : at + 40]
    if ts[26:] != b"+00:00" or ts[13:14] != b":":
        return None
    if ts[:13] != hour:
        return -1
    minute = ts[14:16]
    return int(minute) if minute.isdigit() else None


def _span_lines(
    path: Path, hour: str, span: list[int], report: ReadReport, skip: range | None = None
) -> Iterator[Judged]:
    """The valid lines of UTC ``hour`` in the bytes ``span`` of ``path``, which the stats
    keep for it; with ``skip``, lines whose minute in the hour is there are passed over
    unparsed when their bytes tell (the caller takes them from the stats).

    Other lines in the span (of other hours, bad ones) are counted by the cells and the
    stats' bad lines per day, not here.
    """
    day = hour[:10]
    judge = judge_line
    hour_bytes = hour.encode()
    try:
        for block in ForwardBlocks(path, span[0], span[1]):
            lines = block.split(b"\n")
            lines.pop()
            report.lines_read += len(lines)
            for line in lines:
                if skip is not None:
                    minute = _quick_minute(line, hour_bytes)
                    if minute is not None and (minute < 0 or minute in skip):
                        continue
                judged = judge(line, day)
                if isinstance(judged, tuple) and utc_hour(judged) == hour:
                    yield judged
    except OSError as exc:
        raise _unreadable(path, exc) from None


class _Days:
    """(ts text, its instant) -> [day in the zone, UTC day], cached per minute of UTC text
    (zone offsets change on whole minutes)."""

    def __init__(self, tz: _dt.tzinfo) -> None:
        self.tz = tz
        self.cache: dict[str, tuple[str, str]] = {}

    def __call__(self, ts: str, instant: _dt.datetime) -> tuple[str, str]:
        key = ts[:16] if ts.endswith("+00:00") else ts
        days = self.cache.get(key)
        if days is None:
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=UTC)
            utc = instant.astimezone(UTC)
            try:
                local = instant.astimezone(self.tz)
            except OverflowError:  # year 1 or 9999 seen from a zone across the edge
                local = utc
            days = (local.date().isoformat(), utc.date().isoformat())
            if len(self.cache) > 100_000:
                self.cache.clear()
            self.cache[key] = days
        return days
